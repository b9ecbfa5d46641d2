/**
 * A small cache of forwarded replies, so that the names pods look up outside the cluster (and
 * the search-path walk that precedes them) do not cost an upstream round trip every time.
 *
 * @module
 */

import { HEADER_SIZE } from "./codec.ts";

/** Options of a ForwardCache. */
export interface ForwardCacheOptions {
  /** Entries kept; the cache is emptied when it is full (default 10000). */
  readonly maxEntries?: number;
  /**
   * Bytes of replies and keys kept; the cache is emptied when a new entry would pass it (default
   * {@linkcode FORWARD_CACHE_MAX_BYTES}). Without it, 10,000 replies of up to 64 KB (TCP) could
   * hold 640 MB.
   */
  readonly maxBytes?: number;
  /** Upper bound of the time a reply is kept, seconds (default 30, as CoreDNS `cache 30`). */
  readonly maxTtlSeconds?: number;
  /** Clock in milliseconds; `Date.now` by default. */
  readonly now?: () => number;
}

/** Default byte budget of a ForwardCache: 10,000 typical replies of a few hundred bytes. */
export const FORWARD_CACHE_MAX_BYTES = 4 * 1024 * 1024;

interface Entry {
  readonly packet: Uint8Array;
  /** Offsets of the TTL fields and their values when stored. */
  readonly ttls: readonly (readonly [number, number])[];
  readonly storedAt: number;
  readonly expiresAt: number;
}

/**
 * Caches NOERROR and NXDOMAIN replies from upstreams for the smallest TTL among their records
 * (negative replies: the SOA's TTL and MINIMUM, RFC 2308), capped at `maxTtlSeconds`. Truncated
 * replies, other rcodes, negative replies without an SOA and replies that cannot be walked are
 * not stored. A hit is a copy with the client's ID, RD and CD, and every TTL reduced by the time
 * spent in the cache.
 */
export class ForwardCache {
  #entries = new Map<string, Entry>();
  #bytes = 0;
  #maxEntries: number;
  #maxBytes: number;
  #maxTtl: number;
  #now: () => number;

  /**
   * Creates an empty cache.
   *
   * @param opts See ForwardCacheOptions.
   */
  constructor(opts: ForwardCacheOptions = {}) {
    this.#maxEntries = opts.maxEntries ?? 10000;
    this.#maxBytes = opts.maxBytes ?? FORWARD_CACHE_MAX_BYTES;
    this.#maxTtl = opts.maxTtlSeconds ?? 30;
    this.#now = opts.now ?? Date.now;
  }

  /** Number of entries (expired ones included until they are looked up). */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes held by the entries (replies and keys), expired ones included. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The cached reply for `key`, prepared for a query.
   *
   * @param key The cache key (question and EDNS shape).
   * @param id The query's ID.
   * @param flags The query's flags word (RD and CD are copied).
   * @returns A fresh copy, or undefined on a miss or an expired entry.
   */
  get(key: string, id: number, flags: number): Uint8Array | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    const now = this.#now();
    if (now >= e.expiresAt) {
      this.#delete(key, e);
      return undefined;
    }
    const out = e.packet.slice();
    out[0] = id >> 8;
    out[1] = id & 0xff;
    out[2] = (out[2] & 0xfe) | ((flags >> 8) & 0x01);
    out[3] = (out[3] & 0xef) | (flags & 0x10);
    const elapsed = Math.floor((now - e.storedAt) / 1000);
    for (const [at, ttl] of e.ttls) writeU32(out, at, Math.max(0, ttl - elapsed));
    return out;
  }

  /**
   * Stores an upstream reply if it may be cached.
   *
   * @param key The cache key.
   * @param packet The reply.
   * @returns Whether it was stored.
   */
  set(key: string, packet: Uint8Array): boolean {
    if (this.#maxEntries <= 0 || packet.length < HEADER_SIZE) return false;
    if ((packet[2] & 0x82) !== 0x80) return false; // not a response, or truncated
    const rcode = packet[3] & 0x0f;
    if (rcode !== 0 && rcode !== 3) return false;
    const walked = walkRecords(packet);
    if (walked === undefined) return false;
    const ancount = (packet[6] << 8) | packet[7];
    let ttl = this.#maxTtl;
    if (rcode === 0 && ancount > 0) {
      for (const r of walked) if (r.section === 0) ttl = Math.min(ttl, r.ttl);
    } else {
      const soa = walked.find((r) => r.section === 1 && r.type === 6);
      if (soa === undefined) return false;
      ttl = Math.min(ttl, soa.ttl, soa.soaMinimum ?? 0);
    }
    if (ttl <= 0) return false;
    const size = packet.length + key.length;
    const old = this.#entries.get(key);
    if (old !== undefined) this.#delete(key, old);
    if (this.#entries.size >= this.#maxEntries || this.#bytes + size > this.#maxBytes) this.clear();
    if (size > this.#maxBytes) return false;
    this.#bytes += size;
    const now = this.#now();
    this.#entries.set(key, {
      packet: packet.slice(),
      ttls: walked.filter((r) => r.type !== 41).map((r) => [r.ttlAt, r.ttl] as const),
      storedAt: now,
      expiresAt: now + ttl * 1000,
    });
    return true;
  }

  /** Drops every entry. */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  #delete(key: string, e: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= e.packet.length + key.length;
  }
}

interface WalkedRecord {
  readonly section: number;
  readonly type: number;
  readonly ttl: number;
  readonly ttlAt: number;
  readonly soaMinimum?: number;
}

/**
 * The records of a message with the offsets of their TTL fields. Names are skipped, never
 * followed (a pointer ends a name), so the walk is linear in the message length.
 */
function walkRecords(p: Uint8Array): WalkedRecord[] | undefined {
  const counts = [(p[6] << 8) | p[7], (p[8] << 8) | p[9], (p[10] << 8) | p[11]];
  let off = HEADER_SIZE;
  const skipName = (): boolean => {
    for (;;) {
      if (off >= p.length) return false;
      const len = p[off];
      if (len === 0) {
        off++;
        return true;
      }
      if ((len & 0xc0) === 0xc0) {
        off += 2;
        return off <= p.length;
      }
      if (len > 63) return false;
      off += 1 + len;
    }
  };
  const qdcount = (p[4] << 8) | p[5];
  for (let i = 0; i < qdcount; i++) {
    if (!skipName()) return undefined;
    off += 4;
  }
  const out: WalkedRecord[] = [];
  for (let section = 0; section < 3; section++) {
    for (let i = 0; i < counts[section]; i++) {
      if (!skipName() || off + 10 > p.length) return undefined;
      const type = (p[off] << 8) | p[off + 1];
      const ttlAt = off + 4;
      const ttl = readU32(p, ttlAt);
      const rdlen = (p[off + 8] << 8) | p[off + 9];
      const rdata = off + 10;
      if (rdata + rdlen > p.length) return undefined;
      let soaMinimum: number | undefined;
      if (type === 6 && rdlen >= 22) soaMinimum = readU32(p, rdata + rdlen - 4);
      out.push({ section, type, ttl: type === 41 ? 0 : ttl, ttlAt, soaMinimum });
      off = rdata + rdlen;
    }
  }
  return out;
}

function readU32(p: Uint8Array, at: number): number {
  return ((p[at] << 24) | (p[at + 1] << 16) | (p[at + 2] << 8) | p[at + 3]) >>> 0;
}

function writeU32(p: Uint8Array, at: number, v: number): void {
  p[at] = (v >>> 24) & 0xff;
  p[at + 1] = (v >>> 16) & 0xff;
  p[at + 2] = (v >>> 8) & 0xff;
  p[at + 3] = v & 0xff;
}

/**
 * Forwarding of names outside the cluster zone to upstream resolvers.
 *
 * @module
 */

import { log } from "../config/log.ts";
import { HEADER_SIZE, readHeader, withId } from "./codec.ts";
import { parseIP } from "./ip.ts";

/** An upstream resolver. */
export interface Upstream {
  /** IP address. */
  readonly hostname: string;
  /** Port (53 unless given). */
  readonly port: number;
}

/** Options of a Forwarder. */
export interface ForwarderOptions {
  /**
   * Upstreams as `ip`, `ip:port` or `[ipv6]:port`. When empty, the `nameserver` lines of
   * `resolvConfPath` are used (read once, by `Forwarder.create`).
   */
  readonly upstreams: readonly string[];
  /** Default `/etc/resolv.conf`. */
  readonly resolvConfPath?: string;
  /** How long to wait for one upstream before trying the next. */
  readonly timeoutMs: number;
  /** Forwards in flight beyond this are answered REFUSED at once (CoreDNS `max_concurrent`). */
  readonly maxConcurrent: number;
  /**
   * Addresses that reach this server (its listener, the intercepted cluster DNS service IPs on
   * port 53): an upstream equal to one of them is dropped, since forwarding to it would loop.
   */
  readonly self?: readonly Upstream[];
}

/** How a forward ended. */
export type ForwardResult =
  /** The upstream's reply, with the client's ID. */
  | { readonly kind: "reply"; readonly packet: Uint8Array; readonly rcode: number }
  /** Too many forwards in flight: answer REFUSED. */
  | { readonly kind: "refused" }
  /** No upstream (configured or reachable) answered in time: answer SERVFAIL. */
  | { readonly kind: "failed" };

/** UDP sockets per address family that forwarded queries are spread over. */
const UDP_SOCKETS = 8;

/** Most upstreams tried for one query. */
const MAX_ATTEMPTS = 3;

interface Pending {
  readonly upstream: Upstream;
  /** The query sent: a reply must repeat its question. */
  readonly query: Uint8Array;
  readonly resolve: (packet: Uint8Array | undefined) => void;
}

/**
 * Sends queries to upstream resolvers: over UDP from a small pool of sockets per address family
 * (replies matched by ID, source and question), retried over TCP to the same upstream when the UDP reply
 * is truncated, or straight over TCP when the client used TCP. Upstreams are tried in rotation;
 * on timeout or error the next one is tried (at most 3 per query). At most `maxConcurrent`
 * forwards are in flight; beyond that the result is `refused`.
 */
export class Forwarder {
  #upstreams: readonly Upstream[];
  #timeoutMs: number;
  #maxConcurrent: number;
  #inFlight = 0;
  #next = 0;
  #sockets = new Map<"v4" | "v6", Deno.DatagramConn[]>();
  #pending = new Map<number, Pending>();
  #closed = false;

  /**
   * Creates a Forwarder over a parsed upstream list (see `Forwarder.create`).
   *
   * @param upstreams The resolved upstream list.
   * @param opts Timeout and concurrency bound.
   */
  constructor(
    upstreams: readonly Upstream[],
    opts: Pick<ForwarderOptions, "timeoutMs" | "maxConcurrent">,
  ) {
    this.#upstreams = upstreams;
    this.#timeoutMs = opts.timeoutMs;
    this.#maxConcurrent = opts.maxConcurrent;
  }

  /**
   * Builds a Forwarder, reading the resolv.conf when no upstream is configured. Unparseable
   * entries are skipped with a warning; a missing resolv.conf leaves no upstreams (every
   * forward then fails with SERVFAIL).
   *
   * @param opts See ForwarderOptions.
   */
  static async create(opts: ForwarderOptions): Promise<Forwarder> {
    let entries = opts.upstreams;
    if (entries.length === 0) {
      const path = opts.resolvConfPath ?? "/etc/resolv.conf";
      try {
        entries = parseResolvConf(await Deno.readTextFile(path));
      } catch (err) {
        log.warn("Cannot read resolv.conf for DNS upstreams", { path, err: String(err) });
        entries = [];
      }
    }
    const upstreams: Upstream[] = [];
    for (const e of entries) {
      const u = parseUpstream(e);
      if (u === undefined) {
        log.warn("Ignoring unparseable DNS upstream", { upstream: e });
        continue;
      }
      if (opts.self?.some((me) => sameEndpoint(u, me))) {
        log.warn("Ignoring DNS upstream that is this server (it would loop)", { upstream: e });
        continue;
      }
      upstreams.push(u);
    }
    return new Forwarder(upstreams, opts);
  }

  /** The upstreams in use. */
  get upstreams(): readonly Upstream[] {
    return this.#upstreams;
  }

  /** Forwards in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Forwards one query.
   *
   * @param query The client's query bytes (its ID is restored in the reply).
   * @param proto The client's transport: TCP clients are forwarded over TCP.
   * @returns The outcome; never throws.
   */
  async forward(query: Uint8Array, proto: "udp" | "tcp"): Promise<ForwardResult> {
    if (this.#inFlight >= this.#maxConcurrent) return { kind: "refused" };
    if (this.#upstreams.length === 0 || this.#closed) return { kind: "failed" };
    this.#inFlight++;
    try {
      const clientId = (query[0] << 8) | query[1];
      const start = this.#next++ % this.#upstreams.length;
      const attempts = Math.min(this.#upstreams.length, MAX_ATTEMPTS);
      for (let i = 0; i < attempts; i++) {
        const upstream = this.#upstreams[(start + i) % this.#upstreams.length];
        let reply: Uint8Array | undefined;
        try {
          if (proto === "udp") {
            reply = await this.#exchangeUdp(upstream, query);
            if (reply !== undefined && readHeader(reply)?.truncated) {
              reply = await this.#exchangeTcp(upstream, query);
            }
          } else {
            reply = await this.#exchangeTcp(upstream, query);
          }
        } catch (err) {
          log.v(2).info("DNS upstream failed", { upstream: fmt(upstream), err: String(err) });
          reply = undefined;
        }
        if (reply === undefined) continue;
        const header = readHeader(reply);
        if (header === undefined || !header.response) continue;
        return { kind: "reply", packet: withId(reply, clientId), rcode: header.rcode };
      }
      return { kind: "failed" };
    } finally {
      this.#inFlight--;
    }
  }

  /** Closes the sockets; pending forwards fail. */
  close(): void {
    this.#closed = true;
    for (const s of [...this.#sockets.values()].flat()) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
    this.#sockets.clear();
    for (const p of this.#pending.values()) p.resolve(undefined);
    this.#pending.clear();
  }

  /**
   * A socket of the family's pool, picked at random. The pool grows to UDP_SOCKETS sockets on
   * kernel-chosen (random) ports, so a spoofed reply must guess the port as well as the ID.
   */
  #socket(family: "v4" | "v6"): Deno.DatagramConn {
    let pool = this.#sockets.get(family);
    if (pool === undefined) this.#sockets.set(family, pool = []);
    if (pool.length < UDP_SOCKETS) {
      const s = Deno.listenDatagram({
        hostname: family === "v4" ? "0.0.0.0" : "::",
        port: 0,
        transport: "udp",
      });
      pool.push(s);
      this.#receiveLoop(s);
      return s;
    }
    return pool[Math.floor(Math.random() * pool.length)];
  }

  async #receiveLoop(s: Deno.DatagramConn): Promise<void> {
    for (;;) {
      let packet: Uint8Array;
      let addr: Deno.Addr;
      try {
        [packet, addr] = await s.receive();
      } catch {
        return; // closed
      }
      if (packet.length < 12) continue;
      const id = (packet[0] << 8) | packet[1];
      const p = this.#pending.get(id);
      if (p === undefined) continue;
      const from = addr as Deno.NetAddr;
      if (!sameEndpoint({ hostname: from.hostname, port: from.port }, p.upstream)) continue;
      if (!sameQuestion(packet, p.query)) continue;
      this.#pending.delete(id);
      p.resolve(packet);
    }
  }

  #exchangeUdp(upstream: Upstream, query: Uint8Array): Promise<Uint8Array | undefined> {
    if (this.#pending.size >= 0xffff) return Promise.resolve(undefined);
    let id: number;
    do id = Math.floor(Math.random() * 0x10000); while (this.#pending.has(id));
    const socket = this.#socket(upstream.hostname.includes(":") ? "v6" : "v4");
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.#pending.get(id)?.resolve === done) this.#pending.delete(id);
        resolve(undefined);
      }, this.#timeoutMs);
      const done = (packet: Uint8Array | undefined) => {
        clearTimeout(timer);
        resolve(packet);
      };
      this.#pending.set(id, { upstream, query, resolve: done });
      socket.send(withId(query, id), { transport: "udp", ...upstream }).catch((err) => {
        log.v(2).info("Cannot send to DNS upstream", { upstream: fmt(upstream), err: String(err) });
        if (this.#pending.get(id)?.resolve === done) this.#pending.delete(id);
        done(undefined);
      });
    });
  }

  async #exchangeTcp(upstream: Upstream, query: Uint8Array): Promise<Uint8Array | undefined> {
    let conn: Deno.TcpConn | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        try {
          conn?.close();
        } catch {
          // already closed
        }
        resolve(undefined);
      }, this.#timeoutMs);
    });
    const exchange = (async () => {
      conn = await Deno.connect({ hostname: upstream.hostname, port: upstream.port });
      const framed = new Uint8Array(query.length + 2);
      framed[0] = query.length >> 8;
      framed[1] = query.length & 0xff;
      framed.set(query, 2);
      await writeAll(conn, framed);
      const len = await readExactly(conn, 2);
      if (len === undefined) return undefined;
      return await readExactly(conn, (len[0] << 8) | len[1]);
    })();
    try {
      return await Promise.race([exchange, timeout]);
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
      exchange.catch(() => {});
      try {
        // deno-lint-ignore no-explicit-any
        (conn as any)?.close();
      } catch {
        // already closed
      }
    }
  }
}

/**
 * The `nameserver` entries of a resolv.conf.
 *
 * @param text File contents.
 * @returns The addresses, in file order (zone suffixes `%eth0` removed).
 */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    const m = /^nameserver\s+(\S+)/.exec(line);
    if (m) out.push(m[1].replace(/%.*$/, ""));
  }
  return out;
}

/**
 * Parses `ip`, `ip:port` or `[ipv6]:port` (port 53 by default).
 *
 * @param text The upstream.
 * @returns The upstream, or undefined when malformed.
 */
export function parseUpstream(text: string): Upstream | undefined {
  let host = text.trim();
  let port = 53;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(host);
  if (bracket) {
    host = bracket[1];
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (!host.includes(":") || host.indexOf(":") === host.lastIndexOf(":")) {
    const i = host.indexOf(":");
    if (i >= 0) {
      port = Number(host.slice(i + 1));
      host = host.slice(0, i);
    }
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  if (parseIP(host) === undefined) return undefined;
  return { hostname: host, port };
}

function sameEndpoint(a: Upstream, b: Upstream): boolean {
  if (a.port !== b.port) return false;
  const x = parseIP(a.hostname);
  const y = parseIP(b.hostname);
  if (x === undefined || y === undefined) return a.hostname === b.hostname;
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * Whether a reply repeats the query's question (name compared case-insensitively, type, class).
 * Both messages carry QDCOUNT 1 with an uncompressed question right after the header.
 */
function sameQuestion(reply: Uint8Array, query: Uint8Array): boolean {
  if (reply[4] !== query[4] || reply[5] !== query[5]) return false;
  let off = HEADER_SIZE;
  for (;;) {
    if (off >= query.length || off >= reply.length) return false;
    const len = query[off];
    if (reply[off] !== len) return false;
    if (len === 0) break;
    if (len > 63) return false;
    for (let i = off + 1; i <= off + len; i++) {
      const a = query[i], b = reply[i];
      if (a !== b && (a | 0x20) !== (b | 0x20)) return false;
      if (a !== b && !((a | 0x20) >= 0x61 && (a | 0x20) <= 0x7a)) return false;
    }
    off += 1 + len;
  }
  if (off + 5 > query.length || off + 5 > reply.length) return false;
  for (let i = off + 1; i < off + 5; i++) if (query[i] !== reply[i]) return false;
  return true;
}

function fmt(u: Upstream): string {
  return u.hostname.includes(":") ? `[${u.hostname}]:${u.port}` : `${u.hostname}:${u.port}`;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array | undefined> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const r = await conn.read(out.subarray(off));
    if (r === null) return undefined;
    off += r;
  }
  return out;
}

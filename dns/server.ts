/**
 * The cluster DNS server: UDP and TCP listeners around `resolve()` and the Forwarder. The only
 * I/O in dns/ besides the Forwarder's sockets and the per-address UDP sockets it asks
 * `udp_listeners.ts` for.
 *
 * @module
 */

import { log } from "../config/log.ts";
import type { ClusterView } from "./cluster_view.ts";
import {
  decodeMessage,
  encodeError,
  encodeQuery,
  encodeReply,
  encodeTruncated,
  HEADER_SIZE,
  MAX_TCP_MESSAGE,
  type ParsedQuery,
  parseQuery,
  replySizeLimit,
} from "./codec.ts";
import { Forwarder } from "./forward.ts";
import { ForwardCache } from "./forward_cache.ts";
import { parseIP } from "./ip.ts";
import { type DnsRecord, Rcode, type Reply, RRType, rrTypeLabel, rrTypeName } from "./message.ts";
import { type DnsMetrics, type DnsProto, noopDnsMetrics } from "./metrics.ts";
import { resolve, type ResolveOptions } from "./resolve.ts";
import { parseReverseName } from "./reverse.ts";
import { TcpMessageFramer } from "./tcp_framer.ts";
import { type TcpSlot, TcpSlots } from "./tcp_slots.ts";
import { isWildcard, UdpListeners } from "./udp_listeners.ts";

/** Decides which clients are answered (`ClientFilter` in client_filter.ts). */
export interface ClientPolicy {
  /** Whether the client at this address is answered; the others get REFUSED. */
  allows(address: string): boolean;
  /** Told the local addresses the server bound, after each address scan. */
  setLocalAddresses?(addresses: readonly string[]): void;
}

/** Options of a DnsServer. */
export interface DnsServerOptions {
  /** Address to listen on (UDP and TCP), e.g. `0.0.0.0`, `127.0.0.1`, `::`. */
  readonly bindAddress: string;
  /** Port for UDP and TCP; 0 picks a free port (the same one for both). */
  readonly port: number;
  /** Cluster domain, e.g. `cluster.local` (a trailing dot is ignored). */
  readonly clusterDomain: string;
  /** TTL of cluster records, seconds. */
  readonly ttl: number;
  /** Pod records: `insecure` answers `1-2-3-4.<ns>.pod.<zone>`, `disabled` never does. */
  readonly podRecords: "insecure" | "disabled";
  /** Upstream resolvers; empty: the nameservers of `resolvConfPath`. */
  readonly upstreamServers: readonly string[];
  /** Default `/etc/resolv.conf`. */
  readonly resolvConfPath?: string;
  /** Per-upstream timeout of a forwarded query. */
  readonly forwardTimeoutMs: number;
  /** Forwards in flight beyond this get REFUSED. */
  readonly maxConcurrentForwards: number;
  /**
   * A TCP connection with nothing in flight is closed when no complete query arrived this long
   * after it opened or after its last answer (partial bytes do not extend it).
   */
  readonly tcpIdleTimeoutMs: number;
  /**
   * TCP connections at most (default 256). A new one beyond closes the oldest idle connection,
   * or is closed itself when none is idle.
   */
  readonly maxTcpConnections?: number;
  /**
   * TCP connections per client address at most (default an eighth of `maxTcpConnections`); a
   * new one beyond closes that client's oldest idle connection.
   */
  readonly maxTcpConnectionsPerClient?: number;
  /** Queries in flight per TCP connection before reading pauses (default 32). */
  readonly maxTcpPipeline?: number;
  /**
   * Addresses clients reach this server at (the cluster DNS service IPs): glue of the apex NS
   * `ns.dns.<zone>`. Default: the bind address unless it is unspecified (0.0.0.0, ::).
   */
  readonly nsAddresses?: readonly string[];
  /** Forward PTR queries for addresses the cluster does not know instead of NXDOMAIN. */
  readonly reverseFallthrough?: boolean;
  /** Encoded answers kept (default 10000; 0 disables the cache). */
  readonly answerCacheSize?: number;
  /** Bytes of encoded answers and names kept (default 4 MiB): the cache is cleared past it. */
  readonly answerCacheMaxBytes?: number;
  /**
   * Forwarded replies kept (default 10000; 0 disables): NOERROR/NXDOMAIN replies for their
   * smallest TTL, at most 30 s, with TTLs counted down (see forward_cache.ts).
   */
  readonly forwardCacheSize?: number;
  /** Clock in milliseconds for the forward cache; `Date.now` by default (tests inject one). */
  readonly now?: () => number;
  /** Where observations go; a no-op by default. */
  readonly metrics?: DnsMetrics;
  /**
   * Who is answered; everyone else gets REFUSED and nothing is forwarded. Undefined answers
   * every client (in-process tests and benchmarks); `main.ts` always passes a `ClientFilter`.
   */
  readonly clients?: ClientPolicy;
  /** Re-scan period of the local addresses for a wildcard bind address, ms (default 5000). */
  readonly addressScanIntervalMs?: number;
}

/** Where the server listens. */
export interface DnsServerAddress {
  /** The bind address. */
  readonly hostname: string;
  /** Bound UDP port. */
  readonly udpPort: number;
  /** Bound TCP port (the same as udpPort). */
  readonly tcpPort: number;
}

const RCODE_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [name, value] of Object.entries(Rcode)) names[value] = name;
  return names;
})();

/**
 * Serves cluster DNS over UDP and TCP from a ClusterView, and forwards other names upstream.
 *
 * Per query: parse and validate (bad input gets FORMERR/NOTIMP/REFUSED/BADVERS or silence, see
 * dns/README.md); answer from the encoded-answer cache, or `resolve()` and encode (with TC when
 * the client's size is exceeded); names outside the zones go to the Forwarder. Until the view
 * has synced, every in-zone answer that is not a positive one is SERVFAIL. Any unexpected throw
 * while answering becomes SERVFAIL plus a log line; the listeners never stop on a bad packet.
 *
 * The answer cache maps (qname exactly as sent, qtype, size limit, EDNS, DO) to the encoded
 * reply; a hit costs a copy and a patch of ID, RD and CD. It is dropped whenever the view's
 * version changes.
 */
export class DnsServer {
  #view: ClusterView;
  #opts: DnsServerOptions;
  #resolveOpts: ResolveOptions;
  #metrics: DnsMetrics;
  #forwarder: Forwarder | undefined;
  #forwardCache: ForwardCache | undefined;
  #udp: UdpListeners | undefined;
  #tcp: Deno.TcpListener | undefined;
  #tcpConns = new Set<Deno.Conn>();
  #tcpSlots: TcpSlots;
  #loops = new Set<Promise<void>>();
  #stopped = false;
  #cache = new Map<number, Map<string, Uint8Array>>();
  #cached = 0;
  #cachedBytes = 0;
  #cacheVersion = -1;
  #cacheSize: number;
  #address: DnsServerAddress | undefined;

  /**
   * Creates a server; nothing is bound until `start()`.
   *
   * @param view The cluster indexes (fed by the cache).
   * @param opts See DnsServerOptions.
   */
  constructor(view: ClusterView, opts: DnsServerOptions) {
    this.#view = view;
    this.#opts = opts;
    this.#metrics = opts.metrics ?? noopDnsMetrics;
    this.#cacheSize = opts.answerCacheSize ?? 10000;
    const maxTcp = opts.maxTcpConnections ?? 256;
    this.#tcpSlots = new TcpSlots(
      maxTcp,
      opts.maxTcpConnectionsPerClient ?? Math.ceil(maxTcp / 8),
    );
    const forwardCacheSize = opts.forwardCacheSize ?? 10000;
    this.#forwardCache = forwardCacheSize > 0
      ? new ForwardCache({ maxEntries: forwardCacheSize, now: opts.now })
      : undefined;
    this.#resolveOpts = {
      zone: opts.clusterDomain.toLowerCase().replace(/\.$/, ""),
      ttl: opts.ttl,
      podRecords: opts.podRecords,
      nsAddresses: opts.nsAddresses ??
        (isWildcard(opts.bindAddress) || parseIP(opts.bindAddress) === undefined
          ? []
          : [opts.bindAddress]),
    };
  }

  /** Bytes held by the encoded-answer cache (answers and names). */
  get answerCacheBytes(): number {
    return this.#cachedBytes;
  }

  /** The bound addresses; throws before `start()`. */
  get address(): DnsServerAddress {
    if (this.#address === undefined) throw new Error("Cannot read address: server not started");
    return this.#address;
  }

  /**
   * Binds TCP, then UDP on the same port (also when `port` is 0), starts serving, and creates
   * the Forwarder.
   *
   * UDP is bound per address (`udp_listeners.ts`): the bind address itself, or for a wildcard
   * every local address of its family plus loopback, re-scanned every `addressScanIntervalMs`,
   * so that each reply leaves from the address that was asked. That includes a query the DNS
   * intercept REDIRECTs from the node itself (nat OUTPUT rewrites the destination to 127.0.0.1),
   * which conntrack can then un-NAT.
   *
   * @throws {Deno.errors.AddrInUse} When the port is taken (TCP, or UDP on every address).
   */
  async start(): Promise<void> {
    const { bindAddress: hostname, port } = this.#opts;
    // NOTE: TCP first, on the bind address itself: a second instance on the same port fails
    // here before it binds any UDP socket.
    for (let attempt = 0;; attempt++) {
      const tcp = Deno.listen({ hostname, port, transport: "tcp" });
      const tcpPort = (tcp.addr as Deno.NetAddr).port;
      const udp = new UdpListeners({
        bindAddress: hostname,
        port: tcpPort,
        scanIntervalMs: this.#opts.addressScanIntervalMs ?? 5000,
        // NOTE: one receive loop per socket. Measured with dnsperf, more posted receives on the
        // same socket did not raise throughput (the send op dominates), and one loop keeps
        // replies in order.
        onSocket: (conn) => this.#track(this.#udpLoop(conn)),
        onAddresses: (addresses) => this.#opts.clients?.setLocalAddresses?.(addresses),
      });
      try {
        // An ephemeral TCP port may be taken for UDP on one of the addresses: try another.
        udp.start(port === 0);
        this.#udp = udp;
        this.#tcp = tcp;
        break;
      } catch (err) {
        tcp.close();
        if (port !== 0 || attempt >= 20 || !(err instanceof Deno.errors.AddrInUse)) throw err;
      }
    }
    const tcpPort = (this.#tcp.addr as Deno.NetAddr).port;
    this.#address = { hostname, udpPort: tcpPort, tcpPort };
    this.#forwarder = await Forwarder.create({
      upstreams: this.#opts.upstreamServers,
      resolvConfPath: this.#opts.resolvConfPath,
      timeoutMs: this.#opts.forwardTimeoutMs,
      maxConcurrent: this.#opts.maxConcurrentForwards,
      self: [
        { hostname, port: tcpPort },
        ...this.#resolveOpts.nsAddresses.map((ip) => ({ hostname: ip, port: 53 })),
      ],
    });
    this.#track(this.#tcpLoop(this.#tcp));
    log.info("Cluster DNS listening", {
      address: hostname,
      port: tcpPort,
      udpAddresses: this.#udp.addresses.join(","),
      zone: this.#resolveOpts.zone,
      upstreams: this.#forwarder.upstreams.map((u) => `${u.hostname}:${u.port}`).join(","),
    });
  }

  /** Keeps a serving loop until it ends (sockets of vanished addresses end theirs). */
  #track(loop: Promise<void>): void {
    this.#loops.add(loop);
    loop.finally(() => this.#loops.delete(loop));
  }

  /** Closes the listeners, open TCP connections and the Forwarder. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#udp?.close();
    try {
      this.#tcp?.close();
    } catch { /* already closed */ }
    for (const c of this.#tcpConns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    this.#tcpConns.clear();
    this.#forwarder?.close();
    await Promise.allSettled(this.#loops);
  }

  /**
   * Answers one message. Exposed for in-process benchmarks and tests; the listeners call it.
   *
   * @param packet The query bytes.
   * @param proto The transport (decides the size limit).
   * @param client The client's address; one the `clients` policy refuses gets REFUSED (never
   *   forwarded). Undefined: no check (in-process callers).
   * @returns The reply, a promise of it (forwarded names), or undefined to stay silent.
   */
  handle(
    packet: Uint8Array,
    proto: DnsProto,
    client?: string,
  ): Uint8Array | Promise<Uint8Array | undefined> | undefined {
    const started = performance.now();
    const query = parseQuery(packet);
    if (query === undefined) return undefined;
    this.#metrics.observeRequest({ proto, type: rrTypeLabel(query.type) });
    const refused = client !== undefined && this.#opts.clients?.allows(client) === false;
    if (refused) this.#metrics.observeBlocked({ proto });
    let out: Uint8Array | Promise<Uint8Array | undefined> | undefined;
    try {
      // A refused reply is no larger than the query: nothing to amplify.
      out = refused
        ? encodeError(query, packet, "REFUSED")
        : query.error !== undefined
        ? encodeError(query, packet, query.error)
        : this.#answer(query, packet, proto);
    } catch (err) {
      log.error("Cannot answer DNS query", err, { name: query.name, type: rrTypeName(query.type) });
      out = encodeError(query, packet, "SERVFAIL");
    }
    if (out instanceof Promise) {
      return out.then(
        (bytes) => this.#observe(proto, started, bytes),
        (err) => {
          log.error("Cannot answer DNS query", err, { name: query.name });
          // The packet buffer may have been reused by now: answer without echoing the question.
          const bare = { ...query, questionEnd: HEADER_SIZE, edns: undefined };
          return this.#observe(proto, started, encodeError(bare, packet, "SERVFAIL"));
        },
      );
    }
    return this.#observe(proto, started, out);
  }

  #observe(
    proto: DnsProto,
    started: number,
    bytes: Uint8Array | undefined,
  ): Uint8Array | undefined {
    if (bytes !== undefined) {
      this.#metrics.observeResponse(
        { proto, rcode: RCODE_NAMES[bytes[3] & 0xf] ?? "UNKNOWN" },
        (performance.now() - started) / 1000,
        bytes.length,
      );
    }
    return bytes;
  }

  #answer(
    query: ParsedQuery,
    packet: Uint8Array,
    proto: DnsProto,
  ): Uint8Array | Promise<Uint8Array | undefined> {
    const limit = replySizeLimit(query, proto);
    const view = this.#view;
    if (view.version !== this.#cacheVersion) {
      this.#clearCache();
      this.#cacheVersion = view.version;
    }
    // Two levels, (qtype, size limit, EDNS, DO) then the name, so a hit builds no key string.
    const shape = query.type * 0x40000 + limit * 4 +
      (query.edns === undefined ? 0 : query.edns.dnssecOk ? 2 : 1);
    const byName = this.#cache.get(shape);
    const cached = byName?.get(query.name);
    if (cached !== undefined) return patchCached(cached, query);

    const question = { name: query.name, lowerName: query.lowerName, type: query.type };
    const reply = resolve(question, view, this.#resolveOpts);
    if (reply === undefined) return this.#outside(query, packet, proto);
    const synced = view.hasSynced();
    if (!synced && (reply.rcode !== "NOERROR" || reply.answers.length === 0)) {
      return encodeError(query, packet, "SERVFAIL");
    }
    if (
      reply.rcode === "NXDOMAIN" && this.#opts.reverseFallthrough &&
      parseReverseName(query.lowerName) !== undefined
    ) {
      return this.#outside(query, packet, proto);
    }
    if (reply.chase !== undefined) return this.#chase(query, packet, reply, limit);
    const bytes = encodeReply(query, packet, reply, limit);
    if (synced && this.#cacheSize > 0) {
      const size = bytes.length + query.name.length;
      if (
        this.#cached >= this.#cacheSize ||
        this.#cachedBytes + size > (this.#opts.answerCacheMaxBytes ?? 4 * 1024 * 1024)
      ) this.#clearCache();
      this.#cachedBytes += size;
      let names = this.#cache.get(shape);
      if (names === undefined) this.#cache.set(shape, names = new Map());
      names.set(query.name, bytes); // never mutated: hits are patched copies
      this.#cached++;
    }
    return bytes;
  }

  /**
   * A name we forward: ANY over UDP gets RFC 8482's minimal answer (one HINFO "RFC8482"), never
   * the upstream's full set, so the node cannot amplify; else the forward cache or upstream.
   */
  #outside(
    query: ParsedQuery,
    packet: Uint8Array,
    proto: DnsProto,
  ): Uint8Array | Promise<Uint8Array | undefined> {
    if (query.type === RRType.ANY && proto === "udp") {
      const hinfo = { name: query.name, type: RRType.HINFO, ttl: this.#opts.ttl };
      return encodeReply(query, packet, {
        rcode: "NOERROR",
        answers: [{ ...hinfo, data: ["RFC8482", ""] }],
        authority: [],
        additionals: [],
        authoritative: false,
      }, replySizeLimit(query, proto));
    }
    return this.#cachedForward(query, packet, proto) ?? this.#forward(query, packet, proto);
  }

  #clearCache(): void {
    this.#cache.clear();
    this.#cached = 0;
    this.#cachedBytes = 0;
  }

  async #forward(
    query: ParsedQuery,
    packet: Uint8Array,
    proto: DnsProto,
  ): Promise<Uint8Array | undefined> {
    packet = packet.slice(); // the caller's buffer is reused once we await
    const started = performance.now();
    const result = this.#forwarder === undefined
      ? { kind: "failed" as const }
      : await this.#forwarder.forward(packet, proto);
    const seconds = (performance.now() - started) / 1000;
    if (result.kind === "refused") {
      this.#metrics.observeForward({ rcode: "REFUSED" }, seconds);
      return encodeError(query, packet, "REFUSED");
    }
    if (result.kind === "failed") {
      this.#metrics.observeForward({ rcode: "SERVFAIL" }, seconds);
      return encodeError(query, packet, "SERVFAIL");
    }
    this.#metrics.observeForward({ rcode: RCODE_NAMES[result.rcode] ?? "UNKNOWN" }, seconds);
    this.#forwardCache?.set(forwardKey(query), result.packet);
    if (result.packet.length > replySizeLimit(query, proto)) return encodeTruncated(query, packet);
    return result.packet;
  }

  /** A cached forwarded reply, or an empty TC reply when it does not fit the client; if any. */
  #cachedForward(
    query: ParsedQuery,
    packet: Uint8Array,
    proto: DnsProto,
  ): Uint8Array | undefined {
    if (this.#forwardCache === undefined) return undefined;
    const hit = this.#forwardCache.get(forwardKey(query), query.id, query.flags);
    if (hit === undefined) return undefined;
    return hit.length <= replySizeLimit(query, proto) ? hit : encodeTruncated(query, packet);
  }

  /** ExternalName outside the zone: the CNAME, then the target's records from upstream. */
  async #chase(
    query: ParsedQuery,
    packet: Uint8Array,
    reply: Reply,
    limit: number,
  ): Promise<Uint8Array> {
    packet = packet.slice(); // the caller's buffer is reused once we await
    const chase = reply.chase!;
    let extra: readonly DnsRecord[] = [];
    let truncated = false;
    if (this.#forwarder !== undefined) {
      const q = encodeQuery({
        id: Math.floor(Math.random() * 0x10000),
        name: chase.name,
        type: chase.type,
      });
      const result = await this.#forwarder.forward(q, "udp");
      if (result.kind === "reply") {
        const msg = decodeMessage(result.packet);
        if (msg !== undefined) {
          extra = msg.answerRecords;
          truncated = msg.truncated;
        }
      }
    }
    const bytes = encodeReply(
      query,
      packet,
      { ...reply, answers: [...reply.answers, ...extra] },
      limit,
    );
    if (truncated) bytes[2] |= 0x02;
    return bytes;
  }

  async #udpLoop(conn: Deno.DatagramConn): Promise<void> {
    // One receive buffer per loop, reused: handle() reads it synchronously and copies it before
    // any await (forwarding), so the next receive may overwrite it.
    const buffer = new Uint8Array(MAX_TCP_MESSAGE);
    while (!this.#stopped) {
      let packet: Uint8Array;
      let addr: Deno.Addr;
      try {
        [packet, addr] = await conn.receive(buffer);
      } catch (err) {
        if (this.#stopped) return;
        if (err instanceof Deno.errors.BadResource) return;
        log.v(2).info("DNS UDP receive failed", { err: String(err) });
        continue;
      }
      const out = this.handle(packet, "udp", (addr as Deno.NetAddr).hostname);
      if (out === undefined) continue;
      if (out instanceof Promise) {
        out.then((bytes) => {
          if (bytes !== undefined && !this.#stopped) this.#send(conn, bytes, addr);
        });
      } else {
        this.#send(conn, out, addr);
      }
    }
  }

  #send(conn: Deno.DatagramConn, bytes: Uint8Array, addr: Deno.Addr): void {
    conn.send(bytes, addr).catch((err) => {
      if (!this.#stopped) log.v(2).info("DNS UDP send failed", { err: String(err) });
    });
  }

  async #tcpLoop(listener: Deno.TcpListener): Promise<void> {
    while (!this.#stopped) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (this.#stopped || err instanceof Deno.errors.BadResource) return;
        log.v(2).info("DNS TCP accept failed", { err: String(err) });
        continue;
      }
      const client = conn.remoteAddr.hostname;
      const slot = this.#tcpSlots.admit(client, () => closeQuietly(conn));
      if (slot === undefined) {
        log.v(2).info("DNS TCP connections all busy, closing the new one", { client });
        closeQuietly(conn);
        continue;
      }
      this.#tcpConns.add(conn);
      this.#serveTcp(conn, client, slot).finally(() => {
        slot.release();
        this.#tcpConns.delete(conn);
        closeQuietly(conn);
      });
    }
  }

  /**
   * One TCP connection: length-prefixed messages, answered as they complete (pipelining), at
   * most `maxTcpPipeline` in flight; closed on a zero-length message, or when nothing is in
   * flight and no complete message arrived within `tcpIdleTimeoutMs` of the opening or of the
   * last answer written (bytes of a partial message do not extend it: a client trickling one
   * byte at a time cannot hold the slot). The slot is busy while a query is being answered and
   * idle (evictable by a newer connection, see tcp_slots.ts) otherwise.
   */
  async #serveTcp(conn: Deno.Conn, client: string, slot: TcpSlot): Promise<void> {
    const maxPipeline = this.#opts.maxTcpPipeline ?? 32;
    let inFlight = 0;
    let wake: (() => void) | undefined;
    let writing: Promise<void> = Promise.resolve();
    // Replies waiting for the socket. A client that pipelines queries without reading its
    // replies would otherwise make us queue every reply (up to 64 KB each) in memory.
    let queued = 0;
    let closed = false;
    let idle: ReturnType<typeof setTimeout> | undefined;
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        if (inFlight > 0) armIdle();
        else {
          closed = true;
          closeQuietly(conn);
        }
      }, this.#opts.tcpIdleTimeoutMs);
    };
    const settle = () => slot.setBusy(inFlight > 0 || queued > 0);
    const write = (bytes: Uint8Array) => {
      const framed = new Uint8Array(bytes.length + 2);
      framed[0] = bytes.length >> 8;
      framed[1] = bytes.length & 0xff;
      framed.set(bytes, 2);
      queued++;
      writing = writing.then(async () => {
        if (closed) return;
        let off = 0;
        while (off < framed.length) off += await conn.write(framed.subarray(off));
        if (!closed) armIdle();
      }).catch(() => {
        closed = true;
        closeQuietly(conn);
      }).finally(() => {
        queued--;
        settle();
      });
    };
    const done = () => {
      inFlight--;
      armIdle();
      settle();
      wake?.();
      wake = undefined;
    };

    armIdle();
    // Each message is read into one buffer of its announced length (no re-copying of what
    // was buffered on every read; see TcpMessageFramer).
    const framer = new TcpMessageFramer();
    const chunk = new Uint8Array(16 * 1024);
    try {
      while (!closed && !this.#stopped) {
        const n = await conn.read(chunk);
        if (n === null) break;
        for (const msg of framer.push(chunk.subarray(0, n))) {
          // Backpressure: answer no more while the client leaves replies unread. Each written
          // reply re-arms the idle timer, so a client that never reads again is closed by it.
          while (queued >= maxPipeline && !closed) await writing;
          if (closed) break;
          if (msg.length === 0) {
            closed = true;
            break;
          }
          const out = this.handle(msg, "tcp", client);
          if (out === undefined) continue;
          if (!(out instanceof Promise)) {
            write(out);
            settle();
            continue;
          }
          inFlight++;
          settle();
          out.then((bytes) => {
            if (bytes !== undefined) write(bytes);
          }).finally(done);
          while (inFlight >= maxPipeline && !closed) {
            await new Promise<void>((r) => wake = r);
          }
        }
      }
    } catch (err) {
      if (!closed && !this.#stopped) log.v(2).info("DNS TCP read failed", { err: String(err) });
    } finally {
      clearTimeout(idle);
      while (inFlight > 0 && !this.#stopped) await new Promise<void>((r) => wake = r);
      await writing;
    }
  }
}

/** Forward cache key: the question as sent and the EDNS shape of the query. */
function forwardKey(query: ParsedQuery): string {
  const edns = query.edns === undefined ? 0 : query.edns.dnssecOk ? 2 : 1;
  return `${query.type}/${query.class}/${edns}/${query.name}`;
}

/** A cached reply with the query's ID, RD and CD. */
function patchCached(cached: Uint8Array, query: ParsedQuery): Uint8Array {
  const out = cached.slice();
  out[0] = query.id >> 8;
  out[1] = query.id & 0xff;
  out[2] = (out[2] & 0xfe) | ((query.flags >> 8) & 0x01);
  out[3] = (out[3] & 0xef) | (query.flags & 0x10);
  return out;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

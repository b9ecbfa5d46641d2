/**
 * The DNS server's UDP sockets: one per local address when the bind address is a wildcard, so
 * that every reply leaves from the address the query was sent to.
 *
 * Deno has no `IP_PKTINFO` (a socket bound to `0.0.0.0` cannot choose the source of a reply, so
 * the kernel picks one by route and a client that asked another node address drops the reply as
 * a spoof). Linux delivers a datagram to the socket bound to its exact destination, so binding
 * each address does the same job. Addresses come and go (DHCP, a CNI bridge appearing): the set
 * is re-scanned every `scanIntervalMs`, new addresses are bound and sockets of vanished ones
 * closed. Loopback is always bound (the DNS intercept REDIRECTs the node's own queries to it).
 *
 * @module
 */

import { type Clock, realClock } from "../config/clock.ts";
import { log } from "../config/log.ts";

/** What a UdpListeners binds and whom it tells. */
export interface UdpListenersOptions {
  /** The server's bind address: a specific IP (one socket), `0.0.0.0` (IPv4) or `::` (both). */
  readonly bindAddress: string;
  /** The port every socket binds. */
  readonly port: number;
  /** Re-scan period of the local addresses, ms (wildcard only). */
  readonly scanIntervalMs: number;
  /** Called with each newly bound socket; it must serve it until the socket is closed. */
  readonly onSocket: (conn: Deno.DatagramConn) => void;
  /** Called after each scan with every bound address (wildcard only). */
  readonly onAddresses?: (addresses: readonly string[]) => void;
  /** The interface list; `Deno.networkInterfaces` by default (tests inject one). */
  readonly interfaces?: () => Deno.NetworkInterfaceInfo[];
  /** Timers of the re-scan; `realClock` by default (tests move a `FakeClock`). */
  readonly clock?: Clock;
}

/**
 * Whether a bind address is a wildcard (`0.0.0.0`, or `::` for both families).
 *
 * @param bindAddress The configured bind address.
 * @returns True for the two wildcards.
 */
export function isWildcard(bindAddress: string): boolean {
  return bindAddress === "0.0.0.0" || bindAddress === "::";
}

/**
 * The addresses to bind for a bind address: itself when specific; for a wildcard, every local
 * address of its family (both for `::`) plus loopback, without IPv6 link-local addresses (they
 * need a zone, which Deno cannot bind).
 *
 * @param bindAddress The configured bind address.
 * @param interfaces The node's interfaces.
 * @returns Address texts, each once.
 */
export function addressesToBind(
  bindAddress: string,
  interfaces: readonly Deno.NetworkInterfaceInfo[],
): string[] {
  if (!isWildcard(bindAddress)) return [bindAddress];
  const families = bindAddress === "::" ? ["IPv4", "IPv6"] : ["IPv4"];
  const out = new Set<string>(bindAddress === "::" ? ["127.0.0.1", "::1"] : ["127.0.0.1"]);
  for (const i of interfaces) {
    if (!families.includes(i.family)) continue;
    if (i.family === "IPv6" && /^fe[89ab]/i.test(i.address)) continue;
    out.add(i.address);
  }
  return [...out];
}

/** The UDP sockets of one DNS server; see the module comment. */
export class UdpListeners {
  #opts: UdpListenersOptions;
  #conns = new Map<string, Deno.DatagramConn>();
  #failed = new Set<string>();
  #clock: Clock;
  #timer: number | undefined;
  #closed = false;

  /**
   * @param opts See UdpListenersOptions.
   */
  constructor(opts: UdpListenersOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? realClock;
  }

  /** The bound addresses. */
  get addresses(): string[] {
    return [...this.#conns.keys()];
  }

  /**
   * Binds every address and, for a wildcard, starts the periodic re-scan.
   *
   * @throws The first bind error when no address could be bound, or any `AddrInUse` when
   *   `failOnAddrInUse` is set (an ephemeral port is then retried on another port).
   */
  start(failOnAddrInUse: boolean): void {
    const errors = this.#scan(failOnAddrInUse);
    if (this.#conns.size === 0 && errors.length > 0) throw errors[0];
    if (isWildcard(this.#opts.bindAddress)) this.#scheduleScan();
  }

  /** Re-scans after `scanIntervalMs`, and again after that, until closed. */
  #scheduleScan(): void {
    this.#timer = this.#clock.setTimeout(() => {
      try {
        this.#scan(false);
      } finally {
        if (!this.#closed) this.#scheduleScan();
      }
    }, this.#opts.scanIntervalMs);
  }

  /** Closes every socket and stops the re-scan. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    for (const conn of this.#conns.values()) closeQuietly(conn);
    this.#conns.clear();
  }

  /** Binds new addresses, closes vanished ones; returns the bind errors. */
  #scan(failOnAddrInUse: boolean): unknown[] {
    if (this.#closed) return [];
    let interfaces: Deno.NetworkInterfaceInfo[] = [];
    try {
      interfaces = (this.#opts.interfaces ?? Deno.networkInterfaces)();
    } catch (err) {
      log.warn("Cannot list the network interfaces for the DNS sockets", { err: String(err) });
      return [];
    }
    const wanted = addressesToBind(this.#opts.bindAddress, interfaces);
    for (const [address, conn] of this.#conns) {
      if (wanted.includes(address)) continue;
      log.info("Closing the DNS socket of a vanished address", { address });
      closeQuietly(conn);
      this.#conns.delete(address);
    }
    const errors: unknown[] = [];
    for (const address of wanted) {
      if (this.#conns.has(address)) continue;
      try {
        const conn = Deno.listenDatagram({
          hostname: address,
          port: this.#opts.port,
          transport: "udp",
        });
        this.#conns.set(address, conn);
        this.#failed.delete(address);
        this.#opts.onSocket(conn);
      } catch (err) {
        if (failOnAddrInUse && err instanceof Deno.errors.AddrInUse) {
          this.close();
          throw err;
        }
        errors.push(err);
        // Once per address until it binds: a re-scan every few seconds must not flood the log.
        if (!this.#failed.has(address)) {
          this.#failed.add(address);
          log.warn("Cannot bind a DNS socket: queries to this address get no answer", {
            address,
            port: this.#opts.port,
            err: String(err),
          });
        }
      }
    }
    for (const address of this.#failed) {
      if (!wanted.includes(address)) this.#failed.delete(address);
    }
    this.#opts.onAddresses?.(this.addresses);
    return errors;
  }
}

function closeQuietly(conn: Deno.DatagramConn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

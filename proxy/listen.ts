/**
 * HTTP listeners bound as Go binds them. Go's `net.Listen("tcp", "0.0.0.0:10256")` opens one
 * dual-stack IPv6 socket (IPv4 arrives as v4-mapped addresses), so upstream's health and metrics
 * ports on an unspecified address answer on both families; `[::]` does the same. Deno's
 * `0.0.0.0` socket is IPv4 only, so an unspecified address is bound here as `[::]` (dual-stack
 * unless `net.ipv6.bindv6only` is set, in which case a second `0.0.0.0` socket on the same port
 * takes IPv4), and as `0.0.0.0` alone when the kernel has no IPv6 at all.
 *
 * @module
 */

/** An `IP:port` listen address split into its parts. */
export interface HostPort {
  /** The IP, without brackets (`0.0.0.0`, `::1`). */
  hostname: string;
  /** The port; 0 asks for an ephemeral port. */
  port: number;
}

/**
 * Splits an `IP:port` bind address (`127.0.0.1:10249`, `[::1]:10249`, `0.0.0.0:0`).
 *
 * @param address The configured address.
 * @returns The hostname and port.
 * @throws {TypeError} When the address is not `IP:port` with a port in [0, 65535].
 * @example
 * ```ts
 * splitHostPort("[::]:10256"); // { hostname: "::", port: 10256 }
 * ```
 */
export function splitHostPort(address: string): HostPort {
  const m = address.match(/^\[([^\]]+)\]:(\d+)$/) ?? address.match(/^([^:\[\]]+):(\d+)$/);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`Cannot parse bind address ${JSON.stringify(address)}: must be IP:port`);
  }
  return { hostname: m[1], port };
}

/** Options of {@linkcode serveHttp}. */
export interface ServeOptions {
  /** `IP:port` (`0.0.0.0:10256`, `[::1]:0`, `127.0.0.1:10249`). */
  readonly bindAddress: string;
  /** Answers a request. */
  readonly handler: (req: Request) => Response | Promise<Response>;
  /** Answers when the handler throws. */
  readonly onError?: (err: unknown) => Response | Promise<Response>;
  /** Reads `net.ipv6.bindv6only` (tests); the kernel's by default. */
  readonly bindV6Only?: () => boolean;
}

/** The sockets of one bind address. */
export interface HttpListeners {
  /** The port listened on (the chosen one when the address asked for port 0). */
  readonly port: number;
  /** The addresses actually bound (`::`, `0.0.0.0`, or the given IP). */
  readonly hostnames: readonly string[];
  /** Stops every socket and waits for open requests to finish. */
  shutdown(): Promise<void>;
}

function kernelBindV6Only(): boolean {
  try {
    return Deno.readTextFileSync("/proc/sys/net/ipv6/bindv6only").trim() === "1";
  } catch {
    return false;
  }
}

/**
 * Serves HTTP on a bind address, both families for an unspecified one (see the module comment).
 *
 * @param opts Address, handler, error handler.
 * @returns The listeners.
 * @throws {TypeError} When the address is not `IP:port`; the bind error when it cannot bind.
 */
export function serveHttp(opts: ServeOptions): HttpListeners {
  const { hostname, port } = splitHostPort(opts.bindAddress);
  const serve = (host: string, p: number) =>
    Deno.serve(
      { hostname: host, port: p, onListen: () => {}, onError: opts.onError },
      opts.handler,
    );
  const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
  if (hostname === "0.0.0.0" || hostname === "::") {
    let v6: Deno.HttpServer<Deno.NetAddr> | undefined;
    try {
      v6 = serve("::", port);
    } catch (err) {
      // No IPv6 in this kernel: IPv4 alone (an unspecified IPv6 address cannot do without it).
      if (hostname === "::" || err instanceof Deno.errors.AddrInUse) throw err;
    }
    if (v6 !== undefined) servers.push(v6);
    if (v6 === undefined || (opts.bindV6Only ?? kernelBindV6Only)()) {
      try {
        servers.push(serve("0.0.0.0", v6?.addr.port ?? port));
      } catch (err) {
        // In use on the [::] socket's port: that socket is dual-stack after all.
        if (v6 === undefined || !(err instanceof Deno.errors.AddrInUse)) {
          for (const s of servers) s.shutdown();
          throw err;
        }
      }
    }
  } else {
    servers.push(serve(hostname, port));
  }
  return {
    port: servers[0].addr.port,
    hostnames: servers.map((s) => s.addr.hostname),
    async shutdown() {
      await Promise.all(servers.map((s) => s.shutdown()));
    },
  };
}

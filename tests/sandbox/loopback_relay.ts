/**
 * Makes the sandbox's API server reachable from the host's own network namespace, where the
 * user's `kubectl` runs: a TCP listener on the host's loopback (127.0.0.1, a free port) that relays
 * each connection to the Unix socket the API server fixture also serves on. A Unix socket path
 * reaches across network namespaces, so nothing is added to the host's network: no veth, no route,
 * no address, only a loopback port that this process holds while the sandbox is up.
 *
 * @module
 */

/**
 * The relay.
 *
 * @example
 * ```ts
 * const relay = await LoopbackRelay.start("/tmp/kpsbx-ab12-x/apiserver.sock");
 * console.log(`http://127.0.0.1:${relay.port}`);
 * relay.close();
 * ```
 */
export class LoopbackRelay {
  /** The loopback port. */
  readonly port: number;
  #listener: Deno.TcpListener;
  #conns = new Set<Deno.Conn>();

  private constructor(listener: Deno.TcpListener) {
    this.#listener = listener;
    this.port = listener.addr.port;
  }

  /**
   * Listens on 127.0.0.1 (a free port) and relays every connection to `socketPath`.
   *
   * @param socketPath The API server's Unix socket.
   * @returns The running relay.
   */
  static start(socketPath: string): LoopbackRelay {
    const relay = new LoopbackRelay(Deno.listen({ hostname: "127.0.0.1", port: 0 }));
    (async () => {
      try {
        for await (const conn of relay.#listener) relay.#relay(conn, socketPath);
      } catch {
        // the listener was closed
      }
    })();
    return relay;
  }

  async #relay(conn: Deno.Conn, socketPath: string): Promise<void> {
    this.#conns.add(conn);
    let upstream: Deno.UnixConn | undefined;
    try {
      upstream = await Deno.connect({ transport: "unix", path: socketPath });
      this.#conns.add(upstream);
      await Promise.race([
        conn.readable.pipeTo(upstream.writable),
        upstream.readable.pipeTo(conn.writable),
      ]);
    } catch {
      // one side went away: close both below
    } finally {
      for (const c of [conn, upstream]) {
        if (c === undefined) continue;
        this.#conns.delete(c);
        try {
          c.close();
        } catch {
          // already closed by pipeTo
        }
      }
    }
  }

  /** Stops listening and closes the open connections. */
  close(): void {
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    this.#conns.clear();
  }
}

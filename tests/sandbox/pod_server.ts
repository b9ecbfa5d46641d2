/**
 * The sandbox's pod workload: a tiny server that answers with its pod name, run inside a pod's
 * network namespace (`ip netns exec kpsbx-…-pod-db-0 deno run -A pod_server.ts --name db-0`).
 *
 * On its TCP port it speaks two protocols, told apart by the first bytes:
 * - HTTP: `GET /` is answered `200` with the body `<name> <client-ip>:<client-port>\n`;
 * - lines: every line received is answered `<name> <client-ip>:<client-port> <line>\n`, on the
 *   same connection, for as long as the client keeps it open (the proxy-restart test needs a
 *   long-lived connection).
 *
 * On UDP, on the same port, every datagram is answered `<name> <client-ip>:<client-port> <text>`.
 * The client address shows whether the proxy masqueraded the connection.
 *
 * Prints `ready <port>` on stdout once both sockets listen.
 *
 * @module
 */

/** The reply text for a client at `remote`. */
export function formatReply(name: string, remote: Deno.NetAddr, text: string): string {
  const who = `${name} ${remote.hostname}:${remote.port}`;
  return text ? `${who} ${text}` : who;
}

async function serveConnection(name: string, conn: Deno.TcpConn): Promise<void> {
  const remote = conn.remoteAddr as Deno.NetAddr;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let buffered = "";
  let http = false;
  try {
    for await (const chunk of conn.readable) {
      buffered += decoder.decode(chunk, { stream: true });
      if (buffered.startsWith("GET ") || buffered.startsWith("HEAD ")) http = true;
      if (http) {
        if (!buffered.includes("\r\n\r\n") && !buffered.includes("\n\n")) continue;
        const body = formatReply(name, remote, "") + "\n";
        await conn.write(encoder.encode(
          `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n` +
            `connection: close\r\n\r\n${body}`,
        ));
        break;
      }
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl).replace(/\r$/, "");
        buffered = buffered.slice(nl + 1);
        await conn.write(encoder.encode(formatReply(name, remote, line) + "\n"));
      }
    }
  } catch {
    // Client went away: nothing to do.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed by the readable stream ending.
    }
  }
}

async function serveUdp(name: string, socket: Deno.DatagramConn): Promise<void> {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  for await (const [data, addr] of socket) {
    const text = decoder.decode(data).trim();
    try {
      await socket.send(encoder.encode(formatReply(name, addr as Deno.NetAddr, text)), addr);
    } catch {
      // Unreachable client: drop.
    }
  }
}

function parseArgs(args: string[]): { name: string; port: number } {
  let name = Deno.env.get("POD_NAME") ?? "pod";
  let port = 8080;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--name") name = args[++i];
    else if (args[i] === "--port") port = Number(args[++i]);
  }
  return { name, port };
}

if (import.meta.main) {
  const { name, port } = parseArgs(Deno.args);
  const listener = Deno.listen({ hostname: "0.0.0.0", port, transport: "tcp" });
  const udp = Deno.listenDatagram({ hostname: "0.0.0.0", port, transport: "udp" });
  console.log(`ready ${port}`);
  serveUdp(name, udp);
  for await (const conn of listener) serveConnection(name, conn);
}

/**
 * The sandbox's client, run inside a pod's (or the underlay client's) network namespace. Prints
 * one JSON object per request on stdout: `{"ok":true,"reply":"db-0 10.244.1.2:40000"}` or
 * `{"ok":false,"error":"..."}`, so a single process can make many requests (spawning a process per
 * request would be slow on a small machine).
 *
 *     pod_client.ts tcp HOST PORT [--count N] [--timeout MS]   N connections, one line each
 *     pod_client.ts http HOST PORT[/PATH] [--count N]          N HTTP GETs (non-2xx fails)
 *     pod_client.ts udp HOST PORT [--count N] [--timeout MS]   N datagrams, each from a new socket
 *     pod_client.ts session HOST PORT [--timeout MS]           one connection; each stdin line is
 *                                                              sent on it and its reply printed
 *
 * @module
 */

/** One request's outcome, as printed. */
export interface ClientResult {
  ok: boolean;
  reply?: string;
  error?: string;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function readLine(reader: ReadableStreamDefaultReader<Uint8Array>, state: { buf: string }) {
  const decoder = new TextDecoder();
  while (!state.buf.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("connection closed before a reply");
    state.buf += decoder.decode(value, { stream: true });
  }
  const nl = state.buf.indexOf("\n");
  const line = state.buf.slice(0, nl);
  state.buf = state.buf.slice(nl + 1);
  return line;
}

async function requestTcp(host: string, port: number, timeoutMs: number): Promise<string> {
  const conn = await withTimeout(Deno.connect({ hostname: host, port }), timeoutMs, "connect");
  try {
    await conn.write(new TextEncoder().encode("hello\n"));
    const reader = conn.readable.getReader();
    const line = await withTimeout(readLine(reader, { buf: "" }), timeoutMs, "reply");
    reader.releaseLock();
    return line.replace(/ hello$/, "");
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

let httpPath = "/";

async function requestHttp(host: string, port: number, timeoutMs: number): Promise<string> {
  const res = await fetch(`http://${host}:${port}${httpPath}`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return body.trim();
}

async function requestUdp(host: string, port: number, timeoutMs: number): Promise<string> {
  const socket = Deno.listenDatagram({ hostname: "0.0.0.0", port: 0, transport: "udp" });
  try {
    await socket.send(new TextEncoder().encode("hello"), {
      transport: "udp",
      hostname: host,
      port,
    });
    const [data] = await withTimeout(socket.receive(), timeoutMs, "reply");
    return new TextDecoder().decode(data).replace(/ hello$/, "");
  } finally {
    socket.close();
  }
}

function print(result: ClientResult): void {
  console.log(JSON.stringify(result));
}

async function runSession(host: string, port: number, timeoutMs: number): Promise<void> {
  const conn = await withTimeout(Deno.connect({ hostname: host, port }), timeoutMs, "connect");
  const reader = conn.readable.getReader();
  const state = { buf: "" };
  print({ ok: true, reply: "connected" });
  const stdin = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let pending = "";
  for await (const chunk of stdin) {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        await conn.write(new TextEncoder().encode(line + "\n"));
        print({ ok: true, reply: await withTimeout(readLine(reader, state), timeoutMs, "reply") });
      } catch (err) {
        print({ ok: false, error: String(err) });
      }
    }
  }
  conn.close();
}

if (import.meta.main) {
  const [mode, host, portText, ...rest] = Deno.args;
  let count = 1;
  let timeoutMs = 2000;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--count") count = Number(rest[++i]);
    else if (rest[i] === "--timeout") timeoutMs = Number(rest[++i]);
  }
  // `PORT/path` sets the HTTP path (`10256/healthz`).
  const slash = portText.indexOf("/");
  if (slash >= 0) httpPath = portText.slice(slash);
  const port = Number(slash >= 0 ? portText.slice(0, slash) : portText);
  if (mode === "session") {
    await runSession(host, port, timeoutMs).catch((err) =>
      print({ ok: false, error: String(err) })
    );
  } else {
    const request = mode === "udp" ? requestUdp : mode === "http" ? requestHttp : requestTcp;
    for (let i = 0; i < count; i++) {
      try {
        print({ ok: true, reply: await request(host, port, timeoutMs) });
      } catch (err) {
        print({ ok: false, error: String(err) });
      }
    }
  }
  // A timed-out connect is still pending in the runtime (the kernel retries SYNs for minutes):
  // exit now rather than wait for it.
  Deno.exit(0);
}

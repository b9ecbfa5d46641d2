/**
 * Runs the API server fixture (`tests/apiserver/server.ts`) inside the sandbox's underlay
 * namespace and lets the sandbox drive it over standard input, one JSON object per line:
 *
 *     {"id":1,"op":"apply","object":{...}}          → {"id":1,"ok":true,"resourceVersion":"12"}
 *     {"id":2,"op":"remove","kind":"Service","namespace":"default","name":"db"}
 *     {"id":3,"op":"list","kind":"EndpointSlice"}   → {"id":3,"ok":true,"items":[...]}
 *
 * Errors answer `{"id":N,"ok":false,"error":"..."}`. Prints `ready <url>` once it listens and
 * exits when standard input closes. It also runs the sandbox's EndpointSlice controller
 * (`endpoints_controller.ts`) on the fixture, and with `--unix PATH` serves on that Unix socket
 * too (for `loopback_relay.ts`).
 *
 *     deno run -A tests/sandbox/api_server_main.ts --listen 192.168.1.2:6443 [--unix /tmp/x.sock]
 *
 * @module
 */

import { ApiServerFixture } from "../apiserver/server.ts";
import { EndpointsController } from "./endpoints_controller.ts";

/** One control request. */
export interface ControlRequest {
  id: number;
  op: "apply" | "remove" | "list";
  // deno-lint-ignore no-explicit-any
  object?: Record<string, any>;
  kind?: string;
  namespace?: string;
  name?: string;
}

/**
 * Executes one control request against the fixture.
 *
 * @param fixture The running fixture.
 * @param req The request.
 * @returns The reply object (never throws: errors become `ok: false`).
 */
export function handleControl(fixture: ApiServerFixture, req: ControlRequest): unknown {
  try {
    switch (req.op) {
      case "apply":
        return { id: req.id, ok: true, resourceVersion: fixture.apply(req.object ?? {}) };
      case "remove":
        return {
          id: req.id,
          ok: true,
          resourceVersion: fixture.remove(req.kind ?? "", req.namespace ?? "", req.name ?? ""),
        };
      case "list":
        return { id: req.id, ok: true, items: fixture.list(req.kind ?? "") };
      default:
        return { id: req.id, ok: false, error: `unknown op ${String(req.op)}` };
    }
  } catch (err) {
    return { id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

if (import.meta.main) {
  let listen = "127.0.0.1:0";
  let unixSocket: string | undefined;
  for (let i = 0; i < Deno.args.length; i++) {
    if (Deno.args[i] === "--listen") listen = Deno.args[++i];
    if (Deno.args[i] === "--unix") unixSocket = Deno.args[++i];
  }
  const fixture = await ApiServerFixture.start({ listen: [listen], unixSocket });
  const controller = new EndpointsController(
    fixture,
    (err) => console.error(`endpoints controller: ${err instanceof Error ? err.message : err}`),
  );
  controller.start();
  console.log(`ready ${fixture.url}`);
  let pending = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!line) continue;
      let reply: unknown;
      try {
        reply = handleControl(fixture, JSON.parse(line));
      } catch (err) {
        reply = { id: -1, ok: false, error: `bad control line: ${String(err)}` };
      }
      console.log(JSON.stringify(reply));
    }
  }
  controller.stop();
  await fixture.close();
}

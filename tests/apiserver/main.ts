/**
 * Command line of the API server fixture:
 *
 *     deno task apiserver -- --listen 127.0.0.1:6443 --tls --manifests dir/ --kubeconfig-out kc
 *
 * Flags: `--listen host:port` (repeatable; default 127.0.0.1:6443), `--port N` (shorthand for
 * `--listen 127.0.0.1:N`), `--tls`, `--token T`, `--manifests DIR|FILE` (repeatable),
 * `--kubeconfig-out PATH` (with `--tls` the CA is also written to PATH.ca.crt),
 * `--bookmark-interval-ms N`.
 *
 * Prints `{"ready":true,"urls":[...]}` on stdout once listening, then reads JSON lines on stdin,
 * answering each with one JSON line (see README.md for the operations). Exits on SIGINT or
 * SIGTERM (not on stdin EOF).
 *
 * @module
 */

import { ApiServerFixture, type ApiServerOptions } from "./server.ts";
import type { RawObject } from "./object_store.ts";

interface Flags {
  listen: string[];
  tls: boolean;
  token: string | undefined;
  manifests: string[];
  kubeconfigOut: string | undefined;
  bookmarkIntervalMs: number | undefined;
}

function parseFlags(args: string[]): Flags {
  const flags: Flags = {
    listen: [],
    tls: false,
    token: undefined,
    manifests: [],
    kubeconfigOut: undefined,
    bookmarkIntervalMs: undefined,
  };
  for (let i = 0; i < args.length; i++) {
    let arg = args[i];
    let value: string | undefined;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = () => {
      if (value !== undefined) return value;
      const v = args[++i];
      if (v === undefined) throw new Error(`Flag ${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case "--":
        break;
      case "--listen":
        flags.listen.push(next());
        break;
      case "--port":
        flags.listen.push(`127.0.0.1:${next()}`);
        break;
      case "--tls":
        flags.tls = true;
        break;
      case "--token":
        flags.token = next();
        break;
      case "--manifests":
        flags.manifests.push(next());
        break;
      case "--kubeconfig-out":
        flags.kubeconfigOut = next();
        break;
      case "--bookmark-interval-ms":
        flags.bookmarkIntervalMs = Number(next());
        break;
      default:
        throw new Error(`Unknown flag ${arg}`);
    }
  }
  if (flags.listen.length === 0) flags.listen.push("127.0.0.1:6443");
  return flags;
}

const encoder = new TextEncoder();

function reply(obj: unknown): void {
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(obj) + "\n"));
}

/** Runs one control-channel operation; returns the reply object. */
function runOperation(fixture: ApiServerFixture, op: RawObject): RawObject {
  switch (op.op) {
    case "apply":
      return { ok: true, resourceVersion: fixture.apply(op.object) };
    case "applyYaml":
      return { ok: true, resourceVersion: fixture.applyYaml(String(op.yaml)) };
    case "delete":
      return {
        ok: true,
        resourceVersion: fixture.remove(
          String(op.kind),
          String(op.namespace ?? ""),
          String(op.name),
        ),
      };
    case "get":
      return {
        ok: true,
        object: fixture.get(String(op.kind), String(op.namespace ?? ""), String(op.name)) ?? null,
      };
    case "fault":
      switch (op.fault) {
        case "cutWatches":
          fixture.cutWatches({ mode: op.mode });
          break;
        case "failRequests":
          fixture.failRequests(
            Number(op.count ?? 1),
            Number(op.status ?? 500),
            String(op.match ?? ""),
          );
          break;
        case "delayResponses":
          fixture.delayResponses(
            Number(op.ms ?? 0),
            op.count === undefined ? undefined : Number(op.count),
          );
          break;
        case "malformedEvent":
          fixture.sendMalformedEvent();
          break;
        case "compact":
          fixture.compact({ closeWatches: op.closeWatches === true });
          break;
        case "bookmark":
          fixture.bookmark();
          break;
        default:
          return { ok: false, error: `unknown fault ${JSON.stringify(op.fault)}` };
      }
      return { ok: true, resourceVersion: fixture.resourceVersion };
    default:
      return { ok: false, error: `unknown op ${JSON.stringify(op.op)}` };
  }
}

async function main(): Promise<number> {
  let flags: Flags;
  try {
    flags = parseFlags(Deno.args);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const opts: ApiServerOptions = {
    listen: flags.listen,
    tls: flags.tls,
    token: flags.token,
    bookmarkIntervalMs: flags.bookmarkIntervalMs,
  };
  let fixture: ApiServerFixture;
  try {
    fixture = await ApiServerFixture.start(opts);
  } catch (err) {
    console.error(`Cannot start the API server fixture: ${(err as Error).message}`);
    return 1;
  }
  try {
    for (const m of flags.manifests) await fixture.applyManifests(m);
    if (flags.kubeconfigOut !== undefined) {
      await fixture.writeKubeconfig(flags.kubeconfigOut);
      if (fixture.certificates) {
        await Deno.writeTextFile(`${flags.kubeconfigOut}.ca.crt`, fixture.certificates.caCert);
      }
    }
    reply({ ready: true, urls: fixture.urls, resourceVersion: fixture.resourceVersion });

    const stop = Promise.withResolvers<void>();
    const onSignal = () => stop.resolve();
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    const readStdin = (async () => {
      let buffered = "";
      const decoder = new TextDecoder();
      for await (const chunk of Deno.stdin.readable) {
        buffered += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line === "") continue;
          try {
            reply(runOperation(fixture, JSON.parse(line)));
          } catch (err) {
            reply({ ok: false, error: (err as Error).message });
          }
        }
      }
    })();
    // Stdin EOF does not stop the server (a background job in a script has /dev/null as
    // stdin); SIGINT or SIGTERM does.
    readStdin.catch(() => {});
    await stop.promise;
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  } finally {
    await fixture.close();
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());

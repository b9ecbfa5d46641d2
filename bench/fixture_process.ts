/**
 * The API server fixture in a process of its own, loaded with a synthetic cluster, for the
 * benchmarks that measure another process's memory (the fixture's objects must not count).
 *
 * @module
 */

import type { SyntheticCluster } from "./synthetic.ts";
import { CHILD_ENV } from "../tests/sandbox/command.ts";

/** A running fixture process. */
export interface FixtureProcess {
  /** The fixture's first URL (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** Milliseconds from spawning the process to the cluster being loaded and served. */
  readonly loadMs: number;
  /** Stops the process and removes the manifest. */
  close(): Promise<void>;
}

async function readLine(reader: ReadableStreamDefaultReader<string>): Promise<string> {
  let buffered = "";
  while (!buffered.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`Fixture ended before it was ready: ${buffered}`);
    buffered += value;
  }
  return buffered.slice(0, buffered.indexOf("\n"));
}

/**
 * Writes `cluster` as one List manifest into `dir` and starts `tests/apiserver/main.ts` serving it
 * on a loopback port; resolves once the fixture says it is ready.
 *
 * @param cluster the objects to serve.
 * @param dir a scratch directory the caller removes.
 * @returns the running fixture.
 * @throws {Error} When the fixture exits before it is ready.
 */
export async function startFixtureProcess(
  cluster: SyntheticCluster,
  dir: string,
): Promise<FixtureProcess> {
  const manifest = `${dir}/cluster.json`;
  await Deno.writeTextFile(
    manifest,
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [...cluster.namespaces, cluster.node, ...cluster.services, ...cluster.endpointSlices],
    }),
  );
  const t0 = performance.now();
  const fixture = new Deno.Command(Deno.execPath(), {
    env: CHILD_ENV,
    args: [
      "run",
      "-A",
      new URL("../tests/apiserver/main.ts", import.meta.url).pathname,
      "--listen",
      "127.0.0.1:0",
      "--manifests",
      manifest,
      "--bookmark-interval-ms",
      "0",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = fixture.stdout.pipeThrough(new TextDecoderStream()).getReader();
  async function close(): Promise<void> {
    reader.releaseLock();
    try {
      fixture.kill("SIGTERM");
    } catch {
      // already gone
    }
    await fixture.status;
    await Deno.remove(manifest).catch(() => {});
  }
  try {
    const ready = JSON.parse(await readLine(reader));
    return { url: ready.urls[0], loadMs: performance.now() - t0, close };
  } catch (err) {
    await close();
    throw err;
  }
}

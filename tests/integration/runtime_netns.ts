/**
 * A scratch network namespace for the runtime integration tests (root only).
 *
 * Every kernel change the tests make (iptables rules, conntrack entries, sysctls, routes) happens
 * inside a namespace named `kpruntime-<random>`, deleted in `finally` even when the test fails.
 * Commands reach it through a {@linkcode DenoCommandRunner} with `netns` set.
 *
 * @module
 */

import { DenoCommandRunner } from "../../proxy/exec.ts";

/** Whether the tests that need root (and `ip netns`) can run. */
export const isRoot: boolean = Deno.uid() === 0;

/** A scratch namespace and a runner whose commands execute inside it. */
export interface ScratchNetns {
  name: string;
  run: DenoCommandRunner;
  /** Runs a command in the namespace and returns its stdout; throws on a non-zero exit. */
  sh(cmd: string, ...args: string[]): Promise<string>;
}

async function ip(args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (out.code !== 0) {
    throw new Error(`Cannot run ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/**
 * Runs `fn` with a fresh network namespace whose loopback is up, and deletes the namespace
 * afterwards.
 *
 * @param fn The test body.
 */
export async function withScratchNetns(fn: (ns: ScratchNetns) => Promise<void>): Promise<void> {
  const name = `kpruntime-${crypto.randomUUID().slice(0, 8)}`;
  await ip(["netns", "add", name]);
  try {
    await ip(["-n", name, "link", "set", "lo", "up"]);
    const run = new DenoCommandRunner({ netns: name });
    const sh = async (cmd: string, ...args: string[]) => {
      const r = await run.run(cmd, args);
      if (r.code !== 0) {
        throw new Error(`${cmd} ${args.join(" ")} exited with code ${r.code}: ${r.stderr}`);
      }
      return r.stdout;
    };
    await fn({ name, run, sh });
  } finally {
    await ip(["netns", "del", name]);
  }
}

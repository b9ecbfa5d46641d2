/**
 * Scratch network namespaces for the benchmarks: every kernel-side measurement (iptables-restore,
 * iptables-save, the proxy process itself) happens inside a namespace made here, named with the
 * `kpbench-` prefix plus a random suffix, and removed by {@linkcode ScratchNetns.remove} (callers
 * do that in `finally`). Nothing here touches the root namespace's rules.
 *
 * @module
 */

import { CHILD_ENV } from "../tests/sandbox/command.ts";

/** Output of a command run in the namespace. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall-clock milliseconds from spawn to exit. */
  readonly ms: number;
}

const decoder = new TextDecoder();

/** A network namespace created for one benchmark run. */
export class ScratchNetns {
  readonly name: string;
  #removed = false;

  private constructor(name: string) {
    this.name = name;
  }

  /**
   * Creates a namespace `kpbench-<suffix>` with its loopback up.
   *
   * @throws Error when `ip netns add` fails (not root, no iproute2).
   */
  static async create(prefix = "kpbench"): Promise<ScratchNetns> {
    const suffix = crypto.randomUUID().slice(0, 8);
    const name = `${prefix}-${suffix}`;
    const add = await runCommand("ip", ["netns", "add", name]);
    if (add.code !== 0) throw new Error(`Cannot create network namespace ${name}: ${add.stderr}`);
    const ns = new ScratchNetns(name);
    await ns.run("ip", ["link", "set", "lo", "up"]);
    return ns;
  }

  /** Runs `cmd args` inside the namespace, feeding `stdin` when given. */
  run(cmd: string, args: string[], stdin?: string | Uint8Array): Promise<CommandResult> {
    return runCommand("ip", ["netns", "exec", this.name, cmd, ...args], stdin);
  }

  /** Runs `cmd args` and throws with its stderr when it exits non-zero. */
  async check(cmd: string, args: string[], stdin?: string | Uint8Array): Promise<CommandResult> {
    const r = await this.run(cmd, args, stdin);
    if (r.code !== 0) {
      throw new Error(`${cmd} ${args.join(" ")} exited with code ${r.code}: ${r.stderr.trim()}`);
    }
    return r;
  }

  /**
   * Kills what is still running in the namespace (processes this benchmark started there, such as
   * an `iptables-restore` a killed proxy left behind, which would keep holding the xtables lock),
   * then deletes the namespace. Idempotent; never throws.
   */
  async remove(): Promise<void> {
    if (this.#removed) return;
    this.#removed = true;
    const pids = await runCommand("ip", ["netns", "pids", this.name]).catch(() => undefined);
    for (const pid of pids?.stdout.split("\n").map(Number).filter((p) => p > 1) ?? []) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
    }
    await runCommand("ip", ["netns", "del", this.name]).catch(() => undefined);
  }
}

/** Runs a command (outside any namespace), capturing its output and timing it. */
export async function runCommand(
  cmd: string,
  args: string[],
  stdin?: string | Uint8Array,
): Promise<CommandResult> {
  const start = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    env: CHILD_ENV,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Read stdout/stderr while stdin is written: a command that prints before it has read all of
  // its input (iptables-restore running `-S`) would otherwise fill the pipe and deadlock.
  const output = child.output();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin);
    await writer.close();
  }
  const out = await output;
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    ms: performance.now() - start,
  };
}

/** True when the process can create network namespaces (root). */
export function canUseNetns(): boolean {
  return Deno.uid() === 0;
}

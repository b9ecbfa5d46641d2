/**
 * Runs the host tools the sandbox drives (`ip`, `iptables-save`, `dig`, ...), optionally inside
 * one of the sandbox's network namespaces through `ip netns exec`.
 *
 * @module
 */

// Children run from the repository root, so `deno run` finds the project's deno.json (its import
// map and unstable flags) wherever the caller was started.
const ROOT = new URL("../..", import.meta.url).pathname;

/**
 * Environment added to every process a test or benchmark spawns: Deno's update check off, so that
 * no `deno run` calls home (to Deno's update server) from a node's network namespace.
 */
export const CHILD_ENV: Readonly<Record<string, string>> = { DENO_NO_UPDATE_CHECK: "1" };

/** What a finished command returned. */
export interface CommandResult {
  /** Exit code; 127 when the binary could not be started. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode runCommand}. */
export interface RunCommandOptions {
  /** Run inside this network namespace (`ip netns exec <netns> ...`). */
  netns?: string;
  /** Text fed on standard input; stdin is closed when unset. */
  stdin?: string;
  /** Throw when the exit code is not 0 (the default); false returns the result instead. */
  check?: boolean;
  /** Extra environment variables (added to `CHILD_ENV`). */
  env?: Record<string, string>;
}

/**
 * Runs `cmd args...` to completion and collects its output.
 *
 * @param argv The command and its arguments.
 * @param opts Namespace, standard input and whether a failure throws.
 * @returns The exit code and the output.
 * @throws {Error} When `check` is not false and the command exits non-zero; the message names the
 * command and quotes its standard error.
 *
 * @example
 * ```ts
 * const { stdout } = await runCommand(["iptables-save", "-t", "nat"], { netns: "kpsbx-1a2b-node1" });
 * ```
 */
export async function runCommand(
  argv: readonly string[],
  opts: RunCommandOptions = {},
): Promise<CommandResult> {
  const full = opts.netns ? ["ip", "netns", "exec", opts.netns, ...argv] : [...argv];
  let result: CommandResult;
  try {
    const child = new Deno.Command(full[0], {
      args: full.slice(1),
      cwd: ROOT,
      stdin: opts.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      env: { ...CHILD_ENV, ...opts.env },
    }).spawn();
    if (opts.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(opts.stdin));
      await writer.close();
    }
    const out = await child.output();
    const decoder = new TextDecoder();
    result = {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } catch (err) {
    result = { code: 127, stdout: "", stderr: String(err) };
  }
  if (opts.check !== false && result.code !== 0) {
    throw new Error(
      `Cannot run ${full.join(" ")}: exit code ${result.code}: ${result.stderr.trim()}`,
    );
  }
  return result;
}

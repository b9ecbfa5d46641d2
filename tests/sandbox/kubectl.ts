/**
 * Runs the real `kubectl` against a kubeconfig: for the demo's narration, the end-to-end test of
 * the sandbox and the integration test of the API server fixture. Discovery is cached in a folder
 * of the caller's choice, by default `cache/` beside the kubeconfig (the sandbox's temp dir, removed
 * at teardown), never in `~/.kube`.
 *
 * @module
 */

import { type CommandResult, runCommand } from "./command.ts";
import { NetnsProcess } from "./netns_process.ts";

/** Is a `kubectl` on PATH? */
export async function hasKubectl(): Promise<boolean> {
  return (await runCommand(["kubectl", "version", "--client"], { check: false })).code === 0;
}

/** Options of {@linkcode kubectl}. */
export interface KubectlOptions {
  /** Text on standard input (`apply -f -`). */
  stdin?: string;
  /** Throw on a non-zero exit (default true). */
  check?: boolean;
  /** Extra environment (`KUBE_EDITOR`). */
  env?: Record<string, string>;
  /** Discovery cache folder; default `cache/` beside the kubeconfig. */
  cacheDir?: string;
}

function baseArgs(kubeconfig: string, cacheDir: string | undefined): string[] {
  const beside = `${kubeconfig.slice(0, kubeconfig.lastIndexOf("/") + 1)}cache`;
  return ["--kubeconfig", kubeconfig, "--cache-dir", cacheDir ?? beside];
}

/**
 * Runs `kubectl --kubeconfig <kubeconfig> <args...>` to completion.
 *
 * @param kubeconfig The kubeconfig path.
 * @param args kubectl's arguments (`["get", "svc", "-A"]`).
 * @param opts Standard input, failure handling, environment.
 * @returns Exit code and output.
 * @throws {Error} When kubectl exits non-zero and `check` is not false.
 */
export async function kubectl(
  kubeconfig: string,
  args: readonly string[],
  opts: KubectlOptions = {},
): Promise<CommandResult> {
  const argv = ["kubectl", ...baseArgs(kubeconfig, opts.cacheDir), ...args];
  return await runCommand(argv, { stdin: opts.stdin, check: opts.check, env: opts.env });
}

/**
 * Starts `kubectl <args...>` and collects its output line by line.
 *
 * @param kubeconfig The kubeconfig path.
 * @param args kubectl's arguments (`["get", "svc", "-w"]`).
 * @param cacheDir Discovery cache folder (default `cache/` beside the kubeconfig).
 * @returns The process (`waitForLine()`); call `stop()` in a `finally`.
 */
export function startKubectl(
  kubeconfig: string,
  args: readonly string[],
  cacheDir?: string,
): NetnsProcess {
  return NetnsProcess.start(["kubectl", ...baseArgs(kubeconfig, cacheDir), ...args], {
    label: `kubectl ${args.join(" ")}`,
  });
}

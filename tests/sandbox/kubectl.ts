/**
 * Runs the real `kubectl` against a kubeconfig: for the demo's narration, the end-to-end test of
 * the sandbox and the integration test of the API server fixture. Discovery is cached in a folder
 * of the caller's choice, by default `cache/` beside the kubeconfig (the sandbox's temp dir, removed
 * at teardown), never in `~/.kube`.
 *
 * @module
 */

import { type CommandResult, runCommand } from "./command.ts";

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
  if (opts.env === undefined) {
    return await runCommand(argv, { stdin: opts.stdin, check: opts.check });
  }
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const result = {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
  if (opts.check !== false && result.code !== 0) {
    throw new Error(`kubectl ${args.join(" ")}: exit code ${result.code}: ${result.stderr}`);
  }
  return result;
}

/** A long-running kubectl (`get -w`) whose output lines are collected. */
export interface KubectlStream {
  /** Output lines so far. */
  readonly lines: string[];
  /** Resolves with the first line (old or new) that matches, or rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** Stops kubectl. */
  stop(): Promise<void>;
}

/**
 * Starts `kubectl <args...>` and collects its standard output line by line.
 *
 * @param kubeconfig The kubeconfig path.
 * @param args kubectl's arguments (`["get", "svc", "-w"]`).
 * @param cacheDir Discovery cache folder (default `cache/` beside the kubeconfig).
 * @returns The stream; call `stop()` in a `finally`.
 */
export function startKubectl(
  kubeconfig: string,
  args: readonly string[],
  cacheDir?: string,
): KubectlStream {
  const child = new Deno.Command("kubectl", {
    args: [...baseArgs(kubeconfig, cacheDir), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const reading = (async () => {
    let pending = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      lines.push(...parts);
      for (const w of waiters) w();
    }
  })();
  return {
    lines,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = lines.find((l) => pattern.test(l));
          if (hit === undefined) return;
          cleanup();
          resolve(hit);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `kubectl ${args.join(" ")} printed no line matching ${pattern}:\n` +
                lines.join("\n"),
            ),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
      await child.status;
      await reading.catch(() => {});
    },
  };
}

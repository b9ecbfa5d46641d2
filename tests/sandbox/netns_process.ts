/**
 * A long-running process inside one of the sandbox's network namespaces (a pod's server, a node's
 * proxy, the API server fixture), with its output kept line by line so that callers can wait for
 * a line ("ready") and show the log when something failed.
 *
 * @module
 */

import { CHILD_ENV } from "./command.ts";

/** Options of {@linkcode NetnsProcess.start}. */
export interface NetnsProcessOptions {
  /** Network namespace to run in; unset runs in the caller's namespace. */
  netns?: string;
  /** Short name used in messages ("proxy node1"). */
  label: string;
  /** Keep standard input open for {@linkcode NetnsProcess.writeLine}. */
  stdin?: boolean;
  /** Extra environment variables (added to `CHILD_ENV`, which turns Deno's update check off). */
  env?: Record<string, string>;
  /** Called with every output line (stdout and stderr) as it arrives. */
  onLine?: (line: string) => void;
}

// Children run from the repository root, so `deno run` finds the project's deno.json.
const ROOT = new URL("../..", import.meta.url).pathname;

/** How many output lines a process keeps for error messages. */
const MAX_LINES = 2000;

/**
 * A child process started through `ip netns exec`, whose stdout and stderr lines are collected.
 *
 * @example
 * ```ts
 * const p = NetnsProcess.start(["deno", "run", "-A", "pod_server.ts"], { netns, label: "db-0" });
 * await p.waitForLine(/^ready/, 10_000);
 * await p.stop();
 * ```
 */
export class NetnsProcess {
  /** Short name used in messages. */
  readonly label: string;
  /** Process id of the `ip netns exec` child (which execs the command, so it is the command). */
  readonly pid: number;
  #child: Deno.ChildProcess;
  #lines: string[] = [];
  #waiters: Array<() => void> = [];
  #status: Promise<Deno.CommandStatus>;
  #exited: Deno.CommandStatus | undefined;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #pumps: Promise<void>[];

  private constructor(child: Deno.ChildProcess, opts: NetnsProcessOptions) {
    this.label = opts.label;
    this.#child = child;
    this.pid = child.pid;
    this.#writer = opts.stdin ? child.stdin.getWriter() : undefined;
    this.#pumps = [
      this.#pump(child.stdout, opts.onLine),
      this.#pump(child.stderr, opts.onLine),
    ];
    this.#status = child.status.then((s) => {
      this.#exited = s;
      this.#wake();
      return s;
    });
  }

  /**
   * Starts `argv` (inside `opts.netns` when set).
   *
   * @param argv The command and its arguments.
   * @param opts Namespace, label, stdin and output callback.
   * @returns The running process.
   */
  static start(argv: readonly string[], opts: NetnsProcessOptions): NetnsProcess {
    const full = opts.netns ? ["ip", "netns", "exec", opts.netns, ...argv] : [...argv];
    const child = new Deno.Command(full[0], {
      args: full.slice(1),
      cwd: ROOT,
      stdin: opts.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      env: { ...CHILD_ENV, ...opts.env },
    }).spawn();
    return new NetnsProcess(child, opts);
  }

  /** Every output line so far (the last 2000). */
  get lines(): readonly string[] {
    return this.#lines;
  }

  /** The exit status once the process has exited; undefined while it runs. */
  get exitStatus(): Deno.CommandStatus | undefined {
    return this.#exited;
  }

  async #pump(stream: ReadableStream<Uint8Array>, onLine?: (line: string) => void): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    try {
      for await (const chunk of stream) {
        buffered += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          this.#lines.push(line);
          if (this.#lines.length > MAX_LINES) this.#lines.shift();
          onLine?.(line);
          this.#wake();
        }
      }
    } catch {
      // The stream broke because the process died; its status says the rest.
    }
    if (buffered) {
      this.#lines.push(buffered);
      onLine?.(buffered);
      this.#wake();
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /**
   * Waits until an output line matches `pattern`, counting lines already seen.
   *
   * @param pattern What to wait for.
   * @param timeoutMs How long to wait.
   * @param from Index of the first line to consider (default 0: all lines).
   * @returns The matching line.
   * @throws {Error} When the process exits first or the time runs out; the message quotes the
   * last lines of output.
   */
  async waitForLine(pattern: RegExp, timeoutMs: number, from = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let seen = from;
    while (true) {
      // Lines may have been dropped from the front; clamp rather than miss new ones.
      for (; seen < this.#lines.length; seen++) {
        if (pattern.test(this.#lines[seen])) return this.#lines[seen];
      }
      if (this.#exited) {
        throw new Error(
          `${this.label} exited with code ${this.#exited.code} before printing ${pattern}:\n` +
            this.tail(20),
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`${this.label} did not print ${pattern} in time:\n${this.tail(20)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The last `n` output lines, indented, for error messages. */
  tail(n: number): string {
    return this.#lines.slice(-n).map((l) => `    ${l}`).join("\n");
  }

  /**
   * Writes one line to the process's standard input.
   *
   * @param line The line, without its newline.
   * @throws {Error} When the process was started without stdin.
   */
  async writeLine(line: string): Promise<void> {
    if (!this.#writer) throw new Error(`${this.label} was started without standard input`);
    await this.#writer.write(new TextEncoder().encode(line + "\n"));
  }

  /**
   * Sends `signal` and waits for the exit; sends SIGKILL if it has not exited within `graceMs`.
   *
   * @param signal The first signal (SIGTERM by default).
   * @param graceMs How long to wait before SIGKILL.
   * @returns The exit status.
   */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 5000): Promise<Deno.CommandStatus> {
    if (this.#writer) {
      await this.#writer.close().catch(() => {});
      this.#writer = undefined;
    }
    if (!this.#exited) {
      try {
        this.#child.kill(signal);
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, graceMs);
      await this.#status;
      clearTimeout(timer);
    }
    await Promise.all(this.#pumps);
    return await this.#status;
  }

  /** Waits for the process to exit by itself. */
  async wait(): Promise<Deno.CommandStatus> {
    const status = await this.#status;
    await Promise.all(this.#pumps);
    return status;
  }
}

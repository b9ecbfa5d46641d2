/**
 * Running external commands (iptables, conntrack, sysctl helpers) behind one small interface.
 *
 * Everything in the proxy that shells out does so through a {@linkcode CommandRunner}, so unit
 * tests inject {@linkcode FakeCommandRunner} and check the exact argument lists without root, and
 * integration tests use {@linkcode DenoCommandRunner} with a `netns` so that every command runs
 * inside a scratch network namespace (`ip netns exec <ns> <cmd> ...`).
 *
 * @module
 */

/** What a finished command returned. A non-zero exit code is a value here, never an exception. */
export interface CommandResult {
  /** Exit code; 127 when the binary could not be started. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of one command run. */
export interface CommandOptions {
  /** Text fed on standard input (iptables-restore input); stdin is closed when unset. */
  stdin?: string;
}

/** Runs an external command and collects its output. */
export interface CommandRunner {
  /**
   * Runs `cmd` with `args` and waits for it to exit.
   *
   * @param cmd The binary (looked up on PATH).
   * @param args Its arguments.
   * @param opts Standard input.
   * @returns The exit code and output; a missing binary gives code 127 and the error in stderr.
   */
  run(cmd: string, args: string[], opts?: CommandOptions): Promise<CommandResult>;
}

/** Options of {@linkcode DenoCommandRunner}. */
export interface DenoCommandRunnerOptions {
  /**
   * Network namespace to run every command in, through `ip netns exec <netns>`. Used by
   * integration tests; production runs in the node's namespace and leaves this unset.
   */
  netns?: string;
}

/**
 * The real {@linkcode CommandRunner} over `Deno.Command`.
 *
 * @example
 * ```ts
 * const run = new DenoCommandRunner({ netns: "kpruntime-1a2b" });
 * const { code, stdout } = await run.run("iptables-save", ["-t", "nat"]);
 * ```
 */
export class DenoCommandRunner implements CommandRunner {
  #netns: string | undefined;

  /** @param opts Optional network namespace prefix. */
  constructor(opts: DenoCommandRunnerOptions = {}) {
    this.#netns = opts.netns;
  }

  /** The namespace commands run in, if any. */
  get netns(): string | undefined {
    return this.#netns;
  }

  /** {@inheritDoc CommandRunner.run} */
  async run(cmd: string, args: string[], opts: CommandOptions = {}): Promise<CommandResult> {
    const [bin, argv] = this.#netns === undefined
      ? [cmd, args]
      : ["ip", ["netns", "exec", this.#netns, cmd, ...args]];
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(bin, {
        args: argv,
        stdin: opts.stdin === undefined ? "null" : "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      return { code: 127, stdout: "", stderr: `Cannot run ${bin}: ${errorMessage(err)}` };
    }
    if (opts.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      try {
        await writer.write(new TextEncoder().encode(opts.stdin));
        await writer.close();
      } catch {
        // The child exited before reading all of its input; its exit code tells why.
      }
    }
    const out = await child.output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  }
}

/** One call recorded by {@linkcode FakeCommandRunner}. */
export interface RecordedCommand {
  cmd: string;
  args: string[];
  stdin?: string;
}

/** A scripted answer of {@linkcode FakeCommandRunner}: a fixed result or a function of the call. */
export type FakeResponder = (call: RecordedCommand) => Partial<CommandResult> | undefined;

/**
 * A {@linkcode CommandRunner} for tests: records every call and answers from responders tried in
 * order (the first that returns a result wins); unanswered calls succeed with empty output.
 *
 * @example
 * ```ts
 * const fake = new FakeCommandRunner();
 * fake.respond((c) => c.cmd === "iptables-restore" ? { code: 1, stderr: "line 3 failed" } : undefined);
 * ```
 */
export class FakeCommandRunner implements CommandRunner {
  #responders: FakeResponder[] = [];
  /** Every call, in order. */
  readonly calls: RecordedCommand[] = [];

  /**
   * Adds a responder; responders added later are tried first.
   *
   * @param responder Returns the result for a call, or undefined to let others answer.
   */
  respond(responder: FakeResponder): void {
    this.#responders.unshift(responder);
  }

  /** The calls as `cmd arg1 arg2 ...` strings, for compact assertions. */
  commandLines(): string[] {
    return this.calls.map((c) => [c.cmd, ...c.args].join(" "));
  }

  /** {@inheritDoc CommandRunner.run} */
  run(cmd: string, args: string[], opts: CommandOptions = {}): Promise<CommandResult> {
    const call: RecordedCommand = { cmd, args: [...args] };
    if (opts.stdin !== undefined) call.stdin = opts.stdin;
    this.calls.push(call);
    for (const responder of this.#responders) {
      const result = responder(call);
      if (result !== undefined) {
        return Promise.resolve({ code: 0, stdout: "", stderr: "", ...result });
      }
    }
    return Promise.resolve({ code: 0, stdout: "", stderr: "" });
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

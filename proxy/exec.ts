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
  /**
   * Text fed on standard input (iptables-restore input), whole or as chunks written one at a time
   * as the iterable yields them (so the caller never holds the whole text); stdin is closed when
   * unset.
   */
  stdin?: string | Iterable<string>;
  /**
   * Read standard output as it comes and throw it away (`stdout` is then ""): for commands whose
   * output is large and unwanted, such as the listing of `iptables-nft-restore`'s `-S`.
   */
  discardStdout?: boolean;
  /**
   * Receives standard output as decoded text chunks as it comes instead of collecting it
   * (`stdout` is then ""): for large output scanned once, such as the chain declarations of
   * `iptables-save`, so the whole text is never held.
   */
  onStdout?: (chunk: string) => void;
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
   * @throws {unknown} What an iterable `stdin` threw while producing the input (after the child
   *   exited on the truncated input).
   */
  run(cmd: string, args: string[], opts?: CommandOptions): Promise<CommandResult>;
}

/** Chunks of standard input up to this many characters are encoded into a reused buffer. */
const STDIN_BUFFER_REUSE_CHARS = 128 * 1024;
const encoder = new TextEncoder();

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
    // Output is read while input is written: a child that writes much (iptables-nft-restore's
    // `-S`) would otherwise fill its stdout pipe and stop reading its stdin.
    const stdout = opts.discardStdout
      ? drain(child.stdout)
      : opts.onStdout
      ? streamText(child.stdout, opts.onStdout)
      : readText(child.stdout);
    const stderr = readText(child.stderr);
    let inputError: unknown;
    if (opts.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      const chunks = typeof opts.stdin === "string" ? [opts.stdin] : opts.stdin;
      // Chunks are encoded into one buffer reused from chunk to chunk (each write completes
      // before the next chunk is encoded): a 38 MB restore input in fresh 64 KB buffers would
      // leave that much freed-but-not-returned native memory behind.
      let buffer: Uint8Array | undefined;
      try {
        for (const chunk of chunks) {
          if (chunk.length === 0) continue;
          let bytes: Uint8Array;
          if (chunk.length > STDIN_BUFFER_REUSE_CHARS) {
            bytes = encoder.encode(chunk);
          } else {
            buffer ??= new Uint8Array(STDIN_BUFFER_REUSE_CHARS * 3);
            bytes = buffer.subarray(0, encoder.encodeInto(chunk, buffer).written);
          }
          const ok = await writer.write(bytes).then(() => true, () => false);
          // The child exited before reading all of its input; its exit code tells why.
          if (!ok) break;
        }
      } catch (err) {
        // Producing the input failed: end it here (the child sees a truncated input and fails,
        // committing no table that lacks its COMMIT) and report the producer's error.
        inputError = err;
      }
      await writer.close().catch(() => {});
    }
    const [status, out, err] = await Promise.all([child.status, stdout, stderr]);
    if (inputError !== undefined) throw inputError;
    return { code: status.code, stdout: out, stderr: err };
  }
}

/** One call recorded by {@linkcode FakeCommandRunner}. */
export interface RecordedCommand {
  cmd: string;
  args: string[];
  stdin?: string;
  /** Set when the caller asked for standard output to be discarded. */
  discardStdout?: boolean;
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
    if (opts.stdin !== undefined) {
      call.stdin = typeof opts.stdin === "string" ? opts.stdin : [...opts.stdin].join("");
    }
    if (opts.discardStdout) call.discardStdout = true;
    this.calls.push(call);
    for (const responder of this.#responders) {
      const result = responder(call);
      if (result !== undefined) {
        if (opts.onStdout && result.stdout) {
          opts.onStdout(result.stdout);
          return Promise.resolve({ code: 0, stderr: "", ...result, stdout: "" });
        }
        return Promise.resolve({ code: 0, stdout: "", stderr: "", ...result });
      }
    }
    return Promise.resolve({ code: 0, stdout: "", stderr: "" });
  }
}

async function readText(stream: ReadableStream<Uint8Array>): Promise<string> {
  try {
    return await new Response(stream).text();
  } catch {
    return "";
  }
}

/** Bytes of the one buffer {@linkcode streamText} reads a child's output into. */
const STREAM_READ_BUFFER = 64 * 1024;

/**
 * Decodes `stream` chunk by chunk into `onChunk`, reading into one reused buffer (a BYOB reader):
 * a fresh buffer per read would leave megabytes of native memory waiting for a full GC when the
 * output is large (an `iptables-save` of a 2,000-service nat table: +30 MB RSS per scan).
 */
async function streamText(
  stream: ReadableStream<Uint8Array>,
  onChunk: (chunk: string) => void,
): Promise<string> {
  const decoder = new TextDecoder();
  const reader = stream.getReader({ mode: "byob" });
  let buffer = new ArrayBuffer(STREAM_READ_BUFFER);
  try {
    for (;;) {
      const { value, done } = await reader.read(new Uint8Array(buffer));
      if (done || value === undefined) break;
      const text = decoder.decode(value, { stream: true });
      if (text !== "") onChunk(text);
      buffer = value.buffer as ArrayBuffer;
    }
    const rest = decoder.decode();
    if (rest !== "") onChunk(rest);
  } catch {
    // The stream broke: the exit code tells what happened.
  }
  return "";
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  try {
    while (!(await reader.read()).done) {
      // discarded
    }
  } catch {
    // The stream broke: the exit code tells what happened.
  }
  return "";
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

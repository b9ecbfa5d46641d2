/**
 * The iptables interface the proxier programs the kernel through, and its real implementation over
 * the `iptables`/`ip6tables` binaries of one backend (`-nft` or `-legacy`).
 *
 * As upstream's `pkg/util/iptables`, every call that changes rules takes the xtables lock with
 * `-w 5 -W 100000`; the rule set is written with one `iptables-restore --noflush --counters` whose
 * input goes on standard input. A failed restore throws {@linkcode IptablesRestoreError}, which
 * carries the failing line and the lines around it (upstream's `ExtractLines(data, line, 3)`), so
 * the log shows what the kernel refused.
 *
 * The backend is chosen as upstream's `iptables-wrapper` script chooses it: kubelet's mangle-table
 * chains (KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY) in the nft backend mean nft, the same chains in
 * legacy mean legacy, and otherwise the backend with more rules wins (nft on a tie).
 *
 * @module
 */

import { log } from "../../config/log.ts";
import type { IPFamily } from "../../cache/objects.ts";
import { type CommandResult, type CommandRunner, DenoCommandRunner } from "../exec.ts";
import type { Table } from "./chains.ts";

export type { Table } from "./chains.ts";

/** The two iptables backends of iptables ≥ 1.8. */
export type IptablesBackend = "nft" | "legacy";

/** Options of {@linkcode Iptables.restore}. */
export interface RestoreOptions {
  /** `--noflush`: leave chains not named in the input alone (true for every proxier sync). */
  noflush?: boolean;
  /** `--counters`: restore the `[packets:bytes]` given in the input; true by default, as upstream. */
  counters?: boolean;
}

/**
 * Restore input produced piecewise, so that a large rule set is never held as one text: `chunks()`
 * yields pieces of whole lines (each ends in a newline) and may be called again, to re-read the
 * lines around a failing one; `chainCount` is the number of chains the input declares.
 */
export interface RestoreChunks {
  readonly chainCount: number;
  chunks(): Iterable<string>;
}

/** What {@linkcode Iptables.restore} accepts: the whole text, or {@linkcode RestoreChunks}. */
export type RestoreInput = string | RestoreChunks;

/**
 * Declared chains above which the nft backend's restore lists the table first (`-S` after each
 * table header, see {@linkcode ExecIptables.restore}): first and full syncs of large clusters.
 */
export const LARGE_RESTORE_CHAINS = 1000;

/**
 * The chunks of a restore input (a text is one chunk).
 *
 * @param input A text or chunks.
 * @returns The pieces, in order.
 */
export function restoreChunks(input: RestoreInput): Iterable<string> {
  return typeof input === "string" ? [input] : input.chunks();
}

/**
 * The whole text of a restore input (for tests and fakes; production streams the chunks).
 *
 * @param input A text or chunks.
 * @returns The text.
 */
export function restoreText(input: RestoreInput): string {
  return typeof input === "string" ? input : [...input.chunks()].join("");
}

/**
 * The number of chains a restore input declares (`:CHAIN` lines).
 *
 * @param input A text (counted) or chunks (their `chainCount`).
 * @returns The count.
 */
export function declaredChainCount(input: RestoreInput): number {
  if (typeof input !== "string") return input.chainCount;
  let n = input.startsWith(":") ? 1 : 0;
  for (let i = input.indexOf("\n:"); i !== -1; i = input.indexOf("\n:", i + 2)) n++;
  return n;
}

const TABLE_HEADER = /^\*[a-z]+\n/gm;

/**
 * Adds a chain-less `-S` (list the table's rules) after every table header (`*filter`, `*nat`).
 *
 * iptables-nft-restore 1.8 fetches from the kernel only the chains the commands name, keeping
 * their names in a sorted list that every command's chain and jump target is inserted into by a
 * linear walk: quadratic in a restore of many chains (minutes at 10,000 services). A command that
 * names no chain switches that restore to fetching the whole table once, after which the list is
 * not used; `-S` is such a command and changes nothing (its listing on stdout is discarded).
 *
 * @param chunks Restore input chunks of whole lines.
 * @returns The same input with `-S` lines added.
 */
export function* withTableListing(chunks: Iterable<string>): Iterable<string> {
  for (const chunk of chunks) yield chunk.replace(TABLE_HEADER, "$&-S\n");
}

/** Where {@linkcode Iptables.ensureRule} puts a missing rule. */
export type RulePosition = "append" | "prepend";

/** The operations the proxy performs on one family's iptables. */
export interface Iptables {
  readonly family: IPFamily;
  readonly backend: IptablesBackend;
  /**
   * Feeds `input` (a text, or chunks streamed one at a time) to `iptables-restore`.
   *
   * @throws {IptablesRestoreError} When iptables-restore exits non-zero.
   */
  restore(input: RestoreInput, opts?: RestoreOptions): Promise<void>;
  /**
   * Dumps one table as `iptables-save -t <table>` prints it.
   *
   * @throws {Error} When iptables-save fails.
   */
  save(table: Table): Promise<string>;
  /**
   * The chain names `iptables-save -t <table>` declares, in order, scanned as the output streams
   * in: the stale-chain scan of a large nat table then never holds its text (~10 MB at 2,000
   * services x 10 endpoints, every syncPeriod).
   *
   * @throws {Error} When iptables-save fails.
   */
  chainNames(table: Table): Promise<string[]>;
  /** Creates `chain` in `table` unless it exists. @throws {Error} On any other failure. */
  ensureChain(table: Table, chain: string): Promise<void>;
  /**
   * Adds the rule `chain args` unless an identical rule exists (`-C`), appending or inserting it
   * at position 1.
   *
   * @throws {Error} When the check or the insertion fails for another reason than "missing".
   */
  ensureRule(position: RulePosition, table: Table, chain: string, args: string[]): Promise<void>;
  /** Deletes the rule `chain args` if it exists; a missing rule or chain is not an error. */
  deleteRule(table: Table, chain: string, args: string[]): Promise<void>;
  /** Whether `chain` exists in `table`. */
  chainExists(table: Table, chain: string): Promise<boolean>;
}

/** The xtables-lock flags upstream passes to iptables and iptables-restore. */
export const WAIT_ARGS: readonly string[] = ["-w", "5", "-W", "100000"];

/** Number of lines kept on each side of the failing line in {@linkcode IptablesRestoreError}. */
const CONTEXT_LINES = 3;

/**
 * iptables-restore rejected its input. `line` is the 1-based input line it reported (the nft
 * backend reports table-level errors, such as a jump to a missing chain, at the `COMMIT` line),
 * and `context` holds that line and the three lines on each side, each as `<n>: <text>`.
 */
export class IptablesRestoreError extends Error {
  /** The input line iptables-restore blamed, when it named one. */
  line?: number;
  /** The failing line and the lines around it, `<n>: <text>` each, newline-separated. */
  context: string;
  /** iptables-restore's exit code. */
  exitCode: number;
  /** iptables-restore's standard error, without the lock-flag deprecation notice. */
  stderr: string;

  /**
   * @param result The failed command's result.
   * @param input The restore input (for the context lines): a text or its chunks.
   * @param command The binary that failed, for the message.
   */
  constructor(
    result: CommandResult,
    input: string | Iterable<string>,
    command = "iptables-restore",
  ) {
    const stderr = cleanStderr(result.stderr);
    const line = parseRestoreErrorLine(stderr);
    let message = `Cannot restore iptables rules: ${command} exited with code ${result.code}`;
    if (line !== undefined) message += ` at line ${line}`;
    const reason = firstReason(stderr);
    if (reason !== "") message += `: ${reason}`;
    super(message);
    this.name = "IptablesRestoreError";
    if (line !== undefined) this.line = line;
    this.context = line === undefined
      ? ""
      : typeof input === "string"
      ? extractLines(input, line, CONTEXT_LINES)
      : extractChunkLines(input, line, CONTEXT_LINES);
    this.exitCode = result.code;
    this.stderr = stderr;
  }
}

/**
 * Finds the input line iptables-restore blamed in its standard error.
 *
 * @param stderr The standard error of iptables-restore.
 * @returns The 1-based line, or undefined when none is named.
 * @example
 * ```ts
 * parseRestoreErrorLine("Bad argument `bogus'\nError occurred at line: 4"); // 4
 * parseRestoreErrorLine("iptables-restore: line 42 failed"); // 42
 * ```
 */
export function parseRestoreErrorLine(stderr: string): number | undefined {
  const m = stderr.match(/Error occurred at line: (\d+)/) ?? stderr.match(/line (\d+) failed/);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return n >= 1 ? n : undefined;
}

/**
 * The lines `line - count` … `line + count` of `text` (1-based), each prefixed `<n>: `, as
 * upstream's `ExtractLines` used in the "Failed to execute iptables-restore" log line.
 *
 * @param text The restore input.
 * @param line The 1-based line in the middle.
 * @param count Lines to keep on each side.
 * @returns The lines joined by newlines; "" when `line` is out of range.
 * @example
 * ```ts
 * extractLines("a\nb\nc\nd", 2, 1); // "1: a\n2: b\n3: c"
 * ```
 */
export function extractLines(text: string, line: number, count: number): string {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  if (line < 1 || line > lines.length) return "";
  const from = Math.max(1, line - count);
  const to = Math.min(lines.length, line + count);
  const out: string[] = [];
  for (let n = from; n <= to; n++) out.push(`${n}: ${lines[n - 1]}`);
  return out.join("\n");
}

/**
 * {@linkcode extractLines} over chunks of whole lines, holding only the lines it returns.
 *
 * @param chunks The restore input's chunks.
 * @param line The 1-based line in the middle.
 * @param count Lines to keep on each side.
 * @returns The lines joined by newlines; "" when `line` is out of range.
 */
export function extractChunkLines(chunks: Iterable<string>, line: number, count: number): string {
  if (line < 1) return "";
  const from = Math.max(1, line - count);
  const to = line + count;
  const out: string[] = [];
  let n = 0; // lines before the current chunk
  let found = false;
  for (const chunk of chunks) {
    const lines = chunk.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    if (n + lines.length >= from) {
      for (let i = Math.max(0, from - n - 1); i < lines.length && n + i + 1 <= to; i++) {
        out.push(`${n + i + 1}: ${lines[i]}`);
        if (n + i + 1 === line) found = true;
      }
    }
    n += lines.length;
    if (n >= to) break;
  }
  return found ? out.join("\n") : "";
}

/**
 * Splits a rule line into arguments as iptables-restore does (double quotes group words).
 *
 * @param line a rule line.
 * @returns its arguments, quotes removed.
 * @example
 * ```ts
 * splitRuleArgs(`-m comment --comment "a b" -j X`); // ["-m", "comment", "--comment", "a b", "-j", "X"]
 * ```
 */
export function splitRuleArgs(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of line.matchAll(re)) out.push(m[1] !== undefined ? m[1] : m[2]);
  return out;
}

/**
 * The chain names an `iptables-save` text declares (its `:NAME POLICY [packets:bytes]` lines),
 * found without splitting the text into lines: a 10,000-service nat table is ~366,000 lines, and
 * an array of them would add ~15 MB to every stale-chain scan.
 *
 * @param text `iptables-save` output.
 * @returns the names, in order.
 * @example
 * ```ts
 * savedChainNames("*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j RETURN\n"); // ["KUBE-SERVICES"]
 * ```
 */
export function savedChainNames(text: string): string[] {
  const out: string[] = [];
  // The index of the ':' of the next declaration at or after `from`, or -1.
  const next = (from: number) => {
    const nl = text.indexOf("\n:", from);
    return nl < 0 ? -1 : nl + 1;
  };
  let at = text.startsWith(":") ? 0 : next(0);
  while (at >= 0) {
    let end = at + 1;
    while (end < text.length) {
      const c = text.charCodeAt(end);
      if (c === 32 || c === 10) break;
      end++;
    }
    out.push(text.slice(at + 1, end));
    at = next(end);
  }
  return out;
}

/**
 * {@linkcode savedChainNames} over an `iptables-save` text that arrives in chunks: each chunk's
 * complete lines are scanned as they come and only the unfinished last line is kept.
 *
 * @example
 * ```ts
 * const scan = new SavedChainScanner();
 * scan.push("*nat\n:KUBE-SER");
 * scan.push("VICES - [0:0]\nCOMMIT\n");
 * scan.finish(); // ["KUBE-SERVICES"]
 * ```
 */
export class SavedChainScanner {
  #names: string[] = [];
  #carry = "";

  /** Scans the complete lines of `chunk` (with what was left of the previous one). */
  push(chunk: string): void {
    const text = this.#carry + chunk;
    const end = text.lastIndexOf("\n") + 1;
    for (const name of savedChainNames(text.slice(0, end))) this.#names.push(name);
    this.#carry = text.slice(end);
  }

  /** Scans the last line (output need not end with a newline) and returns every name. */
  finish(): string[] {
    if (this.#carry !== "") {
      for (const name of savedChainNames(this.#carry)) this.#names.push(name);
      this.#carry = "";
    }
    return this.#names;
  }
}

/** iptables ≥ 1.8.8 warns about `-W`, which upstream still passes; the notice is noise. */
function cleanStderr(stderr: string): string {
  return stderr.split("\n").filter((l) => !l.startsWith("Ignoring deprecated --wait-interval"))
    .join("\n").trim();
}

/** The first informative line of iptables' standard error. */
function firstReason(stderr: string): string {
  for (const raw of stderr.split("\n")) {
    const l = raw.trim();
    if (l === "" || l.startsWith("Error occurred at line") || l.startsWith("Try `")) continue;
    return l;
  }
  return "";
}

/** The binary names of one family and backend. */
interface Binaries {
  iptables: string;
  save: string;
  restore: string;
}

function binariesFor(family: IPFamily, backend: IptablesBackend): Binaries {
  const base = family === "IPv6" ? "ip6tables" : "iptables";
  return {
    iptables: `${base}-${backend}`,
    save: `${base}-${backend}-save`,
    restore: `${base}-${backend}-restore`,
  };
}

/** Options of {@linkcode ExecIptables}. */
export interface ExecIptablesOptions {
  /** Command runner; a {@linkcode DenoCommandRunner} by default. */
  run?: CommandRunner;
}

/**
 * The real {@linkcode Iptables}: runs `iptables-<backend>`, `-save` and `-restore` (or the
 * `ip6tables` ones) through a {@linkcode CommandRunner}.
 *
 * @example
 * ```ts
 * const ipt = new ExecIptables("IPv4", "nft");
 * await ipt.restore("*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n", { noflush: true });
 * ```
 */
export class ExecIptables implements Iptables {
  readonly family: IPFamily;
  readonly backend: IptablesBackend;
  #run: CommandRunner;
  #bin: Binaries;

  /**
   * @param family IPv4 (iptables) or IPv6 (ip6tables).
   * @param backend nft or legacy.
   * @param opts The command runner.
   */
  constructor(family: IPFamily, backend: IptablesBackend, opts: ExecIptablesOptions = {}) {
    this.family = family;
    this.backend = backend;
    this.#run = opts.run ?? new DenoCommandRunner();
    this.#bin = binariesFor(family, backend);
  }

  /**
   * {@inheritDoc Iptables.restore}
   *
   * With the nft backend, an input declaring more than {@linkcode LARGE_RESTORE_CHAINS} chains
   * gets a `-S` after each table header (see {@linkcode withTableListing}): linear instead of
   * quadratic in iptables-nft-restore, at the price of one read of the table, which is why small
   * (partial) restores go without it. Its listing is read and discarded as it comes.
   */
  async restore(input: RestoreInput, opts: RestoreOptions = {}): Promise<void> {
    const args = [...WAIT_ARGS];
    if (opts.noflush) args.push("--noflush");
    if (opts.counters ?? true) args.push("--counters");
    const listing = this.backend === "nft" && declaredChainCount(input) > LARGE_RESTORE_CHAINS;
    const chunks = () => listing ? withTableListing(restoreChunks(input)) : restoreChunks(input);
    const result = await this.#run.run(this.#bin.restore, args, {
      stdin: typeof input === "string" && !listing ? input : chunks(),
      ...(listing ? { discardStdout: true } : {}),
    });
    if (result.code !== 0) {
      const context = typeof input === "string" && !listing ? input : chunks();
      throw new IptablesRestoreError(result, context, this.#bin.restore);
    }
  }

  /** {@inheritDoc Iptables.save} */
  async save(table: Table): Promise<string> {
    const result = await this.#run.run(this.#bin.save, ["-t", table]);
    if (result.code !== 0) throw this.#saveError(table, result);
    return result.stdout;
  }

  /** {@inheritDoc Iptables.chainNames} */
  async chainNames(table: Table): Promise<string[]> {
    const scan = new SavedChainScanner();
    const result = await this.#run.run(this.#bin.save, ["-t", table], {
      onStdout: (chunk) => scan.push(chunk),
    });
    if (result.code !== 0) throw this.#saveError(table, result);
    return scan.finish();
  }

  #saveError(table: Table, result: CommandResult): Error {
    return new Error(
      `Cannot save iptables table ${table}: ${this.#bin.save} exited with code ${result.code}: ${
        cleanStderr(result.stderr)
      }`,
    );
  }

  /** {@inheritDoc Iptables.ensureChain} */
  async ensureChain(table: Table, chain: string): Promise<void> {
    const result = await this.#iptables(["-t", table, "-N", chain]);
    // Exit code 1 from -N means "Chain already exists" on both backends.
    if (result.code === 0 || result.code === 1) return;
    throw this.#error(`Cannot ensure chain ${chain} in table ${table}`, result);
  }

  /** {@inheritDoc Iptables.ensureRule} */
  async ensureRule(
    position: RulePosition,
    table: Table,
    chain: string,
    args: string[],
  ): Promise<void> {
    const check = await this.#iptables(["-t", table, "-C", chain, ...args]);
    if (check.code === 0) return;
    if (check.code !== 1) {
      throw this.#error(`Cannot check rule in chain ${chain} of table ${table}`, check);
    }
    const op = position === "prepend" ? "-I" : "-A";
    const add = await this.#iptables(["-t", table, op, chain, ...args]);
    if (add.code !== 0) {
      throw this.#error(`Cannot ensure rule in chain ${chain} of table ${table}`, add);
    }
  }

  /** {@inheritDoc Iptables.deleteRule} */
  async deleteRule(table: Table, chain: string, args: string[]): Promise<void> {
    const check = await this.#iptables(["-t", table, "-C", chain, ...args]);
    // 1: rule missing; 2 (with "No chain/target/match" or a missing jump target): nothing to do.
    if (check.code !== 0) return;
    const del = await this.#iptables(["-t", table, "-D", chain, ...args]);
    if (del.code !== 0) {
      throw this.#error(`Cannot delete rule in chain ${chain} of table ${table}`, del);
    }
  }

  /** {@inheritDoc Iptables.chainExists} */
  async chainExists(table: Table, chain: string): Promise<boolean> {
    const result = await this.#iptables(["-t", table, "-S", chain]);
    return result.code === 0;
  }

  /**
   * Whether this family's iptables works on the node (upstream's `Present()`, used to run only
   * the families the kernel supports): lists the nat POSTROUTING chain.
   *
   * @returns False when the binary is missing or the kernel lacks the table.
   */
  async present(): Promise<boolean> {
    const result = await this.#iptables(["-t", "nat", "-L", "POSTROUTING", "-n"]);
    return result.code === 0;
  }

  /**
   * Whether this family's binary runs (`--version`), without touching any table: a legacy
   * listing, even {@linkcode ExecIptables.present}'s, makes the kernel create the table.
   *
   * @returns False when the binary is missing or fails.
   */
  async installed(): Promise<boolean> {
    return (await this.#run.run(this.#bin.iptables, ["--version"])).code === 0;
  }

  #iptables(args: string[]): Promise<CommandResult> {
    return this.#run.run(this.#bin.iptables, [...WAIT_ARGS, ...args]);
  }

  #error(what: string, result: CommandResult): Error {
    return new Error(
      `${what}: ${this.#bin.iptables} exited with code ${result.code}: ${
        firstReason(cleanStderr(result.stderr))
      }`,
    );
  }
}

const KUBELET_CHAIN = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) /m;

async function saveOutput(run: CommandRunner, cmd: string, args: string[]): Promise<string> {
  const result = await run.run(cmd, args);
  return result.code === 0 ? result.stdout : "";
}

function countKubeletChains(text: string): number {
  return text.split("\n").filter((l) => KUBELET_CHAIN.test(l)).length;
}

function countRules(text: string): number {
  return text.split("\n").filter((l) => l.startsWith("-")).length;
}

/**
 * Chooses the iptables backend the node already uses, as upstream's `iptables-wrapper` does.
 *
 * 1. kubelet's mangle chains (`KUBE-IPTABLES-HINT` or `KUBE-KUBELET-CANARY`) in
 *    `iptables-nft-save -t mangle` / `ip6tables-nft-save -t mangle` → nft;
 * 2. the same chains in `iptables-legacy-save` / `ip6tables-legacy-save` (all tables: asking
 *    legacy for mangle would create the table) → legacy;
 * 3. otherwise the backend whose save output has more rules (`-` lines), nft on a tie.
 *
 * @param run Command runner (a namespace-prefixed one in tests).
 * @returns The backend to use.
 */
export async function detectBackend(run: CommandRunner): Promise<IptablesBackend> {
  const nftMangle = (await saveOutput(run, "iptables-nft-save", ["-t", "mangle"])) +
    (await saveOutput(run, "ip6tables-nft-save", ["-t", "mangle"]));
  if (countKubeletChains(nftMangle) > 0) return "nft";
  const legacyAll = (await saveOutput(run, "iptables-legacy-save", [])) +
    (await saveOutput(run, "ip6tables-legacy-save", []));
  if (countKubeletChains(legacyAll) > 0) return "legacy";
  const nftAll = (await saveOutput(run, "iptables-nft-save", [])) +
    (await saveOutput(run, "ip6tables-nft-save", []));
  const legacyRules = countRules(legacyAll);
  const nftRules = countRules(nftAll);
  log.v(2).info("Detected iptables backend by rule count", { legacyRules, nftRules });
  return legacyRules > nftRules ? "legacy" : "nft";
}

/** Options of {@linkcode createIptables}. */
export interface CreateIptablesOptions {
  /** `auto` detects as {@linkcode detectBackend}; `nft` or `legacy` force a backend. */
  backend: "auto" | IptablesBackend;
  /** Command runner; a {@linkcode DenoCommandRunner} by default. */
  run?: CommandRunner;
}

/**
 * Creates the {@linkcode Iptables} of one family, detecting the backend if asked to.
 *
 * @param family IPv4 or IPv6.
 * @param opts Backend choice and command runner.
 * @returns The iptables interface.
 * @example
 * ```ts
 * const ipv4 = await createIptables("IPv4", { backend: "auto" });
 * ```
 */
export async function createIptables(
  family: IPFamily,
  opts: CreateIptablesOptions,
): Promise<Iptables> {
  const run = opts.run ?? new DenoCommandRunner();
  const backend = opts.backend === "auto" ? await detectBackend(run) : opts.backend;
  return new ExecIptables(family, backend, { run });
}

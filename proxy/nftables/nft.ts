/**
 * Applying transactions with the `nft` tool: the {@linkcode Nft} interface, its real
 * implementation {@linkcode ExecNft} (one `nft -f -` per transaction through the proxy's
 * `CommandRunner`), the error that names the failing line, and the start-up check of the tool
 * and the kernel.
 *
 * @module
 */

import type { CommandRunner } from "../exec.ts";
import { TABLE } from "./names.ts";
import type { NftFamily, Transaction } from "./transaction.ts";

/** What the backend needs from nft. */
export interface Nft {
  /**
   * Applies a transaction atomically with one `nft -f -`.
   *
   * @throws {NftError} when nft refuses it (then nothing changed).
   */
  run(tx: Transaction): Promise<void>;
  /**
   * `nft list table <family> kube-proxy`.
   *
   * @returns the listing, or undefined when the table does not exist.
   * @throws {NftError} on any other failure.
   */
  listTable(family: NftFamily): Promise<string | undefined>;
  /**
   * `nft list sets <family>`: every set of the family's tables with its elements (not maps);
   * `parseSetsListing()` reads the `kube-proxy` table's part.
   *
   * @throws {NftError} when nft fails.
   */
  listSets(family: NftFamily): Promise<string>;
  /**
   * `nft list chain <family> kube-proxy <chain>` (a cheap check that the table is intact).
   *
   * @returns the listing, or undefined when the table or chain does not exist.
   */
  listChain(family: NftFamily, chain: string): Promise<string | undefined>;
}

/** Lines of input shown before and after a failing line. */
const CONTEXT_LINES = 3;

/**
 * `nft -f -` refused a transaction. `line` is the 1-based failing line when nft named one, and
 * `context` the input around it (`>` marks the failing line), as upstream logs restore errors.
 */
export class NftError extends Error {
  /** The failing input line (1-based), or 0 when nft named none. */
  readonly line: number;
  /** Input lines around the failing one, or "". */
  readonly context: string;
  /** nft's standard error. */
  readonly stderr: string;

  /**
   * @param message the summary.
   * @param stderr nft's standard error.
   * @param line the failing line, or 0.
   * @param context the lines around it.
   */
  constructor(message: string, stderr: string, line = 0, context = "") {
    super(message);
    this.name = "NftError";
    this.stderr = stderr;
    this.line = line;
    this.context = context;
  }

  /**
   * Builds the error from nft's standard error and the input, finding the failing line in
   * `/dev/stdin:LINE:COL-COL: Error: ...`.
   *
   * @param input the transaction text.
   * @param stderr nft's standard error.
   */
  static fromStderr(input: string, stderr: string): NftError {
    const m = /^(?:\/dev\/stdin|-):(\d+):[\d-]+: Error: (.*)$/m.exec(stderr);
    if (m === null) {
      const first = stderr.split("\n").find((l) => l.trim() !== "") ?? "no error output";
      return new NftError(`nft failed: ${first}`, stderr);
    }
    const line = Number(m[1]);
    const lines = input.split("\n");
    const from = Math.max(1, line - CONTEXT_LINES);
    const to = Math.min(lines.length, line + CONTEXT_LINES);
    const context: string[] = [];
    for (let i = from; i <= to; i++) {
      context.push(`${i === line ? ">" : " "} ${i}: ${lines[i - 1]}`);
    }
    return new NftError(
      `nft failed at line ${line}: ${m[2]}: ${lines[line - 1] ?? ""}`,
      stderr,
      line,
      context.join("\n"),
    );
  }
}

/**
 * The real {@linkcode Nft}: runs the `nft` binary through a `CommandRunner`.
 *
 * @example
 * ```ts
 * const nft = new ExecNft(new DenoCommandRunner());
 * await nft.run(tx);
 * ```
 */
export class ExecNft implements Nft {
  readonly #runner: CommandRunner;

  /** @param runner runs `nft` (in a netns for tests). */
  constructor(runner: CommandRunner) {
    this.#runner = runner;
  }

  /** {@inheritDoc Nft.run} */
  async run(tx: Transaction): Promise<void> {
    if (tx.size === 0) return;
    // Streamed: a first sync at 10,000 services is ~25 MB of text.
    const r = await this.#runner.run("nft", ["-f", "-"], { stdin: tx.chunks() });
    if (r.code !== 0) throw NftError.fromStderr(tx.render(), r.stderr || r.stdout);
  }

  /** {@inheritDoc Nft.listTable} */
  async listTable(family: NftFamily): Promise<string | undefined> {
    const r = await this.#runner.run("nft", ["list", "table", family, TABLE]);
    if (r.code === 0) return r.stdout;
    if (/No such file or directory/.test(r.stderr)) return undefined;
    throw NftError.fromStderr("", r.stderr);
  }

  /** {@inheritDoc Nft.listSets} */
  async listSets(family: NftFamily): Promise<string> {
    const r = await this.#runner.run("nft", ["list", "sets", family]);
    if (r.code !== 0) throw NftError.fromStderr("", r.stderr || r.stdout);
    return r.stdout;
  }

  /** {@inheritDoc Nft.listChain} */
  async listChain(family: NftFamily, chain: string): Promise<string | undefined> {
    const r = await this.#runner.run("nft", ["list", "chain", family, TABLE, chain]);
    return r.code === 0 ? r.stdout : undefined;
  }
}

/** Oldest kernel upstream's nftables mode supports (`NFTablesKubeProxyKernelVersion`). */
const MIN_KERNEL = [5, 13] as const;

/** Oldest nft release that handles this backend's rules (knftables' minimum). */
const MIN_NFT = [1, 0, 1] as const;

/**
 * Checks at start-up that nftables mode can work here: the `nft` tool exists and is at least
 * 1.0.1, the kernel is at least 5.13 (skipped when the environment variable
 * `KUBE_PROXY_NFTABLES_SKIP_KERNEL_VERSION_CHECK` is set, as upstream), and nft can create a
 * table with the rule shapes used (a `--check` run that changes nothing).
 *
 * @param runner runs `nft`.
 * @param kernelRelease `uname -r` (e.g. `6.1.0-18-amd64`).
 * @param skipKernelCheck upstream's environment override.
 * @returns undefined when supported, else a message saying what is missing.
 */
export async function nftablesUnsupportedReason(
  runner: CommandRunner,
  kernelRelease: string,
  skipKernelCheck: boolean,
): Promise<string | undefined> {
  const v = await runner.run("nft", ["--version"]);
  if (v.code !== 0) {
    return `nftables mode needs the nft tool (>= ${MIN_NFT.join(".")}): ${
      (v.stderr || v.stdout).trim() || `exit code ${v.code}`
    }`;
  }
  const nftVersion = /v(\d+)\.(\d+)\.(\d+)/.exec(v.stdout);
  if (nftVersion === null || older(nftVersion.slice(1).map(Number), MIN_NFT)) {
    return `nftables mode needs nft >= ${MIN_NFT.join(".")}, found ${v.stdout.trim()}`;
  }
  if (!skipKernelCheck) {
    const k = /^(\d+)\.(\d+)/.exec(kernelRelease);
    if (k === null || older([Number(k[1]), Number(k[2])], MIN_KERNEL)) {
      return `nftables mode needs kernel >= ${MIN_KERNEL.join(".")}, found ${kernelRelease} ` +
        "(set KUBE_PROXY_NFTABLES_SKIP_KERNEL_VERSION_CHECK to skip this check)";
    }
  }
  const probe = [
    "add table ip kube-proxy-probe",
    "add chain ip kube-proxy-probe c",
    "add map ip kube-proxy-probe m { type ipv4_addr . inet_proto . inet_service : verdict ; }",
    "add rule ip kube-proxy-probe c ip daddr . meta l4proto . th dport vmap @m",
    "add rule ip kube-proxy-probe c meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.0.0.1 . 80, 1 : 10.0.0.2 . 80 }",
    "",
  ].join("\n");
  const c = await runner.run("nft", ["--check", "-f", "-"], { stdin: probe });
  if (c.code !== 0) {
    return `nftables mode: nft or the kernel cannot load the rules this mode needs: ${
      (c.stderr || c.stdout).trim()
    }`;
  }
  return undefined;
}

function older(have: readonly number[], want: readonly number[]): boolean {
  for (let i = 0; i < want.length; i++) {
    if ((have[i] ?? 0) !== want[i]) return (have[i] ?? 0) < want[i];
  }
  return false;
}

/**
 * Ways of getting a kube-proxy full-sync restore input into the kernel, measured side by side by
 * `iptables_restore.ts`. All of them leave rules that other components own in the same tables
 * alone; they differ in how `iptables-nft-restore --noflush` is driven:
 *
 * - `legacyNoflush` / `nftNoflush`: upstream's call, `iptables-restore --noflush` on the text.
 * - `nftListFirst`: the same text with a chain-less `-S` as the first command of each table.
 *   iptables-nft (1.8.x) records every chain a restore command names (and its `-j` target) in a
 *   sorted linked list used to fetch only those chains from the kernel; each insert walks the list,
 *   so a restore of R rules over C chains costs O(R x C) in user space. A command that names no
 *   chain switches the restore to "all chains" mode, which skips that list entirely. `-S` is
 *   read-only (its listing goes to stdout, which is discarded).
 * - `nftBatched`: the nat table split into several `--noflush` restores of at most `batchChains`
 *   chains each, written bottom-up (SEP, SVC/SVL, EXT, FW, then KUBE-SERVICES/KUBE-NODEPORTS) so
 *   every jump target exists; not atomic.
 * - `nftFlushMerged`: `iptables-nft-save` of nat and filter, the rules of chains we do not own kept,
 *   ours replaced, applied with a flushing restore (atomic per table, but rules another component
 *   adds between the save and the restore are lost).
 *
 * @module
 */

import type { CommandResult, ScratchNetns } from "./netns.ts";

/** The binaries of one backend. */
export interface Backend {
  readonly name: "legacy" | "nft";
  readonly restore: string;
  readonly save: string;
  readonly iptables: string;
}

/** iptables-legacy binaries. */
export const LEGACY: Backend = {
  name: "legacy",
  restore: "iptables-legacy-restore",
  save: "iptables-legacy-save",
  iptables: "iptables-legacy",
};

/** iptables-nft binaries. */
export const NFT: Backend = {
  name: "nft",
  restore: "iptables-nft-restore",
  save: "iptables-nft-save",
  iptables: "iptables-nft",
};

/** Rules another component owns, installed before every measurement and checked after. */
export const FOREIGN_RULES = [
  "*filter",
  ":FOREIGN-FILTER - [0:0]",
  "-A INPUT -j FOREIGN-FILTER",
  "-A FOREIGN-FILTER -p tcp -m tcp --dport 2222 -j ACCEPT",
  "COMMIT",
  "*nat",
  ":FOREIGN-NAT - [0:0]",
  "-A PREROUTING -j FOREIGN-NAT",
  "-A FOREIGN-NAT -s 198.18.0.0/15 -j RETURN",
  "-A POSTROUTING -s 198.18.0.0/15 -j MASQUERADE",
  "COMMIT",
  "",
].join("\n");

/** Lines of {@linkcode FOREIGN_RULES} that must still be in `iptables-save` afterwards. */
export const FOREIGN_CHECK = FOREIGN_RULES.split("\n").filter((l) => l.startsWith("-A "));

/** One table of a restore input, split into chain declarations and rules per chain. */
export interface ParsedTable {
  readonly name: string;
  readonly chains: string[];
  /** Rules (`-A`/`-X` lines) in input order. */
  readonly rules: string[];
}

/** Splits restore input into its tables. */
export function parseRestoreInput(text: string): ParsedTable[] {
  const tables: ParsedTable[] = [];
  let current: ParsedTable | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) {
      current = { name: line.slice(1), chains: [], rules: [] };
      tables.push(current);
    } else if (!current || line === "" || line.startsWith("#")) {
      continue;
    } else if (line === "COMMIT") {
      current = undefined;
    } else if (line.startsWith(":")) {
      current.chains.push(line.slice(1).split(" ")[0]);
    } else {
      current.rules.push(line);
    }
  }
  return tables;
}

function ruleChain(rule: string): string {
  const i = rule.indexOf(" ", 3);
  return rule.slice(3, i < 0 ? undefined : i);
}

function renderTable(t: ParsedTable, extraFirst?: string): string {
  const lines = [`*${t.name}`];
  for (const c of t.chains) lines.push(`:${c} - [0:0]`);
  if (extraFirst) lines.push(extraFirst);
  for (const r of t.rules) lines.push(r);
  lines.push("COMMIT", "");
  return lines.join("\n");
}

/** Inserts a chain-less `-S` as the first command of each table (see the module doc). */
export function withListFirst(text: string): string {
  return text.replace(/^\*(filter|nat)\n/gm, (m) => `${m}-S\n`);
}

const SERVICE_CHAIN = /^KUBE-(SVC|SVL|EXT|FW|SEP)-/;

/** True for chains a kube-proxy restore owns (fixed KUBE-* chains and service chains). */
export function isOwnedChain(chain: string, declared: ReadonlySet<string>): boolean {
  return declared.has(chain) || SERVICE_CHAIN.test(chain);
}

function layerOf(chain: string): number {
  if (chain.startsWith("KUBE-SEP-")) return 1;
  if (chain.startsWith("KUBE-SVC-") || chain.startsWith("KUBE-SVL-")) return 2;
  if (chain.startsWith("KUBE-EXT-")) return 3;
  if (chain.startsWith("KUBE-FW-")) return 4;
  if (chain === "KUBE-SERVICES" || chain === "KUBE-NODEPORTS") return 5;
  return 0;
}

/**
 * Splits a full-sync input into bottom-up batches of at most `batchChains` nat chains each (the
 * filter table goes whole with the first batch).
 */
export function splitIntoBatches(text: string, batchChains: number): string[] {
  const tables = parseRestoreInput(text);
  const out: string[] = [];
  const filter = tables.find((t) => t.name === "filter");
  const nat = tables.find((t) => t.name === "nat");
  if (filter) out.push(renderTable(filter));
  if (!nat) return out;
  const rulesByChain = new Map<string, string[]>();
  const tail: string[] = [];
  for (const r of nat.rules) {
    if (!r.startsWith("-A ")) {
      tail.push(r);
      continue;
    }
    const c = ruleChain(r);
    let list = rulesByChain.get(c);
    if (!list) rulesByChain.set(c, list = []);
    list.push(r);
  }
  const chains = [...nat.chains].sort((a, b) => layerOf(a) - layerOf(b));
  for (let i = 0; i < chains.length; i += batchChains) {
    const batch = chains.slice(i, i + batchChains);
    const last = i + batchChains >= chains.length;
    out.push(renderTable({
      name: "nat",
      chains: batch,
      rules: [...batch.flatMap((c) => rulesByChain.get(c) ?? []), ...(last ? tail : [])],
    }));
  }
  return out;
}

/**
 * Merges a full-sync input with `iptables-save` output: for each table in the input, the saved
 * built-in chain policies, foreign chains and foreign rules, then ours. For a flushing restore.
 */
export function mergeWithSaved(text: string, saved: string): string {
  const ours = parseRestoreInput(text);
  const savedTables = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of saved.split("\n")) {
    if (line.startsWith("*")) savedTables.set(line.slice(1), current = []);
    else if (line === "COMMIT") current = undefined;
    else if (current && line !== "" && !line.startsWith("#")) current.push(line);
  }
  const out: string[] = [];
  for (const t of ours) {
    const declared = new Set(t.chains);
    out.push(`*${t.name}`);
    const keptRules: string[] = [];
    for (const line of savedTables.get(t.name) ?? []) {
      if (line.startsWith(":")) {
        const chain = line.slice(1).split(" ")[0];
        if (!isOwnedChain(chain, declared)) out.push(line);
      } else if (line.startsWith("-A ") && !isOwnedChain(ruleChain(line), declared)) {
        keptRules.push(line);
      }
    }
    for (const c of t.chains) out.push(`:${c} - [0:0]`);
    // One push per line: spreading 100,000s of lines into push() overflows the stack.
    for (const r of keptRules) out.push(r);
    for (const r of t.rules) if (r.startsWith("-A ")) out.push(r);
    out.push("COMMIT");
  }
  out.push("");
  return out.join("\n");
}

/** Timing of one method: total wall-clock ms and the number of commands run. */
export interface MethodTiming {
  readonly ms: number;
  readonly commands: number;
}

async function timed(
  fns: (() => Promise<CommandResult>)[],
): Promise<MethodTiming> {
  const start = performance.now();
  for (const fn of fns) {
    const r = await fn();
    if (r.code !== 0) {
      throw new Error(`restore failed (code ${r.code}): ${r.stderr.trim().slice(0, 500)}`);
    }
  }
  return { ms: performance.now() - start, commands: fns.length };
}

/** Names of the measured methods. */
export type MethodName =
  | "legacyNoflush"
  | "nftNoflush"
  | "nftListFirst"
  | "nftBatched"
  | "nftFlushMerged";

/**
 * Applies `text` in `ns` with the given method, timing everything the method needs (for the
 * merged method that includes the save and the merge).
 *
 * @throws Error when a restore exits non-zero.
 */
export function applyWithMethod(
  ns: ScratchNetns,
  method: MethodName,
  text: string,
  batchChains = 1000,
): Promise<MethodTiming> {
  switch (method) {
    case "legacyNoflush":
      return timed([() => ns.run(LEGACY.restore, ["--noflush"], text)]);
    case "nftNoflush":
      return timed([() => ns.run(NFT.restore, ["--noflush"], text)]);
    case "nftListFirst":
      return timed([() => ns.run(NFT.restore, ["--noflush"], withListFirst(text))]);
    case "nftBatched":
      return timed(
        splitIntoBatches(text, batchChains).map((b) => () => ns.run(NFT.restore, ["--noflush"], b)),
      );
    case "nftFlushMerged": {
      const start = performance.now();
      return (async () => {
        const saved = await ns.run(NFT.save, []);
        if (saved.code !== 0) throw new Error(`iptables-nft-save failed: ${saved.stderr}`);
        const r = await ns.run(NFT.restore, [], mergeWithSaved(text, saved.stdout));
        if (r.code !== 0) throw new Error(`restore failed: ${r.stderr.trim().slice(0, 500)}`);
        return { ms: performance.now() - start, commands: 2 };
      })();
    }
  }
}

/** The backend a method writes through. */
export function backendOf(method: MethodName): Backend {
  return method === "legacyNoflush" ? LEGACY : NFT;
}

/**
 * A partial-sync input derived from a full one: the filter table and the fixed nat chains whole
 * (as upstream rewrites them every sync), plus the chains of the first service with endpoints.
 */
export function derivePartialInput(text: string): string {
  const tables = parseRestoreInput(text);
  const out: string[] = [];
  for (const t of tables) {
    if (t.name !== "nat") {
      out.push(renderTable(t));
      continue;
    }
    const first = t.rules.find((r) => r.startsWith("-A KUBE-SERVICES ") && / -j KUBE-S/.test(r));
    const hash = first ? /-j KUBE-(?:SVC|SVL)-(\w+)/.exec(first)?.[1] : undefined;
    const keep = new Set(t.chains.filter((c) => !SERVICE_CHAIN.test(c)));
    if (hash) {
      for (const p of ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-"]) {
        if (t.chains.includes(p + hash)) keep.add(p + hash);
      }
      for (const r of t.rules) {
        if (keep.has(ruleChain(r))) {
          const sep = / -j (KUBE-SEP-\w+)/.exec(r)?.[1];
          if (sep) keep.add(sep);
        }
      }
    }
    out.push(renderTable({
      name: "nat",
      chains: t.chains.filter((c) => keep.has(c)),
      rules: t.rules.filter((r) => r.startsWith("-A ") && keep.has(ruleChain(r))),
    }));
  }
  return out.join("");
}

/** Counts `-A` lines of KUBE-* chains in `iptables-save` output. */
export function countKubeRules(saved: string): number {
  let n = 0;
  for (const line of saved.split("\n")) if (line.startsWith("-A KUBE-")) n++;
  return n;
}

/**
 * The part of a partial input that a one-endpoint change really needs: only the changed service's
 * own chains, with the fixed chains (KUBE-SERVICES ...) left out, so `--noflush` leaves them as they
 * are. Valid when their rendered content did not change (an endpoint replaced by another).
 */
export function ownChainsOnly(partial: string): string {
  const nat = parseRestoreInput(partial).find((t) => t.name === "nat");
  if (!nat) return "";
  const own = nat.chains.filter((c) => SERVICE_CHAIN.test(c));
  const keep = new Set(own);
  return renderTable({
    name: "nat",
    chains: own,
    rules: nat.rules.filter((r) => r.startsWith("-A ") && keep.has(ruleChain(r))),
  });
}

/**
 * `--cleanup`: removes every iptables rule and chain this proxy creates, as upstream's
 * `CleanupLeftovers`, for each {@linkcode Iptables} given (both families, both backends).
 *
 * Per family and backend:
 * 1. the static jumps from the built-in chains ({@linkcode iptablesJumpChains}, except kubelet's
 *    KUBE-FIREWALL jumps) are deleted one by one, as upstream does;
 * 2. for nat, filter and (when the canary exists) mangle, `iptables-save` tells which of our
 *    chains exist; one `iptables-restore --noflush` then flushes them (`:CHAIN - [0:0]`), deletes
 *    any remaining rule of a foreign chain that jumps into them (a jump written by an older
 *    version with another comment would otherwise keep the chain busy), and deletes them (`-X`).
 *
 * Owned chains: nat KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING, KUBE-MARK-MASQ,
 * KUBE-PROXY-CANARY, KUBE-DNS-INTERCEPT (our DNS extension) and every KUBE-SVC/SVL/EXT/FW/SEP
 * chain; filter KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-FORWARD, KUBE-NODEPORTS,
 * KUBE-PROXY-FIREWALL, KUBE-PROXY-CANARY; mangle KUBE-PROXY-CANARY. KUBE-FIREWALL belongs to
 * kubelet and stays where kubelet runs (its KUBE-KUBELET-CANARY chain is present); on a node
 * without kubelet this proxy created it, and it goes too (see `includeKubeletFirewall`). Running
 * it again finds nothing and changes nothing.
 *
 * The node is left as it was found: every legacy iptables command, even a listing, makes the
 * kernel create the table it names, after which `iptables-save` (nft) warns that legacy tables
 * exist. So the legacy backend is touched only for the tables the kernel already has, read from
 * `/proc/net/ip_tables_names` / `ip6_tables_names` (as upstream's iptables-wrapper reads them):
 * none on a node that never used legacy iptables, and then no legacy command runs at all.
 *
 * @module
 */

import { log } from "../../config/log.ts";
import {
  iptablesJumpChains,
  isServiceChainName,
  jumpRuleArgs,
  KUBE_DNS_INTERCEPT,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FIREWALL,
  KUBE_FORWARD,
  KUBE_KUBELET_CANARY,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_CANARY,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  type Table,
} from "./chains.ts";
import type { IPFamily } from "../../cache/objects.ts";
import { type CommandRunner, DenoCommandRunner } from "../exec.ts";
import { ExecIptables, type Iptables, splitRuleArgs } from "./iptables.ts";

/** Options of {@linkcode cleanupLeftovers}. */
export interface CleanupOptions {
  /**
   * Whether to remove KUBE-FIREWALL and the INPUT/OUTPUT jumps to it. Upstream always leaves
   * them to kubelet. `"auto"` (the default) removes them only when kubelet's canary chain
   * (KUBE-KUBELET-CANARY) is absent from the filter table, i.e. on a node where no kubelet
   * manages iptables and this proxy created KUBE-FIREWALL itself.
   */
  includeKubeletFirewall?: boolean | "auto";
}

const FIXED_CHAINS: Record<Table, readonly string[]> = {
  nat: [
    KUBE_SERVICES,
    KUBE_NODEPORTS,
    KUBE_POSTROUTING,
    KUBE_MARK_MASQ,
    KUBE_PROXY_CANARY,
    KUBE_DNS_INTERCEPT,
  ],
  filter: [
    KUBE_SERVICES,
    KUBE_EXTERNAL_SERVICES,
    KUBE_FORWARD,
    KUBE_NODEPORTS,
    KUBE_PROXY_FIREWALL,
    KUBE_PROXY_CANARY,
  ],
  mangle: [KUBE_PROXY_CANARY],
};

/** A rule line of `iptables-save` output. */
interface SavedRule {
  chain: string;
  /** The rule specification after `-A <chain> `, as printed. */
  spec: string;
  /** The `-j`/`-g` target, "" for none. */
  target: string;
}

/** The chains and rules of one table in `iptables-save` output. */
interface SavedTable {
  chains: Set<string>;
  rules: SavedRule[];
}

/**
 * Reads the chains and rules of the table in `iptables-save -t <table>` output.
 *
 * @param text The save output.
 * @returns Chain names declared and rules appended.
 */
export function parseSavedTable(text: string): SavedTable {
  const chains = new Set<string>();
  const rules: SavedRule[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) {
      chains.add(line.slice(1).split(" ")[0]);
    } else if (line.startsWith("-A ")) {
      const rest = line.slice(3);
      const sp = rest.indexOf(" ");
      const chain = sp < 0 ? rest : rest.slice(0, sp);
      const spec = sp < 0 ? "" : rest.slice(sp + 1);
      const words = splitRuleArgs(spec);
      let target = "";
      for (let i = 0; i < words.length - 1; i++) {
        if (words[i] === "-j" || words[i] === "-g" || words[i] === "--jump") target = words[i + 1];
      }
      rules.push({ chain, spec, target });
    }
  }
  return { chains, rules };
}

/**
 * The iptables-restore input that flushes and deletes our chains of one table, or "" when none
 * of them exists.
 *
 * @param table The table.
 * @param saved That table's `iptables-save` output.
 * @param opts Whether KUBE-FIREWALL counts as ours (`"auto"`: when the table has no
 *   KUBE-KUBELET-CANARY).
 * @returns The restore input.
 */
export function buildCleanupInput(table: Table, saved: string, opts: CleanupOptions = {}): string {
  const { chains, rules } = parseSavedTable(saved);
  const owned = new Set<string>();
  const fixed = [...FIXED_CHAINS[table]];
  if (table === "filter" && removesKubeletFirewall(chains, opts)) fixed.push(KUBE_FIREWALL);
  for (const chain of fixed) if (chains.has(chain)) owned.add(chain);
  if (table === "nat") {
    for (const chain of [...chains].sort()) if (isServiceChainName(chain)) owned.add(chain);
  }
  if (owned.size === 0) return "";
  const lines = [`*${table}`];
  for (const chain of owned) lines.push(`:${chain} - [0:0]`);
  for (const rule of rules) {
    if (!owned.has(rule.chain) && owned.has(rule.target)) {
      lines.push(`-D ${rule.chain} ${rule.spec}`);
    }
  }
  for (const chain of owned) lines.push(`-X ${chain}`);
  lines.push("COMMIT", "");
  return lines.join("\n");
}

function removesKubeletFirewall(filterChains: Set<string>, opts: CleanupOptions): boolean {
  const choice = opts.includeKubeletFirewall ?? "auto";
  if (choice === "auto") return !filterChains.has(KUBE_KUBELET_CANARY);
  return choice;
}

/**
 * Cleans one family and backend.
 *
 * @param tables Only these tables are touched (legacy: those the kernel already has); all by
 *   default.
 */
async function cleanupOne(
  ipt: Iptables,
  opts: CleanupOptions,
  tables?: ReadonlySet<Table>,
): Promise<boolean> {
  let encounteredError = false;
  const fields = { ipFamily: ipt.family, backend: ipt.backend };
  const touches = (table: Table) => tables === undefined || tables.has(table);
  for (const jump of iptablesJumpChains) {
    // The jumps to KUBE-FIREWALL go with the chain, in the filter restore below, when the chain
    // is ours to remove.
    if (jump.kubeletFirewall || !touches(jump.table)) continue;
    try {
      await ipt.deleteRule(jump.table, jump.srcChain, jumpRuleArgs(jump));
    } catch (err) {
      log.error("Error removing pure-iptables proxy rule", err, {
        ...fields,
        chain: jump.srcChain,
      });
      encounteredError = true;
    }
  }
  for (const table of ["nat", "filter", "mangle"] as const) {
    if (!touches(table)) continue;
    if (table === "mangle") {
      // Only look at mangle when our canary is there: saving mangle from the legacy backend
      // creates the table.
      try {
        if (!(await ipt.chainExists("mangle", KUBE_PROXY_CANARY))) continue;
      } catch {
        continue;
      }
    }
    let saved: string;
    try {
      saved = await ipt.save(table);
    } catch (err) {
      log.error("Failed to execute iptables-save", err, { ...fields, table });
      encounteredError = true;
      continue;
    }
    const input = buildCleanupInput(table, saved, opts);
    if (input === "") continue;
    try {
      await ipt.restore(input, { noflush: true });
      log.v(2).info("Removed iptables chains", { ...fields, table });
    } catch (err) {
      log.error("Failed to execute iptables-restore", err, { ...fields, table });
      encounteredError = true;
    }
  }
  return encounteredError;
}

/**
 * Removes every rule and chain this proxy created, in each given family and backend.
 *
 * @param iptables One {@linkcode Iptables} per family and backend to clean.
 * @param opts Whether KUBE-FIREWALL is ours too.
 * @returns True when an error was encountered (upstream's `encounteredError`), false when every
 *   table is clean.
 * @example
 * ```ts
 * const all = [];
 * for (const family of ["IPv4", "IPv6"] as const) {
 *   for (const backend of ["nft", "legacy"] as const) all.push(new ExecIptables(family, backend));
 * }
 * const failed = await cleanupLeftovers(all);
 * ```
 */
export async function cleanupLeftovers(
  iptables: Iptables[],
  opts: CleanupOptions = {},
): Promise<boolean> {
  let encounteredError = false;
  for (const ipt of iptables) {
    if (await cleanupOne(ipt, opts)) encounteredError = true;
  }
  return encounteredError;
}

/** Options of {@linkcode cleanupAllBackends}. */
export interface CleanupAllOptions extends CleanupOptions {
  /** Command runner; the real one by default (a namespace-prefixed one in tests). */
  run?: CommandRunner;
}

/**
 * `--cleanup` for the whole node: {@linkcode cleanupLeftovers} over IPv4 and IPv6, nft and
 * legacy, skipping a family/backend whose iptables does not work here (no binary, no kernel
 * support), as upstream skips families it cannot use.
 *
 * @param opts Command runner and KUBE-FIREWALL choice.
 * @returns True when an error was encountered.
 * @example
 * ```ts
 * if (await cleanupAllBackends()) log.error("encountered an error while tearing down rules");
 * ```
 */
export async function cleanupAllBackends(opts: CleanupAllOptions = {}): Promise<boolean> {
  const run = opts.run ?? new DenoCommandRunner();
  let encounteredError = false;
  for (const backend of ["nft", "legacy"] as const) {
    for (const family of ["IPv4", "IPv6"] as const) {
      const ipt = new ExecIptables(family, backend, { run });
      let tables: ReadonlySet<Table> | undefined;
      let usable: boolean;
      if (backend === "legacy") {
        tables = await legacyTables(run, family);
        // Only the binary is checked: any legacy listing would create a table.
        usable = tables.size > 0 && await ipt.installed();
      } else {
        usable = await ipt.present();
      }
      if (!usable) {
        log.v(2).info("Skipping cleanup of unused or unusable iptables", {
          ipFamily: family,
          backend,
        });
        continue;
      }
      if (await cleanupOne(ipt, opts, tables)) encounteredError = true;
    }
  }
  return encounteredError;
}

const LEGACY_TABLE_NAMES = {
  IPv4: "/proc/net/ip_tables_names",
  IPv6: "/proc/net/ip6_tables_names",
} as const;

/**
 * The tables legacy iptables has in the namespace `run` runs in, read without creating any:
 * `/proc/net/ip_tables_names` (or `ip6_tables_names`) lists the x_tables tables the kernel has
 * instantiated; it is absent when the legacy module was never loaded.
 *
 * @param run Runs `cat` in the node's (or a test's) network namespace.
 * @param family Which file.
 * @returns The tables of ours among them (nat, filter, mangle); empty when legacy is unused.
 */
export async function legacyTables(run: CommandRunner, family: IPFamily): Promise<Set<Table>> {
  const result = await run.run("cat", [LEGACY_TABLE_NAMES[family]]);
  const out = new Set<Table>();
  if (result.code !== 0) return out;
  for (const name of result.stdout.split("\n")) {
    const table = name.trim();
    if (table === "nat" || table === "filter" || table === "mangle") out.add(table);
  }
  return out;
}

/**
 * FakeIptables: an in-memory {@linkcode Iptables} for tests, as upstream's
 * `pkg/util/iptables/testing/fake.go`. It parses iptables-restore input into tables of chains of
 * rule lines with iptables-restore's semantics:
 *
 * - without `--noflush`, each table named in the input is emptied first;
 * - a declared chain (`:CHAIN - [0:0]`) is created, or flushed when it exists;
 * - `-A`/`-I` need an existing chain, and a `-j` target must be a built-in target or an
 *   existing chain;
 * - `-X` deletes a chain, which must exist, not be built in, and not be jumped to;
 * - a table is replaced only at its `COMMIT`; an error throws {@linkcode IptablesRestoreError}
 *   naming the failing line, leaving that table untouched.
 *
 * Rules are stored as lines, `-A CHAIN args`, exactly as written (comments keep their quotes),
 * which is also how `save()` prints them.
 *
 * @module
 */

import type { IPFamily } from "../../cache/objects.ts";
import {
  type Iptables,
  type IptablesBackend,
  IptablesRestoreError,
  type RestoreInput,
  type RestoreOptions,
  restoreText,
  type RulePosition,
  savedChainNames,
} from "./iptables.ts";
import type { Table } from "./chains.ts";

const BUILTIN_CHAINS: Record<Table, readonly string[]> = {
  filter: ["INPUT", "FORWARD", "OUTPUT"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
};

const BUILTIN_TARGETS = new Set([
  "ACCEPT",
  "DROP",
  "REJECT",
  "RETURN",
  "DNAT",
  "SNAT",
  "MASQUERADE",
  "REDIRECT",
  "MARK",
  "CONNMARK",
  "LOG",
]);

type Chains = Map<string, string[]>;

/** One call of {@linkcode FakeIptables.restore}. */
export interface RestoreCall {
  readonly text: string;
  readonly noflush: boolean;
}

/** Formats rule arguments as iptables-save prints them (arguments with spaces quoted). */
export function formatRuleArgs(args: readonly string[]): string {
  return args.map((a) => (a.includes(" ") ? `"${a}"` : a)).join(" ");
}

/** An in-memory iptables for one family. */
export class FakeIptables implements Iptables {
  readonly family: IPFamily;
  readonly backend: IptablesBackend;
  /** Every restore call, in order (including failed ones). */
  readonly restores: RestoreCall[] = [];
  #tables = new Map<Table, Chains>();
  #failures: Error[] = [];
  #anyTarget: boolean;

  /**
   * @param family the family this instance stands for.
   * @param backend reported backend.
   * @param opts `anyTarget`: accept a `-j` target that is neither built in nor a chain, as a
   *   node's `iptables-save` output holds (other programs use extension targets such as NFLOG or
   *   CT); `kube-proxy trace` loads the kernel's rules that way.
   */
  constructor(
    family: IPFamily = "IPv4",
    backend: IptablesBackend = "legacy",
    opts: { anyTarget?: boolean } = {},
  ) {
    this.family = family;
    this.backend = backend;
    this.#anyTarget = opts.anyTarget ?? false;
    for (const table of Object.keys(BUILTIN_CHAINS) as Table[]) {
      this.#tables.set(table, emptyTable(table));
    }
  }

  /** Makes the next restore call fail with `err` (queued; one per call). */
  failNextRestore(err: Error): void {
    this.#failures.push(err);
  }

  /** @inheritdoc */
  restore(input: RestoreInput, opts: RestoreOptions = {}): Promise<void> {
    const text = restoreText(input);
    const noflush = opts.noflush ?? false;
    this.restores.push({ text, noflush });
    const failure = this.#failures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    try {
      this.#apply(text, noflush);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** @inheritdoc */
  save(table: Table): Promise<string> {
    return Promise.resolve(this.dump(table));
  }

  /** @inheritdoc */
  chainNames(table: Table): Promise<string[]> {
    return Promise.resolve(savedChainNames(this.dump(table)));
  }

  /** @inheritdoc */
  ensureChain(table: Table, chain: string): Promise<void> {
    const t = this.#tables.get(table)!;
    if (!t.has(chain)) t.set(chain, []);
    return Promise.resolve();
  }

  /** @inheritdoc */
  ensureRule(position: RulePosition, table: Table, chain: string, args: string[]): Promise<void> {
    const rules = this.#tables.get(table)!.get(chain);
    if (rules === undefined) {
      return Promise.reject(new Error(`Cannot ensure rule: chain ${chain} does not exist`));
    }
    const line = `-A ${chain} ${formatRuleArgs(args)}`;
    if (!rules.includes(line)) {
      if (position === "prepend") rules.unshift(line);
      else rules.push(line);
    }
    return Promise.resolve();
  }

  /** @inheritdoc */
  deleteRule(table: Table, chain: string, args: string[]): Promise<void> {
    const rules = this.#tables.get(table)!.get(chain);
    const line = `-A ${chain} ${formatRuleArgs(args)}`;
    const i = rules?.indexOf(line) ?? -1;
    if (i !== -1) rules!.splice(i, 1);
    return Promise.resolve();
  }

  /** @inheritdoc */
  chainExists(table: Table, chain: string): Promise<boolean> {
    return Promise.resolve(this.#tables.get(table)!.has(chain));
  }

  /** Names of the chains of a table, sorted. */
  chains(table: Table): string[] {
    return [...this.#tables.get(table)!.keys()].sort();
  }

  /** The rule lines (`-A CHAIN ...`) of a chain; undefined when the chain does not exist. */
  rules(table: Table, chain: string): readonly string[] | undefined {
    return this.#tables.get(table)!.get(chain);
  }

  /**
   * The table as `iptables-save -t <table>` prints it: built-in chains first, then the others
   * sorted, then the rules chain by chain.
   */
  dump(table: Table): string {
    const t = this.#tables.get(table)!;
    const builtins = BUILTIN_CHAINS[table];
    const names = [...builtins, ...[...t.keys()].filter((c) => !builtins.includes(c)).sort()];
    const lines = [`*${table}`];
    for (const c of names) lines.push(`:${c} ${builtins.includes(c) ? "ACCEPT" : "-"} [0:0]`);
    for (const c of names) lines.push(...t.get(c)!);
    lines.push("COMMIT", "");
    return lines.join("\n");
  }

  #apply(text: string, noflush: boolean): void {
    const lines = text.split("\n");
    let table: Table | undefined;
    let work: Chains | undefined;
    const fail = (n: number, reason: string): never => {
      throw new IptablesRestoreError(
        {
          code: 2,
          stdout: "",
          stderr: `iptables-restore: ${reason}\nError occurred at line: ${n}`,
        },
        text,
      );
    };
    for (let i = 0; i < lines.length; i++) {
      const n = i + 1;
      const line = lines[i].trim();
      if (line === "" || line.startsWith("#")) continue;
      if (line.startsWith("*")) {
        if (table !== undefined) fail(n, "table not committed");
        const name = line.slice(1) as Table;
        if (!(name in BUILTIN_CHAINS)) fail(n, `unknown table ${name}`);
        table = name;
        work = noflush ? cloneTable(this.#tables.get(name)!) : emptyTable(name);
        continue;
      }
      if (table === undefined || work === undefined) fail(n, "no table");
      const w = work!;
      if (line === "COMMIT") {
        this.#tables.set(table!, w);
        table = undefined;
        work = undefined;
        continue;
      }
      if (line.startsWith(":")) {
        const chain = line.slice(1).split(" ")[0];
        if (chain === "" || chain.length > 28) fail(n, `invalid chain name ${chain}`);
        w.set(chain, []);
        continue;
      }
      const [op, chain] = line.split(" ", 2);
      if (op === "-X") {
        const rules = w.get(chain);
        if (rules === undefined) fail(n, `chain ${chain} does not exist`);
        if (BUILTIN_CHAINS[table!].includes(chain)) fail(n, `cannot delete built-in ${chain}`);
        if (rules!.length > 0) fail(n, `chain ${chain} is not empty`);
        for (const [other, otherRules] of w) {
          if (other !== chain && otherRules.some((r) => jumpTarget(r) === chain)) {
            fail(n, `chain ${chain} is referenced by ${other}`);
          }
        }
        w.delete(chain);
        continue;
      }
      if (op !== "-A" && op !== "-I") fail(n, `unsupported command ${op}`);
      const rules = w.get(chain);
      if (rules === undefined) fail(n, `chain ${chain} does not exist`);
      const target = jumpTarget(line);
      if (
        target !== undefined && !this.#anyTarget && !BUILTIN_TARGETS.has(target) && !w.has(target)
      ) {
        fail(n, `target ${target} does not exist`);
      }
      if (op === "-A") rules!.push(line);
      else rules!.unshift(`-A ${line.slice(3)}`);
    }
    if (table !== undefined) fail(lines.length, "missing COMMIT");
  }
}

function emptyTable(table: Table): Chains {
  return new Map(BUILTIN_CHAINS[table].map((c) => [c, []]));
}

function cloneTable(t: Chains): Chains {
  return new Map([...t].map(([c, rules]) => [c, [...rules]]));
}

function jumpTarget(line: string): string | undefined {
  const m = line.match(/ -[jg] (\S+)/);
  return m === null ? undefined : m[1];
}

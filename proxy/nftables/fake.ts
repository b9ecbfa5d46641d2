/**
 * `FakeNft`: applies `nft -f -` text to in-memory tables with nft's semantics, so tests check
 * exactly the text production sends. A transaction is all or nothing: on the first failing
 * command nothing changes, and the error names the line as nft does (`/dev/stdin:LINE:...`).
 *
 * Semantics kept (those the backend relies on): `add` of an existing table, chain, set or
 * identical element is a no-op, `create` of one fails; `flush` empties; `delete` fails on a
 * missing object, on a chain that still has rules or is jumped to, and on a set a rule uses;
 * a rule or element naming a missing chain or set fails; adding an existing element with a
 * different value fails; an element `timeout Ns expires Ms` needs a set with `flags timeout` and
 * M <= N (`expires 0s` is the whole timeout), and keeps M as its time left (no clock runs).
 *
 * @module
 */

import { type Nft, NftError } from "./nft.ts";
import {
  type ChainState,
  cloneTable,
  emptyTable,
  formatTable,
  type SetState,
  type TableState,
} from "./ruleset.ts";
import type { NftFamily, Transaction } from "./transaction.ts";

const COMMAND =
  /^(add|create|flush|delete) (table|chain|rule|set|map|element) (ip|ip6|inet) (\S+)(?: (.*))?$/;

/**
 * An in-memory {@linkcode Nft}.
 *
 * @example
 * ```ts
 * const nft = new FakeNft();
 * await nft.run(tx);
 * nft.table("ip")?.chains.get("services")?.rules;
 * ```
 */
export class FakeNft implements Nft {
  /** Tables by `family name`. */
  readonly tables = new Map<string, TableState>();
  /** Every transaction text applied or refused, in order. */
  readonly transactions: string[] = [];
  /** When set, the next `run` fails with this stderr (then it is cleared). */
  failNext: string | undefined;

  /**
   * The `kube-proxy` table (or another) of a family.
   *
   * @param family `ip` or `ip6`.
   * @param name the table.
   */
  table(family: NftFamily, name = "kube-proxy"): TableState | undefined {
    return this.tables.get(`${family} ${name}`);
  }

  /** {@inheritDoc Nft.run} */
  run(tx: Transaction): Promise<void> {
    const text = tx.render();
    this.transactions.push(text);
    if (this.failNext !== undefined) {
      const stderr = this.failNext;
      this.failNext = undefined;
      return Promise.reject(NftError.fromStderr(text, stderr));
    }
    try {
      this.applyText(text);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  }

  /**
   * Applies transaction text; on error nothing changes.
   *
   * @param text `nft -f` input.
   * @throws {NftError} naming the failing line.
   */
  applyText(text: string): void {
    const work = new Map<string, TableState>();
    for (const [k, t] of this.tables) work.set(k, cloneTable(t));
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.trim() === "" || line.startsWith("#")) continue;
      const problem = applyCommand(work, line);
      if (problem !== undefined) {
        throw NftError.fromStderr(text, `/dev/stdin:${i + 1}:1-${line.length}: Error: ${problem}`);
      }
    }
    this.tables.clear();
    for (const [k, t] of work) this.tables.set(k, t);
  }

  /** {@inheritDoc Nft.listTable} */
  listTable(family: NftFamily, name = "kube-proxy"): Promise<string | undefined> {
    const t = this.table(family, name);
    return Promise.resolve(t === undefined ? undefined : formatTable(family, name, t));
  }

  /** {@inheritDoc Nft.listSets} */
  listSets(family: NftFamily): Promise<string> {
    let out = "";
    for (const [key, t] of this.tables) {
      const [f, name] = key.split(" ");
      // Sets only, as nft (maps have `list maps`).
      const sets = new Map([...t.sets].filter(([, s]) => !s.map));
      if (f === family) out += formatTable(f, name, { chains: new Map(), sets });
    }
    return Promise.resolve(out);
  }

  /** {@inheritDoc Nft.listChain} */
  listChain(family: NftFamily, chain: string): Promise<string | undefined> {
    const c = this.table(family)?.chains.get(chain);
    if (c === undefined) return Promise.resolve(undefined);
    return Promise.resolve(
      `table ${family} kube-proxy {\n\tchain ${chain} {\n${
        c.rules.map((r) => `\t\t${r}\n`).join("")
      }\t}\n}\n`,
    );
  }
}

/** Applies one command; returns the error text, or undefined on success. */
function applyCommand(tables: Map<string, TableState>, line: string): string | undefined {
  const m = COMMAND.exec(line);
  if (m === null) return "syntax error";
  const [, verb, kind, family, tableName, rest = ""] = m;
  const key = `${family} ${tableName}`;
  if (kind === "table") {
    if (verb === "add") {
      if (!tables.has(key)) tables.set(key, emptyTable());
    } else if (verb === "create") {
      if (tables.has(key)) return "Could not process rule: File exists";
      tables.set(key, emptyTable());
    } else if (verb === "delete") {
      if (!tables.delete(key)) return "Could not process rule: No such file or directory";
    } else {
      const t = tables.get(key);
      if (t === undefined) return "Could not process rule: No such file or directory";
      for (const c of t.chains.values()) c.rules = [];
      for (const s of t.sets.values()) s.elements.clear();
    }
    return undefined;
  }
  const t = tables.get(key);
  if (t === undefined) return "Could not process rule: No such file or directory";
  switch (kind) {
    case "chain":
      return chainCommand(t, verb, rest);
    case "rule":
      return ruleCommand(t, verb, rest);
    case "set":
    case "map":
      return setCommand(t, verb, kind === "map", rest);
    default:
      return elementCommand(t, verb, rest);
  }
}

const CHAIN_SPEC = /^(\S+)(?: \{ (type \w+ hook \w+ priority -?\d+) ; \})?$/;

function chainCommand(t: TableState, verb: string, rest: string): string | undefined {
  const m = CHAIN_SPEC.exec(rest);
  if (m === null) return "syntax error";
  const [, name, base] = m;
  const existing = t.chains.get(name);
  switch (verb) {
    case "add":
    case "create":
      if (existing !== undefined) {
        if (verb === "create") return "Could not process rule: File exists";
        if (existing.base !== base) return "Could not process rule: Device or resource busy";
        return undefined;
      }
      t.chains.set(name, { base, rules: [] });
      return undefined;
    case "flush":
      if (existing === undefined) return "Could not process rule: No such file or directory";
      existing.rules = [];
      return undefined;
    default:
      if (existing === undefined) return "Could not process rule: No such file or directory";
      if (existing.rules.length > 0 || chainReferenced(t, name)) {
        return "Could not process rule: Device or resource busy";
      }
      t.chains.delete(name);
      return undefined;
  }
}

function chainReferenced(t: TableState, name: string): boolean {
  for (const c of t.chains.values()) {
    if (c.rules.some((r) => chainTargets(r).includes(name))) return true;
  }
  for (const s of t.sets.values()) {
    for (const e of s.elements.values()) {
      if (e.value !== undefined && chainTargets(e.value).includes(name)) return true;
    }
  }
  return false;
}

/** Chains a rule or verdict jumps to. */
function chainTargets(text: string): string[] {
  return [...text.replace(/comment "[^"]*"/g, "").matchAll(/\b(?:jump|goto) ([^\s,}]+)/g)].map((
    m,
  ) => m[1]);
}

/** Sets and maps a rule refers to. */
function setRefs(text: string): string[] {
  return [...text.replace(/comment "[^"]*"/g, "").matchAll(/@([^\s,}]+)/g)].map((m) => m[1]);
}

function ruleCommand(t: TableState, verb: string, rest: string): string | undefined {
  if (verb !== "add") return "syntax error";
  const sp = rest.indexOf(" ");
  if (sp < 0) return "syntax error";
  const chain: ChainState | undefined = t.chains.get(rest.slice(0, sp));
  if (chain === undefined) return "Could not process rule: No such file or directory";
  const rule = rest.slice(sp + 1);
  for (const target of chainTargets(rule)) {
    if (!t.chains.has(target)) return `Could not process rule: No such file or directory`;
  }
  for (const set of setRefs(rule)) {
    if (!t.sets.has(set)) return `Set '${set}' does not exist`;
  }
  chain.rules.push(rule);
  return undefined;
}

const SET_SPEC = /^(\S+) \{ type ([^;]+?) ;(?: flags ([a-z,]+) ;)?(?: timeout (\d+)s ;)? \}$/;

function setCommand(t: TableState, verb: string, map: boolean, rest: string): string | undefined {
  if (verb === "add" || verb === "create") {
    const m = SET_SPEC.exec(rest);
    if (m === null) return "syntax error";
    const [, name, type, flags, timeout] = m;
    if (map !== type.includes(" : ")) return "syntax error";
    const existing = t.sets.get(name);
    if (existing !== undefined) {
      if (verb === "create") return "Could not process rule: File exists";
      if (existing.type !== type || existing.map !== map) {
        return "Could not process rule: File exists";
      }
      return undefined;
    }
    const set: SetState = { map, type, flags: flags?.split(",") ?? [], elements: new Map() };
    if (timeout !== undefined) set.timeoutSeconds = Number(timeout);
    t.sets.set(name, set);
    return undefined;
  }
  const s: SetState | undefined = t.sets.get(rest);
  if (s === undefined || s.map !== map) return "Could not process rule: No such file or directory";
  if (verb === "flush") {
    s.elements.clear();
    return undefined;
  }
  for (const c of t.chains.values()) {
    if (c.rules.some((r) => setRefs(r).includes(rest))) {
      return "Could not process rule: Device or resource busy";
    }
  }
  t.sets.delete(rest);
  return undefined;
}

const ELEMENT_SPEC =
  /^(\S+) \{ (.+?)(?: timeout (\d+)s expires (\d+)s)?(?: comment "([^"]*)")?(?: : (.+))? \}$/;

function elementCommand(t: TableState, verb: string, rest: string): string | undefined {
  const m = ELEMENT_SPEC.exec(rest);
  if (m === null || verb === "flush") return "syntax error";
  const [, name, key, timeout, expires, comment, value] = m;
  const s = t.sets.get(name);
  if (s === undefined) return "Could not process rule: No such file or directory";
  if (verb === "delete") {
    if (!s.elements.delete(key)) return "Could not process rule: No such file or directory";
    return undefined;
  }
  if (s.map !== (value !== undefined)) return "syntax error";
  if (timeout !== undefined) {
    if (!s.flags.includes("timeout")) return "Could not process rule: Operation not supported";
    if (Number(expires) > Number(timeout)) {
      return "Could not process rule: Numerical result out of range";
    }
  }
  if (value !== undefined) {
    for (const target of chainTargets(value)) {
      if (!t.chains.has(target)) return "Could not process rule: No such file or directory";
    }
  }
  const existing = s.elements.get(key);
  if (existing !== undefined) {
    if (verb === "create" || existing.value !== value) return "Could not process rule: File exists";
    return undefined;
  }
  // `expires 0s` means the whole timeout, as in the kernel.
  const left = timeout === undefined ? undefined : Number(expires) || Number(timeout);
  s.elements.set(
    key,
    left === undefined ? { value, comment } : { value, comment, expiresSeconds: left },
  );
  return undefined;
}

/**
 * A transaction as a value (knftables style): the commands of one `nft -f -` run for one table,
 * built in memory and rendered as text. Nothing here runs anything; `nft.ts` applies a
 * transaction with one `nft -f -`, and `fake.ts` applies the same text to an in-memory ruleset.
 *
 * Each method appends one command line, written in the syntax `nft list` prints back for the
 * rule shapes this backend emits (so a listing of the kernel's table parses into the same text).
 *
 * @module
 */

import { TABLE } from "./names.ts";

/** Characters per chunk of transaction text. */
const CHUNK_CHARS = 64 * 1024;

/** The nft families this backend uses: one table per IP family. */
export type NftFamily = "ip" | "ip6";

/** A base chain's hook: where the kernel calls it. */
export interface BaseChainHook {
  readonly type: "filter" | "nat";
  readonly hook: "prerouting" | "input" | "forward" | "output" | "postrouting";
  /** Numeric priority, as knftables writes it (dstnat = -100, filter = 0, srcnat = 100). */
  readonly priority: number;
}

/** A set or map declaration. */
export interface SetSpec {
  readonly name: string;
  /** Key type, e.g. `ipv4_addr . inet_proto . inet_service`. */
  readonly type: string;
  /** For a map: the value type, e.g. `verdict`. */
  readonly valueType?: string;
  readonly flags?: readonly string[];
  /** Element timeout in seconds (affinity sets). */
  readonly timeoutSeconds?: number;
}

/**
 * The commands of one transaction for one table, in order.
 *
 * @example
 * ```ts
 * const tx = new Transaction("ip");
 * tx.addTable();
 * tx.addChain("services");
 * tx.addRule("services", "ip daddr . meta l4proto . th dport vmap @service-ips");
 * tx.render(); // "add table ip kube-proxy\nadd chain ip kube-proxy services\n..."
 * ```
 */
export class Transaction {
  /** The family of the table. */
  readonly family: NftFamily;
  /** The table name. */
  readonly table: string;
  /**
   * The text so far, in flat chunks of about {@linkcode CHUNK_CHARS} characters: 275,000 lines
   * (a first sync at 10,000 services) held as separate concatenated strings take about three
   * times the memory of the same text in flat chunks.
   */
  readonly #chunks: string[] = [];
  /** Lines of the chunk being filled. */
  #pending: string[] = [];
  #pendingChars = 0;
  #size = 0;
  readonly #prefix: string;

  /**
   * @param family `ip` or `ip6`.
   * @param table the table (default `kube-proxy`).
   */
  constructor(family: NftFamily, table: string = TABLE) {
    this.family = family;
    this.table = table;
    this.#prefix = `${family} ${table}`;
  }

  /** The number of commands. */
  get size(): number {
    return this.#size;
  }

  /** `nft -f -` input: the commands, one per line, ending with a newline (or "" if none). */
  render(): string {
    return [...this.chunks()].join("");
  }

  /**
   * The same text as {@linkcode Transaction.render}, in chunks of about 64 KB, so that a large
   * transaction is written to `nft` without ever being one string.
   */
  *chunks(): Generator<string> {
    yield* this.#chunks;
    if (this.#pending.length > 0) yield this.#pending.join("\n") + "\n";
  }

  /** Adds the table (no-op when it exists). */
  addTable(): this {
    return this.#push(`add table ${this.#prefix}`);
  }

  /** Deletes the table and everything in it (fails when it does not exist). */
  deleteTable(): this {
    return this.#push(`delete table ${this.#prefix}`);
  }

  /**
   * Adds a chain (no-op when it exists with the same hook).
   *
   * @param name the chain.
   * @param hook for a base chain, its type, hook and priority.
   */
  addChain(name: string, hook?: BaseChainHook): this {
    const base = hook === undefined
      ? ""
      : ` { type ${hook.type} hook ${hook.hook} priority ${hook.priority} ; }`;
    return this.#push(`add chain ${this.#prefix} ${name}${base}`);
  }

  /** Removes every rule of a chain. */
  flushChain(name: string): this {
    return this.#push(`flush chain ${this.#prefix} ${name}`);
  }

  /** Deletes an empty, unreferenced chain. */
  deleteChain(name: string): this {
    return this.#push(`delete chain ${this.#prefix} ${name}`);
  }

  /**
   * Appends a rule.
   *
   * @param chain the chain.
   * @param rule the rule text, in `nft list` syntax.
   */
  addRule(chain: string, rule: string): this {
    return this.#push(`add rule ${this.#prefix} ${chain} ${rule}`);
  }

  /** Adds a set, or a map when `spec.valueType` is set (no-op when it exists alike). */
  addSet(spec: SetSpec): this {
    const kind = spec.valueType === undefined ? "set" : "map";
    const type = spec.valueType === undefined ? spec.type : `${spec.type} : ${spec.valueType}`;
    let body = `type ${type} ;`;
    if (spec.flags !== undefined && spec.flags.length > 0) {
      body += ` flags ${spec.flags.join(",")} ;`;
    }
    if (spec.timeoutSeconds !== undefined) body += ` timeout ${spec.timeoutSeconds}s ;`;
    return this.#push(`add ${kind} ${this.#prefix} ${spec.name} { ${body} }`);
  }

  /** Deletes a set (`map` false) or map (`map` true) no rule refers to. */
  deleteSet(name: string, map: boolean): this {
    return this.#push(`delete ${map ? "map" : "set"} ${this.#prefix} ${name}`);
  }

  /**
   * Adds an element to a set or map.
   *
   * @param set the set or map.
   * @param key the key, e.g. `172.30.0.41 . tcp . 80`.
   * @param value for a map, the value, e.g. `goto service-...`.
   * @param comment an already-quoted `comment "..."` (from `nftComment`), or undefined.
   */
  addElement(set: string, key: string, value?: string, comment?: string): this {
    const c = comment === undefined ? "" : ` ${comment}`;
    const v = value === undefined ? "" : ` : ${value}`;
    return this.#push(`add element ${this.#prefix} ${set} { ${key}${c}${v} }`);
  }

  /**
   * Adds an element to a set with `flags timeout`, with its own timeout and the time it has
   * left (an affinity entry carried from the old table into the new one).
   *
   * @param set the set.
   * @param key the key, e.g. `10.0.0.1`.
   * @param timeoutSeconds the element's timeout (the set's).
   * @param expiresSeconds seconds left, 1 to `timeoutSeconds` (nft refuses more; 0 means all).
   */
  addTimedElement(set: string, key: string, timeoutSeconds: number, expiresSeconds: number): this {
    return this.#push(
      `add element ${this.#prefix} ${set} { ${key} timeout ${timeoutSeconds}s expires ${expiresSeconds}s }`,
    );
  }

  /** Deletes an element (by key; a map's value is not given). */
  deleteElement(set: string, key: string): this {
    return this.#push(`delete element ${this.#prefix} ${set} { ${key} }`);
  }

  #push(line: string): this {
    this.#pending.push(line);
    this.#pendingChars += line.length + 1;
    this.#size++;
    if (this.#pendingChars >= CHUNK_CHARS) {
      this.#chunks.push(this.#pending.join("\n") + "\n");
      this.#pending = [];
      this.#pendingChars = 0;
    }
    return this;
  }
}

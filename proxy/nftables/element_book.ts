/**
 * The elements of the shared sets and maps (`service-ips`, `cluster-ips`, `hairpin-ips`, ...),
 * who owns each and what the kernel holds, so that a partial sync writes only the elements that
 * change. Several service ports may own the same key (two ports of one ClusterIP in
 * `cluster-ips`, one pod behind two services in `hairpin-ips`, or two Services claiming one
 * external IP and port): the key stays while any owner has it, and its value is the first
 * owner's, as the first matching iptables rule wins.
 *
 * @module
 */

import type { Element } from "./rules.ts";
import type { Transaction } from "./transaction.ts";

interface Owned {
  readonly owner: string;
  readonly value?: string;
  readonly comment?: string;
}

interface Applied {
  readonly value?: string;
  readonly comment?: string;
}

/**
 * Element ownership and kernel state, per set.
 *
 * @example
 * ```ts
 * const book = new ElementBook();
 * book.add("ns/a:p TCP", { set: "cluster-ips", key: "172.30.0.1" });
 * book.writeChanges(tx); // add element ... cluster-ips { 172.30.0.1 }
 * ```
 */
export class ElementBook {
  /** Owners of each key, in order of arrival; one owner is kept unwrapped (the usual case). */
  readonly #owners = new Map<string, Map<string, Owned | Owned[]>>();
  /** What the kernel holds after the last successful transaction. */
  readonly #applied = new Map<string, Map<string, Applied>>();
  /** Keys changed since the last `writeChanges`. */
  readonly #touched = new Map<string, Set<string>>();

  /** Forgets everything (the table was recreated empty). */
  reset(): void {
    this.#owners.clear();
    this.#applied.clear();
    this.#touched.clear();
  }

  /** Records that `owner` wants element `e`. */
  add(owner: string, e: Element): void {
    const keys = mapOf(this.#owners, e.set);
    const cur = keys.get(e.key);
    const entry: Owned = { owner, value: e.value, comment: e.comment };
    if (cur === undefined) keys.set(e.key, entry);
    else if (Array.isArray(cur)) {
      if (!cur.some((o) => o.owner === owner)) cur.push(entry);
    } else if (cur.owner !== owner) keys.set(e.key, [cur, entry]);
    this.#touch(e.set, e.key);
  }

  /** Records that `owner` no longer wants element `e`. */
  remove(owner: string, e: Element): void {
    const keys = this.#owners.get(e.set);
    const cur = keys?.get(e.key);
    if (keys === undefined || cur === undefined) return;
    if (Array.isArray(cur)) {
      const rest = cur.filter((o) => o.owner !== owner);
      keys.set(e.key, rest.length === 1 ? rest[0] : rest);
    } else if (cur.owner === owner) keys.delete(e.key);
    this.#touch(e.set, e.key);
  }

  /**
   * Writes the element changes since the last call: `delete element` for keys gone or whose
   * value changed, then `add element` for new and changed keys; and marks them applied (the
   * caller resets the book when the transaction fails: the next sync is a full one).
   *
   * @param tx the transaction.
   */
  writeChanges(tx: Transaction): void {
    const adds: Array<[string, string, Applied]> = [];
    for (const [set, keys] of this.#touched) {
      const applied = mapOf(this.#applied, set);
      const owners = this.#owners.get(set);
      for (const key of keys) {
        const cur = owners?.get(key);
        const want = cur === undefined ? undefined : Array.isArray(cur) ? cur[0] : cur;
        const have = applied.get(key);
        if (
          want !== undefined && have !== undefined && want.value === have.value &&
          want.comment === have.comment
        ) continue;
        if (have !== undefined) {
          tx.deleteElement(set, key);
          applied.delete(key);
        }
        if (want !== undefined) {
          const a: Applied = { value: want.value, comment: want.comment };
          adds.push([set, key, a]);
          applied.set(key, a);
        }
      }
    }
    for (const [set, key, a] of adds) tx.addElement(set, key, a.value, a.comment);
    this.#touched.clear();
  }

  #touch(set: string, key: string): void {
    let keys = this.#touched.get(set);
    if (keys === undefined) this.#touched.set(set, keys = new Set());
    keys.add(key);
  }
}

function mapOf<V>(m: Map<string, Map<string, V>>, k: string): Map<string, V> {
  let inner = m.get(k);
  if (inner === undefined) m.set(k, inner = new Map());
  return inner;
}

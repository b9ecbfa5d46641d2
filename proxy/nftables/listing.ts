/**
 * Parses `nft list table <family> kube-proxy` output into a {@linkcode TableState}, the same
 * structure the fake holds, so that the tracer runs on the live kernel's ruleset, and the sets of
 * `nft list sets` (the affinity entries a full sync carries over). Only the parts of the listing
 * this backend writes are read: chains (hook line and rules) and sets/maps (type, flags,
 * timeout, elements with their remaining `expires`); other lines (`size`, `policy`, counters) are
 * skipped.
 *
 * @module
 */

import { TABLE } from "./names.ts";
import { emptyTable, parseNftDuration, type SetState, type TableState } from "./ruleset.ts";

/** One listed element: key, then what nft prints after it. */
const ELEMENT = /^(.+?)(?: timeout (\S+))?(?: expires (\S+))?(?: comment "([^"]*)")?(?: : (.+))?$/;

/**
 * Parses a table listing.
 *
 * @param text `nft list table ...` output (one table).
 * @returns the table's chains and sets.
 * @throws {SyntaxError} when the text is not a table listing.
 * @example
 * ```ts
 * const table = parseTableListing(await nft.listTable("ip") ?? "");
 * ```
 */
export function parseTableListing(text: string): TableState {
  const t = emptyTable();
  const lines = text.split("\n").map((l) => l.trim());
  if (!/^table \S+ \S+ \{$/.test(lines[0] ?? "")) {
    throw new SyntaxError(`Cannot parse nft listing: expected "table ... {", got "${lines[0]}"`);
  }
  let i = 1;
  while (i < lines.length) {
    const line = lines[i++];
    let m: RegExpExecArray | null;
    if ((m = /^chain (\S+) \{$/.exec(line)) !== null) {
      const chain = { base: undefined as string | undefined, rules: [] as string[] };
      t.chains.set(m[1], chain);
      while (i < lines.length && lines[i] !== "}") {
        const l = lines[i++];
        if (l === "") continue;
        const hook = /^(type \w+ hook \w+ priority [^;]+);/.exec(l);
        if (hook !== null) chain.base = hook[1];
        else chain.rules.push(l);
      }
      i++;
    } else if ((m = /^(set|map) (\S+) \{$/.exec(line)) !== null) {
      const set: SetState = { map: m[1] === "map", type: "", flags: [], elements: new Map() };
      t.sets.set(m[2], set);
      while (i < lines.length && lines[i] !== "}") {
        const l = lines[i++];
        if (l.startsWith("type ")) set.type = l.slice(5);
        else if (l.startsWith("flags ")) set.flags = l.slice(6).split(",");
        else if (l.startsWith("timeout ")) {
          const seconds = parseNftDuration(l.slice(8));
          if (seconds !== undefined) set.timeoutSeconds = seconds;
        } else if (l.startsWith("elements = {")) {
          // Each line is scanned once: a set of 10,000 elements spans thousands of lines.
          const parts = [l.slice("elements = {".length)];
          const scan = { depth: 1, quoted: false };
          while (!elementsClosed(parts[parts.length - 1], scan) && i < lines.length) {
            parts.push(lines[i++]);
          }
          const body = parts.join(" ");
          for (const e of splitTopLevel(body.slice(0, body.lastIndexOf("}")))) {
            const parsed = ELEMENT.exec(e.trim());
            if (parsed === null) continue;
            const [, key, , expires, comment, value] = parsed;
            const seconds = expires === undefined ? undefined : parseNftDuration(expires);
            set.elements.set(
              key,
              seconds === undefined
                ? { value, comment }
                : { value, comment, expiresSeconds: seconds },
            );
          }
        }
      }
      i++;
    }
  }
  return t;
}

/**
 * Parses the `kube-proxy` table's sets out of `nft list sets <family>` output (nft 1.0.6 lists
 * every table's sets, even with `list sets table ...`, so the other tables are skipped here).
 *
 * @param text the listing.
 * @param family `ip` or `ip6`.
 * @returns the sets (no chains); an empty table when the listing has no `kube-proxy` table.
 * @throws {SyntaxError} when the table's block does not end.
 */
export function parseSetsListing(text: string, family: string): TableState {
  const lines = text.split("\n");
  const from = lines.indexOf(`table ${family} ${TABLE} {`);
  if (from < 0) return emptyTable();
  const to = lines.indexOf("}", from);
  if (to < 0) {
    throw new SyntaxError(`Cannot parse nft listing: table ${family} ${TABLE} not closed`);
  }
  return parseTableListing(lines.slice(from, to + 1).join("\n"));
}

/**
 * Whether the `{` of `elements = {` is closed by the end of `part`, the next piece of its body;
 * `scan` carries the brace depth and quoting from the pieces before.
 */
function elementsClosed(part: string, scan: { depth: number; quoted: boolean }): boolean {
  for (const ch of part) {
    if (ch === '"') scan.quoted = !scan.quoted;
    else if (!scan.quoted && ch === "{") scan.depth++;
    else if (!scan.quoted && ch === "}" && --scan.depth === 0) return true;
  }
  return false;
}

/** Splits at commas outside quotes and braces. */
function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0, quoted = false, start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') quoted = !quoted;
    else if (quoted) continue;
    else if (ch === "{") depth++;
    else if (ch === "}") depth--;
    else if (ch === "," && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (text.slice(start).trim() !== "") out.push(text.slice(start));
  return out;
}

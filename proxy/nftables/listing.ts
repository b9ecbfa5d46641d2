/**
 * Parses `nft list table <family> kube-proxy` output into a {@linkcode TableState}, the same
 * structure the fake holds, so that the tracer runs on the live kernel's ruleset. Only the parts
 * of the listing this backend writes are read: chains (hook line and rules) and sets/maps (type,
 * flags, elements); other lines (`size`, `timeout`, `policy`, counters) are skipped.
 *
 * @module
 */

import { emptyTable, type TableState } from "./ruleset.ts";

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
      const set = { map: m[1] === "map", type: "", flags: [] as string[], elements: new Map() };
      t.sets.set(m[2], set);
      while (i < lines.length && lines[i] !== "}") {
        const l = lines[i++];
        if (l.startsWith("type ")) set.type = l.slice(5);
        else if (l.startsWith("flags ")) set.flags = l.slice(6).split(",");
        else if (l.startsWith("elements = {")) {
          let body = l.slice("elements = {".length);
          while (!elementsClosed(body) && i < lines.length) body += " " + lines[i++];
          for (const e of splitTopLevel(body.slice(0, body.lastIndexOf("}")))) {
            const parsed = /^(.+?)(?: comment "([^"]*)")?(?: : (.+))?$/.exec(e.trim());
            if (parsed === null) continue;
            set.elements.set(parsed[1], { value: parsed[3], comment: parsed[2] });
          }
        }
      }
      i++;
    }
  }
  return t;
}

/** Whether the `{` of `elements = {` is closed in `body` (quotes respected). */
function elementsClosed(body: string): boolean {
  let depth = 1, quoted = false;
  for (const ch of body) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === "{") depth++;
    else if (!quoted && ch === "}" && --depth === 0) return true;
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

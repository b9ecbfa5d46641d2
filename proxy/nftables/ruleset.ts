/**
 * An in-memory nftables table: chains with their rules, sets and maps with their elements. The
 * fake (`fake.ts`) applies transaction text to it with nft's semantics, `listing.ts` parses the
 * kernel's `nft list table` output into it, and the tracer (`tracer.ts`) follows packets through
 * it, so tests and `kube-proxy trace` read the same structure.
 *
 * @module
 */

/** One chain: its hook (base chains) and its rules, as `nft list` prints them. */
export interface ChainState {
  /** `type nat hook prerouting priority -100` for a base chain; undefined otherwise. */
  base?: string;
  /** Rule texts in order (with their `comment "..."`, if any). */
  rules: string[];
}

/** One element of a set or map. */
export interface ElementState {
  /** A map element's value (e.g. `goto service-...`, `drop`); undefined in a set. */
  value?: string;
  /** The element's comment text, unquoted. */
  comment?: string;
  /** Whole seconds until a timed element expires (sets with `flags timeout`); else undefined. */
  expiresSeconds?: number;
}

/** One set or map. */
export interface SetState {
  map: boolean;
  /** `ipv4_addr . inet_proto . inet_service : verdict` for a map, the key type for a set. */
  type: string;
  flags: string[];
  /** The set's element timeout in seconds (`timeout 3h`), or undefined. */
  timeoutSeconds?: number;
  /** Elements by key (e.g. `172.30.0.41 . tcp . 80`). */
  elements: Map<string, ElementState>;
}

/** One table. */
export interface TableState {
  chains: Map<string, ChainState>;
  sets: Map<string, SetState>;
}

/** A new, empty table. */
export function emptyTable(): TableState {
  return { chains: new Map(), sets: new Map() };
}

/**
 * A deep copy (the fake applies a transaction to a copy and keeps it only on success).
 *
 * @param t the table.
 * @returns an independent copy.
 */
export function cloneTable(t: TableState): TableState {
  const chains = new Map<string, ChainState>();
  for (const [name, c] of t.chains) chains.set(name, { base: c.base, rules: [...c.rules] });
  const sets = new Map<string, SetState>();
  for (const [name, s] of t.sets) {
    sets.set(name, {
      ...s,
      flags: [...s.flags],
      elements: new Map([...s.elements].map(([k, e]) => [k, { ...e }])),
    });
  }
  return { chains, sets };
}

/**
 * The rule text without its trailing `comment "..."`.
 *
 * @param rule a rule as listed.
 * @returns the matching and action part.
 */
export function ruleWithoutComment(rule: string): string {
  return rule.replace(/ comment "[^"]*"$/, "");
}

/**
 * Renders a table as `nft list table` prints it (the parts this backend reads back): sets and
 * maps, then chains, each with its body.
 *
 * @param family `ip` or `ip6`.
 * @param name the table name.
 * @param t the table.
 * @returns the listing text.
 */
export function formatTable(family: string, name: string, t: TableState): string {
  const out = [`table ${family} ${name} {`];
  for (const [setName, s] of t.sets) {
    out.push(`\t${s.map ? "map" : "set"} ${setName} {`, `\t\ttype ${s.type}`);
    if (s.flags.length > 0) out.push(`\t\tflags ${s.flags.join(",")}`);
    if (s.timeoutSeconds !== undefined) {
      out.push(`\t\ttimeout ${formatNftDuration(s.timeoutSeconds)}`);
    }
    if (s.elements.size > 0) {
      const elems = [...s.elements].map(([k, e]) =>
        k +
        (e.expiresSeconds === undefined ? "" : ` expires ${formatNftDuration(e.expiresSeconds)}`) +
        (e.comment === undefined ? "" : ` comment "${e.comment}"`) +
        (e.value === undefined ? "" : ` : ${e.value}`)
      );
      out.push(`\t\telements = { ${elems.join(",\n\t\t\t     ")} }`);
    }
    out.push("\t}", "");
  }
  for (const [chainName, c] of t.chains) {
    out.push(`\tchain ${chainName} {`);
    if (c.base !== undefined) out.push(`\t\t${c.base}; policy accept;`);
    for (const r of c.rules) out.push(`\t\t${r}`);
    out.push("\t}", "");
  }
  if (out[out.length - 1] === "") out.pop();
  out.push("}");
  return out.join("\n") + "\n";
}

const DURATION_UNITS: readonly (readonly [string, number])[] = [
  ["d", 86400],
  ["h", 3600],
  ["m", 60],
  ["s", 1],
];

/**
 * A duration as `nft list` prints it (`3h`, `2h44m35s`; `0s` for zero).
 *
 * @param seconds whole seconds.
 * @returns the text.
 */
function formatNftDuration(seconds: number): string {
  let rest = Math.floor(seconds), out = "";
  for (const [unit, size] of DURATION_UNITS) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out === "" ? "0s" : out;
}

/**
 * Parses a duration as `nft list` prints it (`2h44m35s984ms`, `1d2h`), into whole seconds
 * (milliseconds dropped).
 *
 * @param text the duration.
 * @returns the seconds, or undefined when the text is not a duration.
 */
export function parseNftDuration(text: string): number | undefined {
  if (!/^(?:\d+(?:ms|d|h|m|s))+$/.test(text)) return undefined;
  let seconds = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|d|h|m|s)/g)) {
    if (unit !== "ms") seconds += Number(n) * DURATION_UNITS.find(([u]) => u === unit)![1];
  }
  return seconds;
}

/**
 * Renders a {@linkcode RuleSet} as `iptables-restore` input: the `filter` table, then `nat`, each
 * with its chain declarations (`:CHAIN - [0:0]`, which with `--noflush` flushes or creates exactly
 * the chains named) before its rules, and a `COMMIT`. Pure.
 *
 * The proxier streams the input ({@linkcode restoreInputOf}): at 10,000 services it is ~38 MB of
 * text, which as one string plus its UTF-8 encoding would more than double the memory a sync
 * needs. A rule set built with `deferServiceRules` has the service chains' lines built here, one
 * service at a time, as the chunks are pulled. A partial sync may also leave out fixed chains (KUBE-SERVICES, KUBE-NODEPORTS, the filter
 * chains, ...) whose lines are those already in the kernel ({@linkcode fixedChainFingerprints}):
 * with `--noflush`, a chain the input does not declare is left as it is, and rewriting a
 * 10,000-rule KUBE-SERVICES is what makes a one-endpoint change slow on the nft backend.
 *
 * @module
 */

import type { RuleSet } from "./rules.ts";
import type { RestoreChunks } from "./iptables.ts";

/** Options of {@linkcode renderRestoreChunks}. */
export interface RenderOptions {
  /**
   * Fixed (non-service) chains to leave out, per table: neither declared nor written, so that
   * `iptables-restore --noflush` keeps them as they are. Only for partial syncs.
   */
  readonly omitChains?: {
    readonly filter?: ReadonlySet<string>;
    readonly nat?: ReadonlySet<string>;
  };
}

/** Size (characters) at which {@linkcode renderRestoreChunks} yields a chunk. */
const CHUNK_CHARS = 64 * 1024;

/**
 * The iptables-restore input of a rule set, as one text (tests, debugging; the proxier streams
 * {@linkcode restoreInputOf}).
 *
 * @param ruleSet from `buildRuleSet`.
 * @param opts chains to leave out.
 * @returns text ending in a newline, for `iptables-restore --noflush`.
 * @example
 * ```ts
 * await iptables.restore(renderRestoreInput(ruleSet), { noflush: true });
 * ```
 */
export function renderRestoreInput(ruleSet: RuleSet, opts: RenderOptions = {}): string {
  let text = "";
  for (const chunk of renderRestoreChunks(ruleSet, opts)) text += chunk;
  return text;
}

/**
 * The iptables-restore input of a rule set in chunks of whole lines (about 64 KB each), in the
 * order of {@linkcode renderRestoreInput}.
 *
 * @param ruleSet from `buildRuleSet`.
 * @param opts chains to leave out.
 * @returns the chunks; iterating again renders again.
 */
export function* renderRestoreChunks(
  ruleSet: RuleSet,
  opts: RenderOptions = {},
): Generator<string, void, undefined> {
  const tables = [
    { name: "filter", chains: ruleSet.filterChains, rules: ruleSet.filterRules },
    { name: "nat", chains: ruleSet.natChains, rules: ruleSet.natRules },
  ] as const;
  let buf = "";
  for (const table of tables) {
    const omit = opts.omitChains?.[table.name];
    const omitted = omit === undefined || omit.size === 0 ? undefined : [...omit].map(rulePrefix);
    // nat: the omitted lines by index (a nat entry may hold several service lines).
    let skip: Set<number> | undefined;
    if (table.name === "nat" && omit !== undefined && omit.size > 0) {
      skip = new Set();
      for (const chain of omit) for (const i of ruleSet.fixedNatLines.get(chain) ?? []) skip.add(i);
    }
    buf += `*${table.name}\n`;
    for (const chain of table.chains) {
      if (omit?.has(chain)) continue;
      buf += `:${chain} - [0:0]\n`;
      if (buf.length >= CHUNK_CHARS) {
        yield buf;
        buf = "";
      }
    }
    const rules = table.rules;
    // nat: services whose own chains' lines are built now, one at a time (see
    // `deferServiceRules`), so that the whole nat table is never held at once.
    const deferred = table.name === "nat" ? ruleSet.deferredServiceRules : [];
    let next = 0;
    const lines: string[] = [];
    for (let i = 0; i <= rules.length; i++) {
      for (; next < deferred.length && deferred[next].at === i; next++) {
        deferred[next].write(lines);
        for (const line of lines) buf += line + "\n";
        lines.length = 0;
        if (buf.length >= CHUNK_CHARS) {
          yield buf;
          buf = "";
        }
      }
      if (i === rules.length) break;
      const line = rules[i];
      if (
        skip !== undefined ? skip.has(i) : omitted !== undefined && startsWithAny(line, omitted)
      ) {
        continue;
      }
      buf += line + "\n";
      if (buf.length >= CHUNK_CHARS) {
        yield buf;
        buf = "";
      }
    }
    buf += "COMMIT\n";
  }
  yield buf;
}

/**
 * A rule set as streamed restore input (see `Iptables.restore`).
 *
 * @param ruleSet from `buildRuleSet`.
 * @param opts chains to leave out.
 * @returns the chain count and a chunk producer.
 */
export function restoreInputOf(ruleSet: RuleSet, opts: RenderOptions = {}): RestoreChunks {
  const omitted = (opts.omitChains?.filter?.size ?? 0) + (opts.omitChains?.nat?.size ?? 0);
  return {
    chainCount: ruleSet.filterChains.length + ruleSet.natChains.length - omitted,
    chunks: () => renderRestoreChunks(ruleSet, opts),
  };
}

/**
 * A cheap fingerprint of the lines of every fixed (non-service) chain of a rule set, keyed
 * `filter/CHAIN` or `nat/CHAIN`: two rule sets give a chain the same fingerprint exactly when
 * they write the same lines into it (up to a 64-bit hash collision). Kept between syncs instead
 * of the lines themselves.
 *
 * @param ruleSet from `buildRuleSet`.
 * @returns the fingerprint of each fixed chain the rule set declares.
 */
export function fixedChainFingerprints(ruleSet: RuleSet): Map<string, string> {
  const out = new Map<string, string>();
  // filter: every chain is fixed, and the table is small.
  const filterHashes = ruleSet.filterChains.map(() => new LineHash());
  const prefixes = ruleSet.filterChains.map(rulePrefix);
  for (const line of ruleSet.filterRules) {
    for (let i = 0; i < prefixes.length; i++) {
      if (line.startsWith(prefixes[i])) {
        filterHashes[i].add(line);
        break;
      }
    }
  }
  ruleSet.filterChains.forEach((c, i) => out.set(`filter/${c}`, filterHashes[i].digest()));
  // nat: only the fixed chains' lines are read (the service chains' are most of the table).
  for (const [chain, lines] of ruleSet.fixedNatLines) {
    const hash = new LineHash();
    for (const i of lines) hash.add(ruleSet.natRules[i]);
    out.set(`nat/${chain}`, hash.digest());
  }
  return out;
}

/**
 * The fixed chains whose fingerprints are the same in both maps, per table: what a partial sync
 * may leave out when `previous` is what the kernel holds.
 *
 * @param current fingerprints of the rule set about to be written.
 * @param previous fingerprints of the last successful restore.
 * @returns chains to pass as {@linkcode RenderOptions.omitChains}.
 */
export function unchangedFixedChains(
  current: ReadonlyMap<string, string>,
  previous: ReadonlyMap<string, string>,
): { filter: Set<string>; nat: Set<string> } {
  const out = { filter: new Set<string>(), nat: new Set<string>() };
  for (const [key, print] of current) {
    if (previous.get(key) !== print) continue;
    const slash = key.indexOf("/");
    out[key.slice(0, slash) as "filter" | "nat"].add(key.slice(slash + 1));
  }
  return out;
}

function rulePrefix(chain: string): string {
  return `-A ${chain} `;
}

function startsWithAny(line: string, prefixes: readonly string[]): boolean {
  for (const p of prefixes) if (line.startsWith(p)) return true;
  return false;
}

/** Two independent 32-bit multiplicative hashes over the lines (cyrb53-style mixing). */
class LineHash {
  #h1 = 0xdeadbeef;
  #h2 = 0x41c6ce57;
  #lines = 0;

  add(line: string): void {
    let h1 = this.#h1, h2 = this.#h2;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    // The line end, so that ["ab", "c"] and ["a", "bc"] differ.
    this.#h1 = Math.imul(h1 ^ 10, 2654435761);
    this.#h2 = Math.imul(h2 ^ 10, 1597334677);
    this.#lines++;
  }

  digest(): string {
    let h1 = this.#h1, h2 = this.#h2;
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return `${this.#lines}:${(h1 >>> 0).toString(16)}:${(h2 >>> 0).toString(16)}`;
  }
}

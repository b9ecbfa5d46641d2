/**
 * Renders a {@linkcode RuleSet} as `iptables-restore` input: the `filter` table, then `nat`, each
 * with its chain declarations (`:CHAIN - [0:0]`, which with `--noflush` flushes or creates exactly
 * the chains named) before its rules, and a `COMMIT`. Pure.
 *
 * @module
 */

import type { RuleSet } from "./rules.ts";

/**
 * The iptables-restore input of a rule set.
 *
 * @param ruleSet from `buildRuleSet`.
 * @returns text ending in a newline, for `iptables-restore --noflush`.
 * @example
 * ```ts
 * await iptables.restore(renderRestoreInput(ruleSet), { noflush: true });
 * ```
 */
export function renderRestoreInput(ruleSet: RuleSet): string {
  const lines: string[] = ["*filter"];
  for (const chain of ruleSet.filterChains) lines.push(`:${chain} - [0:0]`);
  for (const rule of ruleSet.filterRules) lines.push(rule);
  lines.push("COMMIT", "*nat");
  for (const chain of ruleSet.natChains) lines.push(`:${chain} - [0:0]`);
  for (const rule of ruleSet.natRules) lines.push(rule);
  lines.push("COMMIT", "");
  return lines.join("\n");
}

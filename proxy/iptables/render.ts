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
  const parts: string[] = ["*filter"];
  for (const chain of ruleSet.filterChains) parts.push(`:${chain} - [0:0]`);
  if (ruleSet.filterRules.length > 0) parts.push(ruleSet.filterRules.join("\n"));
  parts.push("COMMIT", "*nat");
  for (const chain of ruleSet.natChains) parts.push(`:${chain} - [0:0]`);
  if (ruleSet.natRules.length > 0) parts.push(ruleSet.natRules.join("\n"));
  parts.push("COMMIT", "");
  return parts.join("\n");
}

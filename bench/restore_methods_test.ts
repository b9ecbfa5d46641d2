import { assert, assertEquals, assertStringIncludes } from "../tests/assert.ts";
import {
  derivePartialInput,
  mergeWithSaved,
  ownChainsOnly,
  parseRestoreInput,
  splitIntoBatches,
  withListFirst,
} from "./restore_methods.ts";

const FULL = [
  "*filter",
  ":KUBE-SERVICES - [0:0]",
  "-A KUBE-SERVICES -d 10.96.0.9 -j REJECT",
  "COMMIT",
  "*nat",
  ":KUBE-SERVICES - [0:0]",
  ":KUBE-MARK-MASQ - [0:0]",
  ":KUBE-SVC-AAAA - [0:0]",
  ":KUBE-SEP-A1 - [0:0]",
  ":KUBE-SVC-BBBB - [0:0]",
  ":KUBE-SEP-B1 - [0:0]",
  "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
  "-A KUBE-SERVICES -d 10.96.0.10 -j KUBE-SVC-AAAA",
  "-A KUBE-SERVICES -d 10.96.0.11 -j KUBE-SVC-BBBB",
  "-A KUBE-SVC-AAAA -j KUBE-SEP-A1",
  "-A KUBE-SEP-A1 -j DNAT --to-destination 10.128.0.1:80",
  "-A KUBE-SVC-BBBB -j KUBE-SEP-B1",
  "-A KUBE-SEP-B1 -j DNAT --to-destination 10.128.0.2:80",
  "COMMIT",
  "",
].join("\n");

Deno.test("withListFirst() puts a chain-less -S first in each table", () => {
  const text = withListFirst(FULL);
  assertStringIncludes(text, "*filter\n-S\n:KUBE-SERVICES");
  assertStringIncludes(text, "*nat\n-S\n:KUBE-SERVICES");
  assertEquals(text.split("\n").filter((l) => l === "-S").length, 2);
});

Deno.test("splitIntoBatches() writes jump targets before the chains that jump to them", () => {
  const batches = splitIntoBatches(FULL, 2);
  assertEquals(batches[0].startsWith("*filter"), true);
  const order = batches.slice(1).flatMap((b) => parseRestoreInput(b)[0].chains);
  assertEquals(order.length, 6);
  const pos = (c: string) => order.indexOf(c);
  assert(pos("KUBE-SEP-A1") < pos("KUBE-SVC-AAAA"));
  assert(pos("KUBE-SVC-AAAA") < pos("KUBE-SERVICES"));
  assert(pos("KUBE-MARK-MASQ") < pos("KUBE-SEP-B1"));
  const rules = batches.slice(1).flatMap((b) => parseRestoreInput(b)[0].rules);
  assertEquals(rules.length, 7);
});

Deno.test("mergeWithSaved() keeps foreign chains and rules and replaces ours", () => {
  const saved = [
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    ":FOREIGN - [0:0]",
    ":KUBE-SERVICES - [0:0]",
    ":KUBE-SVC-STALE - [0:0]",
    "-A PREROUTING -j KUBE-SERVICES",
    "-A PREROUTING -j FOREIGN",
    "-A FOREIGN -j RETURN",
    "-A KUBE-SERVICES -d 10.96.0.99 -j KUBE-SVC-STALE",
    "COMMIT",
  ].join("\n");
  const merged = mergeWithSaved(FULL, saved);
  const nat = parseRestoreInput(merged).find((t) => t.name === "nat")!;
  assert(nat.rules.includes("-A PREROUTING -j KUBE-SERVICES"));
  assert(nat.rules.includes("-A FOREIGN -j RETURN"));
  assert(!nat.rules.some((r) => r.includes("KUBE-SVC-STALE")));
  assert(!nat.chains.includes("KUBE-SVC-STALE"));
  assertEquals(nat.rules.filter((r) => r.startsWith("-A KUBE-")).length, 7);
  assertStringIncludes(merged, ":PREROUTING ACCEPT [0:0]");
});

Deno.test("derivePartialInput() keeps fixed chains and one service's chains", () => {
  const nat = parseRestoreInput(derivePartialInput(FULL)).find((t) => t.name === "nat")!;
  assertEquals(nat.chains.sort(), [
    "KUBE-MARK-MASQ",
    "KUBE-SEP-A1",
    "KUBE-SERVICES",
    "KUBE-SVC-AAAA",
  ]);
  assert(nat.rules.includes("-A KUBE-SERVICES -d 10.96.0.11 -j KUBE-SVC-BBBB"));
  assert(!nat.rules.some((r) => r.startsWith("-A KUBE-SEP-B1")));
});

Deno.test("ownChainsOnly() leaves the fixed chains out", () => {
  const t = parseRestoreInput(ownChainsOnly(derivePartialInput(FULL)));
  assertEquals(t.length, 1);
  assertEquals(t[0].chains, ["KUBE-SVC-AAAA", "KUBE-SEP-A1"]);
  assertEquals(t[0].rules, [
    "-A KUBE-SVC-AAAA -j KUBE-SEP-A1",
    "-A KUBE-SEP-A1 -j DNAT --to-destination 10.128.0.1:80",
  ]);
});

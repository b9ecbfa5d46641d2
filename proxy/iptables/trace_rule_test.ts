import { assert, assertEquals } from "../../tests/assert.ts";
import { splitRuleArgs } from "./iptables.ts";
import { commentSubjects, parseTraceRule, type RulePacket } from "./trace_rule.ts";

const PACKET: RulePacket = {
  sourceIP: "10.244.1.5",
  destIP: "10.96.0.20",
  destPort: 5432,
  protocol: "tcp",
  inInterface: "cbr0",
  nodeIPs: ["192.168.1.10"],
  mark: 0,
};

function matches(line: string, p: Partial<RulePacket> = {}): boolean {
  const rule = parseTraceRule(line);
  assertEquals(rule.unknown, undefined, line);
  return rule.conds.every((c) => c({ ...PACKET, ...p }));
}

Deno.test("parseTraceRule() reads restore-input and iptables-save shapes alike", () => {
  const written =
    `-A KUBE-SERVICES -m comment --comment "ns/db:pg cluster IP" -m tcp -p tcp -d 10.96.0.20 --dport 5432 -j KUBE-SVC-X`;
  const saved =
    `-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "ns/db:pg cluster IP" -m tcp --dport 5432 -j KUBE-SVC-X`;
  for (const line of [written, saved]) {
    assert(matches(line), line);
    assert(!matches(line, { destPort: 5433 }), line);
    assert(!matches(line, { protocol: "udp" }), line);
    assertEquals(parseTraceRule(line).target, "KUBE-SVC-X");
    assertEquals(parseTraceRule(line).comment, "ns/db:pg cluster IP");
  }
  assert(matches("-A X ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ", { sourceIP: "192.168.1.100" }));
  assert(!matches("-A X ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ", { sourceIP: "10.1.2.3" }));
  assert(matches("-A X ! -i veth+ -j KUBE-MARK-MASQ", { inInterface: "eth0" }));
  assert(!matches("-A X ! -i veth+ -j KUBE-MARK-MASQ", { inInterface: "veth12" }));
  assert(
    matches("-A X -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS", { destIP: "192.168.1.10" }),
  );
  assert(matches("-A X -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS", { destIP: "127.0.0.1" }));
  assert(!matches("-A X -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"));
});

Deno.test("parseTraceRule() models marks and the conntrack state of a first packet", () => {
  // --or-mark as written, and as iptables-save prints it: the same MARK operation.
  assertEquals(parseTraceRule("-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000").setXmark, {
    value: 0x4000,
    mask: 0x4000,
  });
  assertEquals(parseTraceRule("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000").setXmark, {
    value: 0x4000,
    mask: 0x4000,
  });
  assertEquals(parseTraceRule("-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000").setXmark, {
    value: 0x4000,
    mask: 0,
  });
  const marked = "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN";
  assert(matches(marked, { mark: 0 }));
  assert(!matches(marked, { mark: 0x4000 }));
  const notDnat = "-A KUBE-FIREWALL -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP";
  assert(matches(notDnat));
  assert(!matches(notDnat, { dnat: {} }));
  assert(!matches("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP"));
  assert(matches("-A FORWARD -m conntrack --ctstate NEW -j KUBE-SERVICES"));
});

Deno.test("parseTraceRule() reads balancing and affinity, and marks what it does not know", () => {
  assertEquals(
    parseTraceRule("-A S -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-A")
      .probability,
    0.33333333349,
  );
  const sticky = parseTraceRule(
    "-A S -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-A --mask 255.255.255.255 --rsource -j KUBE-SEP-A",
  );
  assertEquals([sticky.affinitySeconds, sticky.unknown], [10800, undefined]);
  assertEquals(
    parseTraceRule("-A S -m statistic --mode nth --every 2 -j X").unknown,
    "statistic --mode nth",
  );
  assertEquals(
    parseTraceRule("-A S -m set --match-set a src -j X").unknown,
    "unknown argument --match-set",
  );
  assertEquals(parseTraceRule("-A S -m socket -j X").unknown, "unknown match socket");
  assertEquals(
    parseTraceRule("-A S -m recent --rcheck --mask 255.255.0.0 -j X").unknown,
    "recent --mask 255.255.0.0",
  );
});

Deno.test("splitRuleArgs() and commentSubjects() read quoted comments", () => {
  assertEquals(splitRuleArgs(`-A X -m comment --comment "a b" -j Y`), [
    "-A",
    "X",
    "-m",
    "comment",
    "--comment",
    "a b",
    "-j",
    "Y",
  ]);
  assertEquals(commentSubjects("ns1/svc1:p80 -> 10.180.0.1:80"), {
    service: "ns1/svc1:p80",
    endpoint: "10.180.0.1:80",
  });
  assertEquals(commentSubjects("masquerade traffic for ns4/svc4:p80 external destinations"), {
    service: "ns4/svc4:p80",
  });
  assertEquals(commentSubjects("default/spread cluster IP"), { service: "default/spread" });
  assertEquals(
    commentSubjects("kubernetes service nodeports; NOTE: this must be the last rule in this chain"),
    {},
  );
});

import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { FakeIptables } from "./fake.ts";
import { IptablesRestoreError, splitRuleArgs } from "./iptables.ts";
import { tracePacket } from "./tracer.ts";

const BASE = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-A - [0:0]
-A KUBE-SERVICES -m comment --comment "a cluster IP" -m tcp -p tcp -d 10.96.0.1 --dport 80 -j KUBE-SVC-A
-A KUBE-SVC-A -j DNAT --to-destination 10.0.0.1:80
COMMIT
`;

Deno.test("FakeIptables.restore() flushes declared chains and keeps others with noflush", async () => {
  const fake = new FakeIptables();
  await fake.restore(BASE, { noflush: true });
  await fake.ensureRule("append", "nat", "PREROUTING", ["-j", "KUBE-SERVICES"]);
  await fake.restore("*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n", { noflush: true });
  assertEquals(fake.rules("nat", "KUBE-SERVICES"), []);
  assertEquals(fake.rules("nat", "KUBE-SVC-A")!.length, 1);
  assertEquals(fake.rules("nat", "PREROUTING"), ["-A PREROUTING -j KUBE-SERVICES"]);
  // Without --noflush the whole table is replaced.
  await fake.restore("*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n");
  assertEquals(fake.chains("nat"), [
    "INPUT",
    "KUBE-SERVICES",
    "OUTPUT",
    "POSTROUTING",
    "PREROUTING",
  ]);
});

Deno.test("FakeIptables.restore() rejects bad input with the failing line, atomically", async () => {
  const fake = new FakeIptables();
  await fake.restore(BASE, { noflush: true });
  const bad = "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j KUBE-MISSING\nCOMMIT\n";
  const err = await assertRejects(() => fake.restore(bad, { noflush: true }), IptablesRestoreError);
  assertEquals(err.line, 3);
  assert(err.context.includes("3: -A KUBE-SERVICES -j KUBE-MISSING"), err.context);
  assertEquals(fake.rules("nat", "KUBE-SERVICES")!.length, 1, "table untouched");
  // -X of a chain still jumped to fails; after flushing the jumper it succeeds.
  await assertRejects(
    () => fake.restore("*nat\n:KUBE-SVC-A - [0:0]\n-X KUBE-SVC-A\nCOMMIT\n", { noflush: true }),
    IptablesRestoreError,
  );
  await fake.restore(
    "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-A - [0:0]\n-X KUBE-SVC-A\nCOMMIT\n",
    { noflush: true },
  );
  assertEquals(fake.rules("nat", "KUBE-SVC-A"), undefined);
  assertEquals(fake.restores.length, 4);
});

Deno.test("FakeIptables.dump() prints as iptables-save", async () => {
  const fake = new FakeIptables();
  await fake.restore(BASE, { noflush: true });
  const dump = fake.dump("nat");
  assert(dump.startsWith("*nat\n:PREROUTING ACCEPT [0:0]\n"));
  assert(dump.includes(":KUBE-SVC-A - [0:0]\n"));
  assert(dump.endsWith("-A KUBE-SVC-A -j DNAT --to-destination 10.0.0.1:80\nCOMMIT\n"));
});

Deno.test("tracePacket() reports matched rules and refuses unknown rule shapes", async () => {
  const fake = new FakeIptables();
  await fake.restore(BASE, { noflush: true });
  const r = tracePacket(fake, { sourceIP: "10.0.0.2", destIP: "10.96.0.1", destPort: 80 });
  assertEquals(r.output, "10.0.0.1:80");
  assertEquals(r.matched.length, 2);
  assertEquals(splitRuleArgs(`-m comment --comment "a b" -j X`), [
    "-m",
    "comment",
    "--comment",
    "a b",
    "-j",
    "X",
  ]);
  await fake.restore(
    "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -m owner --uid-owner 0 -j ACCEPT\nCOMMIT\n",
    { noflush: true },
  );
  assertThrows(
    () => tracePacket(fake, { sourceIP: "10.0.0.2", destIP: "10.96.0.1", destPort: 80 }),
    Error,
    "unknown argument --uid-owner",
  );
});

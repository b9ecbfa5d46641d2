import { assertEquals, assertRejects } from "../tests/assert.ts";
import { FakeCommandRunner } from "./exec.ts";
import { Conntrack, parseFlowDestinations } from "./conntrack.ts";

function deleted(n: number) {
  return {
    code: n === 0 ? 1 : 0,
    stderr: `conntrack v1.4.7 (conntrack-tools): ${n} flow entries have been deleted.\n`,
  };
}

Deno.test("Conntrack.clearEntriesForIP() deletes by original destination", async () => {
  const fake = new FakeCommandRunner();
  fake.respond(() => deleted(3));
  const ct = new Conntrack(fake);
  assertEquals(await ct.clearEntriesForIP("172.30.0.10", "UDP"), 3);
  assertEquals(await ct.clearEntriesForIP("fd00::a", "UDP"), 3);
  assertEquals(fake.commandLines(), [
    "conntrack -D --orig-dst 172.30.0.10 -p udp",
    "conntrack -D --orig-dst fd00::a -p udp -f ipv6",
  ]);
});

Deno.test("Conntrack.clearEntriesForPort() deletes by destination port in the family's table", async () => {
  const fake = new FakeCommandRunner();
  const ct = new Conntrack(fake);
  await ct.clearEntriesForPort(30053, "IPv4", "UDP");
  await ct.clearEntriesForPort(30053, "IPv6", "SCTP");
  assertEquals(fake.commandLines(), [
    "conntrack -D -p udp --dport 30053",
    "conntrack -D -p sctp --dport 30053 -f ipv6",
  ]);
  await assertRejects(() => ct.clearEntriesForPort(0, "IPv4", "UDP"), RangeError);
});

Deno.test("Conntrack.clearEntriesForNAT() and clearEntriesForPortNAT() match the DNAT target", async () => {
  const fake = new FakeCommandRunner();
  const ct = new Conntrack(fake);
  await ct.clearEntriesForNAT("172.30.0.10", "10.180.0.3", "UDP");
  await ct.clearEntriesForPortNAT("10.180.0.3", 30053, "UDP");
  await ct.clearEntriesForPortNAT("fd00:10::3", 30053, "UDP");
  assertEquals(fake.commandLines(), [
    "conntrack -D --orig-dst 172.30.0.10 --dst-nat 10.180.0.3 -p udp",
    "conntrack -D -p udp --dport 30053 --dst-nat 10.180.0.3",
    "conntrack -D -p udp --dport 30053 --dst-nat fd00:10::3 -f ipv6",
  ]);
});

Deno.test("Conntrack treats '0 flow entries have been deleted' as success", async () => {
  const fake = new FakeCommandRunner();
  fake.respond(() => deleted(0));
  assertEquals(await new Conntrack(fake).clearEntriesForIP("172.30.0.10", "UDP"), 0);
});

Deno.test("Conntrack reports other failures with the command line", async () => {
  const fake = new FakeCommandRunner();
  fake.respond(() => ({ code: 127, stderr: "Cannot run conntrack: No such file or directory" }));
  await assertRejects(
    () => new Conntrack(fake).clearEntriesForIP("172.30.0.10", "UDP"),
    Error,
    "Cannot delete conntrack entries (conntrack -D --orig-dst 172.30.0.10 -p udp): exited with code 127",
  );
});

Deno.test("Conntrack.listFlowDestinations() returns the original destinations of the table's flows", async () => {
  const fake = new FakeCommandRunner();
  fake.respond(() => ({
    stdout:
      "udp      17 29 src=127.0.0.1 dst=127.0.0.6 sport=41833 dport=99 [UNREPLIED] src=127.0.0.6 dst=127.0.0.1 sport=99 dport=41833 mark=0 use=1\n" +
      "udp      17 29 src=127.0.0.1 dst=127.0.0.5 sport=37322 dport=53 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=5353 dport=37322 mark=0 use=1\n",
    stderr: "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.\n",
  }));
  const ct = new Conntrack(fake);
  const flows = await ct.listFlowDestinations("IPv4", "UDP");
  assertEquals([...flows.ips].sort(), ["127.0.0.5", "127.0.0.6"]);
  assertEquals([...flows.ports].sort(), [53, 99]);
  await ct.listFlowDestinations("IPv6", "UDP");
  assertEquals(fake.commandLines(), ["conntrack -L -p udp", "conntrack -L -p udp -f ipv6"]);
  assertEquals(
    [...parseFlowDestinations("udp 17 1 src=fd00::2 dst=fd00:0:0::a sport=1 dport=53 x").ips],
    ["fd00::a"],
  );
  fake.respond(() => ({ code: 1, stderr: "conntrack: permission denied" }));
  await assertRejects(() => ct.listFlowDestinations("IPv4", "UDP"), Error, "permission denied");
});

import { assert, assertEquals } from "../../tests/assert.ts";
import { commentText } from "./comment.ts";
import { FakeIptables } from "./fake.ts";
import { tracePacket } from "./tracer.ts";
import { renderState, slice, stateOf, svc, tcpPort } from "./test_helpers.ts";

const INJECTED =
  "-A KUBE-SERVICES -m tcp -p tcp -d 172.30.0.99 --dport 80 -j DNAT --to-destination 6.6.6.6:80";

Deno.test("commentText() keeps names and addresses, encodes every other character", () => {
  for (const ok of ["ns1/svc1:p80", "kube-system/kube-dns:dns-tcp", "[fd00::1]:53", "a_b.c"]) {
    assertEquals(commentText(ok), ok);
  }
  assertEquals(commentText('x" -j DROP'), "x%22%20-j%20DROP");
  assertEquals(commentText("a\nb\\c\td"), "a%0Ab%5Cc%09d");
  assertEquals(commentText("100%"), "100%25");
  assertEquals(commentText("é"), "%C3%A9", "UTF-8 bytes");
  for (const hostile of ['"', "\n", "\r", "\\", " ", "\t", "\0", "#", "'"]) {
    assert(!/[\s"'\\#]/.test(commentText(`a${hostile}b`)), JSON.stringify(hostile));
  }
});

/** Restores the rules of these services into a fresh fake and returns it with the text. */
async function restored(services: ReturnType<typeof svc>[], slices: ReturnType<typeof slice>[]) {
  const text = renderState(stateOf(services, slices));
  const fake = new FakeIptables();
  await fake.restore(text, { noflush: true });
  return { fake, text };
}

Deno.test("buildRuleSet() keeps hostile service names inside their comments", async () => {
  const name = `evil"\n${INJECTED}\n#`;
  const hostile = svc("ns one", name, "172.30.0.41", (s) => {
    s.type = "NodePort";
    s.ports = [tcpPort(80, 30080)];
  });
  const empty = svc("ns two", `x\\" -j ACCEPT`, "172.30.0.42");
  const { fake, text } = await restored(
    [hostile, empty, svc("ns3", "ok", "172.30.0.43")],
    [slice("ns one", name, ["10.180.0.1"]), slice("ns3", "ok", ["10.180.0.3"])],
  );
  // Exactly the intended rules, one per service IP plus the NodePorts jump.
  const services = fake.rules("nat", "KUBE-SERVICES")!;
  assertEquals(services.length, 3, services.join("\n"));
  assert(!text.includes(" --to-destination 6.6.6.6"), "no injected DNAT");
  assert(
    !text.split("\n").some((l) => l.startsWith("#") || l.startsWith("-A KUBE-SERVICES -m tcp")),
  );
  const nodePorts = fake.rules("nat", "KUBE-NODEPORTS")!;
  assertEquals(nodePorts.length, 2, "the NodePort, and its localhost counter");
  for (const r of nodePorts) assert(/ --dport 30080 .*-j KUBE-EXT-\w+$/.test(r), r);
  assert(
    services[0].includes(
      `--comment "ns%20one/evil%22%0A-A%20KUBE-SERVICES%20-m%20tcp%20-p%20tcp%20-d%20172.30.0.99%20--dport%2080%20-j%20DNAT%20--to-destination%206.6.6.6:80%0A%23:p80 cluster IP"`,
    ),
    services[0],
  );
  // The filter REJECT of the service without endpoints keeps its target.
  const reject = fake.rules("filter", "KUBE-SERVICES")!;
  assertEquals(reject.length, 1);
  assert(reject[0].endsWith("--dport 80 -j REJECT"), reject[0]);
  assert(reject[0].includes(`"ns%20two/x%5C%22%20-j%20ACCEPT:p80 has no endpoints"`), reject[0]);
  // Traffic goes where the rules say, nowhere else.
  const trace = (destIP: string) =>
    tracePacket(fake, { sourceIP: "10.0.0.2", destIP, destPort: 80 }).output;
  assertEquals(trace("172.30.0.41"), "10.180.0.1:80");
  assertEquals(trace("172.30.0.43"), "10.180.0.3:80");
  assertEquals(trace("172.30.0.99"), "");
  assertEquals(trace("172.30.0.42"), "REJECT");
});

Deno.test("buildRuleSet() keeps a hostile port name inside the endpoint comments", async () => {
  const port = `p" -j DNAT`;
  const s = svc("ns1", "svc1", "172.30.0.41", (x) => {
    x.ports = [tcpPort(80, 0, port)];
  });
  const { fake } = await restored([s], [slice("ns1", "svc1", ["10.180.0.1"], 80, port)]);
  const chains = fake.chains("nat").filter((c) => c.startsWith("KUBE-SEP-"));
  assertEquals(chains.length, 1);
  const sep = fake.rules("nat", chains[0])!;
  assertEquals(sep.length, 2);
  assert(sep[1].endsWith("-j DNAT --to-destination 10.180.0.1:80"), sep[1]);
  assert(sep[1].includes("--comment ns1/svc1:p%22%20-j%20DNAT "), sep[1]);
  assertEquals(
    tracePacket(fake, { sourceIP: "10.0.0.2", destIP: "172.30.0.41", destPort: 80 }).output,
    "10.180.0.1:80",
  );
});

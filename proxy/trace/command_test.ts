/**
 * runTrace() end to end without root: iptables-save answered from the captured save of the
 * overall scenario (a FakeCommandRunner, which also proves nothing but saves and `ip route get`
 * is run), and the API server fixture on loopback for `--to service.namespace:port` and
 * `--explain`.
 */
import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { ApiServerFixture } from "../../tests/apiserver/server.ts";
import { configureLogging } from "../../config/log.ts";
import { FakeCommandRunner } from "../exec.ts";
import { runTrace } from "./command.ts";
import {
  EXIT_DELIVERED,
  EXIT_DROPPED,
  EXIT_NO_RULE,
  EXIT_REJECTED,
  EXIT_USAGE,
} from "./trace_result.ts";

const SAVED = await Deno.readTextFile(
  new URL("../iptables/testdata/overall_saved_nft.txt", import.meta.url),
);

/** iptables-nft-save answers with the saved tables; the legacy one is empty. */
function savedRunner(): FakeCommandRunner {
  const run = new FakeCommandRunner();
  run.respond((c) => {
    if (c.cmd !== "iptables-nft-save") return undefined;
    const t = c.args[c.args.indexOf("-t") + 1];
    const start = SAVED.indexOf(`*${t}\n`);
    if (c.args.indexOf("-t") < 0) return { stdout: SAVED };
    return { stdout: SAVED.slice(start, SAVED.indexOf("COMMIT\n", start) + 7) };
  });
  run.respond((c) =>
    c.cmd === "ip" ? { stdout: "10.0.0.2 dev cbr0 src 10.0.0.1 uid 0\n" } : undefined
  );
  return run;
}

async function trace(args: string[], run = savedRunner()) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTrace(["--node-ip=192.168.0.2,192.168.1.2", ...args], {
    run,
    print: (t) => out.push(t),
    printError: (t) => err.push(t),
  });
  return { code, out: out.join(""), err: err.join("\n"), run };
}

Deno.test("runTrace() prints the path and verdict and exits with the verdict's status", async () => {
  const ok = await trace(["--from", "10.0.0.2", "--to", "172.30.0.41:80"]);
  assertEquals(ok.code, EXIT_DELIVERED, ok.err);
  assertStringIncludes(ok.out, "nat KUBE-SERVICES: jump KUBE-SVC-XPGD46QRK7WJZT7O");
  assertStringIncludes(ok.out, "Verdict: DELIVERED");
  assertStringIncludes(ok.out, "10.180.0.1:80");
  // Only reads: the saves of detection and tracing, and the route to the source.
  for (const line of ok.run.commandLines()) {
    assert(
      /^(ip6?tables-(nft|legacy)-save( -t (nat|filter|mangle))?|ip -4 -o route get 10\.0\.0\.2)$/
        .test(line),
      line,
    );
  }
  assertStringIncludes(ok.out, "in on cbr0");
  assertEquals((await trace(["--from", "10.0.0.2", "--to", "172.30.0.46:80"])).code, EXIT_REJECTED);
  assertEquals(
    (await trace(["--from", "203.0.113.1", "--to", "192.168.0.2:3001"])).code,
    EXIT_DROPPED,
  );
  assertEquals((await trace(["--from", "10.0.0.2", "--to", "172.30.0.41:81"])).code, EXIT_NO_RULE);
  const bad = await trace(["--from", "10.0.0.2", "--to", "fd00::1:80"]);
  assertEquals(bad.code, EXIT_USAGE);
});

Deno.test("runTrace() writes one JSON document with branches, shares and masquerade reasons", async () => {
  const r = await trace([
    "--from",
    "203.0.113.1",
    "--to",
    "192.168.99.33:80/tcp",
    "-o",
    "json",
    "--iptables-backend=nft",
  ]);
  assertEquals(r.code, EXIT_DELIVERED, r.err);
  const doc = JSON.parse(r.out);
  assertEquals(doc.trace.outcome, "delivered");
  assertEquals(doc.trace.hook, "PREROUTING");
  assertEquals(doc.trace.ruleSource, "iptables-nft");
  assertEquals(doc.trace.endpoints, [
    { destination: "10.180.0.4:80", share: 0.5, masqueraded: true },
    { destination: "10.180.0.5:80", share: 0.5, masqueraded: true },
  ]);
  assertEquals(doc.trace.branches.length, 2);
  assertStringIncludes(doc.trace.branches[0].masquerade.reason, "externalTrafficPolicy Cluster");
  assertEquals(doc.trace.branches[0].masquerade.markedBy.chain, "KUBE-EXT-4SW47YFZTEDKD3PK");
  // --iptables-backend=nft: no detection.
  assertEquals(r.run.commandLines().filter((l) => l.includes("mangle")), []);
});

Deno.test("runTrace() resolves service.namespace:port and explains through the API server", async () => {
  configureLogging({ write: () => {} });
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  try {
    api.apply({
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: "ns1", name: "svc1" },
      spec: {
        type: "ClusterIP",
        clusterIP: "172.30.0.41",
        clusterIPs: ["172.30.0.41"],
        ipFamilies: ["IPv4"],
        ports: [{ name: "p80", protocol: "TCP", port: 80, targetPort: 80 }],
      },
    });
    api.apply({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        namespace: "ns1",
        name: "svc1-abc",
        labels: { "kubernetes.io/service-name": "svc1" },
      },
      addressType: "IPv4",
      ports: [{ name: "p80", protocol: "TCP", port: 80 }],
      endpoints: [
        { addresses: ["10.180.0.1"], conditions: { ready: true }, nodeName: "node2" },
        { addresses: ["10.180.0.9"], conditions: { ready: false }, nodeName: "node2" },
      ],
    });
    const flags = ["--master", api.url, "--hostname-override", "node1", "--from", "10.0.0.2"];
    const r = await trace([...flags, "--to", "svc1.ns1:p80", "--explain"]);
    assertEquals(r.code, EXIT_DELIVERED, r.err);
    assertStringIncludes(r.out, "(svc1.ns1:p80)");
    assertStringIncludes(
      r.out,
      "ns1/svc1:p80 (internalTrafficPolicy Cluster, externalTrafficPolicy Cluster)",
    );
    assertStringIncludes(r.out, "10.180.0.9:80 on node2: not ready; not used");
    const missing = await trace([...flags, "--to", "nope.ns1:80"]);
    assertEquals(missing.code, 1);
    assertStringIncludes(missing.err, "no service ns1/nope");
  } finally {
    await api.close();
  }
});

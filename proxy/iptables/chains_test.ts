import { assert, assertEquals } from "../../tests/assert.ts";
import {
  iptablesJumpChains,
  isServiceChainName,
  jumpRuleArgs,
  servicePortChainHash,
  servicePortChainName,
  servicePortEndpointChainName,
} from "./chains.ts";

Deno.test("servicePortChainName() matches upstream's hashes", () => {
  const cases: [string, string][] = [
    ["ns1/svc1:p80", "KUBE-SVC-XPGD46QRK7WJZT7O"],
    ["ns2/svc2:p80", "KUBE-SVC-GNZBNJ2PO5MGZ6GT"],
    ["ns3/svc3:p80", "KUBE-SVC-X27LE4BHSL4DOUIK"],
    ["ns4/svc4:p80", "KUBE-SVC-4SW47YFZTEDKD3PK"],
    ["ns5/svc5:p80", "KUBE-SVC-NUKIZ6OKUXPJNT4C"],
    ["ns2/svc2:p8080", "KUBE-SVC-2VJB64SDSIJUP5T6"],
    ["ns4/svc4:p8082", "KUBE-SVC-EBDQOQU5SJFXRIL3"],
    ["ns1/svc1", "KUBE-SVC-AQI2S6QIMU7PVVRP"],
  ];
  for (const [name, chain] of cases) assertEquals(servicePortChainName(name, "tcp"), chain);
  assertEquals(servicePortChainHash("ns1/svc1:p80", "TCP"), "XPGD46QRK7WJZT7O");
});

Deno.test("servicePortEndpointChainName() matches upstream's hashes", () => {
  const cases: [string, string, string][] = [
    ["ns1/svc1:p80", "10.180.0.1:80", "KUBE-SEP-SXIVWICOYRO3J4NJ"],
    ["ns2/svc2:p80", "10.180.0.2:80", "KUBE-SEP-RS4RBKLTHTF2IUXJ"],
    ["ns5/svc5:p80", "10.180.0.3:80", "KUBE-SEP-I77PXRDZVX7PMWMN"],
    ["ns1/svc1:p80", "10.0.0.0:80", "KUBE-SEP-DKGQUZGBKLTPAR56"],
    ["ns3/svc3:p8081", "203.0.113.4:8081", "KUBE-SEP-RUVVH7YV3PHQBDOS"],
    ["ns4/svc4:p8082", "10.4.0.1:8082", "KUBE-SEP-SU5STNODRYEWJAUF"],
  ];
  for (const [name, ep, chain] of cases) {
    assertEquals(servicePortEndpointChainName(name, "tcp", ep), chain);
  }
});

Deno.test("servicePortChainHash() agrees with crypto.subtle on long inputs", async () => {
  const input = "a-very-long-namespace-name/a-very-long-service-name:".repeat(4) + "udp";
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(input)),
  );
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const b of digest.slice(0, 10)) bits += b.toString(2).padStart(8, "0");
  let expected = "";
  for (let i = 0; i < 80; i += 5) expected += alphabet[parseInt(bits.slice(i, i + 5), 2)];
  assertEquals(servicePortChainHash(input.slice(0, -3), "udp"), expected);
});

Deno.test("isServiceChainName() recognizes only per-service chains", () => {
  for (const c of ["KUBE-SVC-X", "KUBE-SVL-X", "KUBE-EXT-X", "KUBE-FW-X", "KUBE-SEP-X"]) {
    assert(isServiceChainName(c), c);
  }
  for (const c of ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-MARK-MASQ", "KUBE-FIREWALL"]) {
    assert(!isServiceChainName(c), c);
  }
});

Deno.test("jumpRuleArgs() puts extra args, then the comment, then the target", () => {
  assertEquals(jumpRuleArgs(iptablesJumpChains[0]), [
    "-m",
    "conntrack",
    "--ctstate",
    "NEW",
    "-m",
    "comment",
    "--comment",
    "kubernetes externally-visible service portals",
    "-j",
    "KUBE-EXTERNAL-SERVICES",
  ]);
  const fw = iptablesJumpChains.find((j) => j.dstChain === "KUBE-FIREWALL")!;
  assertEquals(jumpRuleArgs(fw), ["-j", "KUBE-FIREWALL"]);
});

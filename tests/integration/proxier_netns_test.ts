/**
 * The proxier's restore input is accepted by the real iptables-restore --noflush (and
 * ip6tables-restore), on both the legacy and the nft backend, in a scratch network namespace:
 * a full sync of a rich scenario, then a partial sync on top, then the stale-chain deletion; and
 * iptables-save afterwards shows the expected chains. Root only.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import type { IPFamily } from "../../cache/objects.ts";
import { DenoCommandRunner } from "../../proxy/exec.ts";
import { ExecIptables, type IptablesBackend } from "../../proxy/iptables/iptables.ts";
import { Proxier } from "../../proxy/proxier.ts";
import { createIptablesBackends } from "../../proxy/iptables/backend.ts";
import { makeEndpoint, makeEndpointSlice, makeNode, makeService } from "../fixtures.ts";
import { overallServices, slice } from "../../proxy/iptables/test_helpers.ts";

const isRoot = Deno.uid() === 0;

async function sh(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

async function withNetns(fn: (ns: string) => Promise<void>): Promise<void> {
  const ns = `kprules-${crypto.randomUUID().slice(0, 8)}`;
  const add = await sh("ip", ["netns", "add", ns]);
  assertEquals(add.code, 0, add.out);
  try {
    await sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    await fn(ns);
  } finally {
    await sh("ip", ["netns", "del", ns]);
  }
}

/** The overall scenario plus UDP/SCTP multi-port, iTP Local, DNS intercept, dual-stack. */
function scenario() {
  const { services, slices } = overallServices();
  services.push(
    makeService("ns7", "multi", (s) => {
      s.type = "NodePort";
      s.clusterIPs = ["172.30.0.47", "fd00:30::47"];
      s.ipFamilies = ["IPv4", "IPv6"];
      s.ports = [
        { name: "dns", protocol: "UDP", port: 53, targetPort: 53, nodePort: 3053 },
        { name: "sig", protocol: "SCTP", port: 7777, targetPort: 7777, nodePort: 0 },
      ];
      s.sessionAffinity = "ClientIP";
    }),
    makeService("ns8", "local", (s) => {
      s.clusterIPs = ["172.30.0.48"];
      s.ports = [{ name: "", protocol: "TCP", port: 80, targetPort: 80, nodePort: 0 }];
      s.internalTrafficPolicy = "Local";
    }),
  );
  const ports = [{ name: "dns", protocol: "UDP" as const, port: 53 }, {
    name: "sig",
    protocol: "SCTP" as const,
    port: 7777,
  }];
  slices.push(
    makeEndpointSlice("ns7", "multi", 1, (s) => {
      s.ports = ports;
      s.endpoints = [makeEndpoint("10.180.0.7"), makeEndpoint("10.180.0.8")];
    }),
    makeEndpointSlice("ns7", "multi", 2, (s) => {
      s.addressType = "IPv6";
      s.ports = ports;
      s.endpoints = [makeEndpoint("fd00:180::7")];
    }),
    makeEndpointSlice("ns8", "local", 1, (s) => {
      s.ports = [{ name: "", protocol: "TCP", port: 80 }];
      s.endpoints = [makeEndpoint("10.180.0.9", (e) => {
        e.nodeName = "test-node";
      })];
    }),
  );
  return { services, slices };
}

for (const backend of ["legacy", "nft"] as IptablesBackend[]) {
  Deno.test({
    name: `Proxier rules are accepted by iptables-restore --noflush (${backend})`,
    ignore: !isRoot,
    fn: () =>
      withNetns(async (ns) => {
        const run = new DenoCommandRunner({ netns: ns });
        const iptables: Partial<Record<IPFamily, ExecIptables>> = {
          IPv4: new ExecIptables("IPv4", backend, { run }),
          IPv6: new ExecIptables("IPv6", backend, { run }),
        };
        const backends = createIptablesBackends(iptables, {
          syncPeriodMs: 30_000,
          dnsIntercept: { serviceIPs: ["172.30.0.10", "fd00:30::10"], port: 5353 },
          keepLastRuleSet: true,
        });
        const proxier = new Proxier({
          nodeName: "test-node",
          syncPeriodMs: 30_000,
          minSyncPeriodMs: 1_000,
          localDetector: { mode: "ClusterCIDR", clusterCIDRs: ["10.0.0.0/8", "fd00:10::/64"] },
        }, {
          backends,
          createRunner: () => ({ run() {}, start() {}, stop() {} }),
        });
        // The node IPs come from this node's Node object.
        proxier.onNodeAdd({ ...makeNode("test-node"), addresses: ["192.168.0.2", "2001:db8::2"] });
        const { services, slices } = scenario();
        for (const s of services) proxier.onServiceAdd(s);
        for (const s of slices) proxier.onEndpointSliceAdd(s);
        proxier.onServicesSynced();
        proxier.onEndpointSlicesSynced();
        await proxier.syncProxyRules(); // full sync: jumps + every chain

        const save = (family: IPFamily, table: "nat" | "filter") => iptables[family]!.save(table);
        let nat4 = await save("IPv4", "nat");
        for (
          const chain of [
            "KUBE-SERVICES",
            "KUBE-NODEPORTS",
            "KUBE-POSTROUTING",
            "KUBE-MARK-MASQ",
            "KUBE-DNS-INTERCEPT",
            "KUBE-SVC-XPGD46QRK7WJZT7O",
            "KUBE-SEP-SXIVWICOYRO3J4NJ",
            "KUBE-FW-NUKIZ6OKUXPJNT4C",
            "KUBE-EXT-GNZBNJ2PO5MGZ6GT",
            "KUBE-SVC-4SW47YFZTEDKD3PK",
          ]
        ) assertStringIncludes(nat4, `:${chain} - [`);
        assertStringIncludes(
          nat4,
          '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        );
        assertStringIncludes(nat4, "--to-destination 10.180.0.4:80");
        assertStringIncludes(nat4, "-j REDIRECT --to-ports 5353");
        assertStringIncludes(nat4, "-p sctp");
        const filter4 = await save("IPv4", "filter");
        assertStringIncludes(filter4, ":KUBE-PROXY-FIREWALL - [");
        assertStringIncludes(filter4, "-A KUBE-SERVICES -d 172.30.0.46/32 -p tcp -m comment");
        assertStringIncludes(filter4, "-j REJECT");
        const nat6 = await save("IPv6", "nat");
        assertStringIncludes(nat6, "--to-destination [fd00:180::7]:53");
        assertStringIncludes(nat6, "! -d ::1/128");
        assert(!nat6.includes("10.180.0.7"));

        // A partial sync on top: svc4 loses an endpoint, svc3 goes away.
        const svc3 = services.find((s) => s.name === "svc3")!;
        const sl3 = slices.find((s) => s.serviceName === "svc3")!;
        const sl4 = slices.find((s) => s.serviceName === "svc4")!;
        proxier.onServiceDelete(svc3);
        proxier.onEndpointSliceDelete(sl3);
        proxier.onEndpointSliceUpdate(sl4, slice("ns4", "svc4", ["10.180.0.4"]));
        await proxier.syncProxyRules();
        const rs = backends[0].lastRuleSet!;
        assert(rs.deletedChains.includes("KUBE-SVC-X27LE4BHSL4DOUIK"), rs.deletedChains.join());
        nat4 = await save("IPv4", "nat");
        assert(!nat4.includes("KUBE-SVC-X27LE4BHSL4DOUIK"), "stale chain deleted");
        assert(!nat4.includes("KUBE-SEP-C6EBXVWJJZMIWKLZ"), "stale endpoint chain deleted");
        assertStringIncludes(nat4, ":KUBE-SVC-XPGD46QRK7WJZT7O - [");
        assertStringIncludes(nat4, "-A KUBE-SVC-XPGD46QRK7WJZT7O");
        // A second full sync over existing rules is accepted too (restart on a configured node).
        const again = new Proxier({
          nodeName: "test-node",
          syncPeriodMs: 30_000,
          minSyncPeriodMs: 1_000,
          localDetector: { mode: "ClusterCIDR", clusterCIDRs: ["10.0.0.0/8"] },
        }, {
          backends: createIptablesBackends({ IPv4: iptables.IPv4 }, { syncPeriodMs: 30_000 }),
          createRunner: () => ({ run() {}, start() {}, stop() {} }),
        });
        again.onServicesSynced();
        again.onEndpointSlicesSynced();
        await again.syncProxyRules();
        nat4 = await save("IPv4", "nat");
        assert(!nat4.includes("KUBE-SVC-"), "a restart with no services deletes every chain");
        assertEquals(
          (nat4.match(/-A PREROUTING .*-j KUBE-SERVICES/g) ?? []).length,
          1,
          "jump rules are not duplicated",
        );
      }),
  });
}

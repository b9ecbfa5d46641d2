/**
 * nftables mode against the real `nft` in a scratch network namespace: the transactions of full
 * and partial syncs (dual stack, affinity, hostile names, DNS intercept, service CIDRs) are
 * accepted, and `nft list table` of the result parses back into exactly the table the fake
 * holds, so the tracer reads the live kernel's ruleset as it reads the fake. Root only.
 */
import { assert, assertEquals } from "../assert.ts";
import type { EndpointSlice, IPFamily, Service } from "../../cache/objects.ts";
import { FakeNft } from "../../proxy/nftables/fake.ts";
import { parseSetsListing, parseTableListing } from "../../proxy/nftables/listing.ts";
import { ExecNft, nftablesUnsupportedReason } from "../../proxy/nftables/nft.ts";
import { NftablesBackend } from "../../proxy/nftables/nftables_backend.ts";
import type { TableState } from "../../proxy/nftables/ruleset.ts";
import { overallCluster, syncStateOf, tcp } from "../../proxy/nftables/test_helpers.ts";
import { traceNftPacket } from "../../proxy/nftables/tracer.ts";
import { makeEndpoint, makeEndpointSlice, makeService } from "../fixtures.ts";
import { isRoot, withScratchNetns } from "./runtime_netns.ts";

/** The overall scenario plus dual stack, UDP/SCTP with affinity, and a hostile name. */
function scenario(): { services: Service[]; slices: EndpointSlice[] } {
  const { services, slices } = overallCluster();
  const hostile = 'x";} drop\nadd table ip evil {';
  services.push(
    makeService("ns7", "multi", (s) => {
      s.type = "NodePort";
      s.clusterIPs = ["172.30.0.47", "fd00:30::47"];
      s.ipFamilies = ["IPv4", "IPv6"];
      s.ports = [
        { name: "dns", protocol: "UDP", port: 53, targetPort: 53, nodePort: 3053 },
        { name: "sig", protocol: "SCTP", port: 7777, targetPort: 7777, nodePort: 0 },
      ];
      s.externalIPs = ["2001:db8::47"];
      s.sessionAffinity = "ClientIP";
    }),
    makeService(`ns-${hostile}`, `svc-${hostile}`, (s) => {
      s.clusterIPs = ["172.30.0.60"];
      s.ports = [{ ...tcp(80), name: `p-${hostile}` }, { ...tcp(81), name: "" }];
    }),
  );
  for (
    const [family, ips] of [["IPv4", ["10.180.0.7", "10.180.0.8"]], [
      "IPv6",
      ["fd00:180::7", "fd00:180::8"],
    ]] as const
  ) {
    slices.push(makeEndpointSlice("ns7", "multi", family === "IPv4" ? 1 : 2, (s) => {
      s.addressType = family;
      s.ports = [
        { name: "dns", protocol: "UDP", port: 5353 },
        { name: "sig", protocol: "SCTP", port: 7777 },
      ];
      s.endpoints = ips.map((ip) => makeEndpoint(ip));
    }));
  }
  slices.push(makeEndpointSlice(`ns-${hostile}`, `svc-${hostile}`, 1, (s) => {
    s.ports = [{ name: `p-${hostile}`, protocol: "TCP", port: 80 }];
    s.endpoints = [makeEndpoint("10.180.0.60")];
  }));
  return { services, slices };
}

/** Chains and sets sorted, elements sorted: the same table whatever the listing order. */
function canonical(t: TableState) {
  return {
    chains: [...t.chains].sort(([a], [b]) => a < b ? -1 : 1).map(([n, c]) => [n, c.rules]),
    sets: [...t.sets].sort(([a], [b]) => a < b ? -1 : 1).map(([n, s]) => [
      n,
      s.type,
      [...s.elements].map(([k, e]) => `${k}|${e.comment ?? ""}|${e.value ?? ""}`).sort(),
    ]),
  };
}

Deno.test({
  name: "nftables mode: real nft accepts the syncs and its listing parses into the fake's table",
  ignore: !isRoot,
  async fn() {
    await withScratchNetns(async ({ run: runner, sh }) => {
      assertEquals(await nftablesUnsupportedReason(runner, "6.1.0", false), undefined);
      const { services, slices } = scenario();
      for (const family of ["IPv4", "IPv6"] as IPFamily[]) {
        const nftFamily = family === "IPv4" ? "ip" : "ip6";
        const real = new ExecNft(runner);
        const fake = new FakeNft();
        let now = 0;
        const mk = (nft: ExecNft | FakeNft) =>
          new NftablesBackend({
            family,
            nft,
            masqueradeBit: 14,
            masqueradeAll: false,
            dnsIntercept: { serviceIPs: ["172.30.0.10", "fd00:30::10"], port: 5353 },
            now: () => now,
          });
        const backends = [mk(real), mk(fake)];
        const node = family === "IPv4" ? { nodeIP: "192.168.0.2" } : {
          nodeIP: "2001:db8::2",
          localDetector: { mode: "ClusterCIDR" as const, cidr: "fd00:10::/64" },
        };
        const compare = async (what: string) => {
          const listing = await real.listTable(nftFamily);
          assert(listing !== undefined, what);
          assertEquals(
            canonical(parseTableListing(listing)),
            canonical(fake.table(nftFamily)!),
            `${family} ${what}`,
          );
        };
        for (const b of backends) {
          b.setServiceCIDRs(["172.30.0.0/16", "fd00:30::/112"]);
          await b.sync(syncStateOf(services, slices, { family, node }));
        }
        await compare("full sync");
        // Partial: svc4 and the dual-stack service lose an endpoint, svc3 goes away.
        const services2 = services.filter((s) => s.name !== "svc3");
        const slices2 = slices.filter((s) => s.serviceName !== "svc3").map((s) =>
          s.serviceName === "multi" || s.serviceName === "svc4"
            ? { ...s, endpoints: s.endpoints.slice(0, 1) }
            : s
        );
        const updated = ["ns3/svc3", "ns4/svc4", "ns7/multi"];
        for (const b of backends) {
          await b.sync(syncStateOf(services2, slices2, { family, node, updated }));
        }
        await compare("partial sync");
        now += 2000;
        for (const b of backends) {
          await b.sync(syncStateOf(services2, slices2, { family, node, updated: [] }));
        }
        assertEquals(backends[0].staleChains, []);
        await compare("stale chains deleted");
        assertEquals(await backends[0].checkFlushed(), false);
        await sh("nft", "flush", "table", nftFamily, "kube-proxy");
        assertEquals(await backends[0].checkFlushed(), true);
      }
      // The tracer reads the live table.
      const live = parseTableListing((await new ExecNft(runner).listTable("ip"))!);
      const r = traceNftPacket(live, {
        sourceIP: "10.0.0.2",
        destIP: "172.30.0.41",
        destPort: 80,
        nodeIPs: ["192.168.0.2"],
      });
      assertEquals(r.output, "", "the table was flushed above");
      const tables = await sh("nft", "list", "tables");
      assert(!tables.includes("evil"), tables);
    });
  },
});

Deno.test({
  name: "nftables mode: full syncs and a restart keep the kernel's ClientIP affinity entries",
  ignore: !isRoot,
  async fn() {
    await withScratchNetns(async ({ run: runner, sh }) => {
      const { services, slices } = scenario();
      const cases = [["IPv4", "10.0.0.2"], ["IPv6", "fd00:10::2"]] as const;
      for (const [family, client] of cases) {
        const nftFamily = family === "IPv4" ? "ip" : "ip6";
        const nft = new ExecNft(runner);
        const mk = () =>
          new NftablesBackend({ family, nft, masqueradeBit: 14, masqueradeAll: false });
        const node = family === "IPv4" ? { nodeIP: "192.168.0.2" } : {
          nodeIP: "2001:db8::2",
          localDetector: { mode: "ClusterCIDR" as const, cidr: "fd00:10::/64" },
        };
        const state = syncStateOf(services, slices, { family, node });
        await mk().sync(state);
        const sets = async () => parseSetsListing(await nft.listSets(nftFamily), nftFamily).sets;
        const affinity = [...(await sets()).keys()].filter((n) => n.startsWith("affinity-"));
        assert(affinity.length > 0, "the scenario has ClientIP services");
        // A client the kernel made sticky (as `update @affinity-...` does, with the set's timeout).
        await sh("nft", "add", "element", nftFamily, "kube-proxy", affinity[0], `{ ${client} }`);
        const backend = mk();
        for (const step of ["a restart's first sync", "a later full sync"]) {
          await backend.sync(state);
          const set = (await sets()).get(affinity[0])!;
          const entry = set.elements.get(client);
          assert(entry !== undefined, `${family}: ${step} keeps the entry`);
          assert(
            entry.expiresSeconds! > 0 && entry.expiresSeconds! <= set.timeoutSeconds!,
            `${family}: ${step}: expires ${entry.expiresSeconds} of ${set.timeoutSeconds}`,
          );
          assertEquals(set.elements.size, 1);
        }
        // The swap really replaced the table: a fresh set elsewhere kept no stray entry.
        for (const other of affinity.slice(1)) {
          assertEquals((await sets()).get(other)!.elements.size, 0, other);
        }
      }
    });
  },
});

/**
 * Real iptables in a scratch namespace: restore errors on both backends, backend detection,
 * and cleanup of everything the proxy creates (twice).
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { configureLogging } from "../../config/log.ts";
import { iptablesJumpChains, jumpRuleArgs } from "../../proxy/iptables/chains.ts";
import { cleanupAllBackends, cleanupLeftovers } from "../../proxy/iptables/cleanup.ts";
import {
  createIptables,
  detectBackend,
  ExecIptables,
  IptablesRestoreError,
  savedChainNames,
} from "../../proxy/iptables/iptables.ts";
import { isRoot, withScratchNetns } from "./runtime_netns.ts";

configureLogging({ write: () => {} });

const BACKENDS = ["nft", "legacy"] as const;

const BAD_INPUT = [
  "*nat", // 1
  ":KUBE-SERVICES - [0:0]", // 2
  ":KUBE-MARK-MASQ - [0:0]", // 3
  "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000", // 4
  '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" --bogus-option -j RETURN', // 5
  "-A KUBE-SERVICES -j RETURN", // 6
  "COMMIT", // 7
  "",
].join("\n");

for (const backend of BACKENDS) {
  Deno.test({
    name: `ExecIptables.restore() reports the failing line and its context (${backend})`,
    ignore: !isRoot,
    fn: () =>
      withScratchNetns(async (ns) => {
        const ipt = new ExecIptables("IPv4", backend, { run: ns.run });
        const err = await assertRejects(
          () => ipt.restore(BAD_INPUT, { noflush: true }),
          IptablesRestoreError,
        );
        assertEquals(err.line, 5);
        assertEquals(err.exitCode, 2);
        assert(
          err.message.startsWith(
            `Cannot restore iptables rules: iptables-${backend}-restore exited with code 2 at line 5`,
          ),
          err.message,
        );
        assertEquals(
          err.context,
          [
            "2: :KUBE-SERVICES - [0:0]",
            "3: :KUBE-MARK-MASQ - [0:0]",
            "4: -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
            '5: -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" --bogus-option -j RETURN',
            "6: -A KUBE-SERVICES -j RETURN",
            "7: COMMIT",
          ].join("\n"),
        );
        // Nothing of the failed input was applied.
        assertEquals(await ipt.chainExists("nat", "KUBE-MARK-MASQ"), false);
        // A good input goes through.
        await ipt.restore(BAD_INPUT.replace(" --bogus-option", ""), { noflush: true });
        assertEquals(await ipt.chainExists("nat", "KUBE-MARK-MASQ"), true);
      }),
  });
}

Deno.test({
  name: "detectBackend() follows kubelet's canary, then the rule count",
  ignore: !isRoot,
  fn: () =>
    withScratchNetns(async (ns) => {
      assertEquals(await detectBackend(ns.run), "nft", "empty node: nft");

      await ns.sh("iptables-legacy", "-t", "filter", "-A", "INPUT", "-j", "ACCEPT");
      assertEquals(await detectBackend(ns.run), "legacy", "more legacy rules");

      await ns.sh("ip6tables-legacy", "-t", "mangle", "-N", "KUBE-KUBELET-CANARY");
      await ns.sh("iptables-nft", "-t", "filter", "-A", "INPUT", "-j", "ACCEPT");
      await ns.sh("iptables-nft", "-t", "filter", "-A", "INPUT", "-j", "ACCEPT");
      assertEquals(await detectBackend(ns.run), "legacy", "kubelet canary in legacy wins");

      await ns.sh("iptables-nft", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT");
      assertEquals(await detectBackend(ns.run), "nft", "kubelet hint in nft wins first");
      const ipt = await createIptables("IPv6", { backend: "auto", run: ns.run });
      assertEquals([ipt.family, ipt.backend], ["IPv6", "nft"]);
    }),
});

/** A restore input with every kind of chain the proxy writes, for one family. */
function proxyRules(family: "IPv4" | "IPv6"): string {
  const [svcIP, epIP, ep] = family === "IPv4"
    ? ["172.30.0.41", "10.180.0.1", "10.180.0.1:80"]
    : ["fd00:30::41", "fd00:180::1", "[fd00:180::1]:80"];
  return [
    "*filter",
    ":KUBE-SERVICES - [0:0]",
    ":KUBE-EXTERNAL-SERVICES - [0:0]",
    ":KUBE-FORWARD - [0:0]",
    ":KUBE-NODEPORTS - [0:0]",
    ":KUBE-PROXY-FIREWALL - [0:0]",
    ":KUBE-PROXY-CANARY - [0:0]",
    "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    `-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d ${svcIP} --dport 81 -j REJECT`,
    "COMMIT",
    "*nat",
    ":KUBE-SERVICES - [0:0]",
    ":KUBE-NODEPORTS - [0:0]",
    ":KUBE-POSTROUTING - [0:0]",
    ":KUBE-MARK-MASQ - [0:0]",
    ":KUBE-PROXY-CANARY - [0:0]",
    ":KUBE-DNS-INTERCEPT - [0:0]",
    ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]",
    ":KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]",
    ":KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]",
    "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
    "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
    "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
    "-A KUBE-SERVICES -j KUBE-DNS-INTERCEPT",
    `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d ${svcIP} --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O`,
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    "-A KUBE-NODEPORTS -m tcp -p tcp --dport 30080 -j KUBE-EXT-XPGD46QRK7WJZT7O",
    "-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-MARK-MASQ",
    "-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVC-XPGD46QRK7WJZT7O",
    "-A KUBE-SVC-XPGD46QRK7WJZT7O -j KUBE-SEP-SXIVWICOYRO3J4NJ",
    `-A KUBE-SEP-SXIVWICOYRO3J4NJ -s ${epIP} -j KUBE-MARK-MASQ`,
    `-A KUBE-SEP-SXIVWICOYRO3J4NJ -m tcp -p tcp -j DNAT --to-destination ${ep}`,
    "COMMIT",
    "*mangle",
    ":KUBE-PROXY-CANARY - [0:0]",
    "COMMIT",
    "",
  ].join("\n");
}

Deno.test({
  name: "cleanupAllBackends() on a node that never used legacy iptables creates no legacy table",
  ignore: !isRoot,
  fn: () =>
    withScratchNetns(async (ns) => {
      // Asserted through /proc: any legacy iptables command, even a listing, creates a table.
      const legacy = async () => {
        const out: string[] = [];
        for (const file of ["ip_tables_names", "ip6_tables_names"]) {
          const r = await ns.run.run("cat", [`/proc/net/${file}`]);
          if (r.code === 0) out.push(...r.stdout.split("\n").filter((l) => l.trim() !== ""));
        }
        return out;
      };
      assertEquals(await legacy(), [], "a fresh namespace has no legacy table");
      // nft rules of ours to remove, as on a node running the nft backend.
      const nft = new ExecIptables("IPv4", "nft", { run: ns.run });
      await nft.restore(proxyRules("IPv4"), { noflush: true });
      assertEquals(await cleanupAllBackends({ run: ns.run }), false);
      assert(!(await nft.save("nat")).includes("KUBE-"), "the nft rules are gone");
      assertEquals(await legacy(), [], "--cleanup created no legacy table");
      // With a legacy nat table only, only nat is touched.
      await ns.sh("iptables-legacy", "-t", "nat", "-N", "KUBE-SERVICES");
      assertEquals(await cleanupAllBackends({ run: ns.run }), false);
      assertEquals(await legacy(), ["nat"], "no legacy filter or mangle table appeared");
      const natNames = await ns.sh("iptables-legacy-save", "-t", "nat");
      assert(!natNames.includes("KUBE-SERVICES"), natNames);
    }),
});

Deno.test({
  name:
    "cleanupLeftovers() and cleanupAllBackends() leave no KUBE- chain on either backend or family",
  ignore: !isRoot,
  fn: () =>
    withScratchNetns(async (ns) => {
      const all = BACKENDS.flatMap((backend) =>
        (["IPv4", "IPv6"] as const).map((family) =>
          new ExecIptables(family, backend, { run: ns.run })
        )
      );
      for (const ipt of all) {
        await ipt.restore(proxyRules(ipt.family), { noflush: true });
        // No kubelet here: the proxy creates KUBE-FIREWALL and its jumps itself.
        await ipt.ensureChain("filter", "KUBE-FIREWALL");
        await ipt.ensureRule("append", "filter", "KUBE-FIREWALL", ["-j", "RETURN"]);
        for (const jump of iptablesJumpChains) {
          await ipt.ensureRule("prepend", jump.table, jump.srcChain, jumpRuleArgs(jump));
        }
        // A jump an older version wrote with another comment, and foreign rules to keep.
        await ipt.ensureRule("append", "nat", "PREROUTING", [
          "-m",
          "comment",
          "--comment",
          "old kube-proxy portals",
          "-j",
          "KUBE-SERVICES",
        ]);
        await ipt.ensureChain("nat", "CNI-KEEP");
        await ipt.ensureRule("append", "nat", "POSTROUTING", ["-j", "CNI-KEEP"]);
        await ipt.ensureRule("append", "filter", "INPUT", [
          "-p",
          "tcp",
          "--dport",
          "22",
          "-j",
          "ACCEPT",
        ]);
        assert((await ipt.save("nat")).includes("KUBE-SVC-"), "rules are in place");
        // The stale-chain scan's streamed reading finds what the whole text declares.
        const names = await ipt.chainNames("nat");
        assertEquals(names, savedChainNames(await ipt.save("nat")));
        assert(names.includes("CNI-KEEP"), `${ipt.family}/${ipt.backend}: ${names}`);
      }

      for (const round of [1, 2]) {
        // Round 1 with the given interfaces, round 2 as `--cleanup` does it for the node.
        const encounteredError = round === 1
          ? await cleanupLeftovers(all)
          : await cleanupAllBackends({ run: ns.run });
        assertEquals(encounteredError, false, `round ${round} had no error`);
        for (const ipt of all) {
          for (const table of ["nat", "filter", "mangle"] as const) {
            const saved = await ipt.save(table);
            assert(
              !saved.includes("KUBE-"),
              `${ipt.family}/${ipt.backend} ${table} after round ${round}:\n${saved}`,
            );
          }
          const nat = await ipt.save("nat");
          assert(nat.includes("-A POSTROUTING -j CNI-KEEP"), "foreign rules stay");
          assert((await ipt.save("filter")).includes("--dport 22 -j ACCEPT"));
        }
      }
    }),
});

Deno.test({
  name: "cleanupLeftovers() leaves kubelet's KUBE-FIREWALL and canary where kubelet runs",
  ignore: !isRoot,
  fn: () =>
    withScratchNetns(async (ns) => {
      const ipt = new ExecIptables("IPv4", "nft", { run: ns.run });
      await ipt.restore(proxyRules("IPv4"), { noflush: true });
      for (const table of ["filter", "nat"] as const) {
        await ipt.ensureChain(table, "KUBE-KUBELET-CANARY");
      }
      await ipt.ensureChain("filter", "KUBE-FIREWALL");
      for (const jump of iptablesJumpChains) {
        await ipt.ensureRule("prepend", jump.table, jump.srcChain, jumpRuleArgs(jump));
      }
      assertEquals(await cleanupLeftovers([ipt]), false);
      const filter = await ipt.save("filter");
      const kube = filter.split("\n").filter((l) => l.includes("KUBE-")).sort();
      assertEquals(kube, [
        "-A INPUT -j KUBE-FIREWALL",
        "-A OUTPUT -j KUBE-FIREWALL",
        ":KUBE-FIREWALL - [0:0]",
        ":KUBE-KUBELET-CANARY - [0:0]",
      ]);
      const nat = (await ipt.save("nat")).split("\n").filter((l) => l.includes("KUBE-"));
      assertEquals(nat, [":KUBE-KUBELET-CANARY - [0:0]"]);
    }),
});

/**
 * prepareNode() against the real sysctls of a scratch namespace.
 *
 * The conntrack timeouts, tcp_be_liberal and route_localnet are per network namespace: they are
 * set and read back inside the namespace. nf_conntrack_max is global; outside the initial
 * namespace the kernel shows it read-only (mode 0444, Linux 6.18 here), so prepareNode() must warn
 * and carry on. If a kernel ever made it writable in a namespace, the test asks for the current
 * value instead (no write), because a global write would change the host.
 */
import { assert, assertEquals } from "../assert.ts";
import { configureLogging } from "../../config/log.ts";
import { execSysctl, prepareNode, type Sysctl } from "../../proxy/node_prep.ts";
import { isRoot, withScratchNetns } from "./runtime_netns.ts";

configureLogging({ write: () => {} });

/** /sys must never be written by this test: the hash size is global. */
const refuseSysfs: Sysctl = {
  read: () => Promise.resolve("1"),
  write: () => Promise.reject(new Error("test refuses to write /sys")),
};

Deno.test({
  name: "prepareNode() sets the per-namespace conntrack sysctls and reads them back",
  ignore: !isRoot,
  fn: () =>
    withScratchNetns(async (ns) => {
      const read = async (key: string) => (await ns.sh("sysctl", "-n", key)).trim();
      const maxMode = (await ns.sh("stat", "-c", "%a", "/proc/sys/net/netfilter/nf_conntrack_max"))
        .trim();
      const currentMax = Number(await read("net.netfilter.nf_conntrack_max"));
      const readOnlyMax = maxMode === "444";
      // Read-only: ask for more than there is, expect a warning. Writable: ask for exactly the
      // current value so that nothing global is written.
      const numCPU = 2;
      const maxPerCore = readOnlyMax ? Math.ceil((currentMax + 1) / numCPU) : currentMax / numCPU;

      const result = await prepareNode(
        {
          conntrack: {
            maxPerCore,
            min: 0,
            tcpEstablishedTimeout: 86_400_000,
            tcpCloseWaitTimeout: 3_600_000,
            tcpBeLiberal: true,
            udpTimeout: 45_000,
            udpStreamTimeout: 150_000,
          },
          localhostNodePorts: true,
          numCPU,
        },
        { sysctl: execSysctl(ns.run), sysfs: refuseSysfs },
      );

      assertEquals(await read("net.netfilter.nf_conntrack_tcp_timeout_established"), "86400");
      assertEquals(await read("net.netfilter.nf_conntrack_tcp_timeout_close_wait"), "3600");
      assertEquals(await read("net.netfilter.nf_conntrack_tcp_be_liberal"), "1");
      assertEquals(await read("net.netfilter.nf_conntrack_udp_timeout"), "45");
      assertEquals(await read("net.netfilter.nf_conntrack_udp_timeout_stream"), "150");
      assertEquals(await read("net.ipv4.conf.all.route_localnet"), "1");
      assertEquals(Number(await read("net.netfilter.nf_conntrack_max")), currentMax);
      if (readOnlyMax) {
        assert(
          result.warnings.some((w) => w.includes("nf_conntrack_max is read-only")),
          result.warnings.join("\n"),
        );
      }
      assert(!result.applied.some((a) => a.includes("nf_conntrack_max")));
    }),
});

/**
 * Real conntrack entries in a scratch namespace: a UDP "service" flow DNATed to an endpoint is
 * deleted by Conntrack, and unrelated flows stay.
 */
import { assert, assertEquals } from "../assert.ts";
import { Conntrack } from "../../proxy/conntrack.ts";
import { isRoot, type ScratchNetns, withScratchNetns } from "./runtime_netns.ts";

const SERVICE_IP = "10.96.0.10";
const ENDPOINT_IP = "127.0.0.1";

/** Sends one UDP datagram from inside the namespace (bash's /dev/udp). */
async function sendUdp(ns: ScratchNetns, ip: string, port: number): Promise<void> {
  await ns.sh("bash", "-c", `echo ping > /dev/udp/${ip}/${port}`);
}

async function udpFlows(ns: ScratchNetns): Promise<string[]> {
  const r = await ns.run.run("conntrack", ["-L", "-p", "udp"]);
  return r.stdout.split("\n").filter((l) => l.startsWith("udp"));
}

/** A namespace where locally sent UDP to SERVICE_IP:53 is DNATed to 127.0.0.1:5353. */
async function setUpService(ns: ScratchNetns): Promise<void> {
  await ns.sh("ip", "route", "add", "10.96.0.0/24", "dev", "lo");
  await ns.sh(
    "iptables-nft",
    "-t",
    "nat",
    "-A",
    "OUTPUT",
    "-d",
    SERVICE_IP,
    "-p",
    "udp",
    "--dport",
    "53",
    "-j",
    "DNAT",
    "--to-destination",
    `${ENDPOINT_IP}:5353`,
  );
}

Deno.test({
  name: "Conntrack.clearEntriesForNAT() deletes a real DNATed UDP flow and nothing else",
  ignore: !isRoot,
  fn: () =>
    withScratchNetns(async (ns) => {
      await setUpService(ns);
      await sendUdp(ns, SERVICE_IP, 53);
      await sendUdp(ns, "127.0.0.2", 5555);
      const before = await udpFlows(ns);
      assertEquals(before.length, 2, before.join("\n"));
      assert(before.some((l) => l.includes(`dst=${SERVICE_IP}`)));

      const ct = new Conntrack(ns.run);
      assertEquals(await ct.clearEntriesForNAT(SERVICE_IP, ENDPOINT_IP, "UDP"), 1);
      const after = await udpFlows(ns);
      assertEquals(after.length, 1, after.join("\n"));
      assert(after[0].includes("dst=127.0.0.2"), "the unrelated flow stays");

      assertEquals(
        await ct.clearEntriesForNAT(SERVICE_IP, ENDPOINT_IP, "UDP"),
        0,
        "nothing left to delete is not an error",
      );
    }),
});

Deno.test({
  name: "Conntrack.clearEntriesForIP() and clearEntriesForPort() delete real UDP flows",
  ignore: !isRoot,
  fn: () =>
    withScratchNetns(async (ns) => {
      await setUpService(ns);
      await sendUdp(ns, SERVICE_IP, 53);
      await sendUdp(ns, "127.0.0.2", 5555);
      await sendUdp(ns, "127.0.0.3", 30053);
      assertEquals((await udpFlows(ns)).length, 3);
      const ct = new Conntrack(ns.run);
      assertEquals(await ct.clearEntriesForIP(SERVICE_IP, "UDP"), 1);
      assertEquals(await ct.clearEntriesForPort(30053, "IPv4", "UDP"), 1);
      assertEquals(await ct.clearEntriesForIP(SERVICE_IP, "TCP"), 0);
      const left = await udpFlows(ns);
      assertEquals(left.length, 1);
      assert(left[0].includes("dport=5555"));
    }),
});

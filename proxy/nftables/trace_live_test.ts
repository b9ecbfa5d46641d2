import { assertEquals } from "../../tests/assert.ts";
import { overallCluster, syncStateOf, TEST_NODE_IPS, testBackend } from "./test_helpers.ts";
import { traceKernelPacket } from "./trace_live.ts";

Deno.test("traceKernelPacket() traces through the listed table of the packet's family", async () => {
  const { nft, backend } = testBackend();
  const packet = {
    sourceIP: "10.0.0.2",
    destIP: "172.30.0.44",
    destPort: 80,
    nodeIPs: TEST_NODE_IPS,
  };
  assertEquals(await traceKernelPacket(nft, packet), undefined, "no table yet");
  const { services, slices } = overallCluster();
  await backend.sync(syncStateOf(services, slices));
  const r = await traceKernelPacket(nft, packet);
  assertEquals(r?.output, "10.180.0.4:80, 10.180.0.5:80");
  assertEquals(r?.verdict, "accept");
  assertEquals(r?.masquerade, false);
  assertEquals(
    r?.hops.filter((h) => h.endpoint !== undefined).map((h) => [h.service, h.endpoint]),
    [["ns4/svc4/tcp/p80", "10.180.0.4:80"], ["ns4/svc4/tcp/p80", "10.180.0.5:80"]],
  );
  assertEquals(
    await traceKernelPacket(nft, { ...packet, destIP: "fd00::1" }),
    undefined,
    "no ip6 table was synced",
  );
});

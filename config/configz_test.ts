import { assertEquals } from "../tests/assert.ts";
import { renderConfigz } from "./configz.ts";
import { configureLogging } from "./log.ts";
import { loadOptions } from "./options.ts";

configureLogging({ write: () => {} });

async function defaults() {
  return await loadOptions([], {
    readTextFile: () => Promise.reject(new Deno.errors.NotFound("no file")),
    hostname: () => "node-1",
    configureLogging: () => {},
  });
}

Deno.test("renderConfigz() writes durations as Go duration strings", async () => {
  const { config, dns } = await defaults();
  const wire = renderConfigz(config, dns);
  const iptables = wire.iptables as Record<string, unknown>;
  assertEquals(iptables.syncPeriod, "30s");
  assertEquals(iptables.minSyncPeriod, "1s");
  assertEquals((wire.logging as Record<string, unknown>).flushFrequency, "5s");
  assertEquals(wire.bindAddress, config.bindAddress);
});

Deno.test("renderConfigz() nests the cluster DNS document under clusterDNS", async () => {
  const { config, dns } = await defaults();
  const clusterDNS = renderConfigz(config, dns).clusterDNS as Record<string, unknown>;
  assertEquals(clusterDNS.clusterDomain, "cluster.local");
  assertEquals(clusterDNS.forwardTimeout, "2s");
  assertEquals(clusterDNS.port, dns.port);
});

Deno.test("renderConfigz() output survives a JSON round trip unchanged", async () => {
  const { config, dns } = await defaults();
  const wire = renderConfigz(config, dns);
  assertEquals(JSON.parse(JSON.stringify(wire)), wire);
});

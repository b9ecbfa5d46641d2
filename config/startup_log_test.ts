import { assertEquals, assertMatch, assertStringIncludes } from "../tests/assert.ts";
import { configureLogging } from "./log.ts";
import { loadOptions } from "./options.ts";
import { logCacheSync, logProxier, logStartup } from "./startup_log.ts";
import { versionString } from "./version.ts";

const lines: string[] = [];
configureLogging({ write: (line) => lines.push(line) });

async function optionsOf(...args: string[]) {
  return await loadOptions(args, {
    readTextFile: () => Promise.reject(new Deno.errors.NotFound("no file")),
    hostname: () => "node-1",
    configureLogging: () => {},
  });
}

Deno.test("logStartup() logs the version, then the mode, backend and node name", async () => {
  const options = await optionsOf("--iptables-sync-period=10s");
  lines.length = 0;
  logStartup(options, "legacy");
  assertEquals(lines.length, 2);
  assertStringIncludes(lines[0], "Version info");
  assertStringIncludes(lines[0], versionString());
  assertStringIncludes(lines[1], "Starting kube-proxy");
  assertStringIncludes(lines[1], "legacy");
  assertStringIncludes(lines[1], "node-1");
  assertStringIncludes(lines[1], "10s");
});

Deno.test("logStartup() in nftables mode logs the nftables section's periods and mark bit", async () => {
  const options = await loadOptions(["--config=kp.yaml"], {
    readTextFile: () =>
      Promise.resolve(
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n" +
          "mode: nftables\nnftables:\n  syncPeriod: 20s\n  masqueradeBit: 16\n",
      ),
    hostname: () => "node-1",
    configureLogging: () => {},
  });
  lines.length = 0;
  logStartup(options, "nft");
  assertStringIncludes(lines[1], "masqueradeBit=16");
  assertStringIncludes(lines[1], 'syncPeriod="20s"');
});

Deno.test("logStartup() names the DNS responder's address and domain, or says it is off", async () => {
  const options = await optionsOf();
  const { dns } = options;
  assertEquals(dns.enabled, false, "flags only: no DNS document, no responder");
  lines.length = 0;
  logStartup(options, "nft");
  assertStringIncludes(lines[1], 'dns="disabled"');
  lines.length = 0;
  logStartup({ ...options, dns: { ...dns, enabled: true } }, "nft");
  assertStringIncludes(lines[1], `dns="${dns.bindAddress}:${dns.port} ${dns.clusterDomain}"`);
});

Deno.test("logProxier() uses upstream's wording for the proxier and its sync parameters", async () => {
  const options = await optionsOf("--iptables-sync-period=10s", "--v=2");
  configureLogging({ verbosity: 2 });
  lines.length = 0;
  logProxier(options);
  configureLogging({ verbosity: 0 });
  assertEquals(lines.length, 2);
  assertMatch(lines[0], /\] "Using iptables Proxier"$/);
  assertMatch(
    lines[1],
    /\] "Iptables sync params" minSyncPeriod="1s" syncPeriod="10s" burstSyncs=2$/,
  );
});

Deno.test("logProxier() in nftables mode logs the nftables section's sync parameters", () => {
  const options = {
    config: {
      mode: "nftables",
      iptables: { syncPeriod: 30_000, minSyncPeriod: 1_000 },
      nftables: { syncPeriod: 20_000, minSyncPeriod: 2_000 },
    },
  } as unknown as Parameters<typeof logProxier>[0];
  configureLogging({ verbosity: 2 });
  lines.length = 0;
  logProxier(options);
  configureLogging({ verbosity: 0 });
  assertMatch(lines[0], /\] "Using nftables Proxier"$/);
  assertMatch(
    lines[1],
    /\] "NFTables sync params" minSyncPeriod="2s" syncPeriod="20s" burstSyncs=2$/,
  );
});

Deno.test("logCacheSync() says it waits, then that the caches are synced", async () => {
  lines.length = 0;
  let resolve = () => {};
  logCacheSync(new Promise<void>((r) => resolve = r));
  assertEquals(
    lines.map((l) => l.match(/\] "([^"]+)"/)?.[1]),
    Array(3).fill("Waiting for caches to sync"),
  );
  resolve();
  await Promise.resolve();
  await Promise.resolve();
  assertEquals(lines.slice(3).map((l) => l.match(/\] ("[^"]+" controller="[^"]+")/)?.[1]), [
    '"Caches are synced" controller="service config"',
    '"Caches are synced" controller="endpoint slice config"',
    '"Caches are synced" controller="node config"',
  ]);
});

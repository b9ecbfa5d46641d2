import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { configureLogging } from "../config/log.ts";
import { configOf } from "./test_fixtures.ts";
import { createBackends, iptablesBackendOptions } from "./backends.ts";
import type { CommandRunner } from "./exec.ts";

configureLogging({ write: () => {} });

Deno.test("iptablesBackendOptions() carries the iptables settings and the node facts", async () => {
  const { config, dns } = await configOf("--masquerade-all", "--iptables-sync-period=10s");
  const opts = iptablesBackendOptions({ ...config }, { ...dns, serviceIPs: ["10.96.0.10"] }, {
    tcpBeLiberal: true,
    randomFully: true,
    dnsPort: 5353,
  });
  assertEquals(opts, {
    masqueradeBit: 14,
    masqueradeAll: true,
    syncPeriodMs: 10_000,
    localhostNodePorts: true,
    tcpBeLiberal: true,
    randomFully: true,
    dnsIntercept: { serviceIPs: ["10.96.0.10"], port: 5353 },
  });
});

/** A node where every probe works: `iptables`, `ip6tables` (v1.8.9) and `/proc/net/if_inet6`. */
const probes: CommandRunner = {
  run: () => Promise.resolve({ code: 0, stdout: "iptables v1.8.9 (legacy)", stderr: "" }),
};

Deno.test('createBackends() builds one iptables backend per usable family for mode iptables and ""', async () => {
  const { config, dns } = await configOf();
  const inputs = {
    config,
    dns,
    primary: "IPv4",
    run: probes,
    tcpBeLiberal: false,
    iptablesBackend: "legacy",
  } as const;
  for (const mode of ["", "iptables"]) {
    const backends = await createBackends(mode, inputs);
    assertEquals(backends.map((b) => b.family), ["IPv4", "IPv6"], mode);
  }
  await assertRejects(() => createBackends("kernelspace", inputs), Error, "not supported");
});

Deno.test("createBackends() builds nftables backends for mode nftables, removing iptables mode's rules", async () => {
  const { config, dns } = await configOf("--proxy-mode=nftables");
  const calls: string[] = [];
  const run: CommandRunner = {
    run: (cmd, args) => {
      calls.push([cmd, ...args].join(" "));
      const stdout = cmd === "nft" && args[0] === "--version" ? "nftables v1.0.6" : "";
      return Promise.resolve({ code: 0, stdout, stderr: "" });
    },
  };
  const backends = await createBackends("nftables", {
    config,
    dns,
    primary: "IPv4",
    run,
    tcpBeLiberal: false,
    iptablesBackend: "nft",
  });
  assertEquals(backends.map((b) => b.family), ["IPv4", "IPv6"]);
  assertEquals(backends[0].constructor.name, "NftablesBackend");
  assert(calls.some((c) => c.includes("-t nat -L POSTROUTING")), "iptables mode's cleanup ran");
});

import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { configureLogging } from "../../config/log.ts";
import { FakeCommandRunner } from "../exec.ts";
import { createNftablesBackends } from "./factory.ts";

configureLogging({ write: () => {} });

Deno.test("createNftablesBackends() checks nft and the kernel with a clear message", async () => {
  const run = new FakeCommandRunner();
  run.respond((c) =>
    c.args[0] === "--version" ? { code: 127, stderr: "Cannot run nft: not found" } : undefined
  );
  await assertRejects(
    () =>
      createNftablesBackends({
        primary: "IPv4",
        run,
        masqueradeBit: 14,
        masqueradeAll: false,
        kernelRelease: "6.1.0",
      }),
    Error,
    "nftables mode needs the nft tool (>= 1.0.1): Cannot run nft: not found",
  );
  const old = new FakeCommandRunner();
  old.respond((c) =>
    c.args[0] === "--version" ? { stdout: "nftables v1.0.6 (Lester Gooch #5)" } : undefined
  );
  const opts = { primary: "IPv4" as const, run: old, masqueradeBit: 14, masqueradeAll: false };
  await assertRejects(
    () =>
      createNftablesBackends({ ...opts, kernelRelease: "5.10.0-28-amd64", skipKernelCheck: false }),
    Error,
    "nftables mode needs kernel >= 5.13, found 5.10.0-28-amd64",
  );
  const backends = await createNftablesBackends({
    ...opts,
    kernelRelease: "5.10.0",
    skipKernelCheck: true,
  });
  assertEquals(backends.map((b) => b.family), ["IPv4", "IPv6"]);
  assertEquals(old.commandLines().slice(-3), [
    "nft --version",
    "nft --check -f -",
    "test -e /proc/net/if_inet6",
  ]);
});

Deno.test("createNftablesBackends() wires metrics and the ServiceCIDR watch", async () => {
  const run = new FakeCommandRunner();
  run.respond((c) => c.args[0] === "--version" ? { stdout: "nftables v1.1.1" } : undefined);
  run.respond((c) => c.cmd === "test" ? { code: 1 } : undefined);
  let enabled = 0;
  let onChange: ((c: readonly string[] | undefined) => void) | undefined;
  const backends = await createNftablesBackends({
    primary: "IPv4",
    run,
    masqueradeBit: 14,
    masqueradeAll: false,
    kernelRelease: "6.6.0",
    metrics: {
      enableNftablesMetrics: () => enabled++,
      incNftablesSyncFailures: () => {},
      incNftablesCleanupFailures: () => {},
    },
    watchServiceCIDRs: (f) => onChange = f,
  });
  assertEquals(backends.map((b) => b.family), ["IPv4"], "no IPv6 in this kernel");
  assertEquals(enabled, 1);
  onChange!(["10.96.0.0/16"]);
});

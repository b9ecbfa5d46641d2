import { assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import { configureLogging } from "../../config/log.ts";
import { FakeCommandRunner } from "../exec.ts";
import { createFamilies, supportsRandomFully } from "./families.ts";

configureLogging({ write: () => {} });

/** A runner on which the listed binaries fail (exit 1) and everything else succeeds. */
function runnerFailing(...failing: string[]): FakeCommandRunner {
  const run = new FakeCommandRunner();
  run.respond((c) => failing.includes(c.cmd) ? { code: 1, stderr: "no" } : undefined);
  return run;
}

Deno.test("createFamilies() returns both families when both work", async () => {
  const run = runnerFailing();
  const families = await createFamilies("nft", "IPv4", run);
  assertEquals(Object.keys(families).sort(), ["IPv4", "IPv6"]);
  assertEquals(run.commandLines().includes("test -e /proc/net/if_inet6"), true);
});

Deno.test("createFamilies() drops IPv6 without kernel support when IPv4 is primary", async () => {
  const families = await createFamilies("legacy", "IPv4", runnerFailing("test"));
  assertEquals(Object.keys(families), ["IPv4"]);
});

Deno.test("createFamilies() drops a non-primary family whose binary fails", async () => {
  const families = await createFamilies("nft", "IPv6", runnerFailing("iptables-nft"));
  assertEquals(Object.keys(families), ["IPv6"]);
});

Deno.test("createFamilies() throws when the primary family does not work", async () => {
  const err = await assertRejects(() =>
    createFamilies("nft", "IPv6", runnerFailing("ip6tables-nft"))
  );
  assertStringIncludes(String(err), "primary IP family IPv6 (nft backend)");
});

Deno.test("supportsRandomFully() is true from iptables 1.6.2 on", async () => {
  const cases: [string, number, boolean][] = [
    ["iptables v1.8.9 (nf_tables)", 0, true],
    ["iptables v1.6.2", 0, true],
    ["iptables v1.6.1", 0, false],
    ["iptables v1.4.21", 0, false],
    ["iptables v2.0.0", 0, true],
    ["iptables v1.8.9", 1, false],
    ["garbage", 0, false],
  ];
  for (const [stdout, code, want] of cases) {
    const run = new FakeCommandRunner();
    run.respond((c) => c.cmd === "iptables-legacy" ? { stdout, code } : undefined);
    assertEquals(await supportsRandomFully("legacy", run), want, `${stdout} (exit ${code})`);
  }
});

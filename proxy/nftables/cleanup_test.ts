import { assertEquals } from "../../tests/assert.ts";
import { FakeCommandRunner } from "../exec.ts";
import { cleanupNftables } from "./cleanup.ts";

Deno.test("cleanupNftables() deletes both tables, ignoring missing ones", async () => {
  const run = new FakeCommandRunner();
  run.respond((c) =>
    c.stdin?.includes("ip6") ? { code: 1, stderr: "Error: No such file or directory" } : undefined
  );
  assertEquals(await cleanupNftables(run), false);
  assertEquals(run.calls.map((c) => c.stdin), [
    "delete table ip kube-proxy\n",
    "delete table ip6 kube-proxy\n",
  ]);
});

Deno.test("cleanupNftables() reports other failures and tolerates a missing nft", async () => {
  const broken = new FakeCommandRunner();
  broken.respond(() => ({ code: 1, stderr: "Error: Operation not permitted" }));
  assertEquals(await cleanupNftables(broken), true);
  const missing = new FakeCommandRunner();
  missing.respond(() => ({ code: 127, stderr: "Cannot run nft" }));
  assertEquals(await cleanupNftables(missing), false);
  assertEquals(missing.calls.length, 1);
});

/**
 * End-to-end: the demo, as the README's main command runs it, succeeds and leaves nothing behind.
 */

import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { runCommand } from "../sandbox/command.ts";
import { listSandboxNamespaces } from "../sandbox/sandbox_state.ts";
import { repoPath } from "../sandbox/sandbox.ts";

const root = Deno.uid() === 0;

Deno.test({
  name: "demo.ts tells the whole story, exits 0 and removes its namespaces",
  ignore: !root,
  async fn() {
    const res = await runCommand(
      [Deno.execPath(), "run", "-A", repoPath("tests/sandbox/demo.ts")],
      { check: false },
    );
    const out = res.stdout + res.stderr;
    assertEquals(res.code, 0, out);
    for (
      const text of [
        "db-service.default.svc.cluster.local A  ->  10.96.0.20",
        "my-sts-0.my-service.default.svc.cluster.local A  ->  10.244.1.3",
        "answered by my-sts-0",
        "the NodePort on node2 reaches web on node1",
        "answered by db-1",
        "Every step worked",
      ]
    ) {
      assertStringIncludes(out, text);
    }
    assert(!out.includes("FAILED"), out);
    // Only this run's namespaces: other sandboxes may be running on the machine meanwhile.
    const runId = out.match(/sandbox ([0-9a-f]+) torn down/)?.[1];
    assert(runId, "the demo names its run when it tears down");
    const leftover = (await listSandboxNamespaces()).filter((n) => n.startsWith(`kpsbx-${runId}-`));
    assertEquals(leftover, []);
  },
});

Deno.test({
  name: "demo.ts without root says it needs root and exits 1",
  ignore: !root,
  async fn() {
    // Drop to an unprivileged user: setpriv (util-linux) runs the demo as uid 65534.
    const res = await runCommand([
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      Deno.execPath(),
      "run",
      "-A",
      "--no-config",
      repoPath("tests/sandbox/demo.ts"),
    ], { check: false });
    assertEquals(res.code, 1, res.stdout + res.stderr);
    assertStringIncludes(res.stderr, "needs root");
    assertStringIncludes(res.stderr, "network namespaces");
  },
});

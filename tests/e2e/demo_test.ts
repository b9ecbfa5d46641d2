/**
 * End-to-end: the demo, as the README's main command runs it, succeeds and leaves nothing behind.
 */

import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { runCommand } from "../sandbox/command.ts";
import { listSandboxNamespaces } from "../sandbox/sandbox_state.ts";
import { repoPath } from "../sandbox/sandbox.ts";
import { CHILD_ENV } from "../sandbox/command.ts";

const root = Deno.uid() === 0;

Deno.test({
  name: "demo.ts tells the whole story, exits 0 and removes its namespaces",
  ignore: !root,
  async fn() {
    const res = await runCommand(
      [Deno.execPath(), "run", "-A", repoPath("tests/sandbox/demo.ts"), "--mode", "iptables"],
      { check: false },
    );
    const out = res.stdout + res.stderr;
    assertEquals(res.code, 0, out);
    for (
      const text of [
        "started on both nodes, mode iptables",
        "db-service.default.svc.cluster.local A  ->  10.96.0.20",
        "my-sts-0.my-service.default.svc.cluster.local A  ->  10.244.1.3",
        "answered by my-sts-0",
        "the NodePort on node2 reaches web on node1",
        "the EndpointSlice controller wrote db-service-",
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

/**
 * Copies the local modules of demo.ts's module graph (as `deno info` lists them) into a new
 * world-readable directory, keeping their paths from the repository root: an unprivileged user
 * cannot read the checkout itself when it lives in a 0700 directory (`git clone` into
 * `mktemp -d`, as CI may do).
 *
 * @returns the directory (remove it when done) and the copied demo.ts in it.
 */
async function copyDemoForAnyUser(): Promise<{ dir: string; demo: string }> {
  const info = await new Deno.Command(Deno.execPath(), {
    env: CHILD_ENV,
    args: ["info", "--json", "--no-config", repoPath("tests/sandbox/demo.ts")],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  assert(info.success, `deno info failed: ${d.decode(info.stderr)}`);
  const graph = JSON.parse(d.decode(info.stdout)) as { modules: { specifier: string }[] };
  const root = repoPath("");
  const files = graph.modules
    .filter((m) => m.specifier.startsWith("file://"))
    .map((m) => decodeURIComponent(new URL(m.specifier).pathname));
  assert(files.includes(repoPath("tests/sandbox/demo.ts")), "demo.ts is in its own graph");
  const dir = await Deno.makeTempDir({ prefix: "kpdemo-nonroot-" });
  try {
    await Deno.chmod(dir, 0o755); // makeTempDir creates it 0700
    for (const file of files) {
      assert(file.startsWith(root), `demo.ts imports ${file} from outside the repository`);
      const target = `${dir}/${file.slice(root.length)}`;
      const parts = file.slice(root.length).split("/").slice(0, -1);
      for (let i = 1; i <= parts.length; i++) {
        const sub = `${dir}/${parts.slice(0, i).join("/")}`;
        await Deno.mkdir(sub, { recursive: true });
        await Deno.chmod(sub, 0o755);
      }
      await Deno.copyFile(file, target);
      await Deno.chmod(target, 0o644);
    }
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
  return { dir, demo: `${dir}/tests/sandbox/demo.ts` };
}

Deno.test({
  name: "demo.ts without root says it needs root and exits 1",
  ignore: !root,
  async fn() {
    const { dir, demo } = await copyDemoForAnyUser();
    try {
      // Drop to an unprivileged user: setpriv (util-linux) runs the real demo.ts (a copy outside
      // the checkout, which may not be readable to others) as uid 65534.
      const out = await new Deno.Command("setpriv", {
        args: [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          Deno.execPath(),
          "run",
          "-A",
          "--no-config",
          demo,
        ],
        cwd: dir,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: { DENO_NO_UPDATE_CHECK: "1" },
      }).output();
      const d = new TextDecoder();
      const stderr = d.decode(out.stderr);
      assertEquals(out.code, 1, d.decode(out.stdout) + stderr);
      assertStringIncludes(stderr, "needs root");
      assertStringIncludes(stderr, "network namespaces");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

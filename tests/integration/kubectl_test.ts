/**
 * The real `kubectl` against the API server fixture: discovery and Table output (`get`), client-
 * side apply twice (create, then unchanged, then configured), `patch` (strategic merge, the
 * patch type `kubectl edit` sends too), `edit` itself, `delete`, and a `get -w` that sees a
 * change. Skipped when no kubectl is installed (`scripts/env.sh` installs one).
 */

import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { ApiServerFixture } from "../apiserver/server.ts";
import { dbServiceYaml } from "../sandbox/explore.ts";
import { hasKubectl, kubectl, startKubectl } from "../sandbox/kubectl.ts";

Deno.test({
  name: "kubectl gets, applies twice, patches, edits, watches and deletes on the fixture",
  ignore: !(await hasKubectl()),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "kubectl-test-" });
    const api = await ApiServerFixture.start({ tls: true, token: "t0ken" });
    const kc = `${dir}/kubeconfig`;
    const cacheDir = `${dir}/cache`;
    const run = (args: string[], stdin?: string) => kubectl(kc, args, { stdin, cacheDir });
    let watch: ReturnType<typeof startKubectl> | undefined;
    try {
      await api.writeKubeconfig(kc);
      api.apply({
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: "node1" },
        status: { conditions: [{ type: "Ready", status: "True" }] },
      });
      const got = await run(["get", "nodes,svc", "-A"]);
      assertStringIncludes(got.stdout, "node/node1");
      assert(/node\/node1\s+Ready/.test(got.stdout), got.stdout);

      const created = await run(["apply", "-f", "-"], dbServiceYaml(5432));
      assertStringIncludes(created.stdout, "service/db created");
      const again = await run(["apply", "-f", "-"], dbServiceYaml(5432));
      assertStringIncludes(again.stdout, "service/db unchanged");
      const rvBefore = api.get("Service", "default", "db")!.metadata.resourceVersion;
      const changed = await run(["apply", "-f", "-"], dbServiceYaml(6432));
      assertStringIncludes(changed.stdout, "service/db configured");
      const applied = api.get("Service", "default", "db")!;
      assertEquals(applied.spec.ports.map((p: { port: number }) => p.port), [6432]);
      assert(applied.metadata.resourceVersion !== rvBefore);
      const table = await run(["get", "svc", "db"]);
      assert(new RegExp(`db\\s+ClusterIP\\s+${applied.spec.clusterIP}\\s`).test(table.stdout));

      watch = startKubectl(kc, ["get", "svc", "db", "-w", "-o", "wide"], cacheDir);
      await watch.waitForLine(/app=db/, 30_000);
      const patched = await run(["patch", "svc", "db", "-p", '{"spec":{"selector":{"tier":"x"}}}']);
      assertStringIncludes(patched.stdout, "service/db patched");
      assertEquals(api.get("Service", "default", "db")!.spec.selector, { app: "db", tier: "x" });
      await watch.waitForLine(/app=db,tier=x/, 30_000);

      const edited = await kubectl(kc, ["edit", "svc", "db"], {
        cacheDir,
        env: { KUBE_EDITOR: "sed -i s/tier:\\ x/tier:\\ edited/" },
      });
      assertStringIncludes(edited.stdout, "service/db edited");
      assertEquals(api.get("Service", "default", "db")!.spec.selector.tier, "edited");

      const deleted = await run(["delete", "svc", "db"]);
      assertStringIncludes(deleted.stdout, 'service "db" deleted');
      assertEquals(api.get("Service", "default", "db"), undefined);
      const missing = await kubectl(kc, ["get", "svc", "db"], { cacheDir, check: false });
      assert(missing.code !== 0);
      assertStringIncludes(missing.stderr, "NotFound");
    } finally {
      await watch?.stop();
      await api.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

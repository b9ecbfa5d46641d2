import { assert, assertEquals } from "../tests/assert.ts";
import { parseManifests } from "../tests/apiserver/manifests.ts";
import { loadConfig } from "../config/load.ts";
import { validateConfig } from "../config/validate.ts";

// deno-lint-ignore no-explicit-any
type Obj = Record<string, any>;

const dir = new URL(".", import.meta.url).pathname;
const objects: Obj[] = parseManifests(Deno.readTextFileSync(`${dir}daemonset.yaml`));

function find(kind: string): Obj {
  const found = objects.filter((o) => o.kind === kind);
  assertEquals(found.length, 1, `exactly one ${kind}`);
  return found[0];
}

function daemonSetContainer(): Obj {
  return find("DaemonSet").spec.template.spec.containers[0];
}

Deno.test("daemonset.yaml parses as Kubernetes objects with apiVersion, kind and metadata", () => {
  const expected: Record<string, string> = {
    ServiceAccount: "v1",
    ClusterRole: "rbac.authorization.k8s.io/v1",
    ClusterRoleBinding: "rbac.authorization.k8s.io/v1",
    ConfigMap: "v1",
    DaemonSet: "apps/v1",
  };
  assertEquals(objects.map((o) => o.kind).sort(), Object.keys(expected).sort());
  for (const o of objects) {
    assertEquals(o.apiVersion, expected[o.kind], `${o.kind} apiVersion`);
    assertEquals(typeof o.metadata?.name, "string", `${o.kind} has a name`);
    assertEquals(
      Object.keys(o).filter((k) =>
        !["apiVersion", "kind", "metadata", "spec", "data", "rules", "roleRef", "subjects"]
          .includes(k)
      ),
      [],
      `${o.kind} has only known fields`,
    );
    const clusterScoped = o.kind.startsWith("Cluster");
    assertEquals(o.metadata.namespace, clusterScoped ? undefined : "kube-system", o.kind);
  }
});

Deno.test("daemonset.yaml ClusterRole grants list/watch on what the proxy reads and event writes", () => {
  const rules: Obj[] = find("ClusterRole").rules;
  const allows = (group: string, resource: string, verb: string) =>
    rules.some((r) =>
      r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb)
    );
  for (const resource of ["services", "nodes", "namespaces"]) {
    assert(allows("", resource, "list") && allows("", resource, "watch"), resource);
  }
  assert(allows("discovery.k8s.io", "endpointslices", "list"));
  assert(allows("discovery.k8s.io", "endpointslices", "watch"));
  for (const group of ["", "events.k8s.io"]) {
    assert(allows(group, "events", "create") && allows(group, "events", "patch"), group);
  }
  // Read-only for everything else: no write verb on any watched resource.
  for (const r of rules) {
    if (r.resources.includes("events")) continue;
    assertEquals(r.verbs.filter((v: string) => !["get", "list", "watch"].includes(v)), []);
  }
});

Deno.test("daemonset.yaml binds the ClusterRole to the DaemonSet's ServiceAccount", () => {
  const binding = find("ClusterRoleBinding");
  const sa = find("ServiceAccount");
  assertEquals(binding.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "ClusterRole",
    name: find("ClusterRole").metadata.name,
  });
  assertEquals(binding.subjects, [
    { kind: "ServiceAccount", name: sa.metadata.name, namespace: sa.metadata.namespace },
  ]);
  assertEquals(find("DaemonSet").spec.template.spec.serviceAccountName, sa.metadata.name);
});

Deno.test("daemonset.yaml DaemonSet is a drop-in for kubeadm's kube-proxy", () => {
  const ds = find("DaemonSet");
  assertEquals([ds.metadata.namespace, ds.metadata.name], ["kube-system", "kube-proxy"]);
  assertEquals(ds.spec.selector, { matchLabels: { "k8s-app": "kube-proxy" } });
  assertEquals(ds.spec.template.metadata.labels["k8s-app"], "kube-proxy");
  const pod = ds.spec.template.spec;
  assertEquals(pod.hostNetwork, true);
  assertEquals(pod.priorityClassName, "system-node-critical");
  const c = daemonSetContainer();
  assertEquals(c.securityContext.privileged, true);
  assert(c.command.includes("--hostname-override=$(NODE_NAME)"), c.command.join(" "));
  assertEquals(c.env.find((e: Obj) => e.name === "NODE_NAME").valueFrom, {
    fieldRef: { fieldPath: "spec.nodeName" },
  });
  const volumes = new Map<string, Obj>(pod.volumes.map((v: Obj) => [v.name, v]));
  const mounts = new Map<string, Obj>(c.volumeMounts.map((m: Obj) => [m.mountPath, m]));
  const lock = mounts.get("/run/xtables.lock")!;
  assertEquals(volumes.get(lock.name)!.hostPath, {
    path: "/run/xtables.lock",
    type: "FileOrCreate",
  });
  const modules = mounts.get("/lib/modules")!;
  assertEquals(modules.readOnly, true);
  assertEquals(volumes.get(modules.name)!.hostPath.path, "/lib/modules");
});

Deno.test("daemonset.yaml ConfigMap config loads and validates with the config loader", () => {
  const cm = find("ConfigMap");
  const { config, dns } = loadConfig(cm.data["config.conf"], { source: "config.conf" });
  assertEquals(validateConfig(config, dns), []);
  assertEquals(dns.serviceIPs, ["10.96.0.10"]);
  // The container reads the file where the projected volume puts it, and the kubeconfig the file
  // names is projected next to it from kubeadm's kube-proxy ConfigMap.
  const c = daemonSetContainer();
  const mount = c.volumeMounts.find((m: Obj) => m.mountPath === "/var/lib/kube-proxy");
  const volume = find("DaemonSet").spec.template.spec.volumes.find((v: Obj) =>
    v.name === mount.name
  );
  const files = new Map<string, string>();
  for (const s of volume.projected.sources) {
    for (const item of s.configMap.items) files.set(item.path, `${s.configMap.name}/${item.key}`);
  }
  assert(c.command.includes("--config=/var/lib/kube-proxy/config.conf"), c.command.join(" "));
  assertEquals(files.get("config.conf"), `${cm.metadata.name}/config.conf`);
  assertEquals(config.clientConnection.kubeconfig, "/var/lib/kube-proxy/kubeconfig.conf");
  assertEquals(files.get("kubeconfig.conf"), "kube-proxy/kubeconfig.conf");
});

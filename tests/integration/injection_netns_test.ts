/**
 * Injection through object names, end to end on the real kernel rules (issue 14, item 1; root
 * only).
 *
 * main.ts runs in a scratch network namespace against the API server fixture (on the namespace's
 * loopback), in iptables mode once per iptables backend installed (nft, legacy), and in nftables
 * mode (`nft list table ip kube-proxy`: no element or rule for TCP/443 but the two intended
 * services', DNATs only to their endpoints). The fixture validates nothing, so
 * it serves the names of the issue as a hostile API server would: a Service name and a port name
 * holding a quote and a newline followed by a DNAT of all TCP/443, a name with a quote and `-j`,
 * a namespace with a space. Some are there at start (the first list), the others arrive over the
 * watch, with wrong-typed objects (issue 14, item 2: `ports` an object, labels a list, `endpoints`
 * a string, an endpoint without addresses; the fixture turns a string or missing `spec` into an
 * object, so those two are covered by `cache/convert_invalid_test.ts` only). Each must be skipped
 * (or its bad part ignored) with a log line naming the field, no rule but the intended ones
 * may appear (no DNAT of port 443, no chain of theirs), and a valid Service applied afterwards must
 * still be programmed while /healthz stays 200.
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { NetnsProcess } from "../sandbox/netns_process.ts";
import { eventually } from "../sandbox/eventually.ts";
import { renderNodeConfig } from "../node_config.ts";
import { isRoot, type ScratchNetns, withScratchNetns } from "./runtime_netns.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const NODE_NAME = "node1";
const NODE_IP = "10.203.0.2";
const API = "127.0.0.1:16443";

/** A DNAT of every TCP/443 connection, as the probe wrote it into a name. */
const DNAT_443 = "\n-A KUBE-SERVICES -p tcp --dport 443 -j DNAT --to-destination 10.244.9.9:443\n";

type Raw = Record<string, unknown>;

function service(namespace: string, name: string, ip: string, portName = "http"): Raw {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace, name },
    spec: {
      type: "ClusterIP",
      clusterIP: ip,
      clusterIPs: [ip],
      ports: [{ name: portName, protocol: "TCP", port: 443, targetPort: 8443 }],
    },
  };
}

function slice(namespace: string, serviceName: string, ip: string, portName = "http"): Raw {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      namespace,
      name: `slice-${ip.replaceAll(".", "-")}`,
      labels: { "kubernetes.io/service-name": serviceName },
    },
    addressType: "IPv4",
    ports: [{ name: portName, protocol: "TCP", port: 8443 }],
    endpoints: [{ addresses: [ip], conditions: { ready: true }, nodeName: NODE_NAME }],
  };
}

/**
 * The hostile objects: each with the kind and field its log line must name (the first object is
 * the one logged), and whether the fixture serves it from the start or over the watch.
 */
const HOSTILE: { objects: Raw[]; kind?: string; field: string; atStart: boolean }[] = [
  {
    // The DNAT of all TCP/443 through a Service name.
    objects: [
      service("default", `evil"${DNAT_443}#`, "10.96.0.71"),
      slice("default", `evil"${DNAT_443}#`, "10.244.9.1"),
    ],
    field: "metadata.name",
    atStart: true,
  },
  {
    // A namespace with a space.
    objects: [service("demo prod", "web", "10.96.0.72"), slice("demo prod", "web", "10.244.9.2")],
    field: "metadata.namespace",
    atStart: true,
  },
  {
    // The same DNAT through a port name, over the watch.
    objects: [
      service("default", "evil-port", "10.96.0.73", `https"${DNAT_443}#`),
      slice("default", "evil-port", "10.244.9.3", `https"${DNAT_443}#`),
    ],
    field: "spec.ports[0].name",
    atStart: false,
  },
  {
    // A quote and -j, over the watch.
    objects: [
      service("default", 'evil" -j DROP -m comment --comment "x', "10.96.0.74"),
      slice("default", 'evil" -j DROP -m comment --comment "x', "10.244.9.4"),
    ],
    field: "metadata.name",
    atStart: false,
  },
  // Wrong types (issue 14, item 2) that the fixture stores as given.
  {
    objects: [{ ...service("default", "bad-ports", "10.96.0.75"), spec: { ports: { port: 443 } } }],
    field: "spec.ports",
    atStart: false,
  },
  {
    objects: [{
      ...service("default", "bad-labels", "10.96.0.76"),
      metadata: { namespace: "default", name: "bad-labels", labels: ["app=x"] },
    }],
    field: "metadata.labels",
    atStart: false,
  },
  {
    objects: [{ ...slice("default", "web", "10.244.9.7"), endpoints: "10.244.9.7" }],
    kind: "EndpointSlice",
    field: "endpoints",
    atStart: false,
  },
];

const WEB_IP = "10.96.0.50", LATER_IP = "10.96.0.60";
const ENDPOINTS = ["10.244.1.5:8443", "10.244.1.6:8443"];

function manifests(): string {
  const objects: Raw[] = [
    {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: NODE_NAME },
      status: { addresses: [{ type: "InternalIP", address: NODE_IP }] },
    },
    service("default", "web", WEB_IP),
    slice("default", "web", "10.244.1.5"),
    ...HOSTILE.filter((h) => h.atStart).flatMap((h) => h.objects),
  ];
  // YAML is a superset of JSON: one JSON document per object keeps the names byte for byte.
  return objects.map((o) => JSON.stringify(o)).join("\n---\n") + "\n";
}

async function installed(cmd: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
    return out.code === 0;
  } catch {
    return false;
  }
}

/** Sends one control line to the fixture and waits for its answer. */
async function apply(api: NetnsProcess, object: Raw): Promise<void> {
  const from = api.lines.length;
  await api.writeLine(JSON.stringify({ op: "apply", object }));
  const reply = await api.waitForLine(/^\{"ok":/, 10_000, from);
  assert(reply.startsWith('{"ok":true'), reply);
}

/** How one run programs the node and how its rules are read and judged. */
interface ModeRun {
  /** The test name's suffix. */
  readonly label: string;
  /** Whether the run's tools are installed. */
  readonly available: () => Promise<boolean>;
  /** `mode:` of the config. */
  readonly mode: "iptables" | "nftables";
  /** Extra command-line flags of main.ts. */
  readonly args: readonly string[];
  /** Every rule of ours in the namespace, as text. */
  readonly save: (ns: ScratchNetns) => Promise<string>;
  /** Whether `rules` send the ClusterIP `ip`'s port 443 to a service chain. */
  readonly programmed: (rules: string, ip: string) => boolean;
  /** Asserts that `rules` hold exactly the intended services and endpoints, nothing of the rest. */
  readonly assertOnlyIntended: (rules: string) => void;
}

/** No line may name a hostile object's addresses or names. */
function assertNoHostileLine(rules: string): void {
  for (const line of rules.split("\n")) {
    assert(!/10\.244\.9\.|10\.96\.0\.7\d/.test(line), `a hostile object's rule: ${line}`);
    assert(!/evil|demo prod/.test(line), `a hostile name in a rule: ${line}`);
  }
}

function iptablesRun(backend: "nft" | "legacy"): ModeRun {
  const save = `iptables-${backend}-save`;
  return {
    label: `iptables ${backend}`,
    available: () => installed(save),
    mode: "iptables",
    args: ["--iptables-backend", backend],
    save: async (ns) => (await ns.sh(save, "-t", "nat")) + (await ns.sh(save, "-t", "filter")),
    programmed: (rules, ip) =>
      new RegExp(`-A KUBE-SERVICES -d ${ip}/32 .*-j KUBE-SVC-`).test(rules),
    assertOnlyIntended(rules) {
      // Exactly the intended rules: two services, their two endpoints, nothing else.
      const chains = (prefix: string) =>
        new Set(rules.match(new RegExp(`^:${prefix}-\\w+`, "gm")) ?? []).size;
      assertEquals(chains("KUBE-SVC"), 2, rules);
      assertEquals(chains("KUBE-SEP"), 2, rules);
      const dnats = [...rules.matchAll(/-j DNAT --to-destination (\S+)/g)].map((m) => m[1]);
      assertEquals(dnats.sort(), ENDPOINTS, rules);
      assertNoHostileLine(rules);
      for (const line of rules.split("\n")) {
        // Port 443 only on the two service IPs (the ClusterIP rules and their masquerade).
        if (line.includes("--dport 443")) {
          assertMatch(line, new RegExp(`-d (${WEB_IP}|${LATER_IP})/32 `), line);
        }
      }
      assertEquals(rules.match(/--dport 443/g)?.length, 4, rules);
    },
  };
}

const NFTABLES_RUN: ModeRun = {
  label: "nftables",
  available: () => installed("nft"),
  mode: "nftables",
  args: [],
  save: (ns) => ns.sh("nft", "list", "table", "ip", "kube-proxy"),
  programmed: (rules, ip) => rules.includes(`${ip} . tcp . 443 : goto service-`),
  assertOnlyIntended(rules) {
    // Exactly the intended chains: two services, each DNATing to its one endpoint (without
    // affinity the DNAT is in the service chain itself).
    const services = rules.match(/^\s*chain service-[A-Z0-9]{8}-\S+/gm) ?? [];
    assertEquals(services.length, 2, rules);
    const dnats = [...rules.matchAll(/dnat to (\S+)/g)].map((m) => m[1]);
    assertEquals(dnats.sort(), ENDPOINTS, rules);
    assertNoHostileLine(rules);
    // Port 443 only as the two services' elements (`ip . tcp . 443`), in no rule of its own.
    const elements = [...rules.matchAll(/(\S+) \. tcp \. 443\b/g)].map((m) => m[1]);
    assertEquals(elements.sort(), [WEB_IP, LATER_IP].sort(), rules);
    assert(!/dport 443\b/.test(rules), rules);
  },
};

for (const run of [iptablesRun("nft"), iptablesRun("legacy"), NFTABLES_RUN]) {
  Deno.test({
    name: `hostile names program no rule and block no later change (${run.label})`,
    ignore: !isRoot || !(await run.available()),
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await withScratchNetns(async (ns) => {
        const dir = await Deno.makeTempDir({ prefix: "kpinject-" });
        const processes: NetnsProcess[] = [];
        try {
          await ns.sh("ip", "addr", "add", `${NODE_IP}/32`, "dev", "lo");
          await Deno.writeTextFile(`${dir}/cluster.yaml`, manifests());
          const kubeconfig = `${dir}/kubeconfig`;
          const api = NetnsProcess.start([
            Deno.execPath(),
            "run",
            "-A",
            `${REPO}tests/apiserver/main.ts`,
            "--listen",
            API,
            "--manifests",
            `${dir}/cluster.yaml`,
            "--kubeconfig-out",
            kubeconfig,
          ], { netns: ns.name, label: "apiserver", stdin: true });
          processes.push(api);
          await api.waitForLine(/"ready":true/, 60_000);

          await Deno.writeTextFile(
            `${dir}/config.yaml`,
            renderNodeConfig({
              kubeconfig,
              nodeName: NODE_NAME,
              clusterCIDR: "10.244.0.0/16",
              healthzBindAddress: "127.0.0.1:10256",
              metricsBindAddress: "127.0.0.1:10249",
              minSyncPeriod: "100ms",
              mode: run.mode,
              // Cluster DNS on (it watches Namespaces too, one of which has a space).
              dnsBindAddress: "127.0.0.1",
              dnsPort: 10053,
            }),
          );
          const proxy = NetnsProcess.start([
            Deno.execPath(),
            "run",
            "-A",
            `${REPO}main.ts`,
            "--config",
            `${dir}/config.yaml`,
            "--hostname-override",
            NODE_NAME,
            ...run.args,
          ], { netns: ns.name, label: "kube-proxy" });
          processes.push(proxy);
          const waitFor = <T>(what: string, check: () => Promise<T | undefined>) =>
            eventually(what, check, 60_000).catch((err) => {
              throw new Error(`${err.message}\n${context()}`);
            });
          const context = () => `kube-proxy:\n${proxy.tail(40)}\napiserver:\n${api.tail(10)}`;
          const programmed = (ip: string) => async () => {
            const rules = await run.save(ns);
            return run.programmed(rules, ip) ? rules : undefined;
          };
          const healthz = async () => {
            const r = await ns.run.run("curl", [
              "-s",
              "-o",
              "/dev/null",
              "-w",
              "%{http_code}",
              "http://127.0.0.1:10256/healthz",
            ]);
            return r.stdout === "200" ? r.stdout : undefined;
          };

          // The valid Service of the first list is programmed despite its hostile neighbours.
          await waitFor("the web Service's rules", programmed(WEB_IP));
          await waitFor("/healthz 200", healthz);

          // The other hostile objects arrive over the watch, then a valid change.
          for (const h of HOSTILE.filter((h) => !h.atStart)) {
            for (const o of h.objects) await apply(api, o);
          }
          await apply(api, service("default", "later", LATER_IP));
          // Its slice also holds an endpoint without addresses: that endpoint alone is ignored.
          const laterSlice = slice("default", "later", "10.244.1.6");
          (laterSlice.endpoints as Raw[]).push({ addresses: [], conditions: { ready: true } });
          await apply(api, laterSlice);
          const rules = await waitFor("the later Service's rules", programmed(LATER_IP));
          await waitFor("/healthz 200 after the changes", healthz);

          run.assertOnlyIntended(rules);

          // A log line per hostile object, naming the field.
          for (const h of HOSTILE) {
            const name = (h.objects[0].metadata as Raw).name as string;
            const skipped = proxy.lines.filter((l) =>
              l.includes(`"Skipping invalid ${h.kind ?? "Service"}"`) &&
              l.includes(` field="${h.field}" `) && l.includes(JSON.stringify(name).slice(1, 20))
            );
            assert(skipped.length >= 1, `no log line for ${JSON.stringify(name)}:\n${context()}`);
          }
          assert(
            proxy.lines.some((l) =>
              l.includes('"Ignoring invalid fields of EndpointSlice"') &&
              l.includes('ignored="endpoints[1].addresses: empty')
            ),
            context(),
          );
          assertEquals(proxy.exitStatus, undefined, context());
        } finally {
          for (const p of processes.reverse()) await p.stop("SIGKILL", 2000).catch(() => {});
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      });
    },
  });
}

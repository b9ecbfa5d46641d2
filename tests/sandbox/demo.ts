/**
 * The demo (`deno task demo`, the README's main command): a two-node cluster in network
 * namespaces, one kube-proxy per node, and the story of what kube-proxy is for, narrated.
 *
 * 0. `db-service` is created with `kubectl apply` (a selector on `app=db`); the sandbox's
 *    EndpointSlice controller lists the db pods in its slice (`kubectl get svc,endpointslices`);
 * 1. web (node1) finds `db-service` through the cluster DNS IP and reaches a db pod on node2,
 *    by name and by ClusterIP;
 * 2. `my-sts-1` resolves `my-sts-0.my-service.default.svc.cluster.local` (a headless service
 *    over a three-pod StatefulSet) and talks to `my-sts-0`;
 * 3. the underlay client reaches a NodePort on node2 that is served by a pod on node1;
 * 4. node1's rules for `db-service`, from `iptables-save`;
 * 5. the path of a packet from web to db-service, as `kube-proxy trace` reads it from node1's rules;
 * 6. the db-0 Pod is deleted, the controller updates the EndpointSlice, and traffic follows to db-1.
 *
 * Exits 0 only when every step worked. `--keep` leaves the cluster up until Ctrl-C and prints the
 * `export KUBECONFIG=...` line for kubectl; `--mode iptables|nftables` picks the proxies' mode
 * (default iptables); `--v=N` shows the proxies' logs at that verbosity.
 *
 * @module
 */

import { answeredBy, SandboxCluster, seenSource } from "./cluster.ts";
import type { ApiObject } from "./api_server.ts";
import { makeService } from "./cluster_objects.ts";
import { eventually } from "./eventually.ts";
import {
  clusterOptions,
  exploreHints,
  parseSandboxArgs,
  requireRoot,
  teardownOnSignal,
} from "./explore.ts";
import { hasKubectl, kubectl } from "./kubectl.ts";
import type { ClientResult } from "./pod_client.ts";
import { CLUSTER_DNS_IP } from "./proxy_node.ts";
import { repoPath, UNDERLAY_CLIENT_IP } from "./sandbox.ts";

const DB_IP = "10.96.0.20";
const DB_PORT = 5432;
const WEB_IP = "10.96.0.30";
const NODE_PORT = 30080;
const POD_PORT = 8080;

const bold = (s: string) => Deno.stdout.isTerminal() ? `\x1b[1m${s}\x1b[0m` : s;
const green = (s: string) => Deno.stdout.isTerminal() ? `\x1b[32m${s}\x1b[0m` : s;
const red = (s: string) => Deno.stdout.isTerminal() ? `\x1b[31m${s}\x1b[0m` : s;

function say(line = ""): void {
  console.log(line);
}

function step(title: string): void {
  say();
  say(bold(`== ${title}`));
}

/** `answered by db-0 (which saw the client as 10.244.1.2:41234)`, or the error. */
function describe(r: ClientResult): string {
  if (!r.ok) return `FAILED: ${r.error}`;
  const [name, from] = (r.reply ?? "").split(" ");
  return `answered by ${name} (which saw the client as ${from})`;
}

function count(names: (string | undefined)[]): string {
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n ?? "(failed)", (counts.get(n ?? "(failed)") ?? 0) + 1);
  return [...counts.entries()].sort().map(([n, c]) => `${n} x${c}`).join(", ");
}

/** The rules of `db-service` in an iptables-save dump: its chains and the jumps into them. */
export function rulesForService(dump: string, service: string): string[] {
  const lines = dump.split("\n");
  const chains = new Set<string>();
  for (const l of lines) {
    if (!l.includes(`"${service}`) && !l.includes(`${service}:`)) continue;
    for (const m of l.matchAll(/KUBE-(SVC|SEP|EXT|FW|SVL)-[A-Z0-9]+/g)) chains.add(m[0]);
  }
  // The service chains jump to their KUBE-SEP- chains, whose comments name the service too.
  return lines.filter((l) =>
    l.startsWith("-A ") &&
    [...chains].some((c) => l.startsWith(`-A ${c} `) || l.includes(`-j ${c}`))
  );
}

/** `db-service` as the demo applies it with kubectl: pods labelled app=db, a fixed ClusterIP. */
const DB_SERVICE_YAML = `apiVersion: v1
kind: Service
metadata:
  name: db-service
  namespace: default
spec:
  clusterIP: ${DB_IP}
  selector:
    app: db
  ports:
    - name: db
      port: ${DB_PORT}
      targetPort: ${POD_PORT}
`;

/**
 * Shows a kubectl command and its output (when kubectl is installed; otherwise `fallback` does
 * the same through the fixture's control channel, and the command is shown as what it stands for).
 */
async function showKubectl(
  cluster: SandboxCluster,
  args: string[],
  opts: { stdin?: string; fallback?: () => Promise<unknown> } = {},
): Promise<void> {
  const shown = `kubectl ${args.join(" ")}${opts.stdin ? " <<EOF (below)" : ""}`;
  if (!(await hasKubectl())) {
    say(`   $ ${shown}   (kubectl is not installed: ./scripts/env.sh installs it)`);
    await opts.fallback?.();
    return;
  }
  say(`   $ ${shown}`);
  if (opts.stdin) { for (const l of opts.stdin.trimEnd().split("\n")) say(`     ${l}`); }
  const res = await kubectl(cluster.kubeconfigPath, args, { stdin: opts.stdin, check: false });
  for (const l of (res.stdout + res.stderr).trimEnd().split("\n")) say(`     ${l}`);
  if (res.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed with ${res.code}`);
}

/**
 * THE TRACE STEP (wired by the lead once `kube-proxy trace` is merged): shows
 * `main.ts trace --from <pod ip> --to <svc ip>:<port>/tcp` run in the node's namespace, and its
 * output as printed. Until the command exists it says so; nothing here makes up a trace.
 */
async function showTrace(
  cluster: SandboxCluster,
  nodeName: string,
  from: string,
  to: string,
): Promise<void> {
  const node = cluster.sb.node(nodeName);
  const argv = [
    Deno.execPath(),
    "run",
    "-A",
    repoPath("main.ts"),
    "trace",
    "--from",
    from,
    "--to",
    to,
  ];
  say(`   $ ip netns exec ${node.netns} deno run -A main.ts trace --from ${from} --to ${to}`);
  const res = await cluster.sb.exec(node.netns, argv);
  if (
    res.code !== 0 &&
    /unknown command|unknown option|unknown flag|not a command|usage/i.test(res.stderr)
  ) {
    say("     (kube-proxy trace is not part of this build)");
    return;
  }
  for (const l of (res.stdout + res.stderr).trimEnd().split("\n")) say(`     ${l}`);
}

async function runDemo(cluster: SandboxCluster): Promise<string[]> {
  const failures: string[] = [];
  const check = (ok: boolean, what: string) => {
    say(`   ${ok ? green("ok") : red("FAILED")}  ${what}`);
    if (!ok) failures.push(what);
  };
  const sb = cluster.sb;

  step("Pods and Services");
  const [web, _db0, _db1, sts0, sts1, _sts2] = await cluster.addPods([
    { name: "web", node: "node1" },
    { name: "db-0", node: "node2" },
    { name: "db-1", node: "node2" },
    { name: "my-sts-0", node: "node1" },
    { name: "my-sts-1", node: "node2" },
    { name: "my-sts-2", node: "node1" },
  ]);
  say("   pods web, my-sts-0, my-sts-2 on node1; db-0, db-1, my-sts-1 on node2 (Pod objects too)");
  await showKubectl(cluster, ["apply", "-f", "-"], {
    stdin: DB_SERVICE_YAML,
    fallback: () =>
      cluster.api.apply(makeService("db-service", {
        clusterIP: DB_IP,
        selector: { app: "db" },
        ports: [{ name: "db", port: DB_PORT, targetPort: POD_PORT }],
      })),
  });
  say(
    `   service db-service  ClusterIP ${DB_IP}:${DB_PORT} selects app=db: db-0, db-1 (port ${POD_PORT})`,
  );
  await cluster.applyService("web-service", {
    clusterIP: WEB_IP,
    type: "NodePort",
    ports: [{ name: "http", port: 80, targetPort: POD_PORT, nodePort: NODE_PORT }],
  }, [web]);
  say(`   service web-service NodePort ${NODE_PORT} (ClusterIP ${WEB_IP}) -> web`);
  await cluster.applyService(
    "my-service",
    {
      clusterIP: "None",
      ports: [{ name: "peer", port: POD_PORT }],
    },
    sb.pods.filter((p) => p.name.startsWith("my-sts-")),
    { hostnames: true },
  );
  say(`   service my-service  headless -> my-sts-0, my-sts-1, my-sts-2 (with hostnames)`);
  const started = Date.now();
  await cluster.waitForServiceRules("db-service");
  await cluster.waitForServiceRules("web-service");
  say(
    `   both proxies wrote their rules ${Date.now() - started} ms after the objects were applied`,
  );
  const dbSlice = await eventually("the controller's db-service slice", () => {
    return cluster.api.list("EndpointSlice").then((slices) =>
      slices.find((sl: ApiObject) =>
        sl.metadata.labels?.["kubernetes.io/service-name"] === "db-service" &&
        sl.endpoints?.length === 2
      )
    );
  }, 15_000);
  check(dbSlice !== undefined, `the EndpointSlice controller wrote ${dbSlice.metadata.name}`);
  await showKubectl(cluster, ["get", "svc,endpointslices"]);

  step(`web (node1) -> db-service by name, through the cluster DNS IP ${CLUSTER_DNS_IP}`);
  const dbName = "db-service.default.svc.cluster.local";
  let dbAnswers: string[] = [];
  try {
    dbAnswers = await cluster.resolve(web.netns, dbName);
  } catch (err) {
    say(`   ${(err as Error).message}`);
  }
  say(`   dig @${CLUSTER_DNS_IP} ${dbName} A  ->  ${dbAnswers.join(", ") || "(no answer)"}`);
  check(dbAnswers.length === 1 && dbAnswers[0] === DB_IP, `${dbName} resolves to ${DB_IP}`);
  if (dbAnswers[0]) {
    const [r] = await cluster.request(web.netns, "tcp", `${dbAnswers[0]}:${DB_PORT}`);
    say(`   web -> ${dbAnswers[0]}:${DB_PORT}: ${describe(r)}`);
    check(r.ok && ["db-0", "db-1"].includes(answeredBy(r)!), "web reaches a db pod by name");
  }

  step(`web (node1) -> db-service by ClusterIP ${DB_IP}:${DB_PORT}, 10 connections`);
  const byIP = await cluster.request(web.netns, "tcp", `${DB_IP}:${DB_PORT}`, 10);
  say(`   answered by: ${count(byIP.map(answeredBy))}`);
  const sources = new Set(byIP.map(seenSource));
  say(`   the db pods saw the client as ${[...sources].join(", ")} (pod to pod: no masquerade)`);
  check(byIP.every((r) => ["db-0", "db-1"].includes(answeredBy(r) ?? "")), "all 10 reached db");
  check(sources.size === 1 && sources.has(web.ip), "the db pods saw web's own IP");

  step("my-sts-1 (node2) -> my-sts-0 through the headless service my-service");
  const headless = await cluster.resolve(sts1.netns, "my-service.default.svc.cluster.local")
    .catch(() => [] as string[]);
  say(`   dig my-service.default.svc.cluster.local A  ->  ${headless.sort().join(", ")}`);
  const stsIPs = sb.pods.filter((p) => p.name.startsWith("my-sts-")).map((p) => p.ip).sort();
  check(JSON.stringify(headless) === JSON.stringify(stsIPs), "the headless name lists all three");
  const sts0Name = "my-sts-0.my-service.default.svc.cluster.local";
  const sts0Answers = await cluster.resolve(sts1.netns, sts0Name).catch(() => [] as string[]);
  say(`   dig ${sts0Name} A  ->  ${sts0Answers.join(", ") || "(no answer)"}`);
  check(sts0Answers[0] === sts0.ip, `${sts0Name} is my-sts-0's IP ${sts0.ip}`);
  if (sts0Answers[0]) {
    const [r] = await cluster.request(sts1.netns, "tcp", `${sts0Answers[0]}:${POD_PORT}`);
    say(`   my-sts-1 -> ${sts0Answers[0]}:${POD_PORT}: ${describe(r)}`);
    check(answeredBy(r) === "my-sts-0", "my-sts-1 reaches my-sts-0 by name");
  }

  step(`underlay client ${UNDERLAY_CLIENT_IP} -> NodePort ${NODE_PORT} on node2`);
  const node2 = sb.node("node2");
  const np = await cluster.request(sb.clientNetns, "http", `${node2.ip}:${NODE_PORT}`, 3);
  say(`   GET http://${node2.ip}:${NODE_PORT}/ x3: ${count(np.map(answeredBy))}`);
  say(
    `   web (on node1) saw the client as ${[...new Set(np.map(seenSource))].join(", ")}` +
      " (masqueraded to node2, so the reply returns through it)",
  );
  check(np.every((r) => answeredBy(r) === "web"), "the NodePort on node2 reaches web on node1");

  step("node1's iptables rules for db-service (iptables-save)");
  const dump = await cluster.proxy("node1").rules();
  const dbRules = rulesForService(dump, "default/db-service");
  for (const l of dbRules) say(`   ${l}`);
  check(dbRules.some((l) => l.includes("-j KUBE-SVC-")), "KUBE-SERVICES jumps to a KUBE-SVC chain");
  check(dbRules.filter((l) => l.includes("DNAT")).length === 2, "one DNAT per db endpoint");
  const dnsRules = dump.split("\n").filter((l) => l.startsWith("-A KUBE-DNS-INTERCEPT "));
  say(`   and how ${CLUSTER_DNS_IP} reaches node1's own DNS responder:`);
  for (const l of dnsRules) say(`   ${l}`);

  step(`the path of a packet from web to db-service, read from node1's rules`);
  await showTrace(cluster, "node1", web.ip, `${DB_IP}:${DB_PORT}/tcp`);

  step("the db-0 Pod is deleted; the EndpointSlice controller now lists only db-1");
  await cluster.deletePod("db-0");
  const deleted = Date.now();
  try {
    await eventually(
      "traffic to follow db-1",
      async () => {
        const rs = await cluster.request(web.netns, "tcp", `${DB_IP}:${DB_PORT}`, 5);
        return rs.every((r) => answeredBy(r) === "db-1") ? rs : undefined;
      },
      15_000,
      100,
    );
    say(`   5 of 5 connections answered by db-1, ${Date.now() - deleted} ms after the delete`);
    check(true, "traffic followed the EndpointSlice");
    await showKubectl(cluster, [
      "get",
      "endpointslices",
      "-l",
      "kubernetes.io/service-name=db-service",
      "-o",
      "wide",
    ]);
  } catch (err) {
    say(`   ${(err as Error).message}`);
    check(false, "traffic followed the EndpointSlice");
  }
  return failures;
}

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    say("usage: deno task demo [--keep] [--mode iptables|nftables] [--v=N]");
    Deno.exit(0);
  }
  const args = parseSandboxArgs(Deno.args, ["--keep"]);
  if ("error" in args || args.down) {
    console.error(`demo: ${"error" in args ? args.error : "--down is deno task sandbox's"}`);
    Deno.exit(2);
  }
  const keep = args.seen.includes("--keep");
  requireRoot("The demo");
  const t0 = Date.now();
  say(bold("kube-proxy sandbox demo: two nodes, one kube-proxy each, in network namespaces"));
  let cluster: SandboxCluster | undefined;
  const signals = teardownOnSignal(() => cluster, say);
  let failures: string[] = [];
  try {
    step("Sandbox");
    cluster = await SandboxCluster.start(clusterOptions(args, keep, say));
    say(`   API server fixture ${cluster.api.url} (in the underlay namespace)`);
    say(
      `   kube-proxy (main.ts --config --kubeconfig --hostname-override) started on both nodes, ` +
        `mode ${args.mode}`,
    );
    failures = await runDemo(cluster);
    if (keep && failures.length === 0) {
      say();
      say(bold("The cluster stays up until Ctrl-C (or `deno task sandbox --down`). Try:"));
      for (const l of exploreHints(cluster)) say(`   ${l}`);
      const web = cluster.sb.pod("web");
      say(
        `   ip netns exec ${web.netns} dig @${CLUSTER_DNS_IP} db-service.default.svc.cluster.local`,
      );
      say(`   ip netns exec ${cluster.sb.clientNetns} curl http://192.168.1.11:${NODE_PORT}/`);
      await new Promise(() => {});
    }
  } catch (err) {
    failures.push(err instanceof Error ? err.message : String(err));
    say(red(`   error: ${failures[failures.length - 1]}`));
  } finally {
    if (!signals.interrupted()) await cluster?.teardown();
  }
  say();
  if (failures.length === 0) {
    say(green(bold(`Every step worked (${((Date.now() - t0) / 1000).toFixed(1)} s).`)));
    say("Everything the demo created has been removed.");
    Deno.exit(0);
  }
  say(red(bold(`${failures.length} step(s) failed:`)));
  for (const f of failures) say(red(`   - ${f.split("\n")[0]}`));
  Deno.exit(1);
}

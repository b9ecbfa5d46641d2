/**
 * main.ts as an operator runs it: `deno run -A main.ts ...` as a subprocess, checking exit codes
 * and what it prints for help, version, `--write-config-to` and every kind of bad input.
 *
 * None of these runs reaches the node: a bad configuration exits 2 and a missing kubeconfig
 * exits 1 before any iptables command or sysctl (they run in the root namespace, so this
 * ordering is what keeps them harmless).
 *
 * @module
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { CHILD_ENV } from "../sandbox/command.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

const HEADER = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";
const DNS_HEADER = "apiVersion: dns.kubeproxy.config/v1alpha1\nkind: ClusterDNSConfiguration\n";

interface MainResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs main.ts with `args`; `{config}` in an argument is replaced by a file holding `config`. */
async function runMain(args: string[], config?: string | Uint8Array): Promise<MainResult> {
  const dir = await Deno.makeTempDir({ prefix: "kpmain-cli-" });
  try {
    const path = `${dir}/config.yaml`;
    if (typeof config === "string") await Deno.writeTextFile(path, config);
    else if (config !== undefined) await Deno.writeFile(path, config);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, ...args.map((a) => a.replaceAll("{config}", path))],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // No in-cluster fallback from the test runner's environment.
      env: { ...CHILD_ENV, KUBERNETES_SERVICE_HOST: "", KUBERNETES_SERVICE_PORT: "" },
    }).output();
    const d = new TextDecoder();
    return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface BadInput {
  name: string;
  config?: string;
  args?: string[];
  /** Each must appear in stderr. */
  messages: (string | RegExp)[];
}

const BAD_INPUTS: BadInput[] = [
  {
    name: "an empty file",
    config: "",
    messages: ["config.yaml: the file is empty; expected a KubeProxyConfiguration document"],
  },
  {
    name: "invalid YAML, with its line",
    config: HEADER + "iptables:\n  syncPeriod: [30s\nmode: iptables\n",
    messages: [/config\.yaml: invalid YAML at line \d+/],
  },
  {
    name: "a wrong apiVersion",
    config: "apiVersion: kubeproxy.config.k8s.io/v1beta9\nkind: KubeProxyConfiguration\n",
    messages: ['unsupported apiVersion "kubeproxy.config.k8s.io/v1beta9"'],
  },
  {
    name: "a wrong kind",
    config: "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfig\n",
    messages: ["Kind=KubeProxyConfig", "(line 2)"],
  },
  {
    name: "a wrong type",
    config: HEADER + 'iptables:\n  masqueradeBit: "14"\n',
    messages: ["KubeProxyConfiguration.iptables.masqueradeBit: cannot unmarshal string"],
  },
  {
    name: "masqueradeBit 32",
    config: HEADER + "iptables:\n  masqueradeBit: 32\n",
    messages: [
      "KubeProxyConfiguration.KubeProxyIPTablesConfiguration.MasqueradeBit: Invalid value: 32: " +
      "must be within the range [0, 31]",
    ],
  },
  {
    name: "a negative burst",
    config: HEADER + "clientConnection:\n  burst: -1\n",
    messages: ["KubeProxyConfiguration.ClientConnection.Burst: Invalid value: -1"],
  },
  {
    name: "a malformed duration",
    config: HEADER + "iptables:\n  syncPeriod: 30x\n",
    messages: ['KubeProxyConfiguration.iptables.syncPeriod: time: unknown unit "x"'],
  },
  {
    name: "a malformed CIDR",
    config: HEADER + "clusterCIDR: 10.0.0.0/33\n",
    messages: ['Invalid value: "10.0.0.0/33": must be a valid CIDR block'],
  },
  {
    name: "a malformed IP",
    config: HEADER + "bindAddress: 1.2.3\n",
    messages: ['KubeProxyConfiguration.BindAddress: Invalid value: "1.2.3"'],
  },
  {
    name: "a malformed host:port",
    config: HEADER + "healthzBindAddress: localhost:x\n",
    messages: [
      'KubeProxyConfiguration.HealthzBindAddress: Invalid value: "localhost": must be a valid IP',
      'KubeProxyConfiguration.HealthzBindAddress: Invalid value: "x": must be a valid port',
    ],
  },
  {
    name: "minSyncPeriod above syncPeriod",
    config: HEADER + "iptables:\n  syncPeriod: 10s\n  minSyncPeriod: 20s\n",
    messages: ["must be greater than or equal to KubeProxyConfiguration.MinSyncPeriod"],
  },
  {
    name: "an out-of-range DNS value, with a kube-proxy problem in the same file",
    config: HEADER + "oomScoreAdj: 1001\n---\n" + DNS_HEADER + "ttl: 5000\n",
    messages: [
      "KubeProxyConfiguration.KubeProxyLinuxConfiguration.OOMScoreAdj: Invalid value: 1001",
      "ClusterDNSConfiguration.ttl: Invalid value: 5000: must be within the range [0, 3600]",
    ],
  },
  {
    name: "several problems at once, each on its own line",
    config: HEADER + "iptables:\n  masqueradeBit: 32\nclientConnection:\n  burst: -1\n",
    messages: [/MasqueradeBit: Invalid value: 32.*\n.*Burst: Invalid value: -1/],
  },
  {
    name: "a flag that does not exist",
    args: ["--no-such-flag"],
    messages: ["--no-such-flag"],
  },
  {
    name: "--proxy-mode=ipvs",
    args: ["--proxy-mode=ipvs"],
    messages: [
      'Invalid value: "ipvs"',
      "this build implements the iptables and nftables proxy modes",
    ],
  },
  {
    name: "--proxy-mode=userspace",
    args: ["--proxy-mode", "userspace"],
    messages: ['Invalid value: "userspace"', "iptables"],
  },
];

for (const bad of BAD_INPUTS) {
  Deno.test(`main.ts refuses ${bad.name} with exit code 2 and a message naming it`, async () => {
    const args = bad.args ?? ["--config", "{config}", "--hostname-override", "node1"];
    const r = await runMain(args, bad.config);
    assertEquals(r.code, 2, r.stderr);
    for (const m of bad.messages) {
      if (typeof m === "string") assertStringIncludes(r.stderr, m);
      else assertMatch(r.stderr, m);
    }
    // Nothing started: no start-up line, no log of the node being touched.
    assert(!r.stderr.includes("Starting kube-proxy"), r.stderr);
  });
}

Deno.test("main.ts starts past a config from a newer upstream, warning about each unknown field", async () => {
  const r = await runMain(
    ["--config", "{config}", "--hostname-override", "node1"],
    HEADER + "clientConnection:\n  kubeconfig: /nonexistent/kpmain/kubeconfig\n" +
      "newerField: true\niptables:\n  newerOption: 3\n---\n" + DNS_HEADER + "ttls: 5\n",
  );
  // Past the configuration: stopped only by the missing kubeconfig (exit 1, not 2).
  assertEquals(r.code, 1, r.stderr);
  assertStringIncludes(r.stderr, "Using lenient decoding as strict decoding failed");
  for (
    const field of [
      "KubeProxyConfiguration.newerField (line 5)",
      "KubeProxyConfiguration.iptables.newerOption (line 7)",
      "ClusterDNSConfiguration.ttls (line 11)",
    ]
  ) assertStringIncludes(r.stderr, field);
  assertStringIncludes(r.stderr, "Cannot load kubeconfig /nonexistent/kpmain/kubeconfig");
});

Deno.test("main.ts describes a config file of binary garbage without echoing it", async () => {
  const garbage = new Uint8Array(4096);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 167 + 13) % 256;
  garbage.set([0x61, 0x62], 0);
  const r = await runMain(["--config", "{config}", "--hostname-override", "node1"], garbage);
  assertEquals(r.code, 2, r.stderr);
  assertMatch(r.stderr, /config\.yaml: not valid UTF-8 at byte \d+ \(4096 bytes\)/);
  assert(r.stderr.length < 400, r.stderr);
  assertMatch(r.stderr, /^[\x20-\x7e\n]*$/, "printable text only");
  // Valid UTF-8 that is not YAML: said so, with a short escaped excerpt.
  const control = new TextEncoder().encode("\u001b[2J\u0007".repeat(500));
  const r2 = await runMain(["--config", "{config}", "--hostname-override", "node1"], control);
  assertEquals(r2.code, 2, r2.stderr);
  assertStringIncludes(r2.stderr, "not a YAML mapping");
  assert(r2.stderr.length < 400, r2.stderr);
  assertMatch(r2.stderr, /^[\x20-\x7e\n]*$/, "printable text only");
});

Deno.test("main.ts --help prints the flags and exits 0", async () => {
  const r = await runMain(["--help"]);
  assertEquals(r.code, 0, r.stderr);
  for (const flag of ["--config", "--kubeconfig", "--iptables-masquerade-bit", "--cleanup"]) {
    assertStringIncludes(r.stdout, flag);
  }
});

Deno.test("main.ts --version prints the version and exits 0", async () => {
  const r = await runMain(["--version"]);
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stdout.trim(), /^Kubernetes v1\.\d+\.\d+/);
});

Deno.test("main.ts --write-config-to writes a config that --config reads back the same", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpmain-cli-" });
  try {
    const first = `${dir}/first.yaml`;
    const second = `${dir}/second.yaml`;
    const r1 = await runMain([
      `--write-config-to=${first}`,
      "--cluster-cidr=10.244.0.0/16",
      "--iptables-masquerade-bit",
      "13",
      "--iptables-min-sync-period=2s",
    ]);
    assertEquals(r1.code, 0, r1.stderr);
    const text = await Deno.readTextFile(first);
    assertStringIncludes(text, "kind: KubeProxyConfiguration");
    // Flags cannot turn cluster DNS on: no DNS document, a file upstream reads too.
    assert(!text.includes("ClusterDNSConfiguration"), text);
    assertStringIncludes(text, "clusterCIDR: 10.244.0.0/16");
    assertStringIncludes(text, "masqueradeBit: 13");
    assertStringIncludes(text, "minSyncPeriod: 2s");
    assertStringIncludes(text, "mode: iptables");
    const r2 = await runMain(["--config", first, `--write-config-to=${second}`]);
    assertEquals(r2.code, 0, r2.stderr);
    assertEquals(await Deno.readTextFile(second), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts with a missing kubeconfig exits 1 naming the file", async () => {
  const r = await runMain([
    "--config",
    "{config}",
    "--hostname-override",
    "node1",
  ], HEADER + "clientConnection:\n  kubeconfig: /nonexistent/kpmain/kubeconfig\n");
  assertEquals(r.code, 1, r.stderr);
  assertStringIncludes(
    r.stderr,
    "Cannot load kubeconfig /nonexistent/kpmain/kubeconfig: file does not exist",
  );
});

Deno.test("main.ts with a broken kubeconfig exits 1 with the reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpmain-cli-" });
  try {
    await Deno.writeTextFile(`${dir}/kc`, "apiVersion: v1\nkind: Config\nclusters: []\n");
    const r = await runMain(["--kubeconfig", `${dir}/kc`, "--hostname-override", "node1"]);
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(r.stderr, `Cannot load kubeconfig ${dir}/kc`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts without kubeconfig, master or in-cluster environment exits 1", async () => {
  const r = await runMain(["--hostname-override", "node1"]);
  assertEquals(r.code, 1, r.stderr);
  assertStringIncludes(r.stderr, "Cannot load in-cluster configuration");
});

/**
 * Runs main.ts's `runKubeProxy(args)` in a child whose every command (sysctls, iptables) goes to a
 * FakeCommandRunner, so nothing on the node is touched; it runs until it exits on its own or is
 * killed (no stop signal). A subprocess, so that the OOM score it sets is its own.
 */
function spawnWithFakeRunner(args: string[], stdout: "null" | "piped"): Deno.ChildProcess {
  const script = `
    import { runKubeProxy } from ${JSON.stringify(new URL("../../main.ts", import.meta.url).href)};
    import { FakeCommandRunner } from ${
    JSON.stringify(new URL("../../proxy/exec.ts", import.meta.url).href)
  };
    Deno.exit(await runKubeProxy(Deno.args, {
      run: new FakeCommandRunner(),
      stopSignal: new Promise(() => {}),
    }));
  `;
  const deno = new URL("../../deno.json", import.meta.url).pathname;
  return new Deno.Command(Deno.execPath(), {
    env: CHILD_ENV,
    args: ["eval", "--config", deno, script, ...args],
    stdin: "null",
    stdout,
    stderr: "piped",
  }).spawn();
}

Deno.test("main.ts exits 1 when its --config file is updated while it runs", async () => {
  // The whole start-up runs, but every command (sysctls, iptables) goes to a FakeCommandRunner
  // and the API server is an unreachable --master: nothing on the node is touched. A
  // subprocess, so that the OOM score it sets is its own.
  const dir = await Deno.makeTempDir({ prefix: "kpmain-cli-" });
  const config = `${dir}/config.yaml`;
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const text = HEADER + `healthzBindAddress: 127.0.0.1:${port}\n` +
    `metricsBindAddress: 127.0.0.1:${port + 1}\n---\n` + DNS_HEADER + "enabled: false\n";
  await Deno.writeTextFile(config, text);
  const child = spawnWithFakeRunner(
    ["--config", config, "--master=http://127.0.0.1:1", "--hostname-override=node1"],
    "piped",
  );
  const kill = setTimeout(() => child.kill("SIGKILL"), 60_000); // only if it never exits
  try {
    // Once the metrics server answers, start-up is over and the file watch is in place.
    let up = false;
    for (let i = 0; i < 300 && !up; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port + 1}/metrics`);
        await res.body?.cancel();
        up = true;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert(up, "the metrics server never answered");
    await Deno.writeTextFile(config, text.replace("enabled: false", "enabled: false\nttl: 7"));
    const out = await child.output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 1, stderr);
    assertStringIncludes(stderr, "content of the proxy server's configuration file was updated");
  } finally {
    clearTimeout(kill);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts --logging-format=json: ts in milliseconds, upstream's start-up lines, a refused API server named as client-go does", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpmain-cli-" });
  const config = `${dir}/config.yaml`;
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  await Deno.writeTextFile(
    config,
    HEADER + `healthzBindAddress: 127.0.0.1:${port}\nmetricsBindAddress: 127.0.0.1:${port + 1}\n` +
      "---\n" + DNS_HEADER + "enabled: false\n",
  );
  // A loopback port nothing listens on: the API server refuses every connection.
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const apiPort = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const before = Date.now();
  const child = spawnWithFakeRunner([
    "--config",
    config,
    `--master=http://127.0.0.1:${apiPort}`,
    "--hostname-override=node1",
    "--logging-format=json",
  ], "null");
  const kill = setTimeout(() => child.kill("SIGKILL"), 60_000); // only if the line never comes
  const records: Record<string, unknown>[] = [];
  try {
    const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    const isListFailure = (r: Record<string, unknown>) =>
      String(r.msg).startsWith("Failed to list");
    while (!records.some(isListFailure)) {
      const { value, done } = await lines.read();
      if (done) break;
      buffered += value;
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      for (const line of parts.filter((l) => l !== "")) records.push(JSON.parse(line));
    }
    child.kill("SIGKILL");
    await lines.cancel();
    await child.status;
    const after = Date.now();
    for (const r of records) {
      assert(
        typeof r.ts === "number" && r.ts >= before - 1000 && r.ts <= after + 1000,
        `ts ${r.ts} is milliseconds since the epoch`,
      );
    }
    const messages = records.map((r) => r.msg);
    for (const msg of ["Using iptables Proxier", "Waiting for caches to sync"]) {
      assert(messages.includes(msg), `${msg} in ${messages.join(" | ")}`);
    }
    const refused = records.find(isListFailure);
    assert(refused !== undefined, JSON.stringify(records));
    assertStringIncludes(String(refused.err), `Get "http://127.0.0.1:${apiPort}/ap`);
    assertStringIncludes(
      String(refused.err),
      `dial tcp 127.0.0.1:${apiPort}: connect: connection refused`,
    );
    assert(!records.some((r) => /fetch failed/i.test(JSON.stringify(r))), "no bare fetch failed");
  } finally {
    clearTimeout(kill);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("installCrashGuards() keeps the process alive after a throw in a timer or a stray rejection", async () => {
  const main = new URL("../../main.ts", import.meta.url).href;
  const script = `
    import { installCrashGuards } from ${JSON.stringify(main)};
    installCrashGuards();
    setTimeout(() => { throw new TypeError("thrown in a timer"); }, 0);
    Promise.reject(new Error("nobody handles this"));
    setTimeout(() => { console.log("still serving"); Deno.exit(0); }, 50);
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    env: CHILD_ENV,
    args: ["eval", "--config", new URL("../../deno.json", import.meta.url).pathname, script],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, stderr);
  assertStringIncludes(stdout, "still serving");
  assertStringIncludes(stderr, "Uncaught exception");
  assertStringIncludes(stderr, "thrown in a timer");
  assertStringIncludes(stderr, "Unhandled promise rejection");
});

import { assert, assertEquals, assertStringIncludes } from "../tests/assert.ts";
import { loadConfig } from "../config/load.ts";
import { validateConfig } from "../config/validate.ts";

const dir = new URL(".", import.meta.url).pathname;
const CONFIG_PATH = "/var/lib/kube-proxy/kube-proxy-config.yaml";
const KUBECONFIG_PATH = "/var/lib/kube-proxy/kubeconfig";

/** Parses a systemd unit: section → key → values (keys may repeat; continuations joined). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  const joined = text.replace(/\\\n\s*/g, " ");
  for (const raw of joined.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = line.match(/^\[(.+)\]$/);
    if (section) {
      current = new Map();
      sections.set(section[1], current);
      continue;
    }
    const eq = line.indexOf("=");
    assert(current && eq > 0, `unit line outside a section or without '=': ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

const unit = parseUnit(Deno.readTextFileSync(`${dir}kube-proxy.service`));
const readme = Deno.readTextFileSync(`${dir}README.md`);

Deno.test("kube-proxy.service restarts on failure after 5 seconds", () => {
  const service = unit.get("Service")!;
  assertEquals(service.get("Restart"), ["on-failure"]);
  assertEquals(service.get("RestartSec"), ["5"]);
  assertEquals(unit.get("Install")!.get("WantedBy"), ["multi-user.target"]);
});

Deno.test("kube-proxy.service runs the compiled binary with the documented config file", () => {
  const exec = unit.get("Service")!.get("ExecStart")!;
  assertEquals(exec.length, 1);
  const argv = exec[0].split(/\s+/);
  assertEquals(argv[0], "/usr/local/bin/kube-proxy");
  assertEquals(argv.slice(1), [`--config=${CONFIG_PATH}`]);
});

Deno.test("kube-proxy.service matches what deploy/README.md says about it", () => {
  for (const text of [CONFIG_PATH, KUBECONFIG_PATH, "Restart=on-failure", "RestartSec=5"]) {
    assertStringIncludes(readme, text);
  }
  assertStringIncludes(readme, "install -m 0644 deploy/kube-proxy.service");
  assertStringIncludes(readme, "install -m 0755 dist/kube-proxy /usr/local/bin/kube-proxy");
});

Deno.test("kube-proxy-config.yaml (the unit's example config) loads and names the kubeconfig", () => {
  const text = Deno.readTextFileSync(`${dir}kube-proxy-config.yaml`);
  const { config, dns } = loadConfig(text, { source: "kube-proxy-config.yaml" });
  assertEquals(validateConfig(config, dns), []);
  assertEquals(config.clientConnection.kubeconfig, KUBECONFIG_PATH);
  assertEquals(dns.serviceIPs, ["10.96.0.10"]);
  // The README shows the same file.
  const body = text.split("\n").filter((l) => !l.startsWith("#") && l.trim() !== "");
  for (const line of body) assertStringIncludes(readme, line.replace(/\s+#.*$/, ""));
});

Deno.test("deploy/README.md documents `deno task compile` as deno.json defines it", () => {
  const denoJson = JSON.parse(Deno.readTextFileSync(`${dir}../deno.json`));
  const task: string = denoJson.tasks.compile;
  assertStringIncludes(task, "deno compile");
  assertStringIncludes(task, "--output dist/kube-proxy");
  assertStringIncludes(task, "main.ts");
  for (const text of ["deno task compile", "dist/kube-proxy", "DENORT_BIN", "dl.deno.land"]) {
    assertStringIncludes(readme, text);
  }
});

Deno.test("Containerfile compiles in a builder stage and ships the tools on distroless", () => {
  const text = Deno.readTextFileSync(`${dir}Containerfile`);
  const stages = [...text.matchAll(/^FROM (\S+)(?: AS (\S+))?$/gm)].map((m) => ({
    image: m[1],
    name: m[2],
  }));
  assertEquals(stages.map((s) => s.name), ["build", "tools", undefined]);
  assert(stages[2].image.startsWith("gcr.io/distroless/"), stages[2].image);
  assertStringIncludes(text, "deno task compile");
  assertStringIncludes(text, "COPY --from=build /src/dist/kube-proxy /usr/local/bin/kube-proxy");
  assertStringIncludes(text, "COPY --from=tools /out/ /");
  assertStringIncludes(text, 'ENTRYPOINT ["/usr/local/bin/kube-proxy"]');
  for (const tool of ["xtables-nft-multi", "xtables-legacy-multi", "/usr/sbin/conntrack"]) {
    assertStringIncludes(text, tool);
  }
  for (const t of ["iptables", "iptables-save", "iptables-restore", "ip6tables"]) {
    assert(new RegExp(`for t in [^;]*\\b${t}\\b`).test(text), `${t} is linked`);
  }
  assertStringIncludes(text, "-nft");
  assertStringIncludes(text, "-legacy");
});

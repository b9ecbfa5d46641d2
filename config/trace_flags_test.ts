import { assert, assertEquals, assertStringIncludes, assertThrows } from "../tests/assert.ts";
import { ConfigError } from "./config_error.ts";
import { parseTraceFlags, renderTraceHelp } from "./trace_flags.ts";

Deno.test("parseTraceFlags() reads the trace flags and keeps the proxy's API flags for loadOptions()", () => {
  const f = parseTraceFlags([
    "--from=10.244.1.5",
    "--to",
    "db.default:5432",
    "--explain",
    "-o",
    "json",
    "--node-ip=192.168.1.10,192.168.1.11",
    "--kubeconfig",
    "/etc/kp/kubeconfig",
    "--hostname-override=node1",
    "--iptables-backend=legacy",
  ]);
  assertEquals([f.from, f.to, f.explain, f.output, f.iptablesBackend], [
    "10.244.1.5",
    "db.default:5432",
    true,
    "json",
    "legacy",
  ]);
  assertEquals(f.nodeIPs, ["192.168.1.10", "192.168.1.11"]);
  assertEquals(f.proxyArgs, ["--kubeconfig=/etc/kp/kubeconfig", "--hostname-override=node1"]);
  assertEquals(f.inInterface, "");
});

Deno.test("parseTraceFlags() reports every problem at once", () => {
  const err = assertThrows(() => parseTraceFlags(["--output=yaml"]), ConfigError);
  assertEquals(err.problems.map((p) => p.path), ["--from", "--to", "--output"]);
  const unknown = assertThrows(() => parseTraceFlags(["--from=1.1.1.1", "--bogus"]), ConfigError);
  assertEquals(unknown.problems[0], { path: "--bogus", message: "unknown flag" });
  const stray = assertThrows(
    () => parseTraceFlags(["--from=1.1.1.1", "--to=1.1.1.2:1", "x"]),
    ConfigError,
  );
  assertStringIncludes(stray.problems[0].message, `"kube-proxy trace" does not take any arguments`);
  assertEquals(parseTraceFlags(["--help"]).help, true);
});

Deno.test("renderTraceHelp() lists every flag and the exit statuses it is given", () => {
  const help = renderTraceHelp("Exit status: see here.");
  for (
    const flag of [
      "--from",
      "--to",
      "--explain",
      "--output",
      "--iptables-backend",
      "--node-ip",
      "--kubeconfig",
      "--master",
      "--config",
    ]
  ) {
    assertStringIncludes(help, flag);
  }
  assert(help.includes("Exit status: see here.\n"));
});

import { assert, assertEquals, assertMatch, assertThrows } from "../tests/assert.ts";
import { ConfigError } from "./config_error.ts";
import { FLAGS, parseFlags, renderHelp } from "./flags.ts";

function problemsOf(args: string[]): string[] {
  const err = assertThrows(() => parseFlags(args), ConfigError);
  return err.problems.map((p) => `${p.path}: ${p.message}`);
}

Deno.test("parseFlags() accepts --flag=value and --flag value forms", () => {
  const { set } = parseFlags([
    "--config=/etc/kp.yaml",
    "--hostname-override",
    "node-1",
    "--iptables-sync-period=1m",
    "--iptables-min-sync-period",
    "0s",
    "--kube-api-qps=20.5",
    "--oom-score-adj",
    "-500",
    "--cluster-cidr=10.244.0.0/16,fd00::/56",
  ]);
  assertEquals(Object.fromEntries(set), {
    "config": "/etc/kp.yaml",
    "hostname-override": "node-1",
    "iptables-sync-period": 60_000,
    "iptables-min-sync-period": 0,
    "kube-api-qps": 20.5,
    "oom-score-adj": -500,
    "cluster-cidr": "10.244.0.0/16,fd00::/56",
  });
});

Deno.test("parseFlags() reads -v in every pflag spelling", () => {
  for (const args of [["--v=2"], ["--v", "2"], ["-v", "2"], ["-v=2"], ["-v2"]]) {
    assertEquals(parseFlags(args).set.get("v"), 2, args.join(" "));
  }
});

Deno.test("parseFlags() reads booleans as pflag does", () => {
  assertEquals(parseFlags(["--masquerade-all"]).set.get("masquerade-all"), true);
  assertEquals(parseFlags(["--masquerade-all=false"]).set.get("masquerade-all"), false);
  assertEquals(parseFlags(["--masquerade-all=0"]).set.get("masquerade-all"), false);
  assertEquals(parseFlags(["--masquerade-all=T"]).set.get("masquerade-all"), true);
  assertEquals(
    parseFlags(["--iptables-localhost-nodeports=false"]).set.get("iptables-localhost-nodeports"),
    false,
  );
  assertEquals(problemsOf(["--masquerade-all=yes"]), [
    '--masquerade-all: invalid argument "yes": strconv.ParseBool: parsing "yes": invalid syntax',
  ]);
  // pflag never takes a separate word as a boolean's value: it is a stray argument.
  assertEquals(problemsOf(["--masquerade-all", "false"]), [
    'command line: "kube-proxy" does not take any arguments, got ["false"] ' +
    "(a boolean flag takes its value as --flag=false)",
  ]);
});

Deno.test("parseFlags() parses integers with Go's base prefixes and range", () => {
  assertEquals(
    parseFlags(["--iptables-masquerade-bit=0x0e"]).set.get("iptables-masquerade-bit"),
    14,
  );
  assertEquals(
    parseFlags(["--iptables-masquerade-bit=016"]).set.get("iptables-masquerade-bit"),
    14,
  );
  assertEquals(problemsOf(["--conntrack-min=2147483648"]), [
    '--conntrack-min: invalid argument "2147483648": strconv.ParseInt: parsing "2147483648": ' +
    "value out of range",
  ]);
});

Deno.test("parseFlags() accumulates list and map flags across repeats", () => {
  const { set } = parseFlags([
    "--nodeport-addresses=10.0.0.0/8,192.168.0.0/16",
    "--nodeport-addresses",
    "fd00::/64",
    "--feature-gates=A=true,B=false",
    "--feature-gates=A=false",
    "--vmodule=proxier=4,dns*=2",
  ]);
  assertEquals(set.get("nodeport-addresses"), ["10.0.0.0/8", "192.168.0.0/16", "fd00::/64"]);
  assertEquals(set.get("feature-gates"), { A: false, B: false });
  assertEquals(set.get("vmodule"), ["proxier=4", "dns*=2"]);
});

Deno.test("parseFlags() reports every malformed value at once", () => {
  assertEquals(
    problemsOf([
      "--iptables-sync-period=30",
      "--conntrack-tcp-timeout-established=1d",
      "--kube-api-burst=ten",
      "--kube-api-qps=fast",
      "--healthz-bind-address=localhost:10256",
      "--feature-gates=A",
      "--vmodule=x",
      "--iptables-backend=iptables",
      "--log-json-info-buffer-size=lots",
      "-v=-1",
    ]),
    [
      '--iptables-sync-period: invalid argument "30": time: missing unit in duration "30"',
      '--conntrack-tcp-timeout-established: invalid argument "1d": time: unknown unit "d" in ' +
      'duration "1d"',
      '--kube-api-burst: invalid argument "ten": strconv.ParseInt: parsing "ten": invalid syntax',
      '--kube-api-qps: invalid argument "fast": strconv.ParseFloat: parsing "fast": invalid syntax',
      '--healthz-bind-address: invalid argument "localhost:10256": "localhost:10256" is not in a ' +
      "valid format (ip or ip:port)",
      '--feature-gates: invalid argument "A": missing bool value for A',
      '--vmodule: invalid argument "x": "x" does not have the pattern=N format',
      '--iptables-backend: invalid argument "iptables": must be one of "auto", "nft" or "legacy"',
      '--log-json-info-buffer-size: invalid argument "lots": quantities must match the regular ' +
      "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
      '--v: invalid argument "-1": strconv.ParseUint: parsing "-1": invalid syntax',
    ],
  );
});

Deno.test("parseFlags() rejects a flag that does not exist, naming it", () => {
  assertEquals(problemsOf(["--proxy-mod=iptables", "--v=1", "--ipvs-foo"]), [
    "--proxy-mod: unknown flag",
    "--ipvs-foo: unknown flag",
  ]);
  assertEquals(problemsOf(["-x"]), ["-x: unknown flag"]);
});

Deno.test("parseFlags() rejects a missing value and stray arguments", () => {
  assertEquals(problemsOf(["--config"]), ["--config: flag needs an argument"]);
  assertEquals(problemsOf(["run"]), [
    'command line: "kube-proxy" does not take any arguments, got ["run"] ' +
    "(a boolean flag takes its value as --flag=false)",
  ]);
  assertEquals(problemsOf(["--", "--v=2"]).length, 1);
});

Deno.test("parseFlags() reads --version, --version=raw and --help", () => {
  assertEquals(parseFlags(["--version"]).set.get("version"), true);
  assertEquals(parseFlags(["--version=raw"]).set.get("version"), "raw");
  assertEquals(parseFlags(["--version=false"]).set.get("version"), false);
  assertEquals(parseFlags(["-h"]).set.get("help"), true);
  assertEquals(parseFlags(["--help"]).set.get("help"), true);
});

Deno.test("renderHelp() lists every non-deprecated flag in pflag's layout", () => {
  const help = renderHelp();
  assertMatch(help, /\nUsage:\n {2}kube-proxy \[flags\]\n\nFlags:\n/);
  for (const flag of FLAGS) {
    assertEquals(
      help.includes(`--${flag.name} `) || help.includes(`--${flag.name}\n`),
      !flag.deprecated,
      flag.name,
    );
  }
  assertMatch(help, /\n {2}-v, --v Level {3,}number for the log level verbosity\n/);
  assertMatch(help, /\n {6}--iptables-masquerade-bit int32 {3,}.*\(default 14\)\n/);
  assertMatch(help, /\n {6}--bind-address string {3,}.*\(default "0\.0\.0\.0"\)\n/);
  assertMatch(help, /\n {6}--masquerade-all {3,}SNAT/);
  assert(!help.includes("(default 0s)"));
  const flagLines = help.split("\n").filter((l) => /^ {2}(-\w, | {4})--/.test(l));
  const column = flagLines.find((l) => l.includes("--v Level"))!.indexOf("number");
  for (const line of flagLines) {
    assert(line[column - 1] === " " && line[column] !== " ", `usage column of: ${line}`);
  }
});

import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { configureLogging } from "../../config/log.ts";
import { FakeCommandRunner } from "../exec.ts";
import {
  createIptables,
  declaredChainCount,
  detectBackend,
  ExecIptables,
  extractChunkLines,
  extractLines,
  IptablesRestoreError,
  LARGE_RESTORE_CHAINS,
  parseRestoreErrorLine,
  savedChainNames,
  SavedChainScanner,
} from "./iptables.ts";

configureLogging({ write: () => {} });

const INPUT = [
  "*nat",
  ":KUBE-SERVICES - [0:0]",
  ":KUBE-A - [0:0]",
  "-A KUBE-A -j RETURN",
  "-A KUBE-A --bogus",
  "-A KUBE-A -j RETURN",
  "-A KUBE-SERVICES -j KUBE-A",
  "-A KUBE-SERVICES -j RETURN",
  "COMMIT",
  "",
].join("\n");

Deno.test("ExecIptables.restore() feeds stdin to iptables-restore with wait, noflush and counters", async () => {
  const fake = new FakeCommandRunner();
  const ipt = new ExecIptables("IPv4", "nft", { run: fake });
  await ipt.restore(INPUT, { noflush: true });
  assertEquals(fake.calls, [{
    cmd: "iptables-nft-restore",
    args: ["-w", "5", "-W", "100000", "--noflush", "--counters"],
    stdin: INPUT,
  }]);
});

Deno.test("ExecIptables.restore() uses ip6tables-legacy-restore for IPv6 legacy", async () => {
  const fake = new FakeCommandRunner();
  const ipt = new ExecIptables("IPv6", "legacy", { run: fake });
  await ipt.restore("*filter\nCOMMIT\n", { counters: false });
  assertEquals(fake.commandLines(), ["ip6tables-legacy-restore -w 5 -W 100000"]);
});

Deno.test("ExecIptables.restore() throws IptablesRestoreError with the line and its context", async () => {
  const fake = new FakeCommandRunner();
  fake.respond(() => ({
    code: 2,
    stderr: "Ignoring deprecated --wait-interval option.\n" +
      'iptables-nft-restore v1.8.9 (nf_tables): unknown option "--bogus"\n' +
      "Error occurred at line: 5\n" +
      "Try `iptables-nft-restore -h' or 'iptables-nft-restore --help' for more information.\n",
  }));
  const ipt = new ExecIptables("IPv4", "nft", { run: fake });
  const err = await assertRejects(() => ipt.restore(INPUT), IptablesRestoreError);
  assertEquals(
    err.message,
    "Cannot restore iptables rules: iptables-nft-restore exited with code 2 at line 5: " +
      'iptables-nft-restore v1.8.9 (nf_tables): unknown option "--bogus"',
  );
  assertEquals(err.line, 5);
  assertEquals(err.exitCode, 2);
  assertEquals(
    err.context,
    [
      "2: :KUBE-SERVICES - [0:0]",
      "3: :KUBE-A - [0:0]",
      "4: -A KUBE-A -j RETURN",
      "5: -A KUBE-A --bogus",
      "6: -A KUBE-A -j RETURN",
      "7: -A KUBE-SERVICES -j KUBE-A",
      "8: -A KUBE-SERVICES -j RETURN",
    ].join("\n"),
  );
  assert(!err.stderr.includes("Ignoring deprecated"));
});

Deno.test("IptablesRestoreError has no line when iptables-restore names none", () => {
  const err = new IptablesRestoreError(
    { code: 4, stdout: "", stderr: "Another app is currently holding the xtables lock." },
    INPUT,
  );
  assertEquals(err.line, undefined);
  assertEquals(err.context, "");
  assertEquals(
    err.message,
    "Cannot restore iptables rules: iptables-restore exited with code 4: " +
      "Another app is currently holding the xtables lock.",
  );
});

Deno.test("parseRestoreErrorLine() reads both iptables-restore formats", () => {
  assertEquals(parseRestoreErrorLine("Bad argument `bogus'\nError occurred at line: 4\n"), 4);
  assertEquals(parseRestoreErrorLine("iptables-restore: line 42 failed\n"), 42);
  assertEquals(parseRestoreErrorLine("something else"), undefined);
});

Deno.test("extractLines() clamps at the start and the end of the input", () => {
  assertEquals(extractLines("a\nb\nc\nd\n", 1, 3), "1: a\n2: b\n3: c\n4: d");
  assertEquals(extractLines("a\nb\nc\nd\ne\nf\ng\nh\n", 8, 3), "5: e\n6: f\n7: g\n8: h");
  assertEquals(extractLines("a\nb\n", 9, 3), "");
});

Deno.test("ExecIptables.save() runs iptables-save for one table", async () => {
  const fake = new FakeCommandRunner();
  fake.respond((c) => c.cmd === "iptables-nft-save" ? { stdout: "*nat\nCOMMIT\n" } : undefined);
  const ipt = new ExecIptables("IPv4", "nft", { run: fake });
  assertEquals(await ipt.save("nat"), "*nat\nCOMMIT\n");
  assertEquals(fake.commandLines(), ["iptables-nft-save -t nat"]);
  fake.respond(() => ({ code: 1, stderr: "table does not exist" }));
  await assertRejects(() => ipt.save("mangle"), Error, "Cannot save iptables table mangle");
});

Deno.test("ExecIptables.chainNames() scans iptables-save's streamed output for declarations", async () => {
  const fake = new FakeCommandRunner();
  fake.respond((c) =>
    c.cmd === "iptables-legacy-save"
      ? {
        stdout: "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SEP-X - [0:0]\n-A KUBE-SEP-X -j Y\nCOMMIT\n",
      }
      : undefined
  );
  const ipt = new ExecIptables("IPv4", "legacy", { run: fake });
  assertEquals(await ipt.chainNames("nat"), ["PREROUTING", "KUBE-SEP-X"]);
  assertEquals(fake.commandLines(), ["iptables-legacy-save -t nat"]);
  fake.respond(() => ({ code: 4, stderr: "lock" }));
  await assertRejects(() => ipt.chainNames("nat"), Error, "Cannot save iptables table nat");
});

Deno.test("SavedChainScanner finds the same names wherever the text is cut into chunks", () => {
  const text = "# Generated\n*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n" +
    ':KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]\n-A KUBE-SERVICES -m comment --comment "x :y" -j ' +
    "KUBE-SVC-AAAAAAAAAAAAAAAA\nCOMMIT\n:LAST";
  const want = savedChainNames(text);
  assertEquals(want.length, 4);
  for (let a = 0; a <= text.length; a++) {
    for (const b of [a, a + 1, a + 7, text.length]) {
      const scan = new SavedChainScanner();
      for (const chunk of [text.slice(0, a), text.slice(a, b), text.slice(b)]) scan.push(chunk);
      assertEquals(scan.finish(), want, `cut at ${a} and ${b}`);
    }
  }
});

Deno.test("ExecIptables.ensureChain() accepts an existing chain and reports other failures", async () => {
  const fake = new FakeCommandRunner();
  const ipt = new ExecIptables("IPv4", "legacy", { run: fake });
  fake.respond(() => ({ code: 1, stderr: "iptables: Chain already exists." }));
  await ipt.ensureChain("nat", "KUBE-SERVICES");
  assertEquals(fake.commandLines(), [
    "iptables-legacy -w 5 -W 100000 -t nat -N KUBE-SERVICES",
  ]);
  fake.respond(() => ({ code: 4, stderr: "Permission denied (you must be root)" }));
  await assertRejects(
    () => ipt.ensureChain("nat", "KUBE-SERVICES"),
    Error,
    "Cannot ensure chain KUBE-SERVICES in table nat: iptables-legacy exited with code 4",
  );
});

Deno.test("ExecIptables.ensureRule() checks first and prepends or appends only when missing", async () => {
  const fake = new FakeCommandRunner();
  const ipt = new ExecIptables("IPv4", "nft", { run: fake });
  const args = ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"];
  fake.respond((c) => c.args.includes("-C") ? { code: 1 } : undefined);
  await ipt.ensureRule("prepend", "nat", "PREROUTING", args);
  await ipt.ensureRule("append", "nat", "OUTPUT", args);
  assertEquals(fake.calls.map((c) => c.args.slice(4, 7)), [
    ["-t", "nat", "-C"],
    ["-t", "nat", "-I"],
    ["-t", "nat", "-C"],
    ["-t", "nat", "-A"],
  ]);
  assertEquals(fake.calls[1].args.slice(7), ["PREROUTING", ...args]);

  const present = new FakeCommandRunner();
  await new ExecIptables("IPv4", "nft", { run: present }).ensureRule(
    "prepend",
    "nat",
    "PREROUTING",
    args,
  );
  assertEquals(present.calls.length, 1, "an existing rule is not inserted again");
});

Deno.test("ExecIptables.deleteRule() deletes only an existing rule", async () => {
  const fake = new FakeCommandRunner();
  const ipt = new ExecIptables("IPv4", "nft", { run: fake });
  fake.respond((c) => c.args.includes("-C") ? { code: 1 } : undefined);
  await ipt.deleteRule("filter", "INPUT", ["-j", "KUBE-NODEPORTS"]);
  assertEquals(fake.calls.length, 1);
  const fake2 = new FakeCommandRunner();
  await new ExecIptables("IPv4", "nft", { run: fake2 }).deleteRule("filter", "INPUT", [
    "-j",
    "KUBE-NODEPORTS",
  ]);
  assertEquals(fake2.commandLines(), [
    "iptables-nft -w 5 -W 100000 -t filter -C INPUT -j KUBE-NODEPORTS",
    "iptables-nft -w 5 -W 100000 -t filter -D INPUT -j KUBE-NODEPORTS",
  ]);
});

Deno.test("ExecIptables.chainExists() maps the exit code", async () => {
  const fake = new FakeCommandRunner();
  fake.respond((c) => c.args.includes("KUBE-NOPE") ? { code: 1 } : undefined);
  const ipt = new ExecIptables("IPv6", "nft", { run: fake });
  assertEquals(await ipt.chainExists("nat", "KUBE-SERVICES"), true);
  assertEquals(await ipt.chainExists("nat", "KUBE-NOPE"), false);
  assertEquals(fake.calls[0].cmd, "ip6tables-nft");
});

function saves(outputs: Record<string, string>): FakeCommandRunner {
  const fake = new FakeCommandRunner();
  fake.respond((c) => {
    const key = [c.cmd, ...c.args].join(" ");
    return key in outputs ? { stdout: outputs[key] } : { stdout: "" };
  });
  return fake;
}

Deno.test("detectBackend() prefers nft when kubelet's mangle chains are in nft", async () => {
  const fake = saves({
    "iptables-nft-save -t mangle": "*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n",
    "iptables-legacy-save": "*filter\n-A INPUT -j ACCEPT\n".repeat(20),
  });
  assertEquals(await detectBackend(fake), "nft");
});

Deno.test("detectBackend() picks legacy when kubelet's chains are only in legacy", async () => {
  const fake = saves({
    "ip6tables-legacy-save": "*mangle\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n",
    "iptables-nft-save": "*filter\n-A INPUT -j ACCEPT\n-A INPUT -j ACCEPT\n",
  });
  assertEquals(await detectBackend(fake), "legacy");
  assert(
    !fake.commandLines().includes("iptables-legacy-save -t mangle"),
    "legacy is never asked for mangle (that would create the table)",
  );
});

Deno.test("detectBackend() falls back to the rule count, nft on a tie", async () => {
  assertEquals(
    await detectBackend(saves({
      "iptables-legacy-save": "*filter\n-A INPUT -j ACCEPT\n-A FORWARD -j ACCEPT\n",
      "iptables-nft-save": "*filter\n-A INPUT -j ACCEPT\n",
    })),
    "legacy",
  );
  assertEquals(await detectBackend(saves({})), "nft");
});

Deno.test("createIptables() honours a forced backend without probing", async () => {
  const fake = new FakeCommandRunner();
  const ipt = await createIptables("IPv6", { backend: "legacy", run: fake });
  assertEquals([ipt.family, ipt.backend], ["IPv6", "legacy"]);
  assertEquals(fake.calls.length, 0);
  const auto = await createIptables("IPv4", { backend: "auto", run: saves({}) });
  assertEquals(auto.backend, "nft");
});

Deno.test("ExecIptables.present() lists nat POSTROUTING and maps the exit code", async () => {
  const fake = new FakeCommandRunner();
  const ipt = new ExecIptables("IPv6", "nft", { run: fake });
  assertEquals(await ipt.present(), true);
  assertEquals(fake.commandLines(), ["ip6tables-nft -w 5 -W 100000 -t nat -L POSTROUTING -n"]);
  fake.respond(() => ({ code: 3, stderr: "can't initialize ip6tables table `nat'" }));
  assertEquals(await ipt.present(), false);
});

/** A restore input declaring `n` nat chains, each with one rule. */
function manyChains(n: number): string {
  const lines = ["*filter", ":KUBE-FORWARD - [0:0]", "COMMIT", "*nat"];
  for (let i = 0; i < n; i++) lines.push(`:KUBE-SEP-${i} - [0:0]`);
  for (let i = 0; i < n; i++) lines.push(`-A KUBE-SEP-${i} -j RETURN`);
  lines.push("COMMIT", "");
  return lines.join("\n");
}

Deno.test("ExecIptables.restore() lists each table first on nft when the input declares many chains", async () => {
  const fake = new FakeCommandRunner();
  const ipt = new ExecIptables("IPv4", "nft", { run: fake });
  const input = manyChains(LARGE_RESTORE_CHAINS);
  await ipt.restore(input, { noflush: true });
  const stdin = fake.calls[0].stdin!;
  assert(stdin.startsWith("*filter\n-S\n:KUBE-FORWARD - [0:0]\nCOMMIT\n*nat\n-S\n:KUBE-SEP-0 "));
  assertEquals(stdin.replaceAll("-S\n", ""), input);
  assertEquals(fake.calls[0].discardStdout, true);
});

Deno.test("ExecIptables.restore() leaves small nft inputs and every legacy input as they are", async () => {
  const fake = new FakeCommandRunner();
  const small = manyChains(LARGE_RESTORE_CHAINS - 1);
  await new ExecIptables("IPv4", "nft", { run: fake }).restore(small, { noflush: true });
  const large = manyChains(LARGE_RESTORE_CHAINS);
  await new ExecIptables("IPv4", "legacy", { run: fake }).restore(large, { noflush: true });
  assertEquals(fake.calls.map((c) => [c.stdin, c.discardStdout]), [
    [small, undefined],
    [large, undefined],
  ]);
});

Deno.test("ExecIptables.restore() streams chunks and counts chains from chainCount", async () => {
  const fake = new FakeCommandRunner();
  const ipt = new ExecIptables("IPv4", "nft", { run: fake });
  const chunks = ["*filter\nCOMMIT\n", "*nat\n:KUBE-SERVICES - [0:0]\n", "COMMIT\n"];
  await ipt.restore({ chainCount: 1, chunks: () => chunks }, { noflush: true });
  await ipt.restore({ chainCount: 5000, chunks: () => chunks }, { noflush: true });
  assertEquals(fake.calls.map((c) => c.stdin), [
    chunks.join(""),
    "*filter\n-S\nCOMMIT\n*nat\n-S\n:KUBE-SERVICES - [0:0]\nCOMMIT\n",
  ]);
});

Deno.test("ExecIptables.restore() gives the context of a failing line of chunked input", async () => {
  const fake = new FakeCommandRunner();
  fake.respond(() => ({ code: 1, stderr: "Error occurred at line: 5\n" }));
  const ipt = new ExecIptables("IPv4", "legacy", { run: fake });
  const lines = INPUT.split(/(?<=\n)/);
  const input = {
    chainCount: 2,
    chunks: () => [lines.slice(0, 4).join(""), lines.slice(4).join("")],
  };
  const err = await assertRejects(() => ipt.restore(input), IptablesRestoreError);
  assertEquals(err.context, extractLines(INPUT, 5, 3));
  assertEquals(extractChunkLines(["a\nb\n", "c\n", "d\ne\n"], 4, 1), "3: c\n4: d\n5: e");
  assertEquals(extractChunkLines(["a\nb\n"], 3, 1), "");
});

Deno.test("declaredChainCount() counts the chain lines of a text", () => {
  assertEquals(declaredChainCount(INPUT), 2);
  assertEquals(declaredChainCount(":A - [0:0]\n:B - [0:0]\n"), 2);
  assertEquals(declaredChainCount({ chainCount: 7, chunks: () => [] }), 7);
});

Deno.test("savedChainNames() lists the declared chains as splitting into lines would", () => {
  const bySplit = (text: string) =>
    text.split("\n").filter((l) => l.startsWith(":")).map((l) => l.slice(1).split(" ")[0]);
  const texts = [
    "# Generated by iptables-save\n*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n" +
    ':KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]\n-A KUBE-SERVICES -m comment --comment "a :b" -j ' +
    "KUBE-SVC-AAAAAAAAAAAAAAAA\nCOMMIT\n",
    ":FIRST - [0:0]\n:LAST",
    "\n:AFTER-EMPTY-LINE - [0:0]\n",
    "*nat\n-A X -j Y\nCOMMIT\n",
    "",
  ];
  for (const text of texts) {
    assertEquals(savedChainNames(text), bySplit(text), JSON.stringify(text));
  }
  assertEquals(savedChainNames(texts[0]), [
    "PREROUTING",
    "KUBE-SERVICES",
    "KUBE-SVC-AAAAAAAAAAAAAAAA",
  ]);
});

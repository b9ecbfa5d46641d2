import { assertEquals, assertMatch, assertRejects } from "../tests/assert.ts";
import { DenoCommandRunner, FakeCommandRunner } from "./exec.ts";

Deno.test("DenoCommandRunner.run() feeds stdin and returns code and output", async () => {
  const run = new DenoCommandRunner();
  const r = await run.run("sh", ["-c", 'read line; echo "out:$line"; echo err >&2; exit 3'], {
    stdin: "hello\n",
  });
  assertEquals(r, { code: 3, stdout: "out:hello\n", stderr: "err\n" });
});

Deno.test("DenoCommandRunner.run() reports a missing binary as code 127", async () => {
  const r = await new DenoCommandRunner().run("kpruntime-no-such-binary", []);
  assertEquals(r.code, 127);
  assertMatch(r.stderr, /^Cannot run kpruntime-no-such-binary: /);
});

Deno.test("DenoCommandRunner prefixes commands with ip netns exec", async () => {
  // `ip netns exec` of a namespace that does not exist fails; the prefix shows in the error.
  const run = new DenoCommandRunner({ netns: "kpruntime-absent-ns" });
  assertEquals(run.netns, "kpruntime-absent-ns");
  const r = await run.run("true", []);
  assertEquals(r.code !== 0, true);
  assertMatch(r.stderr, /kpruntime-absent-ns/);
});

Deno.test("FakeCommandRunner records calls and answers with the newest matching responder", async () => {
  const fake = new FakeCommandRunner();
  fake.respond((c) => c.cmd === "a" ? { stdout: "old" } : undefined);
  fake.respond((c) => c.cmd === "a" && c.args[0] === "x" ? { code: 1 } : undefined);
  assertEquals(await fake.run("a", ["x"], { stdin: "in" }), { code: 1, stdout: "", stderr: "" });
  assertEquals(await fake.run("a", ["y"]), { code: 0, stdout: "old", stderr: "" });
  assertEquals(await fake.run("b", []), { code: 0, stdout: "", stderr: "" });
  assertEquals(fake.calls[0], { cmd: "a", args: ["x"], stdin: "in" });
  assertEquals(fake.commandLines(), ["a x", "a y", "b"]);
});

Deno.test("DenoCommandRunner.run() streams chunked stdin while discarding a large stdout", async () => {
  // 4 MB through `cat`: if stdout were read only after stdin was written, the child would block
  // on its full stdout pipe and never finish reading.
  const line = "x".repeat(1023) + "\n";
  function* chunks() {
    for (let i = 0; i < 64; i++) yield line.repeat(64);
  }
  const r = await new DenoCommandRunner().run("sh", ["-c", "cat; echo done >&2"], {
    stdin: chunks(),
    discardStdout: true,
  });
  assertEquals(r, { code: 0, stdout: "", stderr: "done\n" });
  // Distinct chunks come out of `cat` intact and in order (the encoding buffer is reused).
  const distinct = Array.from(
    { length: 40 },
    (_, i) => String.fromCharCode(97 + i % 26).repeat(1000 + i * 997) + "\n",
  );
  const kept = await new DenoCommandRunner().run("cat", [], { stdin: distinct });
  assertEquals(kept.stdout, distinct.join(""));
});

Deno.test("DenoCommandRunner.run() rethrows an error of the stdin producer", async () => {
  function* chunks() {
    yield "a\n";
    throw new Error("render failed");
  }
  const err = await assertRejects(() =>
    new DenoCommandRunner().run("cat", [], { stdin: chunks() })
  );
  assertEquals(err.message, "render failed");
});

Deno.test("FakeCommandRunner joins chunked stdin and records discardStdout", async () => {
  const fake = new FakeCommandRunner();
  await fake.run("c", [], { stdin: ["a\n", "b\n"], discardStdout: true });
  assertEquals(fake.calls[0], { cmd: "c", args: [], stdin: "a\nb\n", discardStdout: true });
});

Deno.test("DenoCommandRunner.run() hands stdout to onStdout in chunks instead of collecting it", async () => {
  // 2 MB of multi-byte text: the chunks joined are the output exactly (no split character).
  const text = "é-line\n".repeat(300_000);
  const chunks: string[] = [];
  const r = await new DenoCommandRunner().run("cat", [], {
    stdin: text,
    onStdout: (chunk) => chunks.push(chunk),
  });
  assertEquals(r, { code: 0, stdout: "", stderr: "" });
  assertEquals(chunks.join(""), text);
  assertEquals(chunks.length > 1, true);
});

Deno.test("FakeCommandRunner hands a responder's stdout to onStdout", async () => {
  const fake = new FakeCommandRunner();
  fake.respond(() => ({ stdout: "a\nb\n" }));
  const chunks: string[] = [];
  const r = await fake.run("x", [], { onStdout: (c) => chunks.push(c) });
  assertEquals([r.stdout, chunks], ["", ["a\nb\n"]]);
});

import { assertEquals, assertMatch } from "../tests/assert.ts";
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

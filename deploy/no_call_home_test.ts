/**
 * No call home: every way this project starts Deno (tasks, scripts, the unit, the image, the
 * processes tests and benchmarks spawn) runs with `DENO_NO_UPDATE_CHECK=1`, so no `deno run` asks
 * Deno's update server for a release from a node's network namespace.
 *
 * @module
 */

import { assert, assertStringIncludes } from "../tests/assert.ts";

const root = new URL("..", import.meta.url).pathname;
const read = (path: string) => Deno.readTextFileSync(`${root}${path}`);

Deno.test("every deno.json task runs with Deno's update check off", () => {
  const tasks = JSON.parse(read("deno.json")).tasks as Record<string, string>;
  for (const [name, command] of Object.entries(tasks)) {
    assert(command.startsWith("export DENO_NO_UPDATE_CHECK=1 && "), `task ${name}: ${command}`);
  }
});

Deno.test("the scripts, the systemd unit and the image turn the update check off", () => {
  assertStringIncludes(read("scripts/env.sh"), "\nexport DENO_NO_UPDATE_CHECK=1\n");
  for (const script of ["scripts/test.sh", "scripts/demo.sh", "scripts/bench.sh"]) {
    assertStringIncludes(read(script), '/env.sh"', `${script} sources env.sh`);
  }
  assertStringIncludes(read("deploy/kube-proxy.service"), "\nEnvironment=DENO_NO_UPDATE_CHECK=1\n");
  const stages = read("deploy/Containerfile").split(/\nFROM /).slice(1);
  for (const stage of stages.filter((s) => /deno|kube-proxy/.test(s))) {
    assertStringIncludes(stage, "\nENV DENO_NO_UPDATE_CHECK=1\n", `stage ${stage.split("\n")[0]}`);
  }
});

Deno.test("every place that spawns Deno passes the update check setting", async () => {
  // A spawn of `Deno.execPath()` must pass CHILD_ENV (or the variable itself) in the same call,
  // or go through tests/sandbox's runCommand/NetnsProcess, which add it.
  const missing: string[] = [];
  for (const dir of ["tests", "bench", "dns", "proxy", "cache", "config"]) {
    for await (const file of walk(`${root}${dir}`)) {
      const text = await Deno.readTextFile(file);
      for (const m of text.matchAll(/new Deno\.Command\(Deno\.execPath\(\), \{/g)) {
        const call = text.slice(m.index, text.indexOf("})", m.index));
        if (!/CHILD_ENV|DENO_NO_UPDATE_CHECK/.test(call)) missing.push(file.slice(root.length));
      }
    }
  }
  assert(missing.length === 0, `spawns Deno without DENO_NO_UPDATE_CHECK: ${missing.join(", ")}`);
});

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

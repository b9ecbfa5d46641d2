import { assertEquals } from "../tests/assert.ts";
import { configureLogging } from "./log.ts";
import { type FsEventSource, watchConfigFile } from "./watch_config_file.ts";

const logLines: string[] = [];
configureLogging({ write: (line) => logLines.push(line) });

/** A scripted watcher: yields `kinds`, then waits until closed. */
function scripted(kinds: string[]): FsEventSource & { closed: boolean } {
  let wake = () => {};
  const source = {
    closed: false,
    close() {
      source.closed = true;
      wake();
    },
    async *[Symbol.asyncIterator]() {
      for (const kind of kinds) yield { kind };
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (source.closed) resolve();
      });
    },
  };
  return source;
}

Deno.test("watchConfigFile() reports the file's update on a write, ignoring access, create and remove", async () => {
  const source = scripted(["access", "create", "remove", "modify", "rename"]);
  const watch = watchConfigFile("/kp.yaml", () => source);
  assertEquals(await watch.updated, "modify");
  assertEquals(source.closed, true, "the watch ends once it reported");
  watch.close();
});

Deno.test("watchConfigFile() never reports when only unrelated events come, until closed", async () => {
  const source = scripted(["access", "access"]);
  const watch = watchConfigFile("/kp.yaml", () => source);
  const outcome = await Promise.race([
    watch.updated,
    new Promise<string>((resolve) => setTimeout(() => resolve("no update"), 0)),
  ]);
  assertEquals(outcome, "no update");
  watch.close();
  assertEquals(source.closed, true);
});

Deno.test("watchConfigFile() that cannot watch logs a warning and never reports", () => {
  const watch = watchConfigFile("/nonexistent/kp.yaml", () => {
    throw new Deno.errors.NotFound("No such file or directory");
  });
  watch.close();
  assertEquals(
    logLines.filter((l) => l.includes("Cannot watch the configuration file")).length,
    1,
  );
});

Deno.test("watchConfigFile() sees a real write to the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kprevcfg-watch-" });
  const path = `${dir}/kp.yaml`;
  await Deno.writeTextFile(path, "a: 1\n");
  const watch = watchConfigFile(path);
  try {
    await Deno.writeTextFile(path, "a: 2\n");
    assertEquals(await watch.updated, "modify");
  } finally {
    watch.close();
    await Deno.remove(dir, { recursive: true });
  }
});

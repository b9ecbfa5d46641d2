import { assertEquals } from "../assert.ts";
import { CHILD_ENV, runCommand } from "./command.ts";
import { NetnsProcess } from "./netns_process.ts";

const PRINT = ["sh", "-c", 'echo "update check off: ${DENO_NO_UPDATE_CHECK:-unset}"'];

Deno.test("runCommand() and NetnsProcess.start() turn Deno's update check off in every child", async () => {
  assertEquals(CHILD_ENV.DENO_NO_UPDATE_CHECK, "1");
  // Unset in this process (the test scripts export it), so the children can only have it from
  // runCommand and NetnsProcess, not by inheriting it.
  const inherited = Deno.env.get("DENO_NO_UPDATE_CHECK");
  Deno.env.delete("DENO_NO_UPDATE_CHECK");
  try {
    const { stdout } = await runCommand(PRINT);
    assertEquals(stdout.trim(), "update check off: 1");
    // Also when the caller adds its own variables (as the sandbox's proxies do).
    const child = NetnsProcess.start(PRINT, { label: "env probe", env: { OTHER: "x" } });
    await child.wait();
    assertEquals(child.lines.join("\n").trim(), "update check off: 1");
  } finally {
    if (inherited !== undefined) Deno.env.set("DENO_NO_UPDATE_CHECK", inherited);
  }
});

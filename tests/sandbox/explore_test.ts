import { assertEquals } from "../assert.ts";
import { parseSandboxArgs } from "./explore.ts";

Deno.test("parseSandboxArgs() reads --mode, --down, --v and the caller's own flags", () => {
  assertEquals(parseSandboxArgs([]), { down: false, mode: "iptables", verbosity: -1, seen: [] });
  assertEquals(parseSandboxArgs(["--mode", "nftables", "--v=2", "--keep"], ["--keep"]), {
    down: false,
    mode: "nftables",
    verbosity: 2,
    seen: ["--keep"],
  });
  assertEquals(parseSandboxArgs(["--mode=iptables", "--down"]), {
    down: true,
    mode: "iptables",
    verbosity: -1,
    seen: [],
  });
  assertEquals(parseSandboxArgs(["--mode", "ipvs"]), {
    error: "--mode must be one of iptables, nftables, not ipvs",
  });
  assertEquals(parseSandboxArgs(["--keep"]), { error: "unknown argument --keep (try --help)" });
});

/**
 * Real iptables-nft-restore in a scratch namespace: a large restore (more than
 * LARGE_RESTORE_CHAINS chains, so ExecIptables lists each table first with `-S`) writes exactly
 * its chains and leaves another component's rules in the same tables alone (root only).
 */
import { assert, assertEquals } from "../assert.ts";
import { configureLogging } from "../../config/log.ts";
import {
  type CommandOptions,
  type CommandResult,
  type CommandRunner,
  DenoCommandRunner,
} from "../../proxy/exec.ts";
import { ExecIptables, LARGE_RESTORE_CHAINS } from "../../proxy/iptables/iptables.ts";

configureLogging({ write: () => {} });

const isRoot = Deno.uid() === 0;

async function ip(args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (out.code !== 0) {
    throw new Error(`Cannot run ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Records the first lines of every restore input it passes on. */
class HeadRecorder implements CommandRunner {
  heads: string[] = [];
  #run: CommandRunner;
  constructor(run: CommandRunner) {
    this.#run = run;
  }
  run(cmd: string, args: string[], opts: CommandOptions = {}): Promise<CommandResult> {
    const stdin = opts.stdin;
    if (stdin === undefined || typeof stdin === "string") return this.#run.run(cmd, args, opts);
    const heads = this.heads;
    function* recorded() {
      let first = true;
      for (const chunk of stdin!) {
        if (first) heads.push(chunk.split("\n").slice(0, 2).join("\n"));
        first = false;
        yield chunk;
      }
    }
    return this.#run.run(cmd, args, { ...opts, stdin: recorded() });
  }
}

/** A proxy-like input with `services` KUBE-SVC chains of two KUBE-SEP chains each. */
function kubeChunks(services: number, port: number): { chainCount: number; chunks(): string[] } {
  const sep = (i: number, j: number) => `KUBE-SEP-${i}X${j}`;
  return {
    chainCount: 1 + services * 3,
    chunks() {
      const out = ["*filter\n:KUBE-SERVICES - [0:0]\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n"];
      for (let i = 0; i < services; i++) {
        out.push(`:KUBE-SVC-${i} - [0:0]\n:${sep(i, 0)} - [0:0]\n:${sep(i, 1)} - [0:0]\n`);
      }
      for (let i = 0; i < services; i++) {
        const ip = `10.96.${i >> 8}.${i & 255}`;
        out.push(
          `-A KUBE-SERVICES -d ${ip}/32 -p tcp -m tcp --dport ${port} -j KUBE-SVC-${i}\n` +
            `-A KUBE-SVC-${i} -m statistic --mode random --probability 0.5000000000 -j ${
              sep(i, 0)
            }\n` +
            `-A KUBE-SVC-${i} -j ${sep(i, 1)}\n` +
            `-A ${sep(i, 0)} -p tcp -m tcp -j DNAT --to-destination 10.1.0.1:${port}\n` +
            `-A ${sep(i, 1)} -p tcp -m tcp -j DNAT --to-destination 10.1.0.2:${port}\n`,
        );
      }
      out.push("COMMIT\n");
      return out;
    },
  };
}

const FOREIGN = [
  "*nat",
  ":FOREIGN-NAT - [0:0]",
  "-A PREROUTING -j FOREIGN-NAT",
  "-A FOREIGN-NAT -d 192.0.2.1/32 -p udp -m udp --dport 99 -j DNAT --to-destination 192.0.2.2",
  "COMMIT",
  "*filter",
  ":FOREIGN-FILTER - [0:0]",
  "-A INPUT -j FOREIGN-FILTER",
  "-A FOREIGN-FILTER -p tcp -m tcp --dport 22 -j ACCEPT",
  "COMMIT",
  "",
].join("\n");

function lines(saved: string, prefix: string): string[] {
  return saved.split("\n").filter((l) => l.startsWith(prefix)).sort();
}

Deno.test({
  name: "ExecIptables.restore() of a large input on nft keeps other components' rules",
  ignore: !isRoot,
  async fn() {
    const name = `kpperf-${crypto.randomUUID().slice(0, 8)}`;
    await ip(["netns", "add", name]);
    try {
      const run = new DenoCommandRunner({ netns: name });
      const recorder = new HeadRecorder(run);
      const ipt = new ExecIptables("IPv4", "nft", { run: recorder });
      await ipt.restore(FOREIGN, { noflush: true });
      const before = { nat: await ipt.save("nat"), filter: await ipt.save("filter") };
      const services = Math.ceil(LARGE_RESTORE_CHAINS / 3) + 50;
      // Twice: the second restore replaces the first one's rules (declared chains are flushed).
      for (const port of [80, 8080]) {
        await ipt.restore(kubeChunks(services, port), { noflush: true });
      }
      assertEquals(recorder.heads, ["*filter\n-S", "*filter\n-S"]);
      const nat = await ipt.save("nat");
      assertEquals(lines(nat, "-A FOREIGN-NAT"), lines(before.nat, "-A FOREIGN-NAT"));
      assertEquals(lines(nat, "-A PREROUTING"), ["-A PREROUTING -j FOREIGN-NAT"]);
      const filter = await ipt.save("filter");
      assertEquals(lines(filter, "-A "), lines(before.filter, "-A "));
      const kube = lines(nat, "-A KUBE-");
      assertEquals(kube.length, services * 5);
      assert(kube.every((l) => !l.includes("--dport 80 ") && !l.endsWith(":80")), "old rules gone");
      assertEquals(
        lines(nat, "-A KUBE-SEP-0X1 "),
        ["-A KUBE-SEP-0X1 -p tcp -m tcp -j DNAT --to-destination 10.1.0.2:8080"],
      );
      assertEquals(lines(nat, ":KUBE-").length, 1 + services * 3);
    } finally {
      await ip(["netns", "del", name]);
    }
  },
});

/**
 * The kernel's own notice of a change, for the latency benchmarks: `nft monitor new` prints one
 * line per object the kernel commits (nftables mode's table and iptables-nft's tables alike), as
 * the commit happens. {@linkcode NftMonitor} timestamps each line as it arrives, so a change is
 * dated when the kernel has it, not when a poll happens to see it (polling with `nft` costs
 * 30-500 ms per look at 1,000-30,000 services, and competes for the CPU with the proxy's own
 * `nft`).
 *
 * Start-up: `nft monitor` first reads the whole ruleset into its cache (~6 s of CPU, and ~440 MB,
 * at 10,000 services in nftables mode); {@linkcode NftMonitor.start} returns once an element it
 * adds to a probe table of its own shows up in the stream, so no event is missed after that. The
 * probe table exists from before the monitor starts until {@linkcode NftMonitor.close}.
 *
 * @module
 */

import { readCpuSeconds } from "./proxy_memory.ts";

/** The probe table (`ip` family, one set `s`) that proves the monitor is listening. */
const PROBE_TABLE = "kpbench-monitor-probe";

/** One `nft monitor new` process and the lines it printed, each with its arrival time. */
export class NftMonitor {
  readonly #child: Deno.ChildProcess;
  readonly #lines: { at: number; text: string }[] = [];
  #wake: (() => void) | undefined;
  #ended = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    void this.#read();
  }

  /**
   * Starts `nft monitor new` and waits until it reports a probe table (at most `timeoutMs`).
   *
   * @throws {Error} when the monitor does not report the probe in time.
   */
  static async start(timeoutMs = 60_000): Promise<NftMonitor> {
    await nftCommand(["add", "table", "ip", PROBE_TABLE]);
    await nftCommand(["add", "set", "ip", PROBE_TABLE, "s", "{ type ipv4_addr ; }"]);
    // stdin must not be inherited: with the parent's stdin `nft monitor` printed nothing.
    const child = new Deno.Command("nft", {
      args: ["monitor", "new"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const m = new NftMonitor(child);
    const start = performance.now();
    try {
      let cpu = -1;
      for (;;) {
        await new Promise((r) => setTimeout(r, 500));
        const now = await readCpuSeconds(child.pid);
        if (now === cpu || m.#ended) break;
        cpu = now;
      }
      for (let i = 1; !m.#lines.some((l) => l.text.includes(PROBE_TABLE)); i++) {
        if (m.#ended || performance.now() - start > timeoutMs) {
          throw new Error(`nft monitor not ready after ${timeoutMs} ms`);
        }
        const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
        await nftCommand(["add", "element", "ip", PROBE_TABLE, "s", `{ ${ip} }`]);
        await m.#waitLine(2000);
      }
    } catch (err) {
      await m.close();
      throw err;
    }
    return m;
  }

  /**
   * The arrival time (`performance.now()`) of the first line at or after `since` that contains
   * `text`, waiting for it up to `timeoutMs`; undefined on timeout.
   */
  async waitFor(text: string, since: number, timeoutMs: number): Promise<number | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const hit = this.#lines.find((l) => l.at >= since && l.text.includes(text));
      if (hit !== undefined) return hit.at;
      const left = deadline - performance.now();
      if (left <= 0 || this.#ended) return undefined;
      await this.#waitLine(left);
    }
  }

  /** Forgets the lines seen so far (they can be many after a full sync). */
  clear(): void {
    this.#lines.length = 0;
  }

  /** Stops the monitor and deletes the probe table. */
  async close(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* exited */ }
    await this.#child.status;
    await nftCommand(["delete", "table", "ip", PROBE_TABLE]);
  }

  #waitLine(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let rest = "";
    try {
      for await (const chunk of this.#child.stdout) {
        const at = performance.now();
        const parts = (rest + decoder.decode(chunk, { stream: true })).split("\n");
        rest = parts.pop()!;
        for (const text of parts) this.#lines.push({ at, text });
        this.#wake?.();
      }
    } finally {
      this.#ended = true;
      this.#wake?.();
    }
  }
}

async function nftCommand(args: string[]): Promise<void> {
  await new Deno.Command("nft", { args, stdout: "null", stderr: "null" }).output();
}

/**
 * Watches rules being added to the kernel with `nft monitor rules` (one long-running process, no
 * polling): nftables mode's kernel check for `proxy_run.ts`. Listing a chain with `nft list chain`
 * would instead cost 1.5 s per check at 10,000 services (nft dumps the elements of every set of
 * the table first), which would bound the measured latency.
 *
 * @module
 */

/** A running `nft monitor rules` and the added-rule lines it has printed. */
export class NftRuleMonitor {
  readonly #child: Deno.ChildProcess;
  readonly #lines: string[] = [];
  #waiters: Array<() => void> = [];
  readonly #done: Promise<void>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#done = this.#read();
  }

  /** Starts the monitor (before the table grows: it reads the ruleset once at start). */
  static start(): NftRuleMonitor {
    const child = new Deno.Command("nft", {
      args: ["monitor", "rules"],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    return new NftRuleMonitor(child);
  }

  /**
   * Starts the monitor and waits until it reports rules: it reads the whole ruleset first
   * (seconds on a large table), so a probe rule in a scratch table marks it ready.
   */
  static async startReady(): Promise<NftRuleMonitor> {
    const m = NftRuleMonitor.start();
    for (let i = 0; i < 60; i++) {
      const from = m.mark;
      await nft(
        "add table ip kpbench-probe\nadd chain ip kpbench-probe c\n" +
          `add rule ip kpbench-probe c counter comment "probe-${i}"\n`,
      );
      const seen = await m.waitFor([`probe-${i}`], from, 1000);
      await nft("delete table ip kpbench-probe\n");
      if (seen) return m;
    }
    await m.stop();
    throw new Error("nft monitor never reported a rule");
  }

  async #read(): Promise<void> {
    let buffered = "";
    const decoder = new TextDecoder();
    for await (const chunk of this.#child.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      const cut = buffered.lastIndexOf("\n");
      if (cut < 0) continue;
      for (const line of buffered.slice(0, cut).split("\n")) {
        if (line.startsWith("add rule ")) this.#lines.push(line);
      }
      buffered = buffered.slice(cut + 1);
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
    }
  }

  /** Index of the next line to be printed (to wait for lines after a point). */
  get mark(): number {
    return this.#lines.length;
  }

  /**
   * Waits until an added rule from index `from` on contains every string of `parts`.
   *
   * @returns false on timeout.
   */
  async waitFor(parts: readonly string[], from: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    let at = from;
    while (true) {
      for (; at < this.#lines.length; at++) {
        if (parts.every((p) => this.#lines[at].includes(p))) return true;
      }
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Stops the monitor. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* exited */ }
    await this.#child.status;
    await this.#done.catch(() => undefined);
  }
}

async function nft(input: string): Promise<void> {
  const child = new Deno.Command("nft", { args: ["-f", "-"], stdin: "piped", stderr: "null" })
    .spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(input));
  await w.close();
  await child.status;
}

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

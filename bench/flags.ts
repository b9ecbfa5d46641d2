/**
 * Command-line flags shared by the benchmarks (`--sizes=500,1000`, `--runs=3`, `--quick`), and
 * where each benchmark writes its outputs: raw figures as JSON and a Markdown table under
 * `bench/out/` (not committed), plots under `bench/plots/` (committed with RESULTS.md).
 *
 * @module
 */

/** Parsed `--name=value` / `--flag` arguments. */
export class BenchFlags {
  readonly #values = new Map<string, string>();

  constructor(args: readonly string[]) {
    for (const arg of args) {
      const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
      if (m) this.#values.set(m[1], m[2] ?? "true");
    }
  }

  /** A boolean flag (`--quick`). */
  has(name: string): boolean {
    const v = this.#values.get(name);
    return v !== undefined && v !== "false";
  }

  /** A number flag, or the default. */
  number(name: string, fallback: number): number {
    const v = this.#values.get(name);
    return v === undefined || Number.isNaN(Number(v)) ? fallback : Number(v);
  }

  /** A comma-separated list of numbers, or the default. */
  numbers(name: string, fallback: readonly number[]): number[] {
    const v = this.#values.get(name);
    if (v === undefined) return [...fallback];
    return v.split(",").map(Number).filter((n) => Number.isFinite(n) && n > 0);
  }

  /** A string flag, or the default. */
  string(name: string, fallback: string): string {
    return this.#values.get(name) ?? fallback;
  }
}

const BENCH_DIR = new URL(".", import.meta.url).pathname;

/**
 * The V8 flags `deno task compile` bakes into the shipped binary (read from deno.json's compile
 * task), comma-separated: what the benchmarks run main.ts with unless told otherwise.
 */
export const BINARY_V8_FLAGS: string = (() => {
  const denoJson = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url)));
  return /--v8-flags=(\S+)/.exec(denoJson.tasks.compile)?.[1] ?? "";
})();

/** Writes `bench/out/<name>.json` and `bench/out/<name>.md`; returns the Markdown. */
export async function writeBenchOutput(
  name: string,
  data: unknown,
  markdown: string,
): Promise<string> {
  await Deno.mkdir(`${BENCH_DIR}out`, { recursive: true });
  await Deno.writeTextFile(`${BENCH_DIR}out/${name}.json`, JSON.stringify(data, null, 2) + "\n");
  await Deno.writeTextFile(`${BENCH_DIR}out/${name}.md`, markdown);
  return markdown;
}

/** Writes `bench/plots/<name>.svg`. */
export async function writePlot(name: string, svg: string): Promise<void> {
  await Deno.mkdir(`${BENCH_DIR}plots`, { recursive: true });
  await Deno.writeTextFile(`${BENCH_DIR}plots/${name}.svg`, svg);
}

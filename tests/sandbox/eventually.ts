/**
 * Bounded polling for the sandbox's tests and demo: retry a check until it passes or a deadline
 * passes, instead of sleeping a fixed time.
 *
 * @module
 */

/**
 * Calls `check` until it returns a value other than `undefined`/`false` without throwing, or
 * until `timeoutMs` have passed.
 *
 * @param what What is awaited, for the error message.
 * @param check The check; a throw or a falsy-undefined result means "not yet".
 * @param timeoutMs Deadline.
 * @param intervalMs Pause between attempts.
 * @returns The check's first passing result.
 * @throws {Error} Naming `what` and the last failure when the deadline passes.
 *
 * @example
 * ```ts
 * const rules = await eventually("db-service rules", () => rulesMatching(/db-service/), 10_000);
 * ```
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "the check returned nothing";
  while (true) {
    try {
      const result = await check();
      if (result !== undefined && result !== false) return result;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) {
      throw new Error(`Timed out waiting for ${what}: ${last}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

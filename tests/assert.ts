/**
 * Assertions for the project's tests, with Deno std's names (std itself comes from JSR, which is
 * not reachable here), built on `node:assert/strict`.
 *
 * @module
 */

import * as nodeAssert from "node:assert/strict";

/** Asserts that `actual` deeply and strictly equals `expected`. */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Asserts that `actual` does not deeply equal `expected`. */
export function assertNotEquals(actual: unknown, expected: unknown, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

/** Asserts that `expr` is truthy. */
export function assert(expr: unknown, msg?: string): asserts expr {
  nodeAssert.ok(expr, msg);
}

/** Asserts that `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  nodeAssert.match(actual, expected, msg);
}

/** Asserts that `actual` contains `expected`. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (!actual.includes(expected)) {
    nodeAssert.fail(
      msg ?? `Expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
    );
  }
}

/** Asserts that `fn` throws, optionally an instance of `errorClass`; returns the error. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  errorClass?: new (...args: any[]) => E,
  msgIncludes?: string,
): E {
  try {
    fn();
  } catch (err) {
    if (errorClass && !(err instanceof errorClass)) {
      nodeAssert.fail(`Expected ${errorClass.name}, got ${String(err)}`);
    }
    if (msgIncludes !== undefined) assertStringIncludes((err as Error).message, msgIncludes);
    return err as E;
  }
  return nodeAssert.fail("Expected the function to throw");
}

/** Asserts that the promise returned by `fn` rejects; returns the error. */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  // deno-lint-ignore no-explicit-any
  errorClass?: new (...args: any[]) => E,
  msgIncludes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    if (errorClass && !(err instanceof errorClass)) {
      nodeAssert.fail(`Expected ${errorClass.name}, got ${String(err)}`);
    }
    if (msgIncludes !== undefined) assertStringIncludes((err as Error).message, msgIncludes);
    return err as E;
  }
  return nodeAssert.fail("Expected the promise to reject");
}

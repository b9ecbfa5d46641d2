/**
 * A seeded pseudo-random generator for fuzz tests, so that a failure can be replayed from its
 * seed.
 *
 * @module
 */

/**
 * mulberry32: a small, fast 32-bit generator (not for cryptography).
 *
 * @param seed Any number; the same seed gives the same sequence.
 * @returns A function giving numbers in [0, 1), like `Math.random`.
 * @example
 * ```ts
 * const rand = seededRandom(42);
 * const dice = 1 + Math.floor(rand() * 6);
 * ```
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Copy-on-write lists of one Service's EndpointSlices, for the consumers (the proxier's endpoints
 * tracker, the DNS view) that group slices by Service. A frozen array per Service costs a fraction
 * of a `Map` per Service (10,000 of them at 10,000 services), and because a list is never changed
 * in place, a consumer can keep a reference to it as a snapshot.
 *
 * @module
 */

import type { EndpointSlice } from "./objects.ts";

/** No slices. */
export const NO_SLICES: readonly EndpointSlice[] = Object.freeze([]);

/**
 * The list with `slice` in it: replacing the slice of the same name in place (keeping the order),
 * else appended. `list` itself is not changed.
 *
 * @param list A Service's slices (undefined: none yet).
 * @param slice The new or changed slice.
 * @returns A new frozen list.
 * @example
 * ```ts
 * let slices = withSlice(undefined, a); // [a]
 * slices = withSlice(slices, a2); // [a2] (same name as a)
 * ```
 */
export function withSlice(
  list: readonly EndpointSlice[] | undefined,
  slice: EndpointSlice,
): readonly EndpointSlice[] {
  const out = list === undefined ? [] : [...list];
  const i = out.findIndex((s) => s.name === slice.name);
  if (i >= 0) out[i] = slice;
  else out.push(slice);
  return Object.freeze(out);
}

/**
 * The list without the slice named `name`. `list` itself is not changed.
 *
 * @param list A Service's slices.
 * @param name The slice's name.
 * @returns `list` itself when it holds no such slice, else a new frozen list (possibly empty).
 * @example
 * ```ts
 * withoutSlice([a, b], a.name); // [b]
 * ```
 */
export function withoutSlice(
  list: readonly EndpointSlice[],
  name: string,
): readonly EndpointSlice[] {
  const i = list.findIndex((s) => s.name === name);
  if (i < 0) return list;
  return list.length === 1 ? NO_SLICES : Object.freeze(list.filter((_, j) => j !== i));
}

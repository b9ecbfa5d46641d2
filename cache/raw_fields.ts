/**
 * Typed readers of raw API JSON for `cache/convert.ts`: each reads one field and either returns
 * it with the right type or says what is wrong, by path (`spec.ports[1].name`). Two kinds:
 *
 * - `objectAt`, `listAt`, `stringAt`, `nameAt`: a wrong value makes the whole object unusable
 *   (they throw {@linkcode InvalidObject});
 * - `partsAt`, `partNameAt`, `partEnumAt`, `partBooleanAt`: a wrong value is a part that can be
 *   left out; they note it in the object's {@linkcode Dropped} list and return the default.
 *
 * A path is given as `field` plus an optional `key` (`"endpoints[3]"`, `".nodeName"`) joined only
 * when something is wrong: the hot paths (100,000 endpoints) then build no strings.
 *
 * @module
 */

import { nameProblem, type NameRule, shown } from "./validation.ts";

/** A raw API object or any part of it: parsed JSON, of unknown shape until checked. */
// deno-lint-ignore no-explicit-any
export type Raw = any;

/** A problem that makes an object unusable: the field's path and what is wrong with it. */
export class InvalidObject extends Error {
  constructor(readonly field: string, readonly problem: string) {
    super(`${field}: ${problem}`);
  }
}

/** Parts of an object that are ignored, each as `field: problem`; logged in one line. */
export type Dropped = string[];

/** Whether `v` is a JSON object (not null, not a list). */
export function isObject(v: unknown): v is Record<string, Raw> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Whether `v` is unset: undefined, or JSON null (how Go encodes an empty list or map). */
export function absent(v: unknown): v is undefined | null {
  return v === undefined || v === null;
}

/** An optional object field: undefined when absent; not an object makes the object unusable. */
export function objectAt(v: unknown, field: string, key = ""): Record<string, Raw> | undefined {
  if (absent(v)) return undefined;
  if (!isObject(v)) throw new InvalidObject(field + key, `not an object: ${shown(v)}`);
  return v;
}

/** An optional list field: empty when absent (JSON null included); not a list: unusable. */
export function listAt(v: unknown, field: string, key = ""): Raw[] {
  if (absent(v)) return [];
  if (!Array.isArray(v)) throw new InvalidObject(field + key, `not a list: ${shown(v)}`);
  return v;
}

/** An optional list of parts that can be ignored: not a list is noted in `dropped`, gives []. */
export function partsAt(v: unknown, field: string, dropped: Dropped): Raw[] {
  if (absent(v)) return [];
  if (Array.isArray(v)) return v;
  dropped.push(`${field}: not a list: ${shown(v)}`);
  return [];
}

/** An optional string field: "" when absent; another type makes the object unusable. */
export function stringAt(v: unknown, field: string, key = ""): string {
  if (absent(v)) return "";
  if (typeof v !== "string") throw new InvalidObject(field + key, `not a string: ${shown(v)}`);
  return v;
}

/**
 * An optional name: "" when absent or empty, else the rule's shared copy; a string breaking
 * `rule` makes the object unusable.
 */
export function nameAt(v: unknown, rule: NameRule, field: string, key = ""): string {
  const s = stringAt(v, field, key);
  if (s === "") return s;
  const shared = rule.shared(s);
  if (shared === undefined) {
    throw new InvalidObject(field + key, `invalid ${shown(s)}: must be ${rule.what}`);
  }
  return shared;
}

/** An optional name that can be ignored: the shared copy, or "" when it breaks `rule` (noted). */
export function partNameAt(
  v: unknown,
  rule: NameRule,
  dropped: Dropped,
  field: string,
  key = "",
): string {
  if (absent(v) || v === "") return "";
  const shared = typeof v === "string" ? rule.shared(v) : undefined;
  if (shared !== undefined) return shared;
  dropped.push(`${field}${key}: ${nameProblem(v, rule)}`);
  return "";
}

/** An optional enum field: `fallback` when absent, or when not allowed (noted in `dropped`). */
export function partEnumAt<T extends string>(
  v: unknown,
  field: string,
  allowed: readonly T[],
  fallback: T,
  dropped: Dropped,
): T {
  if (absent(v) || v === "") return fallback;
  if (allowed.includes(v as T)) return v as T;
  dropped.push(`${field}: unsupported ${shown(v)}`);
  return fallback;
}

/** An optional boolean: undefined when absent, or when not a boolean (noted in `dropped`). */
export function partBooleanAt(
  v: unknown,
  dropped: Dropped,
  field: string,
  key = "",
): boolean | undefined {
  if (absent(v)) return undefined;
  if (typeof v === "boolean") return v;
  dropped.push(`${field}${key}: not a boolean: ${shown(v)}`);
  return undefined;
}

/**
 * `list` without its undefined entries. Lists are built with `map` (an exactly sized array: one
 * grown by `push` keeps up to 16 empty slots, megabytes over 10,000 objects) and filtered only in
 * the rare case that an entry was dropped.
 */
export function defined<T>(list: (T | undefined)[]): T[] {
  return list.includes(undefined) ? list.filter((x): x is T => x !== undefined) : list as T[];
}

/**
 * PATCH bodies for the API server fixture, the three types kubectl sends:
 *
 * - `application/json-patch+json` (RFC 6902: add, remove, replace, move, copy, test);
 * - `application/merge-patch+json` (RFC 7386: objects merge, `null` deletes, the rest replaces);
 * - `application/strategic-merge-patch+json` (`kubectl apply`, `edit` and `patch`'s default):
 *   a merge patch whose lists of objects merge by a key where the Kubernetes types say so
 *   (`spec.ports` by `port`, containers by `name`, ...), with the directives kubectl writes
 *   (`$patch: replace|delete`, `$setElementOrder/<list>`, `$retainKeys`,
 *   `$deleteFromPrimitiveList/<list>`). Other lists are replaced, as for atomic lists.
 *
 * Server-side apply (`application/apply-patch+yaml`) is not served: 415.
 *
 * @module
 */

import { ApiError, type RawObject } from "./errors.ts";

function isObject(v: unknown): v is RawObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The merge key of a list in a strategic merge patch, by the list's path in the object
 * (`spec.ports`, `spec.containers[].env`); undefined for lists that are replaced whole.
 */
function mergeKeyOf(kind: string, path: string): string | undefined {
  if (path === "spec.ports") return kind === "Service" ? "port" : undefined;
  if (/(^|\.)(containers|initContainers|ephemeralContainers)\[\]\.ports$/.test(path)) {
    return "containerPort";
  }
  if (/(^|\.)(containers|initContainers|ephemeralContainers|volumes|env)$/.test(path)) {
    return "name";
  }
  if (/(^|\.)volumeMounts$/.test(path)) return "mountPath";
  if (path === "metadata.ownerReferences") return "uid";
  if (path === "status.conditions" || path === "status.addresses") return "type";
  return undefined;
}

/** Lists of scalars that a strategic merge patch merges (set union) rather than replaces. */
function mergesPrimitives(path: string): boolean {
  return path === "metadata.finalizers";
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

function sameKey(a: unknown, b: unknown, key: string): boolean {
  return isObject(a) && isObject(b) && JSON.stringify(a[key]) === JSON.stringify(b[key]);
}

function strategicList(
  kind: string,
  original: unknown[],
  patch: unknown[],
  key: string,
  path: string,
): unknown[] {
  if (patch.some((p) => isObject(p) && p.$patch === "replace")) {
    return patch.filter((p) => !(isObject(p) && p.$patch === "replace"));
  }
  const result = [...original];
  for (const p of patch) {
    const at = result.findIndex((o) => sameKey(o, p, key));
    if (isObject(p) && p.$patch === "delete") {
      if (at >= 0) result.splice(at, 1);
    } else if (at >= 0 && isObject(p)) {
      result[at] = strategicMerge(kind, result[at] as RawObject, p, `${path}[]`);
    } else {
      result.push(isObject(p) ? strategicMerge(kind, {}, p, `${path}[]`) : p);
    }
  }
  return result;
}

function orderBy(list: unknown[], order: unknown[], key: string | undefined): unknown[] {
  const rank = (v: unknown) => {
    const i = order.findIndex((o) => key ? sameKey(o, v, key) : o === v);
    return i < 0 ? order.length : i;
  };
  return list.map((v, i) => ({ v, i })).sort((a, b) => rank(a.v) - rank(b.v) || a.i - b.i)
    .map((x) => x.v);
}

/**
 * Applies a strategic merge patch to an object (see the module comment).
 *
 * @param kind The object's kind (merge keys depend on it).
 * @param original The stored object (not changed).
 * @param patch The patch.
 * @param path The path of `original` in the whole object ("" at the top).
 * @returns the patched object.
 */
export function strategicMerge(
  kind: string,
  original: RawObject,
  patch: RawObject,
  path = "",
): RawObject {
  if (patch.$patch === "replace") {
    const { $patch: _, ...rest } = patch;
    return rest;
  }
  const result: RawObject = { ...original };
  const orders: [string, unknown[]][] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$patch" || k === "$retainKeys") continue;
    if (k.startsWith("$setElementOrder/")) {
      if (Array.isArray(v)) orders.push([k.slice("$setElementOrder/".length), v]);
      continue;
    }
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const field = k.slice("$deleteFromPrimitiveList/".length);
      if (Array.isArray(result[field]) && Array.isArray(v)) {
        result[field] = result[field].filter((x: unknown) => !v.includes(x));
      }
      continue;
    }
    const sub = join(path, k);
    if (v === null || (isObject(v) && v.$patch === "delete")) {
      delete result[k];
    } else if (isObject(v)) {
      result[k] = strategicMerge(kind, isObject(result[k]) ? result[k] : {}, v, sub);
    } else if (Array.isArray(v)) {
      const key = mergeKeyOf(kind, sub);
      const old = Array.isArray(result[k]) ? result[k] : [];
      if (key !== undefined) result[k] = strategicList(kind, old, v, key, sub);
      else if (mergesPrimitives(sub)) result[k] = [...new Set([...old, ...v])];
      else result[k] = v;
    } else {
      result[k] = v;
    }
  }
  for (const [field, order] of orders) {
    if (Array.isArray(result[field])) {
      result[field] = orderBy(result[field], order, mergeKeyOf(kind, join(path, field)));
    }
  }
  if (Array.isArray(patch.$retainKeys)) {
    for (const k of Object.keys(result)) if (!patch.$retainKeys.includes(k)) delete result[k];
  }
  return result;
}

/**
 * Applies a JSON merge patch (RFC 7386).
 *
 * @returns the patched value.
 */
export function mergePatch(original: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: RawObject = isObject(original) ? { ...original } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}

function parsePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new ApiError(422, "Invalid", `bad JSON pointer ${pointer}`);
  return pointer.slice(1).split("/").map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/** The container of the last token of a pointer, and that token. */
function locate(doc: unknown, pointer: string): { parent: RawObject | unknown[]; token: string } {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) throw new ApiError(422, "Invalid", "cannot patch the document root");
  let node: unknown = doc;
  for (const t of tokens.slice(0, -1)) {
    node = Array.isArray(node) ? node[Number(t)] : isObject(node) ? node[t] : undefined;
    if (node === undefined) throw new ApiError(422, "Invalid", `path ${pointer} does not exist`);
  }
  if (!Array.isArray(node) && !isObject(node)) {
    throw new ApiError(422, "Invalid", `path ${pointer} does not exist`);
  }
  return { parent: node, token: tokens[tokens.length - 1] };
}

function getAt(doc: unknown, pointer: string): unknown {
  const { parent, token } = locate(doc, pointer);
  const v = Array.isArray(parent) ? parent[Number(token)] : parent[token];
  if (v === undefined) throw new ApiError(422, "Invalid", `path ${pointer} does not exist`);
  return v;
}

function removeAt(doc: unknown, pointer: string): void {
  getAt(doc, pointer);
  const { parent, token } = locate(doc, pointer);
  if (Array.isArray(parent)) parent.splice(Number(token), 1);
  else delete parent[token];
}

function addAt(doc: unknown, pointer: string, value: unknown, replace: boolean): void {
  if (replace) getAt(doc, pointer);
  const { parent, token } = locate(doc, pointer);
  if (!Array.isArray(parent)) {
    parent[token] = value;
    return;
  }
  const i = token === "-" ? parent.length : Number(token);
  if (!Number.isInteger(i) || i < 0 || i > parent.length) {
    throw new ApiError(422, "Invalid", `index ${token} out of range at ${pointer}`);
  }
  parent.splice(i, replace ? 1 : 0, value);
}

/**
 * Applies a JSON patch (RFC 6902).
 *
 * @returns the patched object (a copy).
 * @throws {ApiError} 422 when an operation cannot apply or a `test` fails.
 */
export function jsonPatch(original: RawObject, ops: unknown): RawObject {
  if (!Array.isArray(ops)) throw new ApiError(400, "BadRequest", "a JSON patch is an array");
  const doc = structuredClone(original);
  for (const op of ops) {
    if (!isObject(op)) throw new ApiError(400, "BadRequest", "a JSON patch operation is an object");
    const path = String(op.path ?? "");
    switch (op.op) {
      case "add":
        addAt(doc, path, structuredClone(op.value), false);
        break;
      case "replace":
        addAt(doc, path, structuredClone(op.value), true);
        break;
      case "remove":
        removeAt(doc, path);
        break;
      case "move": {
        const value = getAt(doc, String(op.from));
        removeAt(doc, String(op.from));
        addAt(doc, path, value, false);
        break;
      }
      case "copy":
        addAt(doc, path, structuredClone(getAt(doc, String(op.from))), false);
        break;
      case "test":
        if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(op.value)) {
          throw new ApiError(422, "Invalid", `test operation failed at ${path}`);
        }
        break;
      default:
        throw new ApiError(400, "BadRequest", `unknown JSON patch operation ${String(op.op)}`);
    }
  }
  return doc;
}

/**
 * Applies a PATCH body of the given content type to the stored object.
 *
 * @param contentType The request's `Content-Type`.
 * @param current The stored object.
 * @param body The parsed request body.
 * @returns the patched object.
 * @throws {ApiError} 415 for another content type; 400/422 for a bad patch.
 */
export function applyPatch(contentType: string, current: RawObject, body: unknown): RawObject {
  const type = contentType.split(";")[0].trim();
  switch (type) {
    case "application/json-patch+json":
      return jsonPatch(current, body);
    case "application/merge-patch+json":
      return mergePatch(current, body) as RawObject;
    case "application/strategic-merge-patch+json":
      if (!isObject(body)) throw new ApiError(400, "BadRequest", "a patch is a JSON object");
      return strategicMerge(String(current.kind), current, body);
    default:
      throw new ApiError(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: ` +
          `application/json-patch+json, application/merge-patch+json, ` +
          `application/strategic-merge-patch+json`,
      );
  }
}

/**
 * Reads Kubernetes manifests (multi-document YAML, JSON, `kind: List`) into raw objects for the
 * API server fixture.
 *
 * YAML comes from `parseYamlDocuments` of `config/load.ts` (its public YAML reader, plain YAML 1.2
 * core schema), so that the `yaml` npm package is imported from that one file only.
 *
 * @module
 */

import { parseYamlDocuments } from "../../config/load.ts";
import type { RawObject } from "./object_store.ts";

function flatten(doc: unknown, out: RawObject[]): void {
  if (doc === null || doc === undefined) return;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new SyntaxError("Cannot read manifest: a document is not an object");
  }
  const obj = doc as RawObject;
  if (typeof obj.kind === "string" && obj.kind.endsWith("List") && Array.isArray(obj.items)) {
    for (const item of obj.items) flatten(item, out);
    return;
  }
  out.push(obj);
}

/**
 * Parses manifest text (YAML with `---` separators, or JSON) into objects.
 *
 * @param text The manifest text.
 * @returns the objects, `List` kinds expanded, empty documents skipped.
 * @throws {SyntaxError} on a YAML error or a document that is not an object.
 */
export function parseManifests(text: string): RawObject[] {
  let docs: unknown[];
  try {
    docs = parseYamlDocuments(text);
  } catch (err) {
    throw new SyntaxError(`Cannot read manifest: ${(err as Error).message}`);
  }
  const out: RawObject[] = [];
  for (const doc of docs) flatten(doc, out);
  return out;
}

/**
 * Reads every `*.yaml`, `*.yml` and `*.json` file of a folder (sorted by name, recursively) or a
 * single file.
 *
 * @param path A folder or file.
 * @returns the objects in file order.
 * @throws {SyntaxError} naming the file on a parse error.
 */
export async function readManifests(path: string): Promise<RawObject[]> {
  const stat = await Deno.stat(path);
  const files: string[] = [];
  if (stat.isDirectory) {
    const walk = async (dir: string) => {
      const entries = [];
      for await (const e of Deno.readDir(dir)) entries.push(e);
      entries.sort((a, b) => a.name < b.name ? -1 : 1);
      for (const e of entries) {
        const full = `${dir}/${e.name}`;
        if (e.isDirectory) await walk(full);
        else if (/\.(ya?ml|json)$/.test(e.name)) files.push(full);
      }
    };
    await walk(path);
  } else {
    files.push(path);
  }
  const out: RawObject[] = [];
  for (const file of files) {
    try {
      const text = await Deno.readTextFile(file);
      if (file.endsWith(".json")) {
        // JSON.parse is far faster than the YAML parser on large generated manifests.
        flatten(JSON.parse(text), out);
        continue;
      }
      out.push(...parseManifests(text));
    } catch (err) {
      throw new SyntaxError(`Cannot read manifests from ${file}: ${(err as Error).message}`);
    }
  }
  return out;
}

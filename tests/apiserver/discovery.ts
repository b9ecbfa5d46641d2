/**
 * The API server fixture's discovery documents, built from `RESOURCE_TYPES`: `/api`
 * (APIVersions), `/apis` (APIGroupList) and `/api/v1`, `/apis/{group}/{version}`
 * (APIResourceList), the legacy (unaggregated) form that kubectl falls back to when the answer to
 * its aggregated-discovery request is plain `application/json`.
 *
 * @module
 */

import type { RawObject } from "./errors.ts";
import { RESOURCE_TYPES, type ResourceType } from "./resources.ts";

const VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"];

/** The group of an apiVersion ("" for the core group). */
function groupOf(apiVersion: string): string {
  return apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
}

function resourceEntry(type: ResourceType): RawObject {
  return {
    name: type.plural,
    singularName: type.kind.toLowerCase(),
    namespaced: type.namespaced,
    kind: type.kind,
    verbs: VERBS,
    ...(type.shortNames ? { shortNames: type.shortNames } : {}),
    ...(type.categories ? { categories: type.categories } : {}),
  };
}

/**
 * The discovery document of a path, or undefined when the path is no discovery path.
 *
 * @param pathname `/api`, `/apis`, `/api/v1` or `/apis/{group}/{version}`.
 * @returns the document.
 */
export function discoveryDocument(pathname: string): RawObject | undefined {
  const path = pathname.replace(/\/+$/, "");
  if (path === "/api") {
    return {
      kind: "APIVersions",
      versions: ["v1"],
      serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "" }],
    };
  }
  if (path === "/apis") {
    const groups = new Map<string, string[]>();
    for (const t of RESOURCE_TYPES) {
      const group = groupOf(t.apiVersion);
      if (group === "") continue;
      const versions = groups.get(group) ?? [];
      if (!versions.includes(t.apiVersion)) versions.push(t.apiVersion);
      groups.set(group, versions);
    }
    return {
      kind: "APIGroupList",
      apiVersion: "v1",
      groups: [...groups.entries()].map(([name, versions]) => {
        const list = versions.map((gv) => ({ groupVersion: gv, version: gv.split("/")[1] }));
        return { name, versions: list, preferredVersion: list[0] };
      }),
    };
  }
  const m = path.match(/^\/api\/(v1)$/) ?? path.match(/^\/apis\/([^/]+\/[^/]+)$/);
  if (m === null) return undefined;
  const types = RESOURCE_TYPES.filter((t) => t.apiVersion === m[1]);
  if (types.length === 0) return undefined;
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: m[1],
    resources: types.map(resourceEntry),
  };
}

/**
 * The resources the API server fixture serves, and the parsing of Kubernetes REST paths into
 * "which resource, which namespace, which name".
 *
 * @module
 */

/** One served resource type (a row of the API's discovery document). */
export interface ResourceType {
  /** Kind, as in `kind:` of a manifest. */
  readonly kind: string;
  /** `apiVersion:` of its objects ("v1", "discovery.k8s.io/v1"). */
  readonly apiVersion: string;
  /** URL plural ("services"). */
  readonly plural: string;
  readonly namespaced: boolean;
  /** kubectl's short names (`svc`), served in discovery. */
  readonly shortNames?: readonly string[];
  /** Discovery categories (`all`). */
  readonly categories?: readonly string[];
}

/** Every resource type the fixture serves. */
export const RESOURCE_TYPES: readonly ResourceType[] = [
  {
    kind: "Service",
    apiVersion: "v1",
    plural: "services",
    namespaced: true,
    shortNames: ["svc"],
    categories: ["all"],
  },
  {
    kind: "EndpointSlice",
    apiVersion: "discovery.k8s.io/v1",
    plural: "endpointslices",
    namespaced: true,
  },
  { kind: "Node", apiVersion: "v1", plural: "nodes", namespaced: false, shortNames: ["no"] },
  {
    kind: "Namespace",
    apiVersion: "v1",
    plural: "namespaces",
    namespaced: false,
    shortNames: ["ns"],
  },
  {
    kind: "Pod",
    apiVersion: "v1",
    plural: "pods",
    namespaced: true,
    shortNames: ["po"],
    categories: ["all"],
  },
  {
    kind: "ServiceCIDR",
    apiVersion: "networking.k8s.io/v1",
    plural: "servicecidrs",
    namespaced: false,
  },
  { kind: "Event", apiVersion: "v1", plural: "events", namespaced: true, shortNames: ["ev"] },
  {
    kind: "Event",
    apiVersion: "events.k8s.io/v1",
    plural: "events",
    namespaced: true,
    shortNames: ["ev"],
  },
];

/** The resource type of a `kind` (plus `apiVersion` to tell the two Event kinds apart). */
export function findResourceType(kind: string, apiVersion?: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((r) =>
    r.kind.toLowerCase() === kind.toLowerCase() &&
    (apiVersion === undefined || r.apiVersion === apiVersion)
  ) ?? RESOURCE_TYPES.find((r) => r.kind.toLowerCase() === kind.toLowerCase());
}

/** A REST path taken apart. */
export interface ResourcePath {
  readonly type: ResourceType;
  /** Namespace from the path; undefined for cluster-scoped paths and all-namespace lists. */
  readonly namespace: string | undefined;
  /** Object name; undefined for collection paths. */
  readonly name: string | undefined;
  /** Subresource ("status"); undefined when none. */
  readonly subresource: string | undefined;
}

/**
 * Parses `/api/v1/...` and `/apis/{group}/{version}/...` paths.
 *
 * @returns undefined when the path names no served resource.
 */
export function parseResourcePath(pathname: string): ResourcePath | undefined {
  const parts = pathname.split("/").filter((p) => p !== "").map(decodeURIComponent);
  let apiVersion: string;
  let rest: string[];
  if (parts[0] === "api" && parts.length >= 2) {
    apiVersion = parts[1];
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 3) {
    apiVersion = `${parts[1]}/${parts[2]}`;
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  const byPlural = (plural: string) =>
    RESOURCE_TYPES.find((r) => r.apiVersion === apiVersion && r.plural === plural);
  // namespaces/{ns}/{plural}[/{name}[/{sub}]] for namespaced resources; {plural}[/{name}[/{sub}]]
  // otherwise. "namespaces/{name}" itself is the cluster-scoped Namespace resource.
  if (rest[0] === "namespaces" && rest.length >= 3) {
    const type = byPlural(rest[2]);
    if (type === undefined || !type.namespaced || rest.length > 5) return undefined;
    return { type, namespace: rest[1], name: rest[3], subresource: rest[4] };
  }
  if (rest.length === 0 || rest.length > 3) return undefined;
  const type = byPlural(rest[0]);
  if (type === undefined) return undefined;
  if (type.namespaced && rest.length > 1) return undefined;
  return { type, namespace: undefined, name: rest[1], subresource: rest[2] };
}

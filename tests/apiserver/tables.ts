/**
 * Server-side printing for the API server fixture: the `Table` (`meta.k8s.io/v1`) that
 * `kubectl get` asks for with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, with the
 * columns the real API server prints for Services, Pods, Nodes, EndpointSlices and Namespaces
 * (priority-1 columns are kubectl's `-o wide`), and Name and Age for the other kinds.
 *
 * @module
 */

import type { RawObject } from "./errors.ts";

/** Does an `Accept` header ask for a Table? */
export function wantsTable(accept: string | null): boolean {
  return accept !== null && /(^|,)\s*application\/json;[^,]*as=Table/.test(accept);
}

/** `includeObject` of the request: what each row carries. */
export type IncludeObject = "None" | "Metadata" | "Object";

/** `45s`, `3m12s`, `2h5m`, `4d3h`, as `kubectl` and the API server print ages. */
export function humanAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  return `${d}d`;
}

interface Column {
  readonly name: string;
  readonly priority?: number;
  readonly cell: (o: RawObject) => string | number;
}

function age(o: RawObject): string {
  const t = Date.parse(o.metadata?.creationTimestamp ?? "");
  return Number.isNaN(t) ? "<unknown>" : humanAge((Date.now() - t) / 1000);
}

function servicePorts(o: RawObject): string {
  const ports: RawObject[] = Array.isArray(o.spec?.ports) ? o.spec.ports : [];
  if (ports.length === 0) return "<none>";
  return ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ""}/${p.protocol ?? "TCP"}`)
    .join(",");
}

function externalIPs(o: RawObject): string {
  const ingress: RawObject[] = o.status?.loadBalancer?.ingress ?? [];
  const ips = [
    ...(o.spec?.externalIPs ?? []),
    ...ingress.map((i) => i.ip ?? i.hostname),
  ];
  if (ips.length > 0) return ips.join(",");
  if (o.spec?.type === "ExternalName") return o.spec.externalName ?? "<none>";
  return o.spec?.type === "LoadBalancer" ? "<pending>" : "<none>";
}

function selector(o: RawObject): string {
  const sel = o.spec?.selector;
  if (sel === undefined || Object.keys(sel).length === 0) return "<none>";
  return Object.entries(sel).map(([k, v]) => `${k}=${v}`).join(",");
}

function conditionTrue(o: RawObject, type: string): boolean {
  const conds: RawObject[] = o.status?.conditions ?? [];
  return conds.some((c) => c.type === type && c.status === "True");
}

function podReady(o: RawObject): string {
  const n = Math.max(1, (o.spec?.containers ?? []).length);
  return `${conditionTrue(o, "Ready") ? n : 0}/${n}`;
}

function podStatus(o: RawObject): string {
  if (o.metadata?.deletionTimestamp) return "Terminating";
  return o.status?.phase ?? "Pending";
}

function nodeAddress(o: RawObject, type: string): string {
  const addrs: RawObject[] = o.status?.addresses ?? [];
  return addrs.find((a) => a.type === type)?.address ?? "<none>";
}

function slicePorts(o: RawObject): string {
  const ports: RawObject[] = o.ports ?? [];
  if (ports.length === 0) return "<unset>";
  return ports.map((p) => String(p.port ?? "<unset>")).join(",");
}

function sliceEndpoints(o: RawObject): string {
  const addrs = (o.endpoints ?? []).flatMap((e: RawObject) => e.addresses ?? []);
  if (addrs.length === 0) return "<none>";
  const shown = addrs.slice(0, 3).join(",");
  return addrs.length > 3 ? `${shown} + ${addrs.length - 3} more...` : shown;
}

const NAME: Column = { name: "Name", cell: (o) => o.metadata?.name ?? "" };
const AGE: Column = { name: "Age", cell: age };

const COLUMNS: Readonly<Record<string, readonly Column[]>> = {
  Service: [
    NAME,
    { name: "Type", cell: (o) => o.spec?.type ?? "ClusterIP" },
    { name: "Cluster-IP", cell: (o) => o.spec?.clusterIP ?? "<none>" },
    { name: "External-IP", cell: externalIPs },
    { name: "Port(s)", cell: servicePorts },
    AGE,
    { name: "Selector", priority: 1, cell: selector },
  ],
  Pod: [
    NAME,
    { name: "Ready", cell: podReady },
    { name: "Status", cell: podStatus },
    { name: "Restarts", cell: () => 0 },
    AGE,
    { name: "IP", priority: 1, cell: (o) => o.status?.podIP ?? "<none>" },
    { name: "Node", priority: 1, cell: (o) => o.spec?.nodeName ?? "<none>" },
  ],
  Node: [
    NAME,
    { name: "Status", cell: (o) => conditionTrue(o, "Ready") ? "Ready" : "NotReady" },
    { name: "Roles", cell: () => "<none>" },
    AGE,
    { name: "Version", cell: (o) => o.status?.nodeInfo?.kubeletVersion ?? "" },
    { name: "Internal-IP", priority: 1, cell: (o) => nodeAddress(o, "InternalIP") },
  ],
  EndpointSlice: [
    NAME,
    { name: "AddressType", cell: (o) => o.addressType ?? "" },
    { name: "Ports", cell: slicePorts },
    { name: "Endpoints", cell: sliceEndpoints },
    AGE,
  ],
  Namespace: [NAME, { name: "Status", cell: (o) => o.status?.phase ?? "Active" }, AGE],
};

function rowObject(o: RawObject, include: IncludeObject): RawObject | undefined {
  if (include === "None") return undefined;
  if (include === "Object") return o;
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata };
}

/**
 * A `Table` of objects of one kind.
 *
 * @param kind Their kind (picks the columns).
 * @param objects The objects.
 * @param metadata The list metadata (`resourceVersion`, `continue`).
 * @param include What each row carries besides its cells.
 * @returns the Table.
 */
export function toTable(
  kind: string,
  objects: readonly RawObject[],
  metadata: RawObject,
  include: IncludeObject = "Metadata",
): RawObject {
  const columns = COLUMNS[kind] ?? [NAME, AGE];
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata,
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.name === "Restarts" ? "integer" : "string",
      format: c === NAME ? "name" : "",
      description: "",
      priority: c.priority ?? 0,
    })),
    rows: objects.map((o) => {
      const object = rowObject(o, include);
      return { cells: columns.map((c) => c.cell(o)), ...(object ? { object } : {}) };
    }),
  };
}

/** `includeObject` from a request's query (`Metadata` by default, as the API server). */
export function includeObjectOf(q: URLSearchParams): IncludeObject {
  const v = q.get("includeObject");
  return v === "None" || v === "Object" ? v : "Metadata";
}

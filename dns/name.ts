/**
 * The name grammar of the cluster zone, as CoreDNS's `plugin/kubernetes/parse.go` accepts it.
 *
 * @module
 */

/**
 * What a name inside the cluster zone asks for. Labels are lowercased (names are matched
 * case-insensitively; the caller keeps the original spelling for the owner names it writes).
 */
export type RecordRequest =
  /** `<zone>` itself: SOA and NS live here. */
  | { readonly kind: "apex" }
  /** `dns-version.<zone>`: TXT with the schema version. */
  | { readonly kind: "dns-version" }
  /** `ns.dns.<zone>`: the name server named in SOA and NS records. */
  | { readonly kind: "default-ns" }
  /** `svc.<zone>` and `pod.<zone>`: empty non-terminals (exist, hold no data). */
  | { readonly kind: "empty-non-terminal" }
  /** `<ns>.svc.<zone>` or `<ns>.pod.<zone>`. */
  | { readonly kind: "namespace"; readonly namespace: string; readonly under: "svc" | "pod" }
  /** `<svc>.<ns>.svc.<zone>`. */
  | { readonly kind: "service"; readonly namespace: string; readonly service: string }
  /** `<endpoint>.<svc>.<ns>.svc.<zone>`: an endpoint hostname or dashed IP. */
  | {
    readonly kind: "endpoint";
    readonly namespace: string;
    readonly service: string;
    readonly endpoint: string;
  }
  /** `_<port>._<proto>.<svc>.<ns>.svc.<zone>` (underscores optional, as in CoreDNS). */
  | {
    readonly kind: "port";
    readonly namespace: string;
    readonly service: string;
    readonly port: string;
    readonly protocol: string;
  }
  /** `<a-b-c-d>.<ns>.pod.<zone>`: a pod record; `podLabel` is the dashed IP label. */
  | { readonly kind: "pod"; readonly namespace: string; readonly podLabel: string }
  /** Inside the zone but not a shape above: the name does not exist (NXDOMAIN). */
  | { readonly kind: "invalid" };

const APEX: RecordRequest = { kind: "apex" };
const DNS_VERSION: RecordRequest = { kind: "dns-version" };
const DEFAULT_NS: RecordRequest = { kind: "default-ns" };
const EMPTY_NON_TERMINAL: RecordRequest = { kind: "empty-non-terminal" };
const INVALID: RecordRequest = { kind: "invalid" };

/**
 * Parses a lowercased query name against the lowercased cluster zone.
 *
 * The shapes, left of `.<zone>` (the last label decides between services and pods; anything else
 * is `invalid`, i.e. NXDOMAIN):
 *
 *     (nothing)                          apex              SOA, NS
 *     dns-version                        dns-version       TXT "1.1.0"
 *     ns.dns                             default-ns        A/AAAA of our own addresses
 *     svc | pod                          empty-non-terminal
 *     <ns>.svc | <ns>.pod                namespace
 *     <svc>.<ns>.svc                     service           A/AAAA, CNAME, SRV (all ports)
 *     <endpoint>.<svc>.<ns>.svc          endpoint          A/AAAA of endpoints with that name
 *     _<port>._<proto>.<svc>.<ns>.svc    port              SRV
 *     <a-b-c-d>.<ns>.pod                 pod               A/AAAA (pods insecure; one or two
 *                                                          labels in front are ignored, as CoreDNS)
 *
 * Three or more labels left of `<svc>` are `invalid` (wildcards were removed from CoreDNS in
 * 1.9.0; `*` is an ordinary label here).
 *
 * @param name The query name, lowercased, without the trailing dot.
 * @param zone The cluster zone, lowercased, without the trailing dot (`cluster.local`).
 * @returns The request, or undefined when the name is outside the zone.
 * @example
 * ```ts
 * parseQueryName("web.default.svc.cluster.local", "cluster.local");
 * // { kind: "service", namespace: "default", service: "web" }
 * ```
 */
export function parseQueryName(name: string, zone: string): RecordRequest | undefined {
  if (name === zone) return APEX;
  if (name.length <= zone.length + 1) return undefined;
  if (!name.endsWith(zone) || name.charCodeAt(name.length - zone.length - 1) !== 46 /* . */) {
    return undefined;
  }
  const rest = name.slice(0, name.length - zone.length - 1);
  if (rest === "dns-version") return DNS_VERSION;
  if (rest === "ns.dns") return DEFAULT_NS;
  const labels = rest.split(".");
  const last = labels[labels.length - 1];
  if (last !== "svc" && last !== "pod") return INVALID;
  if (labels.length === 1) return EMPTY_NON_TERMINAL;
  const namespace = labels[labels.length - 2];
  if (labels.length === 2) return { kind: "namespace", namespace, under: last };
  if (last === "pod") {
    // NOTE: CoreDNS's parser reads one or two labels left of the pod label as an endpoint or a
    // port/protocol pair, and its pod lookup ignores them: `x.1-2-3-4.<ns>.pod` answers as
    // `1-2-3-4.<ns>.pod` does. Same here, for comparability.
    if (labels.length > 5) return INVALID;
    return { kind: "pod", namespace, podLabel: labels[labels.length - 3] };
  }
  const service = labels[labels.length - 3];
  switch (labels.length) {
    case 3:
      return { kind: "service", namespace, service };
    case 4:
      return { kind: "endpoint", namespace, service, endpoint: labels[0] };
    case 5:
      return {
        kind: "port",
        namespace,
        service,
        port: stripUnderscore(labels[0]),
        protocol: stripUnderscore(labels[1]),
      };
    default:
      return INVALID;
  }
}

function stripUnderscore(label: string): string {
  return label.startsWith("_") ? label.slice(1) : label;
}

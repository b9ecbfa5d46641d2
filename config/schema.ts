/**
 * The field tables of both configuration documents: JSON name, wire type, default and how
 * upstream defaults it. `load.ts` decodes, defaults and renders by walking these tables, so a
 * field is declared exactly once.
 *
 * Defaulting follows upstream's `SetDefaults_KubeProxyConfiguration`: a field upstream declares
 * as a pointer (`*int32`, `*bool`, `*Duration`) is defaulted only when absent or null, any other
 * field also when it holds its zero value (`""`, `0`, `0s`). So `iptables.minSyncPeriod: 0s`
 * becomes `1s`, while `conntrack.maxPerCore: 0` stays 0.
 *
 * @module
 */

/** A scalar field. */
export interface ScalarSpec {
  /** Wire type: how the YAML value is checked and converted. */
  readonly kind:
    | "string"
    | "bool"
    | "int32"
    | "uint32"
    | "float32"
    | "duration"
    | "timeOrDuration"
    | "quantity";
  /** JSON name. */
  readonly json: string;
  /** Default; `undefined` means the zero value. */
  readonly def?: string | number | boolean;
  /** Upstream declares the field as a pointer: explicit zero values are kept. */
  readonly pointer?: boolean;
  /** Left out when rendering if it holds its zero value (`omitempty`). */
  readonly omitEmpty?: boolean;
}

/** A list of strings; `nullable` lists default to null (rendered `null`), others to `[]`. */
export interface StringListSpec {
  /** Wire type. */
  readonly kind: "stringList";
  /** JSON name. */
  readonly json: string;
  /** Defaults to null rather than an empty list. */
  readonly nullable?: boolean;
}

/** A `map[string]bool`, such as `featureGates`. */
export interface BoolMapSpec {
  /** Wire type. */
  readonly kind: "boolMap";
  /** JSON name. */
  readonly json: string;
  /** Left out when rendering if empty. */
  readonly omitEmpty?: boolean;
}

/** A nested object. */
export interface ObjectSpec {
  /** Wire type. */
  readonly kind: "object";
  /** JSON name. */
  readonly json: string;
  /** Its fields. */
  readonly fields: readonly FieldSpec[];
}

/** A list of objects, such as `logging.vmodule`; defaults to `[]`, omitted when empty. */
export interface ObjectListSpec {
  /** Wire type. */
  readonly kind: "objectList";
  /** JSON name. */
  readonly json: string;
  /** Fields of each item. */
  readonly fields: readonly FieldSpec[];
}

/** One field of a document. */
export type FieldSpec = ScalarSpec | StringListSpec | BoolMapSpec | ObjectSpec | ObjectListSpec;

const QUANTITY = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;

/** Upstream's message for a malformed `resource.Quantity`. */
export const QUANTITY_FORMAT_MESSAGE = "quantities must match the regular expression " +
  "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/**
 * Whether `text` is a Kubernetes quantity (`0`, `64Ki`, `1.5M`, `1e3`), the wire type of
 * `logging.options.*.infoBufferSize`.
 *
 * @param text The quantity text.
 * @returns True when it parses as a quantity.
 */
export function isQuantity(text: string): boolean {
  return QUANTITY.test(text);
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

const routingOptions: readonly FieldSpec[] = [
  { kind: "bool", json: "splitStream", omitEmpty: true },
  { kind: "quantity", json: "infoBufferSize", def: "0" },
];

/** Fields of `KubeProxyConfiguration` (besides `apiVersion` and `kind`). */
export const KUBE_PROXY_FIELDS: readonly FieldSpec[] = [
  { kind: "boolMap", json: "featureGates", omitEmpty: true },
  {
    kind: "object",
    json: "clientConnection",
    fields: [
      { kind: "string", json: "kubeconfig" },
      { kind: "string", json: "acceptContentTypes" },
      { kind: "string", json: "contentType", def: "application/vnd.kubernetes.protobuf" },
      { kind: "float32", json: "qps", def: 5 },
      { kind: "int32", json: "burst", def: 10 },
    ],
  },
  {
    kind: "object",
    json: "logging",
    fields: [
      { kind: "string", json: "format", def: "text" },
      { kind: "timeOrDuration", json: "flushFrequency", def: 5 * SECOND },
      { kind: "uint32", json: "verbosity" },
      {
        kind: "objectList",
        json: "vmodule",
        fields: [
          { kind: "string", json: "filePattern" },
          { kind: "uint32", json: "verbosity" },
        ],
      },
      {
        kind: "object",
        json: "options",
        fields: [
          { kind: "object", json: "text", fields: routingOptions },
          { kind: "object", json: "json", fields: routingOptions },
        ],
      },
    ],
  },
  { kind: "string", json: "hostnameOverride" },
  { kind: "string", json: "bindAddress", def: "0.0.0.0" },
  // healthzBindAddress and metricsBindAddress depend on bindAddress: load.ts defaults them.
  { kind: "string", json: "healthzBindAddress" },
  { kind: "string", json: "metricsBindAddress" },
  { kind: "bool", json: "bindAddressHardFail" },
  { kind: "bool", json: "enableProfiling" },
  { kind: "string", json: "showHiddenMetricsForVersion" },
  { kind: "string", json: "mode" },
  {
    kind: "object",
    json: "iptables",
    fields: [
      { kind: "int32", json: "masqueradeBit", def: 14, pointer: true },
      { kind: "bool", json: "masqueradeAll" },
      { kind: "bool", json: "localhostNodePorts", def: true, pointer: true },
      { kind: "duration", json: "syncPeriod", def: 30 * SECOND },
      { kind: "duration", json: "minSyncPeriod", def: 1 * SECOND },
    ],
  },
  {
    kind: "object",
    json: "ipvs",
    fields: [
      { kind: "duration", json: "syncPeriod", def: 30 * SECOND },
      { kind: "duration", json: "minSyncPeriod" },
      { kind: "string", json: "scheduler" },
      { kind: "stringList", json: "excludeCIDRs", nullable: true },
      { kind: "bool", json: "strictARP" },
      { kind: "duration", json: "tcpTimeout" },
      { kind: "duration", json: "tcpFinTimeout" },
      { kind: "duration", json: "udpTimeout" },
    ],
  },
  {
    kind: "object",
    json: "nftables",
    fields: [
      { kind: "int32", json: "masqueradeBit", def: 14, pointer: true },
      { kind: "bool", json: "masqueradeAll" },
      { kind: "duration", json: "syncPeriod", def: 30 * SECOND },
      { kind: "duration", json: "minSyncPeriod", def: 1 * SECOND },
    ],
  },
  {
    kind: "object",
    json: "winkernel",
    fields: [
      { kind: "string", json: "networkName" },
      { kind: "string", json: "sourceVip" },
      { kind: "bool", json: "enableDSR" },
      { kind: "string", json: "rootHnsEndpointName" },
      { kind: "bool", json: "forwardHealthCheckVip" },
    ],
  },
  { kind: "string", json: "detectLocalMode" },
  {
    kind: "object",
    json: "detectLocal",
    fields: [
      { kind: "string", json: "bridgeInterface" },
      { kind: "string", json: "interfaceNamePrefix" },
    ],
  },
  { kind: "string", json: "clusterCIDR" },
  { kind: "stringList", json: "nodePortAddresses", nullable: true },
  { kind: "int32", json: "oomScoreAdj", def: -999, pointer: true },
  {
    kind: "object",
    json: "conntrack",
    fields: [
      { kind: "int32", json: "maxPerCore", def: 32 * 1024, pointer: true },
      { kind: "int32", json: "min", def: 128 * 1024, pointer: true },
      { kind: "duration", json: "tcpEstablishedTimeout", def: 24 * HOUR, pointer: true },
      { kind: "duration", json: "tcpCloseWaitTimeout", def: 1 * HOUR, pointer: true },
      { kind: "bool", json: "tcpBeLiberal" },
      { kind: "duration", json: "udpTimeout" },
      { kind: "duration", json: "udpStreamTimeout" },
    ],
  },
  { kind: "duration", json: "configSyncPeriod", def: 15 * MINUTE },
  { kind: "string", json: "portRange" },
  { kind: "bool", json: "windowsRunAsService", omitEmpty: true },
];

/**
 * Fields of this project's `ClusterDNSConfiguration`. Every field is pointer-like: only an
 * absent (or null) field takes its default, so `port: 0` and `ttl: 0` mean what they say.
 */
export const CLUSTER_DNS_FIELDS: readonly FieldSpec[] = [
  { kind: "bool", json: "enabled", def: true, pointer: true },
  { kind: "string", json: "bindAddress", def: "0.0.0.0", pointer: true },
  { kind: "int32", json: "port", def: 53, pointer: true },
  { kind: "string", json: "clusterDomain", def: "cluster.local", pointer: true },
  { kind: "int32", json: "ttl", def: 5, pointer: true },
  { kind: "stringList", json: "upstreamServers" },
  { kind: "duration", json: "forwardTimeout", def: 2 * SECOND, pointer: true },
  { kind: "int32", json: "maxConcurrentForwards", def: 1000, pointer: true },
  { kind: "duration", json: "tcpIdleTimeout", def: 5 * SECOND, pointer: true },
  { kind: "string", json: "podRecords", def: "insecure", pointer: true },
  { kind: "stringList", json: "serviceIPs" },
  { kind: "stringList", json: "allowedClients" },
];

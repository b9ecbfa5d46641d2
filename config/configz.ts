/**
 * The configuration as `/configz` serves it, next to the schema that names its fields.
 *
 * @module
 */

import { formatDuration } from "./duration.ts";
import { CLUSTER_DNS_FIELDS, type FieldSpec, KUBE_PROXY_FIELDS } from "./schema.ts";
import type { ClusterDNSConfiguration, KubeProxyConfiguration } from "./types.ts";

/**
 * Renders the effective configuration for `/configz`: the `KubeProxyConfiguration` with JSON
 * names as on disk and durations as Go strings (`"30s"`, as upstream's `metav1.Duration`), not
 * our milliseconds. Upstream serves only the `KubeProxyConfiguration`; our cluster DNS document
 * rides along under `clusterDNS`.
 *
 * @param config The validated, defaulted proxy configuration.
 * @param dns The validated, defaulted cluster DNS configuration.
 * @returns A JSON-serializable object.
 */
export function renderConfigz(
  config: KubeProxyConfiguration,
  dns: ClusterDNSConfiguration,
): Record<string, unknown> {
  return {
    ...toWireJson(config, KUBE_PROXY_FIELDS),
    clusterDNS: toWireJson(dns, CLUSTER_DNS_FIELDS),
  };
}

function toWireJson(value: unknown, fields: readonly FieldSpec[]): Record<string, unknown> {
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = obj[f.json];
    if (f.kind === "object") out[f.json] = toWireJson(v, f.fields);
    else if (f.kind === "objectList") {
      out[f.json] = (v as unknown[]).map((item) => toWireJson(item, f.fields));
    } else if ((f.kind === "duration" || f.kind === "timeOrDuration") && typeof v === "number") {
      out[f.json] = formatDuration(v);
    } else out[f.json] = v;
  }
  return out;
}

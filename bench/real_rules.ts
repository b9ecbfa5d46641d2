/**
 * Drives the proxier's real rule generator (`proxy/iptables/rules.ts` `buildRuleSet` and
 * `render.ts` `renderRestoreInput`) on a synthetic cluster, timing each step, so the restore
 * benchmark can compare generation cost with the kernel's restore cost on the very same text.
 *
 * @module
 */

import type { TrimmedCluster } from "./synthetic.ts";
import { SYNTHETIC_CLUSTER_CIDR } from "./synthetic.ts";
import { servicePortsFromService } from "../proxy/service_port.ts";
import { endpointsFromSlices } from "../proxy/endpoints.ts";
import {
  buildRuleSet,
  masqueradeMarkFor,
  type ProxyState,
  type RuleSetOptions,
} from "../proxy/iptables/rules.ts";
import { renderRestoreInput } from "../proxy/iptables/render.ts";
import type { ServicePortMap } from "../proxy/types.ts";

/** Timings (ms) and output of one full-sync generation. */
export interface GenerationResult {
  /** Service/EndpointSlice objects to the proxier's maps (the change trackers' job). */
  readonly stateMs: number;
  /** `buildRuleSet` alone. */
  readonly buildMs: number;
  /** `renderRestoreInput` alone. */
  readonly renderMs: number;
  readonly text: string;
  readonly natRules: number;
  readonly filterRules: number;
}

/** Options the proxier would pass for the synthetic cluster's node, IPv4, defaults. */
export function syntheticRuleSetOptions(cluster: TrimmedCluster): RuleSetOptions {
  return {
    family: "IPv4",
    masqueradeMark: masqueradeMarkFor(14),
    masqueradeAll: false,
    randomFully: true,
    localDetector: { mode: "ClusterCIDR", cidr: SYNTHETIC_CLUSTER_CIDR },
    localhostNodePorts: false,
    nodeIP: cluster.node.addresses[0] ?? "",
    nodeName: cluster.node.name,
    nodeLabels: cluster.node.labels,
    tcpBeLiberal: false,
  };
}

/** Builds the proxier's state maps from trimmed objects. */
export function buildProxyState(cluster: TrimmedCluster): ProxyState {
  const services: ServicePortMap = new Map();
  for (const svc of cluster.services) {
    for (const [key, port] of servicePortsFromService(svc, "IPv4")) services.set(key, port);
  }
  const endpoints = endpointsFromSlices(cluster.endpointSlices, "IPv4", cluster.node.name);
  return { services, endpoints };
}

/** Runs state building, `buildRuleSet` and `renderRestoreInput` once, timing each. */
export function generateWithRealRules(
  cluster: TrimmedCluster,
  opts: RuleSetOptions = syntheticRuleSetOptions(cluster),
): GenerationResult {
  const t0 = performance.now();
  const state = buildProxyState(cluster);
  const t1 = performance.now();
  const ruleSet = buildRuleSet(state, opts);
  const t2 = performance.now();
  const text = renderRestoreInput(ruleSet);
  const t3 = performance.now();
  return {
    stateMs: t1 - t0,
    buildMs: t2 - t1,
    renderMs: t3 - t2,
    text,
    natRules: ruleSet.counts.nat,
    filterRules: ruleSet.counts.filter,
  };
}

/**
 * Picks and builds the rule backends from `mode`: the one place that knows every mode.
 * `main.ts` calls {@linkcode createBackends} once at start-up (the proxier only sees
 * {@linkcode ProxyBackend}s), and {@linkcode cleanupAllModes} for `--cleanup`.
 *
 * @module
 */

import type { IPFamily } from "../cache/objects.ts";
import { log } from "../config/log.ts";
import type { ClusterDNSConfiguration, KubeProxyConfiguration } from "../config/types.ts";
import type { Clock } from "../config/clock.ts";
import type { ProxyBackend } from "./backend.ts";
import type { CommandRunner } from "./exec.ts";
import { dnsInterceptFor } from "./proxier_options.ts";
import {
  createIptablesBackends,
  type IptablesBackendOptions,
  type IptablesMetrics,
} from "./iptables/backend.ts";
import { createFamilies, supportsRandomFully } from "./iptables/families.ts";
import type { IptablesBackend } from "./iptables/iptables.ts";
import { cleanupAllBackends } from "./iptables/cleanup.ts";
import { cleanupNftables } from "./nftables/cleanup.ts";
import { createNftablesBackends } from "./nftables/factory.ts";
import type { NftablesMetrics } from "./nftables/nftables_backend.ts";

/** What start-up hands the backend factory. */
export interface BackendInputs {
  readonly config: KubeProxyConfiguration;
  readonly dns: ClusterDNSConfiguration;
  /** The primary IP family (must work; the other is best effort). */
  readonly primary: IPFamily;
  readonly run: CommandRunner;
  /** The kernel's `nf_conntrack_tcp_be_liberal` after node preparation. */
  readonly tcpBeLiberal: boolean;
  /** The UDP port the cluster DNS responder really listens on; undefined when it is not running. */
  readonly dnsPort?: number;
  /** iptables mode: `legacy` or `nft`, as detected or configured. */
  readonly iptablesBackend: IptablesBackend;
  /**
   * The mode's own metrics (`ProxyMetrics`; in nftables mode its nftables counters are
   * registered then).
   */
  readonly metrics?: IptablesMetrics & NftablesMetrics & { enableNftablesMetrics?(): void };
  /** nftables mode: subscribes to the cluster's service CIDRs (a `ServiceCIDRTracker`). */
  readonly watchServiceCIDRs?: (onChange: (cidrs: readonly string[] | undefined) => void) => void;
  readonly clock?: Clock;
}

/**
 * The backends of `mode`, one per usable family (IPv4 first).
 *
 * @param mode `mode` of the configuration ("" means iptables, as upstream on Linux).
 * @param inputs what start-up found out.
 * @returns the backends.
 * @throws Error when the mode is not supported or the primary family cannot be programmed.
 */
export async function createBackends(
  mode: string,
  inputs: BackendInputs,
): Promise<ProxyBackend[]> {
  switch (mode) {
    case "":
    case "iptables":
      return await iptablesBackends(inputs);
    case "nftables":
      return await nftablesBackends(inputs);
    default:
      throw new Error(`Proxy mode ${JSON.stringify(mode)} is not supported on this node`);
  }
}

async function iptablesBackends(inputs: BackendInputs): Promise<ProxyBackend[]> {
  // Each mode removes the other's leftovers at start (upstream does the same).
  await cleanupNftables(inputs.run);
  const iptables = await createFamilies(inputs.iptablesBackend, inputs.primary, inputs.run);
  const options = iptablesBackendOptions(inputs.config, inputs.dns, {
    tcpBeLiberal: inputs.tcpBeLiberal,
    randomFully: await supportsRandomFully(inputs.iptablesBackend, inputs.run),
    dnsPort: inputs.dnsPort,
  });
  return createIptablesBackends(iptables, options, {
    metrics: inputs.metrics,
    clock: inputs.clock,
  });
}

/**
 * The iptables mode's settings from the configuration and the node's facts.
 *
 * @param config The validated, defaulted proxy configuration.
 * @param dns The validated, defaulted cluster DNS configuration.
 * @param facts What start-up learned: conntrack liberal mode, `--random-fully` support, DNS port.
 */
export function iptablesBackendOptions(
  config: KubeProxyConfiguration,
  dns: ClusterDNSConfiguration,
  facts: { tcpBeLiberal: boolean; randomFully: boolean; dnsPort?: number },
): IptablesBackendOptions {
  return {
    masqueradeBit: config.iptables.masqueradeBit,
    masqueradeAll: config.iptables.masqueradeAll,
    syncPeriodMs: config.iptables.syncPeriod,
    localhostNodePorts: config.iptables.localhostNodePorts,
    tcpBeLiberal: facts.tcpBeLiberal,
    randomFully: facts.randomFully,
    dnsIntercept: dnsInterceptFor(dns, facts.dnsPort),
  };
}

async function nftablesBackends(inputs: BackendInputs): Promise<ProxyBackend[]> {
  const backends = await createNftablesBackends({
    primary: inputs.primary,
    run: inputs.run,
    masqueradeBit: inputs.config.nftables.masqueradeBit,
    masqueradeAll: inputs.config.nftables.masqueradeAll,
    dnsIntercept: dnsInterceptFor(inputs.dns, inputs.dnsPort),
    metrics: inputs.metrics,
    watchServiceCIDRs: inputs.watchServiceCIDRs,
  });
  // Each mode removes the other's leftovers at start (upstream does the same); KUBE-FIREWALL
  // stays where kubelet manages it.
  if (await cleanupAllBackends({ run: inputs.run })) {
    log.error("Cannot remove all of iptables mode's rules; continuing in nftables mode");
  }
  return backends;
}

/**
 * `--cleanup`: removes every mode's rules from the node (iptables mode's chains in both families
 * and both iptables backends, KUBE-FIREWALL only without kubelet; nftables mode's `kube-proxy`
 * tables), trying all of them even after a failure.
 *
 * @param run Runs iptables and nft.
 * @returns true when anything failed (logged by the mode's cleanup).
 */
export async function cleanupAllModes(run: CommandRunner): Promise<boolean> {
  const iptablesFailed = await cleanupAllBackends({ run });
  const nftablesFailed = await cleanupNftables(run);
  return iptablesFailed || nftablesFailed;
}

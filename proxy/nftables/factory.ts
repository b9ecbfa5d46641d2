/**
 * Builds nftables mode's backends at start-up: checks that `nft` and the kernel support the
 * mode (a clear message when not), picks the families (the primary one, and the other when the
 * kernel has it), and wires the ServiceCIDR watch and the metrics.
 *
 * @module
 */

import type { IPFamily } from "../../cache/objects.ts";
import { log } from "../../config/log.ts";
import type { DnsIntercept } from "../backend.ts";
import type { CommandRunner } from "../exec.ts";
import { ExecNft, nftablesUnsupportedReason } from "./nft.ts";
import { NftablesBackend, type NftablesMetrics } from "./nftables_backend.ts";

/** What start-up hands the nftables factory. */
export interface NftablesInputs {
  /** The primary IP family (must work; the other is best effort). */
  readonly primary: IPFamily;
  readonly run: CommandRunner;
  /** `nftables.masqueradeBit`. */
  readonly masqueradeBit: number;
  /** `nftables.masqueradeAll`. */
  readonly masqueradeAll: boolean;
  readonly dnsIntercept?: DnsIntercept;
  /** `ProxyMetrics`, whose nftables counters are registered here. */
  readonly metrics?: NftablesMetrics & { enableNftablesMetrics?(): void };
  /**
   * Subscribes to the cluster's service CIDRs (ServiceCIDR objects; undefined while unknown);
   * without it, traffic to unallocated ClusterIPs is never dropped.
   */
  readonly watchServiceCIDRs?: (onChange: (cidrs: readonly string[] | undefined) => void) => void;
  /** `uname -r`; `Deno.osRelease()` by default. */
  readonly kernelRelease?: string;
  /** Upstream's `KUBE_PROXY_NFTABLES_SKIP_KERNEL_VERSION_CHECK`; read from the environment by default. */
  readonly skipKernelCheck?: boolean;
}

/**
 * The nftables backends, one per usable family (IPv4 first).
 *
 * @param inputs what start-up found out.
 * @returns the backends.
 * @throws Error naming what is missing when nft or the kernel cannot run this mode.
 */
export async function createNftablesBackends(inputs: NftablesInputs): Promise<NftablesBackend[]> {
  const reason = await nftablesUnsupportedReason(
    inputs.run,
    inputs.kernelRelease ?? Deno.osRelease(),
    inputs.skipKernelCheck ??
      Deno.env.get("KUBE_PROXY_NFTABLES_SKIP_KERNEL_VERSION_CHECK") !== undefined,
  );
  if (reason !== undefined) throw new Error(reason);
  const families: IPFamily[] = [];
  for (const family of ["IPv4", "IPv6"] as const) {
    if (family === inputs.primary || await hasFamily(inputs.run, family)) families.push(family);
    else log.info("No IPv6 support in the kernel: nftables mode runs single-stack");
  }
  inputs.metrics?.enableNftablesMetrics?.();
  const nft = new ExecNft(inputs.run);
  const backends = families.map((family) =>
    new NftablesBackend({
      family,
      nft,
      masqueradeBit: inputs.masqueradeBit,
      masqueradeAll: inputs.masqueradeAll,
      dnsIntercept: inputs.dnsIntercept,
      metrics: inputs.metrics,
    })
  );
  inputs.watchServiceCIDRs?.((cidrs) => {
    for (const b of backends) b.setServiceCIDRs(cidrs);
  });
  return backends;
}

async function hasFamily(run: CommandRunner, family: IPFamily): Promise<boolean> {
  if (family === "IPv4") return true;
  return (await run.run("test", ["-e", "/proc/net/if_inet6"])).code === 0;
}

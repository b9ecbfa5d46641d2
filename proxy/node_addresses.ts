/**
 * This node's own addresses as the proxier needs them, kept current from the Node object.
 *
 * Upstream resolves them once at start-up (`NodeIPs`, `nodePortAddresses: [primary]`); we follow
 * the Node through the watch cache instead, so that a node whose IP changes needs no restart.
 *
 * @module
 */

import type { NodeHandler } from "../cache/handlers.ts";
import type { IPFamily, Node } from "../cache/objects.ts";
import { log } from "../config/log.ts";
import type { KubeProxyConfiguration } from "../config/types.ts";
import { canonicalIP, ipFamilyOf } from "./net.ts";

/**
 * The family of `bindAddress` when it names a specific IP; undefined for `0.0.0.0`, `::` and
 * anything that is not an IP.
 *
 * @param bindAddress The configured `bindAddress`.
 */
export function bindAddressFamily(bindAddress: string): IPFamily | undefined {
  const ip = canonicalIP(bindAddress.trim());
  if (ip === undefined || ip === "0.0.0.0" || ip === "::") return undefined;
  return ipFamilyOf(ip);
}

/**
 * Keeps the node-IP-dependent settings current from this node's Node object: the primary IP per
 * family (`bindAddress` wins when it is a specific IP) and `nodePortAddresses: [primary]`, which
 * upstream resolves to the node IPs as /32 and /128. Both objects are updated in place: the
 * proxier reads them on every sync, and a Node change makes it run a full sync (register this
 * handler before the proxier's so that the sync sees the new values).
 *
 * @param config `bindAddress` and `nodePortAddresses` of the configuration.
 * @param nodeIPs Filled with the node's IP per family.
 * @param nodePortAddresses The proxier's `nodePortAddresses`; rewritten when it holds `primary`.
 * @returns The handler to register on the cache.
 */
export function trackNodeAddresses(
  config: Pick<KubeProxyConfiguration, "bindAddress" | "nodePortAddresses">,
  nodeIPs: Partial<Record<IPFamily, string>>,
  nodePortAddresses: string[],
): NodeHandler {
  const usesPrimary = (config.nodePortAddresses ?? []).includes("primary");
  const bindFamily = bindAddressFamily(config.bindAddress);
  if (bindFamily !== undefined) nodeIPs[bindFamily] = config.bindAddress.trim();
  const apply = (node: Node | undefined) => {
    for (const family of ["IPv4", "IPv6"] as const) {
      if (family === bindFamily) continue;
      const ip = node?.addresses.find((a) => ipFamilyOf(a) === family);
      if (ip === undefined) delete nodeIPs[family];
      else nodeIPs[family] = ip;
    }
    if (!usesPrimary) return;
    const cidrs = Object.values(nodeIPs).map((ip) => ip.includes(":") ? `${ip}/128` : `${ip}/32`);
    // Until the node IPs are known, `primary` matches no address (not every address).
    nodePortAddresses.splice(
      0,
      nodePortAddresses.length,
      ...(cidrs.length ? cidrs : ["0.0.0.0/32"]),
    );
  };
  apply(undefined);
  return {
    onNodeAdd: (node) => apply(node),
    onNodeUpdate: (_previous, node) => apply(node),
    onNodeDelete: () => apply(undefined),
    onNodeSynced: () => {
      if (Object.keys(nodeIPs).length === 0) {
        log.warn(
          "Can't determine this node's IP, assuming loopback; if this is incorrect, please set " +
            "the --bind-address flag",
        );
      } else log.info("Successfully retrieved NodeIPs", { NodeIPs: Object.values(nodeIPs) });
    },
  };
}

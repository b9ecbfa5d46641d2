/**
 * This node's own addresses as the proxier needs them, derived from the configuration and the
 * Node object.
 *
 * Upstream resolves them once at start-up (`NodeIPs`, `nodePortAddresses: [primary]`); the
 * proxier follows the Node through the watch cache instead (`nodeAddressesOf` on every Node
 * event), so that a node whose IP changes needs no restart.
 *
 * @module
 */

import type { IPFamily, Node } from "../cache/objects.ts";
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

/** This node's addresses as the proxier uses them. */
export interface NodeAddresses {
  /** The primary IP per family (`bindAddress` wins when it is a specific IP). */
  readonly nodeIPs: Partial<Record<IPFamily, string>>;
  /**
   * `nodePortAddresses` with `primary` resolved to the node IPs as /32 and /128 (as upstream);
   * `0.0.0.0/32` (no address) while they are unknown; unchanged without `primary`.
   */
  readonly nodePortAddresses: readonly string[];
}

/**
 * This node's addresses from the configuration and its Node object (the proxier recomputes them
 * on every Node event and makes a full sync when they change).
 *
 * @param config `bindAddress` and `nodePortAddresses` of the configuration.
 * @param node this node's Node object; undefined before it is seen or after it is deleted.
 * @returns the node IPs and the resolved `nodePortAddresses`.
 * @example
 * ```ts
 * nodeAddressesOf({ nodePortAddresses: ["primary"] }, node).nodePortAddresses; // ["10.0.0.5/32"]
 * ```
 */
export function nodeAddressesOf(
  config: {
    readonly bindAddress?: string;
    readonly nodePortAddresses?: readonly string[] | null;
  },
  node: Node | undefined,
): NodeAddresses {
  const nodeIPs: Partial<Record<IPFamily, string>> = {};
  const bindFamily = bindAddressFamily(config.bindAddress ?? "");
  if (bindFamily !== undefined) nodeIPs[bindFamily] = config.bindAddress!.trim();
  for (const family of ["IPv4", "IPv6"] as const) {
    if (family === bindFamily) continue;
    const ip = node?.addresses.find((a) => ipFamilyOf(a) === family);
    if (ip !== undefined) nodeIPs[family] = ip;
  }
  const configured = config.nodePortAddresses ?? [];
  if (!configured.includes("primary")) return { nodeIPs, nodePortAddresses: configured };
  const cidrs = Object.values(nodeIPs).map((ip) => ip.includes(":") ? `${ip}/128` : `${ip}/32`);
  // Until the node IPs are known, `primary` matches no address (not every address).
  return { nodeIPs, nodePortAddresses: cidrs.length ? cidrs : ["0.0.0.0/32"] };
}

/**
 * Whether two {@linkcode NodeAddresses} are the same.
 *
 * @param a one.
 * @param b the other.
 */
export function sameNodeAddresses(a: NodeAddresses, b: NodeAddresses): boolean {
  return a.nodeIPs.IPv4 === b.nodeIPs.IPv4 && a.nodeIPs.IPv6 === b.nodeIPs.IPv6 &&
    a.nodePortAddresses.join(",") === b.nodePortAddresses.join(",");
}

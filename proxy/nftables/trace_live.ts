/**
 * Tracing a packet through the `kube-proxy` table the kernel holds now: list the table of the
 * packet's family, parse the listing, trace (`kube-proxy trace` in nftables mode).
 *
 * @module
 */

import { parseTableListing } from "./listing.ts";
import type { Nft } from "./nft.ts";
import { type NftTracePacket, type NftTraceResult, traceNftPacket } from "./tracer.ts";

/**
 * Traces `packet` through the kernel's `kube-proxy` table of its family.
 *
 * @param nft lists the table (`ExecNft` on a node; `FakeNft` in tests).
 * @param packet the packet; its destination's family picks the table (`ip` or `ip6`).
 * @returns the trace, or undefined when the family has no `kube-proxy` table.
 * @throws {SyntaxError} when the listing holds a rule shape nftables mode does not write.
 * @example
 * ```ts
 * const r = await traceKernelPacket(new ExecNft(new DenoCommandRunner()), {
 *   sourceIP: "10.0.0.2", destIP: "172.30.0.41", destPort: 80, nodeIPs: ["192.168.0.2"],
 * });
 * ```
 */
export async function traceKernelPacket(
  nft: Nft,
  packet: NftTracePacket,
): Promise<NftTraceResult | undefined> {
  const listing = await nft.listTable(packet.destIP.includes(":") ? "ip6" : "ip");
  return listing === undefined ? undefined : traceNftPacket(parseTableListing(listing), packet);
}

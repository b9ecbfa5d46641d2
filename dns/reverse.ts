/**
 * Reverse names (`in-addr.arpa`, `ip6.arpa`) <-> IP addresses.
 *
 * @module
 */

import { formatIP } from "./ip.ts";

/** The reverse zones the responder is authoritative for. */
export const REVERSE_ZONES = ["in-addr.arpa", "ip6.arpa"] as const;

/** A name inside one of the reverse zones. */
export interface ReverseRequest {
  /** The reverse zone the name is in. */
  readonly zone: (typeof REVERSE_ZONES)[number];
  /** The address the name stands for, canonical; undefined for partial or malformed names. */
  readonly ip: string | undefined;
}

/**
 * Parses a lowercased name inside `in-addr.arpa` or `ip6.arpa`.
 *
 * Only complete names (4 decimal labels, or 32 nibble labels) stand for an address; the zone
 * apex and partial names (`10.in-addr.arpa`) are inside the zone without an address.
 *
 * @param name Lowercased name without the trailing dot.
 * @returns The request, or undefined when the name is outside both reverse zones.
 * @example
 * ```ts
 * parseReverseName("1.0.0.10.in-addr.arpa"); // { zone: "in-addr.arpa", ip: "10.0.0.1" }
 * ```
 */
export function parseReverseName(name: string): ReverseRequest | undefined {
  for (const zone of REVERSE_ZONES) {
    if (name === zone) return { zone, ip: undefined };
    if (!name.endsWith("." + zone)) continue;
    const labels = name.slice(0, name.length - zone.length - 1).split(".");
    return { zone, ip: zone === "in-addr.arpa" ? ipv4Of(labels) : ipv6Of(labels) };
  }
  return undefined;
}

function ipv4Of(labels: string[]): string | undefined {
  if (labels.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const l = labels[3 - i];
    if (!/^(0|[1-9][0-9]{0,2})$/.test(l) || Number(l) > 255) return undefined;
    bytes[i] = Number(l);
  }
  return formatIP(bytes);
}

function ipv6Of(labels: string[]): string | undefined {
  if (labels.length !== 32) return undefined;
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 32; i++) {
    const l = labels[31 - i];
    if (l.length !== 1) return undefined;
    const nibble = parseInt(l, 16);
    if (Number.isNaN(nibble)) return undefined;
    bytes[i >> 1] |= (i & 1) === 0 ? nibble << 4 : nibble;
  }
  return formatIP(bytes);
}

/**
 * The reverse name of an address, for tests and tools.
 *
 * @param bytes 4 or 16 address bytes.
 * @returns `d.c.b.a.in-addr.arpa` or the 32-nibble `ip6.arpa` name.
 */
export function reverseNameOf(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[3]}.${bytes[2]}.${bytes[1]}.${bytes[0]}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    nibbles.push((bytes[i] & 0xf).toString(16), (bytes[i] >> 4).toString(16));
  }
  return nibbles.join(".") + ".ip6.arpa";
}

/**
 * Small IP and CIDR helpers the proxier needs: family detection, upstream's "sloppy" parsing
 * (leading zeros allowed in IPv4 octets, as Go's `netutils.ParseIPSloppy`), canonical CIDR text
 * (network address masked, as Go's `net.IPNet.String()`), containment, and `host:port` joining.
 *
 * The parsing, formatting, masking and containment themselves live in `config/ip.ts` (its
 * `ParsedIP`/`ParsedCIDR` types too); this file adds the proxier's trimming, `IPFamily` names
 * and string-level conveniences.
 *
 * @module
 */

import type { IPFamily } from "../cache/objects.ts";
import {
  cidrContainsIP,
  formatIP,
  joinHostPort,
  maskIP,
  parseCIDRWith,
  type ParsedCIDR,
  type ParsedIP,
  parseIPBytes,
} from "../config/ip.ts";

export { joinHostPort };

/**
 * The family of an IP address string, by its shape.
 *
 * @param ip an address (not validated beyond the presence of ":").
 * @returns "IPv6" when it contains ":", else "IPv4".
 * @example
 * ```ts
 * ipFamilyOf("fd00::1"); // "IPv6"
 * ```
 */
export function ipFamilyOf(ip: string): IPFamily {
  return ip.includes(":") ? "IPv6" : "IPv4";
}

const CANONICAL_IPV4 =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * Canonicalizes an address string leniently.
 *
 * @param s the address text.
 * @returns the canonical text, or undefined when `s` is not an address.
 * @example
 * ```ts
 * canonicalIP("010.0.0.1"); // "10.0.0.1"
 * ```
 */
export function canonicalIP(s: string): string | undefined {
  // Fast path: most addresses (from the cache, already normalized) are canonical dotted quads.
  if (CANONICAL_IPV4.test(s)) return s;
  const bytes = parseIPBytes(s.trim());
  return bytes === undefined ? undefined : formatIP(bytes);
}

/**
 * Parses a CIDR leniently (surrounding whitespace and leading zeros allowed) and masks it.
 *
 * @param s CIDR text, e.g. `" 203.0.113.000/025"`.
 * @returns the masked network, or undefined when `s` is not a CIDR.
 * @example
 * ```ts
 * formatCIDR(parseCIDRSloppy("203.0.113.7/25")!); // "203.0.113.0/25"
 * ```
 */
export function parseCIDRSloppy(s: string): ParsedCIDR | undefined {
  const cidr = parseCIDRWith(s.trim(), toConfigIP);
  if (cidr === undefined) return undefined;
  return { ip: { ...cidr.ip, bytes: maskIP(cidr.ip.bytes, cidr.prefix) }, prefix: cidr.prefix };
}

/**
 * The family of a parsed CIDR, as the proxier names families.
 *
 * @param cidr a parsed CIDR.
 * @returns "IPv4" or "IPv6".
 */
export function cidrFamily(cidr: ParsedCIDR): IPFamily {
  return cidr.ip.family === 4 ? "IPv4" : "IPv6";
}

/** Parses trimmed sloppy text into `config/ip.ts`'s shape. */
function toConfigIP(s: string): ParsedIP | undefined {
  const bytes = parseIPBytes(s.trim());
  return bytes === undefined ? undefined : { family: bytes.length === 4 ? 4 : 6, bytes };
}

/**
 * Formats a parsed CIDR as `network/prefix`.
 *
 * @param cidr a parsed CIDR.
 * @returns e.g. `10.0.0.0/8`.
 * @example
 * ```ts
 * formatCIDR(parseCIDRSloppy("fd00::1/64")!); // "fd00::/64"
 * ```
 */
export function formatCIDR(cidr: ParsedCIDR): string {
  return `${formatIP(cidr.ip.bytes)}/${cidr.prefix}`;
}

/**
 * Tells whether `ip` lies inside `cidr`. A bare address is treated as a host route.
 *
 * @param cidr `network/prefix` or an address.
 * @param ip an address.
 * @returns false when either fails to parse or the families differ.
 * @example
 * ```ts
 * cidrContains("10.0.0.0/8", "10.180.0.1"); // true
 * ```
 */
export function cidrContains(cidr: string, ip: string): boolean {
  const net = cidr.includes("/") ? parseCIDRWith(cidr.trim(), toConfigIP) : hostCIDR(cidr);
  const addr = toConfigIP(ip);
  return net !== undefined && addr !== undefined && cidrContainsIP(net, addr);
}

function hostCIDR(ip: string): ParsedCIDR | undefined {
  const p = toConfigIP(ip);
  return p === undefined ? undefined : { ip: p, prefix: p.bytes.length * 8 };
}

/**
 * Tells whether an address is a loopback address (127.0.0.0/8 or ::1).
 *
 * @param ip an address.
 * @returns true for loopback.
 * @example
 * ```ts
 * isLoopback("127.0.0.1"); // true
 * ```
 */
export function isLoopback(ip: string): boolean {
  return cidrContains("127.0.0.0/8", ip) || cidrContains("::1/128", ip);
}

/**
 * Tells whether `nodePortAddresses` lets NodePorts be reached on IPv4 loopback, as upstream's
 * `NodePortAddresses.ContainsIPv4Loopback()`: with no IPv4 CIDR (every address), or with an IPv4
 * CIDR that overlaps 127.0.0.0/8 (its network is a loopback address, as `127.0.0.2/32`, or it
 * contains 127.0.0.0, as `0.0.0.0/0`). `primary` stands for the node's own IPs, never loopback.
 * Localhost NodePorts (route_localnet and the KUBE-FIREWALL martian drop) need this.
 *
 * @param nodePortAddresses the `nodePortAddresses` setting (CIDRs of any family, or `primary`).
 * @returns true when 127.0.0.0/8 may carry NodePort traffic.
 * @example
 * ```ts
 * allowsLocalhostNodePorts(["127.0.0.2/32"]); // true
 * allowsLocalhostNodePorts(["10.0.0.0/8"]); // false
 * ```
 */
export function allowsLocalhostNodePorts(nodePortAddresses: readonly string[]): boolean {
  let anyIPv4 = false;
  for (const raw of nodePortAddresses) {
    if (raw.trim() === "primary") {
      anyIPv4 = true;
      continue;
    }
    const cidr = parseCIDRSloppy(raw);
    if (cidr === undefined || cidr.ip.family !== 4) continue;
    anyIPv4 = true;
    if (cidr.ip.bytes[0] === 127 || cidrContains(formatCIDR(cidr), "127.0.0.0")) return true;
  }
  return !anyIPv4;
}

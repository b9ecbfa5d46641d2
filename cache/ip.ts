/**
 * IP and CIDR text as the cache stores it, canonical as Go's `net.IP.String()` prints it: IPv4
 * dotted decimal without leading zeros; IPv6 lowercase with the longest run of zero groups (two or
 * more, the first on a tie) compressed to `::` (RFC 5952); IPv4-mapped IPv6 addresses as IPv4.
 * Parsing is sloppy (`netutils.ParseIPSloppy`) and ignores surrounding whitespace. The parsing
 * itself lives in `config/ip.ts`.
 *
 * @module
 */

import {
  formatIP,
  maskIP,
  parseCIDRWith,
  type ParsedIP,
  parseIPBytes,
  unmapIPv4,
} from "../config/ip.ts";

/** Parses trimmed, sloppy text; an IPv4-mapped address becomes IPv4, as in Go. */
function parseStoredIP(text: string): ParsedIP | undefined {
  if (typeof text !== "string") return undefined;
  const bytes = parseIPBytes(text.trim());
  if (bytes === undefined) return undefined;
  const unmapped = unmapIPv4(bytes);
  return { family: unmapped.length === 4 ? 4 : 6, bytes: unmapped };
}

/**
 * Canonical text of an IP address.
 *
 * @param text An IPv4 or IPv6 address.
 * @returns the canonical text, or undefined when `text` is not an IP address.
 */
export function canonicalIP(text: string): string | undefined {
  const ip = parseStoredIP(text);
  return ip === undefined ? undefined : formatIP(ip.bytes);
}

/**
 * Canonical text of a CIDR, with the host bits cleared (as Go's `net.ParseCIDR` returns the
 * network): `10.0.0.7/8` gives `10.0.0.0/8`.
 *
 * @param text A CIDR.
 * @returns the canonical CIDR, or undefined when `text` is not one.
 */
export function canonicalCIDR(text: string): string | undefined {
  if (typeof text !== "string") return undefined;
  const cidr = parseCIDRWith(text.trim(), parseStoredIP);
  if (cidr === undefined) return undefined;
  return `${formatIP(maskIP(cidr.ip.bytes, cidr.prefix))}/${cidr.prefix}`;
}

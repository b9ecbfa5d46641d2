/**
 * IP address text <-> bytes, for A/AAAA RDATA, reverse names and pod labels. Parsing is strict
 * (no leading zeros in IPv4 octets, as Go's `net.ParseIP`); IPv6 text output is the canonical
 * RFC 5952 form, the same form the cache stores addresses in. Both come from `config/ip.ts`.
 *
 * @module
 */

import { formatIP, parseIPBytes } from "../config/ip.ts";

export { formatIP };

/** The longest address text there is (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`). */
const MAX_IP_TEXT = 45;

/**
 * Parses an IPv4 dotted quad or an IPv6 address (no zone, no prefix length).
 *
 * @param text The address.
 * @returns 4 or 16 bytes, or undefined when `text` is not an address.
 * @example
 * ```ts
 * parseIP("10.0.0.1"); // Uint8Array [10, 0, 0, 1]
 * ```
 */
export function parseIP(text: string): Uint8Array | undefined {
  if (text.length > MAX_IP_TEXT) return undefined;
  return parseIPBytes(text, { strict: true });
}

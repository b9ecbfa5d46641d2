/**
 * Small IP and CIDR helpers the proxier needs: family detection, upstream's "sloppy" parsing
 * (leading zeros allowed in IPv4 octets, as Go's `netutils.ParseIPSloppy`), canonical CIDR text
 * (network address masked, as Go's `net.IPNet.String()`), containment, and `host:port` joining.
 *
 * Addresses are kept as 16-byte arrays internally; IPv4 uses the first 4 bytes.
 *
 * @module
 */

import type { IPFamily } from "../cache/objects.ts";

/** A parsed address: its family and bytes (4 or 16). */
export interface ParsedIP {
  readonly family: IPFamily;
  readonly bytes: Uint8Array;
}

/** A parsed CIDR: the masked network address and the prefix length. */
export interface ParsedCIDR extends ParsedIP {
  readonly prefix: number;
}

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

function parseIPv4(s: string): Uint8Array | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (p.length === 0 || p.length > 3 || !/^[0-9]+$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIPv6(s: string): Uint8Array | undefined {
  let text = s;
  const out = new Uint8Array(16);
  // An embedded IPv4 tail (::ffff:1.2.3.4).
  let tail: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.indexOf(".", lastColon) !== -1) {
    tail = parseIPv4(text.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    text = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const rest = halves.length === 2 ? (halves[1] === "" ? [] : halves[1].split(":")) : [];
  if (halves.length === 1 && head.length !== 8) return undefined;
  if (halves.length === 2 && head.length + rest.length > 7) return undefined;
  const groups = [...head, ...new Array(8 - head.length - rest.length).fill("0"), ...rest];
  for (let i = 0; i < 8; i++) {
    const g = groups[i];
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  }
  if (tail !== undefined) out.set(tail, 12);
  return out;
}

/**
 * Parses an address leniently, as upstream's `ParseIPSloppy` (IPv4 octets may have leading zeros).
 *
 * @param s the address text.
 * @returns the parsed address, or undefined when `s` is not an address.
 * @example
 * ```ts
 * formatIP(parseIPSloppy("10.180.00.001")!); // "10.180.0.1"
 * ```
 */
export function parseIPSloppy(s: string): ParsedIP | undefined {
  const t = s.trim();
  if (t.includes(":")) {
    const bytes = parseIPv6(t);
    return bytes === undefined ? undefined : { family: "IPv6", bytes };
  }
  const bytes = parseIPv4(t);
  return bytes === undefined ? undefined : { family: "IPv4", bytes };
}

/**
 * Formats an address canonically (dotted quad; RFC 5952 for IPv6).
 *
 * @param ip a parsed address.
 * @returns its canonical text.
 * @example
 * ```ts
 * formatIP(parseIPSloppy("FD00:0:0::01")!); // "fd00::1"
 * ```
 */
export function formatIP(ip: ParsedIP): string {
  const b = ip.bytes;
  if (ip.family === "IPv4") return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[i * 2] << 8) | b[i * 2 + 1]);
  // Longest run (length >= 2) of zero groups becomes "::".
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(":");
  return hex.slice(0, bestStart).join(":") + "::" + hex.slice(bestStart + bestLen).join(":");
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
  const ip = parseIPSloppy(s);
  return ip === undefined ? undefined : formatIP(ip);
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
  const t = s.trim();
  const slash = t.indexOf("/");
  if (slash === -1) return undefined;
  const ip = parseIPSloppy(t.slice(0, slash));
  const prefixText = t.slice(slash + 1);
  if (ip === undefined || !/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > ip.bytes.length * 8) return undefined;
  const bytes = ip.bytes.slice();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] &= keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
  }
  return { family: ip.family, bytes, prefix };
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
  return `${formatIP(cidr)}/${cidr.prefix}`;
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
  const net = cidr.includes("/") ? parseCIDRSloppy(cidr) : hostCIDR(cidr);
  const addr = parseIPSloppy(ip);
  if (net === undefined || addr === undefined || net.family !== addr.family) return false;
  for (let i = 0; i < net.bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, net.prefix - i * 8));
    if (keep === 0) break;
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((addr.bytes[i] & mask) !== net.bytes[i]) return false;
  }
  return true;
}

function hostCIDR(ip: string): ParsedCIDR | undefined {
  const p = parseIPSloppy(ip);
  return p === undefined ? undefined : { ...p, prefix: p.bytes.length * 8 };
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
 * Joins an address and port as Go's `net.JoinHostPort` (IPv6 in brackets).
 *
 * @param ip an address.
 * @param port a port number.
 * @returns `IP:port` or `[IP]:port`.
 * @example
 * ```ts
 * joinHostPort("fd00::1", 80); // "[fd00::1]:80"
 * ```
 */
export function joinHostPort(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

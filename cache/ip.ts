/**
 * IP and CIDR parsing into canonical text, as Go's `net.IP.String()` prints it: IPv4 dotted
 * decimal without leading zeros; IPv6 lowercase with the longest run of zero groups (two or more,
 * the first on a tie) compressed to `::` (RFC 5952); IPv4-mapped IPv6 addresses as IPv4.
 *
 * @module
 */

function parseIPv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    // Leading zeros are read as decimal, as netutils.ParseIPSloppy does.
    if (!/^[0-9]{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

/** Parses IPv6 text into 8 groups (or undefined). */
function parseIPv6(text: string): number[] | undefined {
  if (text.includes("%")) return undefined;
  let head = text;
  let tailV4: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tailV4 = [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
    head = text.slice(0, lastColon + 1);
    // Drop the ':' before the dotted part, unless it belongs to a "::" ("::1.2.3.4").
    if (!head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parseGroups(halves[0]);
  const right = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (left === undefined || right === undefined) return undefined;
  const given = left.length + right.length + tailV4.length;
  if (halves.length === 2) {
    if (given > 7) return undefined;
    return [...left, ...new Array(8 - given).fill(0), ...right, ...tailV4];
  }
  if (given !== 8) return undefined;
  return [...left, ...tailV4];
}

function formatIPv6(groups: number[]): string {
  let bestStart = -1;
  let bestLen = 0;
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
  if (bestStart < 0) return hex.join(":");
  return hex.slice(0, bestStart).join(":") + "::" + hex.slice(bestStart + bestLen).join(":");
}

/** A parsed address: family plus bytes (4 or 16). */
interface ParsedIP {
  readonly v6: boolean;
  readonly bytes: number[];
}

function parseIP(text: string): ParsedIP | undefined {
  if (typeof text !== "string") return undefined;
  const t = text.trim();
  if (t.includes(":")) {
    const groups = parseIPv6(t);
    if (groups === undefined) return undefined;
    const bytes = groups.flatMap((g) => [g >> 8, g & 255]);
    // IPv4-mapped (::ffff:a.b.c.d) prints as IPv4, as in Go.
    if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255) {
      return { v6: false, bytes: bytes.slice(12) };
    }
    return { v6: true, bytes };
  }
  const v4 = parseIPv4(t);
  return v4 === undefined ? undefined : { v6: false, bytes: v4 };
}

function formatIP(ip: ParsedIP): string {
  if (!ip.v6) return ip.bytes.join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((ip.bytes[i] << 8) | ip.bytes[i + 1]);
  return formatIPv6(groups);
}

/**
 * Canonical text of an IP address.
 *
 * @param text An IPv4 or IPv6 address.
 * @returns the canonical text, or undefined when `text` is not an IP address.
 */
export function canonicalIP(text: string): string | undefined {
  const ip = parseIP(text);
  return ip === undefined ? undefined : formatIP(ip);
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
  const slash = text.trim().indexOf("/");
  if (slash < 0) return undefined;
  const t = text.trim();
  const ip = parseIP(t.slice(0, slash));
  const lenText = t.slice(slash + 1);
  if (ip === undefined || !/^[0-9]{1,3}$/.test(lenText)) return undefined;
  const len = Number(lenText);
  const bits = ip.bytes.length * 8;
  if (len > bits) return undefined;
  const bytes = ip.bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  return `${formatIP({ v6: ip.v6, bytes })}/${len}`;
}

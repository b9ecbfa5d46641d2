/**
 * IP address, CIDR and `host:port` parsing with the semantics kube-proxy's validation uses:
 * `netutils.ParseIPSloppy` / `ParseCIDRSloppy` (IPv4 octets may have leading zeros, CIDRs may
 * have host bits set) and Go's `net.SplitHostPort`.
 *
 * @module
 */

/** A parsed IP address. */
export interface ParsedIP {
  /** 4 for IPv4, 6 for IPv6 (including IPv4-mapped IPv6 written in IPv6 form). */
  readonly family: 4 | 6;
  /** The address bytes (4 or 16). */
  readonly bytes: Uint8Array;
}

function parseIPv4Bytes(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i];
    if (!/^[0-9]{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    bytes[i] = n;
  }
  return bytes;
}

function parseIPv6Bytes(text: string): Uint8Array | undefined {
  if (!text.includes(":")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIPv4Bytes(part);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const head = groupsOf(halves[0]);
  const tail = halves.length === 2 ? groupsOf(halves[1]) : [];
  if (!head || !tail) return undefined;
  // An embedded IPv4 address may only come last.
  if (halves.length === 2 && halves[0].includes(".")) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array(missing).fill(0), ...tail];
  } else {
    if (head.length !== 8) return undefined;
    groups = head;
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/**
 * Parses an IPv4 or IPv6 address as `netutils.ParseIPSloppy` does (no zones, no brackets;
 * IPv4 octets may carry leading zeros).
 *
 * @param text The address text.
 * @returns The address, or undefined when `text` is not an IP address.
 * @example
 * ```ts
 * parseIP("10.0.0.1")?.family; // 4
 * ```
 */
export function parseIP(text: string): ParsedIP | undefined {
  const v4 = parseIPv4Bytes(text);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6Bytes(text);
  if (v6) return { family: 6, bytes: v6 };
  return undefined;
}

/**
 * Whether `text` is an IPv6 address (as `netutils.IsIPv6String`).
 *
 * @param text The address text.
 * @returns True for an IPv6 address.
 */
export function isIPv6String(text: string): boolean {
  return parseIP(text)?.family === 6;
}

/** A parsed CIDR block. */
export interface ParsedCIDR {
  /** The address before the slash (host bits are allowed, as ParseCIDRSloppy). */
  readonly ip: ParsedIP;
  /** The prefix length. */
  readonly prefix: number;
}

/**
 * Parses a CIDR block as `netutils.ParseCIDRSloppy` does.
 *
 * @param text Such as `10.0.0.0/8` or `fd00::/64`.
 * @returns The block, or undefined when `text` is not a CIDR block.
 */
export function parseCIDR(text: string): ParsedCIDR | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIP(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > (ip.family === 4 ? 32 : 128)) return undefined;
  return { ip, prefix };
}

/**
 * Splits `host:port` or `[host]:port` as Go's `net.SplitHostPort` does (the port is not
 * checked, the host may be empty).
 *
 * @param text The address text.
 * @returns Host and port, or undefined when Go would return an error.
 */
export function splitHostPort(text: string): { host: string; port: string } | undefined {
  const i = text.lastIndexOf(":");
  if (i < 0) return undefined;
  let host: string;
  let j = 0;
  let k = 0;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0 || end + 1 !== i) return undefined;
    host = text.slice(1, end);
    j = 1;
    k = end + 1;
  } else {
    host = text.slice(0, i);
    if (host.includes(":")) return undefined;
  }
  if (text.slice(j).includes("[") || text.slice(k).includes("]")) return undefined;
  return { host, port: text.slice(i + 1) };
}

/**
 * Appends `:port` to a bare IP address, as upstream's `AppendPortIfNeeded`: an address that
 * already has a port, or is not an IP at all, comes back unchanged.
 *
 * @param address An IP, `IP:port`, or anything else.
 * @param port The port to append.
 * @returns The address with a port when it was a bare IP.
 */
export function appendPortIfNeeded(address: string, port: number): string {
  if (splitHostPort(address)) return address;
  const ip = parseIP(address);
  if (!ip) return address;
  return ip.family === 4 ? `${address}:${port}` : `[${address}]:${port}`;
}

/**
 * The one IP address and CIDR module of the project: parsing into bytes (Go's
 * `netutils.ParseIPSloppy` semantics by default, IPv4 octets may have leading zeros; or strict),
 * canonical text as Go's `net.IP.String()` prints it (RFC 5952 for IPv6), CIDR parsing
 * (`ParseCIDRSloppy`: host bits allowed), masking and containment, and Go's `net.SplitHostPort` /
 * `JoinHostPort`. `cache/ip.ts`, `dns/ip.ts` and `proxy/net.ts` build their area-specific helpers
 * on these.
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

/** How {@link parseIPBytes} reads an address. */
export interface ParseIPOptions {
  /**
   * Reject IPv4 octets with leading zeros (`01.2.3.4`), as Go's `net.ParseIP` does since Go 1.17.
   * Default false: leading zeros are read as decimal, as `netutils.ParseIPSloppy` does.
   */
  readonly strict?: boolean;
}

function parseIPv4Bytes(text: string, strict: boolean): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i];
    if (!/^[0-9]{1,3}$/.test(part)) return undefined;
    if (strict && part.length > 1 && part[0] === "0") return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    bytes[i] = n;
  }
  return bytes;
}

function parseIPv6Bytes(text: string, strict: boolean): Uint8Array | undefined {
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
        const v4 = parseIPv4Bytes(part, strict);
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
 * Parses an IPv4 or IPv6 address into its bytes (no zones, no brackets, no surrounding
 * whitespace). An IPv4-mapped IPv6 address stays 16 bytes (see {@link unmapIPv4}).
 *
 * @param text The address text.
 * @param opts Strict or sloppy (default) IPv4 octets.
 * @returns 4 or 16 bytes, or undefined when `text` is not an IP address.
 * @example
 * ```ts
 * parseIPBytes("010.0.0.1"); // Uint8Array [10, 0, 0, 1]
 * parseIPBytes("010.0.0.1", { strict: true }); // undefined
 * ```
 */
export function parseIPBytes(text: string, opts: ParseIPOptions = {}): Uint8Array | undefined {
  const strict = opts.strict ?? false;
  return text.includes(":") ? parseIPv6Bytes(text, strict) : parseIPv4Bytes(text, strict);
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
  const bytes = parseIPBytes(text);
  if (bytes === undefined) return undefined;
  return { family: bytes.length === 4 ? 4 : 6, bytes };
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

/**
 * The 4 IPv4 bytes of an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), as Go treats such an
 * address as IPv4; any other address comes back unchanged.
 *
 * @param bytes 4 or 16 address bytes.
 * @returns 4 bytes for IPv4 and IPv4-mapped addresses, else `bytes`.
 */
export function unmapIPv4(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16 || bytes[10] !== 0xff || bytes[11] !== 0xff) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  return bytes.slice(12);
}

/**
 * Formats 4 or 16 address bytes as canonical text: IPv4 dotted decimal without leading zeros;
 * IPv6 lowercase with the longest run (two or more, the first on a tie) of zero groups as `::`
 * (RFC 5952). 16 bytes always print as IPv6 (unmap first to print a mapped address as IPv4).
 *
 * @param bytes The address.
 * @returns The canonical text.
 * @example
 * ```ts
 * formatIP(parseIPBytes("FD00:0:0::01")!); // "fd00::1"
 * ```
 */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
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
  return parseCIDRWith(text, parseIP);
}

/**
 * Parses `address/prefix` with the given address parser (for callers that trim or unmap
 * addresses first); the prefix must fit the family the parser returns.
 *
 * @param text The CIDR text (split at its first `/`).
 * @param parseAddress Parses the part before the slash.
 * @returns The block (host bits kept), or undefined when `text` is not a CIDR block.
 */
export function parseCIDRWith(
  text: string,
  parseAddress: (text: string) => ParsedIP | undefined,
): ParsedCIDR | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > (ip.family === 4 ? 32 : 128)) return undefined;
  return { ip, prefix };
}

/**
 * Clears the host bits of an address (the network address of `bytes/prefix`).
 *
 * @param bytes 4 or 16 address bytes (not modified).
 * @param prefix The prefix length.
 * @returns A new array with every bit past `prefix` cleared.
 * @example
 * ```ts
 * formatIP(maskIP(parseIPBytes("10.244.1.7")!, 24)); // "10.244.1.0"
 * ```
 */
export function maskIP(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return out;
}

/**
 * Whether `ip` lies inside `cidr` (same family, same first `prefix` bits).
 *
 * @param cidr The block.
 * @param ip The address.
 * @returns False when the families differ.
 * @example
 * ```ts
 * cidrContainsIP(parseCIDR("10.0.0.0/8")!, parseIP("10.180.0.1")!); // true
 * ```
 */
export function cidrContainsIP(cidr: ParsedCIDR, ip: ParsedIP): boolean {
  if (cidr.ip.family !== ip.family) return false;
  const net = cidr.ip.bytes;
  for (let i = 0; i < net.length; i++) {
    const keep = Math.max(0, Math.min(8, cidr.prefix - i * 8));
    if (keep === 0) break;
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((ip.bytes[i] & mask) !== (net[i] & mask)) return false;
  }
  return true;
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
  if (!parseIP(address)) return address;
  return joinHostPort(address, port);
}

/**
 * Joins a host and port as Go's `net.JoinHostPort` (a host with a colon, i.e. IPv6, goes in
 * brackets).
 *
 * @param host An address or name.
 * @param port A port number.
 * @returns `host:port` or `[host]:port`.
 * @example
 * ```ts
 * joinHostPort("fd00::1", 80); // "[fd00::1]:80"
 * ```
 */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Splits a comma-separated CIDR list as the config writes it (`clusterCIDR:
 * "10.244.0.0/16,fd00::/48"`) into its trimmed, non-empty items; they are not parsed.
 *
 * @param text The list.
 * @returns The items.
 * @example
 * ```ts
 * splitCIDRList(" 10.244.0.0/16, fd00::/48 "); // ["10.244.0.0/16", "fd00::/48"]
 * ```
 */
export function splitCIDRList(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

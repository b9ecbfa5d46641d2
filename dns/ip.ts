/**
 * IP address text <-> bytes, for A/AAAA RDATA, reverse names and pod labels. IPv6 text output is
 * the canonical RFC 5952 form, the same form the cache stores addresses in.
 *
 * @module
 */

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
  return text.includes(":") ? parseIPv6(text) : parseIPv4(text);
}

function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (p.length === 0 || p.length > 3 || !/^[0-9]+$/.test(p)) return undefined;
    if (p.length > 1 && p[0] === "0") return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length > 45) return undefined;
  const out = new Uint8Array(16);
  let head = text;
  let tail = "";
  const dbl = text.indexOf("::");
  if (dbl >= 0) {
    if (text.indexOf("::", dbl + 1) >= 0) return undefined;
    head = text.slice(0, dbl);
    tail = text.slice(dbl + 2);
  }
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  const words: number[] = [];
  const tailWords: number[] = [];
  if (!pushGroups(headGroups, words, tailGroups.length === 0 && dbl < 0)) return undefined;
  if (!pushGroups(tailGroups, tailWords, true)) return undefined;
  const total = words.length + tailWords.length;
  if (dbl < 0 ? total !== 8 : total > 7) return undefined;
  for (let i = 0; i < words.length; i++) {
    out[i * 2] = words[i] >> 8;
    out[i * 2 + 1] = words[i] & 0xff;
  }
  const start = 8 - tailWords.length;
  for (let i = 0; i < tailWords.length; i++) {
    out[(start + i) * 2] = tailWords[i] >> 8;
    out[(start + i) * 2 + 1] = tailWords[i] & 0xff;
  }
  return out;
}

function pushGroups(groups: string[], words: number[], lastMayBeV4: boolean): boolean {
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i];
    if (lastMayBeV4 && i === groups.length - 1 && g.includes(".")) {
      const v4 = parseIPv4(g);
      if (!v4) return false;
      words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
    words.push(parseInt(g, 16));
  }
  return true;
}

/**
 * Formats 4 or 16 address bytes as text (RFC 5952 for IPv6: lowercase, longest zero run as `::`).
 *
 * @param bytes The address.
 * @returns The canonical text form.
 */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return words.map((w) => w.toString(16)).join(":");
  const left = words.slice(0, bestStart).map((w) => w.toString(16)).join(":");
  const right = words.slice(bestStart + bestLen).map((w) => w.toString(16)).join(":");
  return `${left}::${right}`;
}

/**
 * DNS wire format for the responder: a strict, allocation-light query parser and a reply encoder
 * with name compression and truncation (the hot path, written here because it must validate
 * hostile input before anything else touches it), plus a client side (query encoder, full message
 * decoder) for the forwarder and the tests. This is the only importer of `dns-packet`, which the
 * client side uses behind a try/catch with size and count checks in front.
 *
 * @module
 */

import dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import { parseIP } from "./ip.ts";
import {
  type DnsRecord,
  Rcode,
  type RcodeName,
  type Reply,
  RRType,
  rrTypeName,
} from "./message.ts";

/** Size of the DNS header. */
export const HEADER_SIZE = 12;
/** Largest UDP payload we send, whatever the client advertises (DNS Flag Day 2020). */
export const MAX_UDP_PAYLOAD = 1232;
/** Payload size of a client without EDNS(0) (RFC 1035). */
export const CLASSIC_UDP_PAYLOAD = 512;
/** Largest DNS message over TCP. */
export const MAX_TCP_MESSAGE = 65535;
/** More additional records than this in a query is treated as malformed. */
const MAX_QUERY_ADDITIONALS = 4;

/** EDNS(0) parameters of a query's OPT record. */
export interface Edns {
  /** The requestor's UDP payload size (values below 512 read as 512). */
  readonly udpSize: number;
  /** EDNS version (only 0 is answered; others get BADVERS). */
  readonly version: number;
  /** The DO bit, copied into the reply's OPT. */
  readonly dnssecOk: boolean;
}

/** A query as the server reads it. */
export interface ParsedQuery {
  /** Message ID, copied into the reply. */
  readonly id: number;
  /** The second header word (flags); RD and CD are copied into the reply. */
  readonly flags: number;
  /** Header opcode (0 = QUERY). */
  readonly opcode: number;
  /** The question name in presentation form (case kept, no trailing dot; "" = root). */
  readonly name: string;
  /** `name` lowercased, for matching. */
  readonly lowerName: string;
  /** QTYPE. */
  readonly type: number;
  /** QCLASS. */
  readonly class: number;
  /** Offset just past the question; 12 when the question could not be read. */
  readonly questionEnd: number;
  /** The OPT record, when the query had a well-formed one. */
  readonly edns: Edns | undefined;
  /**
   * Set when the query must be refused with this code instead of answered: FORMERR (malformed),
   * NOTIMP (opcode or meta type we do not implement), REFUSED (class other than IN, zone
   * transfer), BADVERS (EDNS version other than 0).
   */
  readonly error: "FORMERR" | "NOTIMP" | "REFUSED" | "BADVERS" | undefined;
}

/**
 * Reads and validates a query. Never throws, never follows compression pointers (a question
 * cannot legitimately contain one), and does work bounded by the packet length.
 *
 * @param packet The message bytes.
 * @returns The query (possibly with `error` set: answer with that rcode), or undefined when the
 *   packet must be dropped silently: shorter than a header, or a response (QR=1), which a server
 *   never answers (answering would let two servers loop).
 * @example
 * ```ts
 * const q = parseQuery(packet);
 * if (q === undefined) return; // drop
 * ```
 */
export function parseQuery(packet: Uint8Array): ParsedQuery | undefined {
  if (packet.length < HEADER_SIZE) return undefined;
  const flags = (packet[2] << 8) | packet[3];
  if ((flags & 0x8000) !== 0) return undefined;
  const q = new Query((packet[0] << 8) | packet[1], flags);
  if (q.opcode !== 0) return q.fail("NOTIMP");
  const qdcount = (packet[4] << 8) | packet[5];
  const ancount = (packet[6] << 8) | packet[7];
  const nscount = (packet[8] << 8) | packet[9];
  const arcount = (packet[10] << 8) | packet[11];
  if (qdcount !== 1 || ancount !== 0 || nscount !== 0 || arcount > MAX_QUERY_ADDITIONALS) {
    return q.fail("FORMERR");
  }

  // The question name: plain labels only.
  let off = HEADER_SIZE;
  let name = "";
  let nameLength = 1;
  for (;;) {
    if (off >= packet.length) return q.fail("FORMERR");
    const len = packet[off];
    if (len === 0) {
      off++;
      break;
    }
    if (len > 63) return q.fail("FORMERR"); // pointer or reserved label type
    nameLength += len + 1;
    if (nameLength > 255 || off + 1 + len > packet.length) return q.fail("FORMERR");
    if (name.length > 0) name += ".";
    name += labelText(packet, off + 1, len);
    off += 1 + len;
  }
  if (off + 4 > packet.length) return q.fail("FORMERR");
  q.name = name;
  q.type = (packet[off] << 8) | packet[off + 1];
  q.class = (packet[off + 2] << 8) | packet[off + 3];
  off += 4;
  q.questionEnd = off;

  // Additional section: at most one OPT (owner root); other records are skipped (a pointer ends
  // a name in place, so skipping never follows one).
  for (let i = 0; i < arcount; i++) {
    const ownerStart = off;
    for (;;) {
      if (off >= packet.length) return q.fail("FORMERR");
      const len = packet[off];
      if (len === 0) {
        off++;
        break;
      }
      if ((len & 0xc0) === 0xc0) {
        off += 2;
        break;
      }
      if (len > 63) return q.fail("FORMERR");
      off += 1 + len;
    }
    if (off + 10 > packet.length) return q.fail("FORMERR");
    const rrType = (packet[off] << 8) | packet[off + 1];
    const rrClass = (packet[off + 2] << 8) | packet[off + 3];
    const rdlen = (packet[off + 8] << 8) | packet[off + 9];
    if (off + 10 + rdlen > packet.length) return q.fail("FORMERR");
    if (rrType === RRType.OPT) {
      if (q.edns !== undefined || off - ownerStart !== 1) return q.fail("FORMERR");
      q.edns = {
        udpSize: Math.max(rrClass, CLASSIC_UDP_PAYLOAD),
        version: packet[off + 5],
        dnssecOk: (packet[off + 6] & 0x80) !== 0,
      };
    }
    off += 10 + rdlen;
  }
  if (off !== packet.length) return q.fail("FORMERR");
  const type = q.type;
  if (q.edns !== undefined && q.edns.version !== 0) return q.fail("BADVERS");
  if (type === 0 || type === RRType.OPT) return q.fail("FORMERR");
  if (q.class !== 1) return q.fail("REFUSED");
  if (type === RRType.AXFR || type === RRType.IXFR) return q.fail("REFUSED");
  if (type >= 128 && type <= 255 && type !== RRType.ANY) return q.fail("NOTIMP");
  return q;
}

/** The mutable object behind a ParsedQuery while it is read (one allocation per query). */
class Query implements ParsedQuery {
  readonly opcode: number;
  name = "";
  #lowerName: string | undefined;
  type = 0;
  class = 0;
  questionEnd = HEADER_SIZE;
  edns: Edns | undefined = undefined;
  error: ParsedQuery["error"] = undefined;

  constructor(readonly id: number, readonly flags: number) {
    this.opcode = (flags >> 11) & 0xf;
  }

  /** Computed on first use: a cache hit never needs it. */
  get lowerName(): string {
    return this.#lowerName ??= this.name.toLowerCase();
  }

  fail(error: NonNullable<ParsedQuery["error"]>): Query {
    this.error = error;
    return this;
  }
}

/** A label in presentation form: `.` and `\` escaped, non-printable bytes as `\DDD`. */
function labelText(packet: Uint8Array, start: number, len: number): string {
  let plain = true;
  for (let i = start; i < start + len; i++) {
    const c = packet[i];
    if (c <= 0x20 || c >= 0x7f || c === 0x2e || c === 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return String.fromCharCode.apply(null, packet.subarray(start, start + len) as never);
  let out = "";
  for (let i = start; i < start + len; i++) {
    const c = packet[i];
    if (c === 0x2e || c === 0x5c) out += "\\" + String.fromCharCode(c);
    else if (c <= 0x20 || c >= 0x7f) out += "\\" + String(c).padStart(3, "0");
    else out += String.fromCharCode(c);
  }
  return out;
}

/**
 * The largest reply a client can take: its EDNS(0) size capped at MAX_UDP_PAYLOAD (512 without
 * EDNS) over UDP, 65535 over TCP.
 *
 * @param query The parsed query.
 * @param proto The transport the query came on.
 */
export function replySizeLimit(query: ParsedQuery, proto: "udp" | "tcp"): number {
  if (proto === "tcp") return MAX_TCP_MESSAGE;
  if (query.edns === undefined) return CLASSIC_UDP_PAYLOAD;
  return Math.min(query.edns.udpSize, MAX_UDP_PAYLOAD);
}

// Encoding. One scratch buffer serves every reply (encoding is synchronous); the result is
// copied out.
const SCRATCH_SIZE = MAX_TCP_MESSAGE + 4096;
const scratch = new Uint8Array(SCRATCH_SIZE);

class Writer {
  off = 0;
  names = new Map<string, number>();

  u8(v: number): void {
    scratch[this.off++] = v;
  }

  u16(v: number): void {
    scratch[this.off++] = (v >> 8) & 0xff;
    scratch[this.off++] = v & 0xff;
  }

  u32(v: number): void {
    this.u16((v >>> 16) & 0xffff);
    this.u16(v & 0xffff);
  }

  /** Writes a name (no trailing dot), compressed against earlier names unless `compress` is false. */
  name(name: string, compress: boolean): void {
    let pos = 0;
    while (pos < name.length) {
      const suffix = pos === 0 ? name : name.slice(pos);
      if (compress) {
        const ptr = this.names.get(suffix);
        if (ptr !== undefined) {
          this.u16(0xc000 | ptr);
          return;
        }
      }
      if (this.off < 0x4000 && !this.names.has(suffix)) this.names.set(suffix, this.off);
      let end = name.indexOf(".", pos);
      if (end < 0) end = name.length;
      const len = Math.min(end - pos, 63);
      this.u8(len);
      for (let i = 0; i < len; i++) scratch[this.off++] = name.charCodeAt(pos + i) & 0xff;
      pos = end + 1;
    }
    this.u8(0);
  }

  record(rr: DnsRecord): void {
    this.name(rr.name, true);
    this.u16(rr.type);
    this.u16(1);
    this.u32(rr.ttl >>> 0);
    const lenAt = this.off;
    this.off += 2;
    switch (rr.type) {
      case RRType.A:
      case RRType.AAAA: {
        const bytes = parseIP(rr.data) ?? new Uint8Array(rr.type === RRType.A ? 4 : 16);
        scratch.set(bytes, this.off);
        this.off += bytes.length;
        break;
      }
      case RRType.NS:
      case RRType.CNAME:
      case RRType.PTR:
        this.name(rr.data, true);
        break;
      case RRType.SOA:
        this.name(rr.data.mname, true);
        this.name(rr.data.rname, true);
        this.u32(rr.data.serial);
        this.u32(rr.data.refresh);
        this.u32(rr.data.retry);
        this.u32(rr.data.expire);
        this.u32(rr.data.minimum);
        break;
      case RRType.HINFO: // two character-strings, as TXT
      case RRType.TXT:
        for (const s of rr.data) {
          const len = Math.min(s.length, 255);
          this.u8(len);
          for (let i = 0; i < len; i++) scratch[this.off++] = s.charCodeAt(i) & 0xff;
        }
        break;
      case RRType.SRV:
        this.u16(rr.data.priority);
        this.u16(rr.data.weight);
        this.u16(rr.data.port);
        this.name(rr.data.target, false); // RFC 2782: no compression in the target
        break;
    }
    const rdlen = this.off - lenAt - 2;
    scratch[lenAt] = rdlen >> 8;
    scratch[lenAt + 1] = rdlen & 0xff;
  }
}

/**
 * Encodes a reply to `query`: header (ID, RD and CD copied, QR, AA as the reply says, RA), the
 * question copied byte for byte from the query (so it keeps the client's case), the sections
 * with name compression, and an OPT record when the query had one.
 *
 * When the reply does not fit in `maxSize`, whole records are dropped from the end: if an
 * answer or authority record had to go, TC is set and no additional records are sent; records
 * dropped only from the additional section do not set TC (RFC 2181 9).
 *
 * @param query The parsed query (without `error`).
 * @param packet The query bytes (the question is copied from them).
 * @param reply The sections.
 * @param maxSize Size limit (see `replySizeLimit`).
 * @returns The reply bytes (a fresh copy).
 */
export function encodeReply(
  query: ParsedQuery,
  packet: Uint8Array,
  reply: Reply,
  maxSize: number,
): Uint8Array {
  const w = new Writer();
  writeHeader(w, query, Rcode[reply.rcode], reply.authoritative);
  scratch.set(packet.subarray(HEADER_SIZE, query.questionEnd), HEADER_SIZE);
  w.off = query.questionEnd;
  // Every suffix of the question name can be pointed to (owner names, the zone in SOA/SRV).
  for (let off = HEADER_SIZE, pos = 0; packet[off] !== 0 && off < query.questionEnd;) {
    const len = packet[off];
    w.names.set(query.name.slice(pos), off);
    pos += labelText(packet, off + 1, len).length + 1;
    off += 1 + len;
  }
  const limit = maxSize - (query.edns !== undefined ? 11 : 0);
  let truncated = false;
  const counts = [0, 0, 0];
  const sections = [reply.answers, reply.authority, reply.additionals];
  outer: for (let s = 0; s < 3; s++) {
    for (const rr of sections[s]) {
      const before = w.off;
      w.record(rr);
      if (w.off > limit) {
        w.off = before;
        if (s < 2) truncated = true;
        break outer;
      }
      counts[s]++;
    }
  }
  scratch[4] = 0;
  scratch[5] = 1;
  setCount(6, counts[0]);
  setCount(8, counts[1]);
  setCount(10, counts[2]);
  if (truncated) scratch[2] |= 0x02;
  if (query.edns !== undefined) {
    writeOpt(w, 0, query.edns.dnssecOk);
    setCount(10, counts[2] + 1);
  }
  return scratch.slice(0, w.off);
}

/**
 * Encodes an error reply (FORMERR, NOTIMP, REFUSED, SERVFAIL, BADVERS): the header, the question
 * when it could be read, and an OPT when the query had one (always, for BADVERS).
 *
 * @param query The parsed query.
 * @param packet The query bytes.
 * @param rcode The response code.
 * @returns The reply bytes.
 */
export function encodeError(query: ParsedQuery, packet: Uint8Array, rcode: RcodeName): Uint8Array {
  const w = new Writer();
  const code = Rcode[rcode];
  writeHeader(w, query, code & 0xf, false);
  const hasQuestion = query.questionEnd > HEADER_SIZE;
  if (hasQuestion) {
    scratch.set(packet.subarray(HEADER_SIZE, query.questionEnd), HEADER_SIZE);
    w.off = query.questionEnd;
  }
  scratch[5] = hasQuestion ? 1 : 0;
  if (query.edns !== undefined) {
    writeOpt(w, code >> 4, query.edns.dnssecOk);
    setCount(10, 1);
  }
  return scratch.slice(0, w.off);
}

function writeHeader(w: Writer, query: ParsedQuery, rcode: number, aa: boolean): void {
  scratch.fill(0, 0, HEADER_SIZE);
  scratch[0] = query.id >> 8;
  scratch[1] = query.id & 0xff;
  // QR=1, opcode echoed, AA, RD copied; RA=1 (names outside the zone are forwarded); CD copied.
  scratch[2] = 0x80 | ((query.opcode & 0xf) << 3) | (aa ? 0x04 : 0) | ((query.flags >> 8) & 0x01);
  scratch[3] = 0x80 | (query.flags & 0x10) | (rcode & 0xf);
  w.off = HEADER_SIZE;
}

function writeOpt(w: Writer, extendedRcode: number, dnssecOk: boolean): void {
  w.u8(0); // root owner
  w.u16(RRType.OPT);
  w.u16(MAX_UDP_PAYLOAD);
  w.u8(extendedRcode);
  w.u8(0); // version
  w.u16(dnssecOk ? 0x8000 : 0);
  w.u16(0); // no options
}

function setCount(at: number, n: number): void {
  scratch[at] = n >> 8;
  scratch[at + 1] = n & 0xff;
}

/**
 * Copies `packet` with a new message ID.
 *
 * @param packet A DNS message of at least 2 bytes.
 * @param id The new ID.
 * @returns A new array.
 */
export function withId(packet: Uint8Array, id: number): Uint8Array {
  const out = packet.slice();
  out[0] = id >> 8;
  out[1] = id & 0xff;
  return out;
}

/**
 * The header fields of a message, without parsing the rest.
 *
 * @param packet A DNS message.
 * @returns ID, QR, TC and the 4-bit rcode, or undefined when shorter than a header.
 */
export function readHeader(
  packet: Uint8Array,
): { id: number; response: boolean; truncated: boolean; rcode: number } | undefined {
  if (packet.length < HEADER_SIZE) return undefined;
  return {
    id: (packet[0] << 8) | packet[1],
    response: (packet[2] & 0x80) !== 0,
    truncated: (packet[2] & 0x02) !== 0,
    rcode: packet[3] & 0x0f,
  };
}

/**
 * A reply to a too-big forwarded answer: the client's question with TC set and no records, so
 * that the client retries over TCP.
 *
 * @param query The parsed query.
 * @param packet The query bytes.
 */
export function encodeTruncated(query: ParsedQuery, packet: Uint8Array): Uint8Array {
  const out = encodeReply(query, packet, EMPTY_REPLY, MAX_TCP_MESSAGE);
  out[2] |= 0x02;
  return out;
}

const EMPTY_REPLY: Reply = {
  rcode: "NOERROR",
  answers: [],
  authority: [],
  additionals: [],
  authoritative: false,
};

// Client side.

/** A query to send, for the forwarder and the tests. */
export interface QueryOptions {
  /** Message ID. */
  readonly id: number;
  /** Question name (a trailing dot is allowed). */
  readonly name: string;
  /** A type mnemonic (`A`, `SRV`) or number. */
  readonly type: string | number;
  /** Class number; 1 (IN) by default. */
  readonly class?: number;
  /** Recursion desired; true by default. */
  readonly recursionDesired?: boolean;
  /** Adds an OPT record with this UDP payload size. */
  readonly ednsUdpSize?: number;
  /** Sets the DO bit in the OPT record. */
  readonly dnssecOk?: boolean;
}

/**
 * Encodes a query.
 *
 * @param opts What to ask.
 * @returns The message bytes.
 * @throws {TypeError} When the name cannot be encoded.
 */
export function encodeQuery(opts: QueryOptions): Uint8Array {
  const labels = opts.name === "" || opts.name === "."
    ? []
    : opts.name.replace(/\.$/, "").split(".");
  const parts: number[] = [
    opts.id >> 8,
    opts.id & 0xff,
    opts.recursionDesired === false ? 0 : 1,
    0,
  ];
  parts.push(0, 1, 0, 0, 0, 0, 0, opts.ednsUdpSize !== undefined ? 1 : 0);
  for (const l of labels) {
    if (l.length === 0 || l.length > 63) {
      throw new TypeError(`Cannot encode query: bad label in ${opts.name}`);
    }
    parts.push(l.length);
    for (let i = 0; i < l.length; i++) parts.push(l.charCodeAt(i) & 0xff);
  }
  parts.push(0);
  const type = typeof opts.type === "number" ? opts.type : typeNumber(opts.type);
  const cls = opts.class ?? 1;
  parts.push(type >> 8, type & 0xff, cls >> 8, cls & 0xff);
  if (opts.ednsUdpSize !== undefined) {
    parts.push(0, 0, 41, opts.ednsUdpSize >> 8, opts.ednsUdpSize & 0xff, 0, 0);
    parts.push(opts.dnssecOk ? 0x80 : 0, 0, 0, 0);
  }
  return new Uint8Array(parts);
}

function typeNumber(name: string): number {
  const known = (RRType as Record<string, number>)[name.toUpperCase()];
  if (known !== undefined) return known;
  const m = /^TYPE(\d+)$/i.exec(name);
  if (m) return Number(m[1]);
  throw new TypeError(`Cannot encode query: unknown type ${name}`);
}

/** A decoded message, records in presentation form (`name. ttl IN TYPE rdata`). */
export interface DecodedMessage {
  /** Message ID. */
  readonly id: number;
  /** Response code name, extended codes included (`BADVERS`). */
  readonly rcode: string;
  /** AA bit. */
  readonly authoritative: boolean;
  /** TC bit. */
  readonly truncated: boolean;
  /** RA bit. */
  readonly recursionAvailable: boolean;
  /** The question section. */
  readonly questions: readonly { name: string; type: string }[];
  /** Answer records, presentation form. */
  readonly answers: readonly string[];
  /** Authority records, presentation form. */
  readonly authority: readonly string[];
  /** Additional records, OPT excluded. */
  readonly additionals: readonly string[];
  /** The OPT record, when present. */
  readonly edns: { udpSize: number; version: number; dnssecOk: boolean } | undefined;
  /** A, AAAA and CNAME answers as values (for ExternalName chasing). */
  readonly answerRecords: readonly DnsRecord[];
}

/**
 * Decodes a whole message (client side: replies from upstreams and from our own server in
 * tests). Never throws.
 *
 * @param packet The message bytes.
 * @returns The message, or undefined when it is malformed.
 */
export function decodeMessage(packet: Uint8Array): DecodedMessage | undefined {
  if (packet.length < HEADER_SIZE || packet.length > MAX_TCP_MESSAGE) return undefined;
  // dns-packet allocates per declared record: refuse counts the packet cannot hold.
  const total = ((packet[4] << 8) | packet[5]) + ((packet[6] << 8) | packet[7]) +
    ((packet[8] << 8) | packet[9]) + ((packet[10] << 8) | packet[11]);
  if (total * 5 > packet.length) return undefined;
  // deno-lint-ignore no-explicit-any
  let msg: any;
  try {
    msg = dnsPacket.decode(Buffer.from(packet.buffer, packet.byteOffset, packet.length));
  } catch {
    return undefined;
  }
  // deno-lint-ignore no-explicit-any
  const opt = (msg.additionals ?? []).find((r: any) => r.type === "OPT");
  const baseRcode = (msg.flags ?? 0) & 0xf;
  const ext = opt ? (opt.extendedRcode ?? 0) : 0;
  const rcodeNum = (ext << 4) | baseRcode;
  const rcodeName = Object.entries(Rcode).find(([, v]) => v === rcodeNum)?.[0] ??
    `RCODE${rcodeNum}`;
  // deno-lint-ignore no-explicit-any
  const fmt = (rs: any[]) => rs.filter((r) => r.type !== "OPT").map(formatRecord);
  return {
    id: msg.id,
    rcode: rcodeName,
    authoritative: Boolean(msg.flag_aa),
    truncated: Boolean(msg.flag_tc),
    recursionAvailable: Boolean(msg.flag_ra),
    // deno-lint-ignore no-explicit-any
    questions: (msg.questions ?? []).map((q: any) => ({ name: q.name, type: String(q.type) })),
    answers: fmt(msg.answers ?? []),
    authority: fmt(msg.authorities ?? []),
    additionals: fmt(msg.additionals ?? []),
    edns: opt
      ? { udpSize: opt.udpPayloadSize, version: opt.ednsVersion, dnssecOk: Boolean(opt.flag_do) }
      : undefined,
    answerRecords: (msg.answers ?? []).flatMap(toDnsRecord),
  };
}

// deno-lint-ignore no-explicit-any
function toDnsRecord(r: any): DnsRecord[] {
  const name = String(r.name).replace(/\.$/, "");
  if (r.type === "A" || r.type === "AAAA") {
    return [{ name, type: r.type === "A" ? 1 : 28, ttl: r.ttl ?? 0, data: String(r.data) }];
  }
  if (r.type === "CNAME") {
    return [{ name, type: 5, ttl: r.ttl ?? 0, data: String(r.data).replace(/\.$/, "") }];
  }
  return [];
}

function dot(name: string): string {
  return name === "." || name === "" ? "." : name.endsWith(".") ? name : name + ".";
}

// deno-lint-ignore no-explicit-any
function formatRecord(r: any): string {
  const d = r.data;
  let rdata: string;
  switch (r.type) {
    case "NS":
    case "CNAME":
    case "PTR":
      rdata = dot(String(d));
      break;
    case "SRV":
      rdata = `${d.priority} ${d.weight} ${d.port} ${dot(d.target)}`;
      break;
    case "SOA":
      rdata = `${dot(d.mname)} ${dot(d.rname)} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ` +
        `${d.minimum}`;
      break;
    case "TXT":
      // deno-lint-ignore no-explicit-any
      rdata = (Array.isArray(d) ? d : [d]).map((s: any) => `"${String(s)}"`).join(" ");
      break;
    default:
      rdata = typeof d === "string" ? d : JSON.stringify(d);
  }
  const type = typeof r.type === "string" ? r.type : rrTypeName(r.type);
  return `${dot(r.name)} ${r.ttl ?? 0} IN ${type} ${rdata}`;
}

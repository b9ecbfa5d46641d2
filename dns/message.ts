/**
 * The values the DNS responder passes between its stages: a question, the records of a reply and
 * the reply itself. `resolve()` produces them, `codec.ts` turns them into wire format. Only the
 * record types the cluster zone produces have a typed form; everything else stays on the wire.
 *
 * @module
 */

/** Numeric RR types the responder produces or treats specially (RFC 1035, 3596, 2782, 6891). */
export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  DS: 43,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  SVCB: 64,
  HTTPS: 65,
  TKEY: 249,
  TSIG: 250,
  IXFR: 251,
  AXFR: 252,
  MAILB: 253,
  MAILA: 254,
  ANY: 255,
  CAA: 257,
} as const;

const TYPE_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(RRType).map(([name, value]) => [value, name]),
);

/**
 * The mnemonic of an RR type (`A`, `SRV`), or `TYPE<n>` (RFC 3597) for the ones we do not name.
 *
 * @param type The numeric type.
 * @returns Its name.
 */
export function rrTypeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

/**
 * The qtype as a metrics label: the mnemonic of the types above, `other` for the rest, so that
 * a client cycling through 65536 types cannot create 65536 time series (CoreDNS does the same).
 *
 * @param type The numeric type.
 * @returns A label value from a bounded set.
 */
export function rrTypeLabel(type: number): string {
  return TYPE_NAMES.get(type) ?? "other";
}

/** Response codes (RFC 1035 4.1.1, RFC 6891 extended BADVERS). */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
} as const;

/** Name of a response code. */
export type RcodeName = keyof typeof Rcode;

/** SOA RDATA. */
export interface SoaData {
  /** Primary name server. */
  readonly mname: string;
  /** Responsible mailbox, as a name. */
  readonly rname: string;
  /** Zone serial. */
  readonly serial: number;
  /** Refresh interval, seconds. */
  readonly refresh: number;
  /** Retry interval, seconds. */
  readonly retry: number;
  /** Expiry, seconds. */
  readonly expire: number;
  /** Negative-caching TTL, seconds (RFC 2308). */
  readonly minimum: number;
}

/** SRV RDATA. */
export interface SrvData {
  /** Priority (lower first). */
  readonly priority: number;
  /** Relative weight within a priority. */
  readonly weight: number;
  /** Port. */
  readonly port: number;
  /** Target host name. */
  readonly target: string;
}

/** One resource record of class IN. Names are absolute, written without the trailing dot. */
export type DnsRecord =
  | { readonly name: string; readonly type: 1 | 28; readonly ttl: number; readonly data: string }
  | {
    readonly name: string;
    readonly type: 2 | 5 | 12;
    readonly ttl: number;
    readonly data: string;
  }
  | { readonly name: string; readonly type: 6; readonly ttl: number; readonly data: SoaData }
  | {
    readonly name: string;
    /** TXT, or HINFO (CPU and OS strings; only the RFC 8482 answer to ANY uses it). */
    readonly type: 13 | 16;
    readonly ttl: number;
    readonly data: string[];
  }
  | { readonly name: string; readonly type: 33; readonly ttl: number; readonly data: SrvData };

/** A question as `resolve()` reads it. */
export interface Question {
  /** The name as the client wrote it (case kept), without the trailing dot; "" is the root. */
  readonly name: string;
  /** `name` lowercased. */
  readonly lowerName: string;
  /** QTYPE. */
  readonly type: number;
}

/** What `resolve()` answers: the sections of a reply, as values. */
export interface Reply {
  /** Response code. */
  readonly rcode: RcodeName;
  /** Answer section. */
  readonly answers: readonly DnsRecord[];
  /** Authority section (the SOA of negative answers). */
  readonly authority: readonly DnsRecord[];
  /** Additional section (SRV and NS glue). */
  readonly additionals: readonly DnsRecord[];
  /** The AA bit: set for every answer from the cluster zone and its reverse zones. */
  readonly authoritative: boolean;
  /**
   * Set for A/AAAA at an ExternalName service whose target is outside the cluster zone: the
   * server looks the target up upstream and appends its answers after the CNAME (CoreDNS's
   * `upstream` lookup), copying the upstream TC bit.
   */
  readonly chase?: { readonly name: string; readonly type: number };
}

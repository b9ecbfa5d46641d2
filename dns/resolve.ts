/**
 * Answers a question about the cluster zone or its reverse zones from the ClusterView.
 *
 * @module
 */

import type { ClusterView, ServiceEntry } from "./cluster_view.ts";
import { formatIP, parseIP } from "./ip.ts";
import { type DnsRecord, type Question, type Reply, RRType } from "./message.ts";
import { parseQueryName } from "./name.ts";
import { parseReverseName } from "./reverse.ts";

/** Options of `resolve()`. */
export interface ResolveOptions {
  /** The cluster zone, lowercased, without the trailing dot (`cluster.local`). */
  readonly zone: string;
  /** TTL of every record except the `dns-version` TXT (28800) and the SOA (min(ttl, 300)). */
  readonly ttl: number;
  /** `insecure`: `1-2-3-4.<ns>.pod.<zone>` echoes the address; `disabled`: NXDOMAIN. */
  readonly podRecords: "insecure" | "disabled";
  /**
   * Addresses of this name server: glue of the apex NS record `ns.dns.<zone>` and the answer to
   * `ns.dns.<zone>` A/AAAA.
   */
  readonly nsAddresses: readonly string[];
}

/** TTL CoreDNS gives the `dns-version` TXT record. */
const DNS_VERSION_TTL = 28800;
/** The schema version of the Kubernetes DNS specification implemented here. */
const DNS_SCHEMA_VERSION = "1.1.0";
/** Bound on ExternalName -> ExternalName chains inside the zone. */
const MAX_CNAME_DEPTH = 8;

const EMPTY: readonly DnsRecord[] = [];

/**
 * Resolves a question against the cluster. Pure: reads `view`, allocates the reply, never throws
 * for a name that does not exist (NXDOMAIN is a value).
 *
 * NXDOMAIN versus NODATA follows CoreDNS's kubernetes plugin (see dns/README.md for the table):
 * a name exists when it is the apex, an empty non-terminal (`svc`, `pod`, an existing
 * namespace), an existing service (headless: with at least one published endpoint), an endpoint
 * label of one, a matching `_port._proto`, or a valid pod label in an existing namespace. An
 * existing name without records of the asked type is NOERROR with no answers. Both negative
 * forms carry the zone's SOA in the authority section.
 *
 * @param question The question (name in the client's case, and lowercased).
 * @param view The cluster indexes.
 * @param opts Zone, TTL, pod mode, own addresses.
 * @returns The reply, or undefined when the name is outside the cluster zone and the reverse
 *   zones (the caller forwards it).
 * @example
 * ```ts
 * resolve({ name: "web.default.svc.cluster.local", lowerName: "web.default.svc.cluster.local",
 *   type: RRType.A }, view, { zone: "cluster.local", ttl: 5, podRecords: "insecure",
 *   nsAddresses: [] });
 * ```
 */
export function resolve(
  question: Question,
  view: ClusterView,
  opts: ResolveOptions,
): Reply | undefined {
  return resolveDepth(question, view, opts, 0);
}

function resolveDepth(
  q: Question,
  view: ClusterView,
  opts: ResolveOptions,
  depth: number,
): Reply | undefined {
  const req = parseQueryName(q.lowerName, opts.zone);
  if (req === undefined) return resolveReverse(q, view, opts);
  const zone = q.name.slice(q.name.length - opts.zone.length);
  const soa = soaRecord(zone, view.serial, opts.ttl);
  const nx = (): Reply => negative("NXDOMAIN", soa);
  const nodata = (): Reply => negative("NOERROR", soa);
  const ttl = opts.ttl;
  const t = q.type;

  // NOTE: CoreDNS's TXT path (kubernetes.go `Services`) answers `dns-version` and, for any other
  // name, NODATA only when the name holds records of some type: names that exist without records
  // (the apex, `svc`, `pod`, namespaces, `ns.dns`) are NXDOMAIN for TXT. Users compare answers
  // with CoreDNS, so we give the same rcodes (dns/README.md, "NXDOMAIN versus NODATA").
  const txt = t === RRType.TXT;
  // NOTE: CoreDNS answers SOA only at the apex; below it an SOA query is NODATA whether the name
  // exists or not (its SOA branch never reports a name error). Same here, for comparability.
  if (t === RRType.SOA && req.kind !== "apex") return nodata();
  switch (req.kind) {
    case "apex":
      if (t === RRType.SOA) return positive([soa]);
      if (t === RRType.NS) {
        const ns = `ns.dns.${zone}`;
        return positive(
          [{ name: q.name, type: RRType.NS, ttl, data: ns }],
          addressRecords(ns, opts.nsAddresses, ttl),
        );
      }
      return txt ? nx() : nodata();
    case "dns-version":
      if (txt) {
        return positive([{
          name: q.name,
          type: RRType.TXT,
          ttl: DNS_VERSION_TTL,
          data: [DNS_SCHEMA_VERSION],
        }]);
      }
      // CoreDNS knows `dns-version` only in its TXT path; every other type parses it as a name
      // whose last label is neither svc nor pod: NXDOMAIN.
      return nx();
    case "default-ns": {
      // `ns.dns` is special only where CoreDNS checks `isDefaultNS` (A/AAAA and the types that
      // go through `Services`); its TXT and PTR paths parse it as an invalid name.
      if (txt || t === RRType.PTR) return nx();
      if (t !== RRType.A && t !== RRType.AAAA) return nodata();
      const own = opts.nsAddresses.filter((ip) => isV6(ip) === (t === RRType.AAAA));
      return own.length === 0 ? nodata() : positive(addressRecords(q.name, own, ttl));
    }
    case "empty-non-terminal":
      return txt ? nx() : nodata();
    case "namespace":
      if (req.under === "pod" && opts.podRecords === "disabled") return nx();
      return view.namespaceExists(req.namespace) && !txt ? nodata() : nx();
    case "pod": {
      if (opts.podRecords === "disabled" || !view.namespaceExists(req.namespace)) return nx();
      const ip = podLabelToIP(req.podLabel);
      if (ip === undefined) return nx();
      const want = t === RRType.A ? false : t === RRType.AAAA ? true : undefined;
      if (want === undefined || want !== isV6(ip)) return nodata();
      return positive([{ name: q.name, type: t as 1 | 28, ttl, data: ip }]);
    }
    case "invalid":
      return nx();
  }

  if (!view.namespaceExists(req.namespace)) return nx();
  const entry = view.service(req.namespace, req.service);
  if (entry === undefined) return nx();
  const svc = entry.service;
  const svcName = `${svc.name}.${svc.namespace}.svc.${zone}`;

  if (svc.type === "ExternalName") {
    if (req.kind !== "service") return nx();
    const target = svc.externalName.endsWith(".")
      ? svc.externalName.slice(0, -1)
      : svc.externalName;
    if (target === "" || parseIP(target) !== undefined) return nx();
    const cname: DnsRecord = { name: q.name, type: RRType.CNAME, ttl, data: target };
    if (t === RRType.CNAME) return positive([cname]);
    if (t !== RRType.A && t !== RRType.AAAA) return nodata();
    const lowerTarget = target.toLowerCase();
    if (parseQueryName(lowerTarget, opts.zone) === undefined) {
      return { ...positive([cname]), chase: { name: target, type: t } };
    }
    // NOTE: as CoreDNS (backend_lookup.go `A`), an in-zone CNAME is added only together with
    // the records it leads to; a target that does not exist, has no address of the family, or
    // loops leaves an empty NOERROR (NODATA) without the CNAME.
    if (depth >= MAX_CNAME_DEPTH) return nodata();
    const inner = resolveDepth(
      { name: target, lowerName: lowerTarget, type: t },
      view,
      opts,
      depth + 1,
    );
    if (inner?.rcode !== "NOERROR" || inner.answers.length === 0) return nodata();
    return { ...positive([cname, ...inner.answers]), chase: inner.chase };
  }

  if (svc.headless && entry.endpoints.length === 0) return nx();

  switch (req.kind) {
    case "service": {
      if (t === RRType.A || t === RRType.AAAA) {
        const ips = svc.headless ? entry.endpoints.map((e) => e.ip) : svc.clusterIPs;
        const wanted = familyOf(ips, t === RRType.AAAA);
        return wanted.length === 0 ? nodata() : positive(addressRecords(q.name, wanted, ttl));
      }
      if (t === RRType.SRV) {
        const srv = srvRecords(q.name, entry, svcName, undefined, ttl);
        return srv.answers.length === 0 ? nodata() : positive(srv.answers, srv.additionals);
      }
      return nodata();
    }
    case "endpoint": {
      const eps = entry.byLabel.get(req.endpoint);
      if (eps === undefined) return nx();
      if (t === RRType.SRV) {
        // As CoreDNS: the endpoint's own ports, target the endpoint name.
        const srv = srvRecords(q.name, entry, svcName, undefined, ttl, eps);
        return srv.answers.length === 0 ? nodata() : positive(srv.answers, srv.additionals);
      }
      if (t !== RRType.A && t !== RRType.AAAA) return nodata();
      const wanted = familyOf(eps.map((e) => e.ip), t === RRType.AAAA);
      return wanted.length === 0 ? nodata() : positive(addressRecords(q.name, wanted, ttl));
    }
    case "port": {
      const srv = srvRecords(q.name, entry, svcName, req, ttl);
      if (srv.answers.length === 0) return nx();
      if (t === RRType.SRV) return positive(srv.answers, srv.additionals);
      if (t !== RRType.A && t !== RRType.AAAA) return nodata();
      // CoreDNS's A/AAAA paths read the same list as SRV: the addresses behind the port.
      const wanted = familyOf(srv.additionals.map((r) => r.data as string), t === RRType.AAAA);
      return wanted.length === 0 ? nodata() : positive(addressRecords(q.name, wanted, ttl));
    }
  }
}

function resolveReverse(q: Question, view: ClusterView, opts: ResolveOptions): Reply | undefined {
  const rev = parseReverseName(q.lowerName);
  if (rev === undefined) return undefined;
  const zone = q.name.slice(q.name.length - rev.zone.length);
  const soa = soaRecord(zone, view.serial, opts.ttl);
  if (q.lowerName === rev.zone) {
    if (q.type === RRType.SOA) return positive([soa]);
    return negative(q.type === RRType.TXT ? "NXDOMAIN" : "NOERROR", soa); // TXT: CoreDNS quirk
  }
  if (q.type === RRType.SOA) return negative("NOERROR", soa); // below the apex, as CoreDNS
  // NOTE: only PTR looks at addresses. CoreDNS parses a reverse name asked for any other type as
  // a cluster name whose last label is neither svc nor pod: NXDOMAIN (also for addresses with a
  // PTR record), which its `fallthrough` then forwards. Same here, for comparability.
  if (q.type !== RRType.PTR) return negative("NXDOMAIN", soa);
  const names = rev.ip === undefined ? EMPTY_NAMES : view.namesForIP(rev.ip);
  if (names.length === 0) return negative("NXDOMAIN", soa);
  return positive(names.map((n) => ({
    name: q.name,
    type: RRType.PTR,
    ttl: opts.ttl,
    data: `${n}.${opts.zone}`,
  })));
}

const EMPTY_NAMES: readonly string[] = [];

interface PortFilter {
  readonly port: string;
  readonly protocol: string;
}

/**
 * SRV records as CoreDNS builds them: priority 0, weight floor(100 / n) with n the number of
 * (address x matching port) pairs before de-duplication, duplicates (target, port) dropped, and
 * glue A/AAAA for each distinct (target, address). `endpoints` (an endpoint name's records)
 * replaces the service's own list: ClusterIP services use their ports, headless ones and
 * endpoint names the endpoints' ports.
 */
function srvRecords(
  owner: string,
  entry: ServiceEntry,
  svcName: string,
  filter: PortFilter | undefined,
  ttl: number,
  endpoints?: ServiceEntry["endpoints"],
): { answers: DnsRecord[]; additionals: DnsRecord[] } {
  const pairs: { target: string; port: number; ip: string }[] = [];
  const matches = (name: string, protocol: string) =>
    filter === undefined ||
    (name.toLowerCase() === filter.port && protocol.toLowerCase() === filter.protocol);
  const svc = entry.service;
  if (!svc.headless && endpoints === undefined) {
    for (const p of svc.ports) {
      if (!matches(p.name, p.protocol)) continue;
      for (const ip of svc.clusterIPs) pairs.push({ target: svcName, port: p.port, ip });
    }
  } else {
    for (const ep of endpoints ?? entry.endpoints) {
      for (const p of ep.ports) {
        if (!matches(p.name, p.protocol)) continue;
        pairs.push({ target: `${ep.label}.${svcName}`, port: p.port, ip: ep.ip });
      }
    }
  }
  const weight = pairs.length === 0 ? 0 : Math.max(1, Math.floor(100 / pairs.length));
  const answers: DnsRecord[] = [];
  const additionals: DnsRecord[] = [];
  const seenSrv = new Set<string>();
  const seenGlue = new Set<string>();
  for (const { target, port, ip } of pairs) {
    const srvKey = `${target}|${port}`;
    if (!seenSrv.has(srvKey)) {
      seenSrv.add(srvKey);
      answers.push({
        name: owner,
        type: RRType.SRV,
        ttl,
        data: { priority: 0, weight, port, target },
      });
    }
    const glueKey = `${target}|${ip}`;
    if (!seenGlue.has(glueKey)) {
      seenGlue.add(glueKey);
      additionals.push({ name: target, type: isV6(ip) ? RRType.AAAA : RRType.A, ttl, data: ip });
    }
  }
  return { answers, additionals };
}

function soaRecord(zone: string, serial: number, ttl: number): DnsRecord {
  return {
    name: zone,
    type: RRType.SOA,
    ttl: Math.min(ttl, 300),
    data: {
      mname: `ns.dns.${zone}`,
      rname: `hostmaster.${zone}`,
      serial: serial >>> 0,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: ttl,
    },
  };
}

function positive(answers: readonly DnsRecord[], additionals: readonly DnsRecord[] = EMPTY): Reply {
  return { rcode: "NOERROR", answers, authority: EMPTY, additionals, authoritative: true };
}

function negative(rcode: "NXDOMAIN" | "NOERROR", soa: DnsRecord): Reply {
  return { rcode, answers: EMPTY, authority: [soa], additionals: EMPTY, authoritative: true };
}

function addressRecords(name: string, ips: readonly string[], ttl: number): DnsRecord[] {
  const out: DnsRecord[] = [];
  const seen = new Set<string>();
  for (const ip of ips) {
    if (seen.has(ip)) continue;
    seen.add(ip);
    out.push({ name, type: isV6(ip) ? RRType.AAAA : RRType.A, ttl, data: ip });
  }
  return out;
}

function familyOf(ips: readonly string[], v6: boolean): string[] {
  return ips.filter((ip) => isV6(ip) === v6);
}

function isV6(ip: string): boolean {
  return ip.includes(":");
}

/**
 * The address of a pod label, as CoreDNS reads it: exactly three `-` and no `--` is IPv4
 * (`1-2-3-4`), anything else IPv6 with `-` for `:` (`fd00--1`).
 */
function podLabelToIP(label: string): string | undefined {
  const dashes = label.split("-").length - 1;
  const text = dashes === 3 && !label.includes("--")
    ? label.replaceAll("-", ".")
    : label.replaceAll("-", ":");
  const bytes = parseIP(text);
  return bytes === undefined ? undefined : formatIP(bytes);
}

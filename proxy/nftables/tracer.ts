/**
 * Follows a packet through a `kube-proxy` table ({@linkcode TableState}, from the fake or parsed
 * from the kernel's `nft list table` output) and reports where it goes: the hops (chain, rule,
 * service, endpoint), the verdict, and whether it is masqueraded.
 *
 * The path is the kernel's for the first packet of a connection: from another host, prerouting
 * (`filter-prerouting-pre-dnat`, then `nat-prerouting`), else from the node itself, output
 * (`filter-output-pre-dnat`, `nat-output`); then, with the destination the DNAT chose,
 * `filter-input` (a local destination), `filter-forward` or `filter-output`; then
 * `nat-postrouting` for masquerading.
 *
 * Load balancing is not random here: a `numgen random mod k 0` rule is followed and then the walk
 * goes on, so every endpoint the packet could reach is reported (`"10.180.0.4:80,
 * 10.180.0.5:80"`); the rest of the path uses the first. Affinity sets are empty, as for a first
 * packet.
 *
 * NOTE: like upstream's nftables helpers_test, it understands only the rule shapes `rules.ts`
 * writes (regular expressions for each), and throws on anything else rather than guess.
 *
 * @module
 */

import { cidrContains, isLoopback } from "../net.ts";
import { CHAINS, isServiceChainName } from "./names.ts";
import { ruleWithoutComment, type TableState } from "./ruleset.ts";

/** The packet to trace (the first packet of a connection). */
export interface NftTracePacket {
  readonly sourceIP: string;
  readonly destIP: string;
  readonly destPort: number;
  /** `tcp` (default), `udp` or `sctp`. */
  readonly protocol?: string;
  /** The node's addresses (`fib ... type local`); loopback always is local. */
  readonly nodeIPs: readonly string[];
  /** Input interface, for the interface-based local detectors. */
  readonly inInterface?: string;
}

/** One matched rule or map element on the packet's way. */
export interface NftTraceHop {
  readonly chain: string;
  /** The rule as listed (a map lookup shows the element: `vmap @service-ips -> goto ...`). */
  readonly rule: string;
  /** `ns/name/proto/port` when the chain belongs to a service port. */
  readonly service?: string;
  /** `IP:port` when the rule DNATs to an endpoint. */
  readonly endpoint?: string;
}

/** Where the packet went. */
export interface NftTraceResult {
  /**
   * Comma-separated DNAT destinations (`10.180.0.1:80`), `REDIRECT:<port>`, `REJECT`, `DROP`,
   * or "" when no rule handled the packet (it goes on to its original destination).
   */
  readonly output: string;
  /** `accept` (goes on, DNATed or not), `drop` or `reject`. */
  readonly verdict: "accept" | "drop" | "reject";
  /** Whether postrouting masquerades it. */
  readonly masquerade: boolean;
  /** Every rule that matched, in order. */
  readonly hops: readonly NftTraceHop[];
}

interface Walk {
  src: string;
  dst: string;
  port: number;
  proto: string;
  iif: string;
  mark: boolean;
  dnat: boolean;
  local: (ip: string) => boolean;
  hops: NftTraceHop[];
  /** DNAT targets found (numgen branches add several). */
  outputs: string[];
}

type Outcome = "continue" | "accept" | "drop" | "reject" | "nat";

/**
 * Traces a packet through a table.
 *
 * @param table the `kube-proxy` table of the packet's family.
 * @param packet the packet.
 * @returns the hops, verdict, DNAT destinations and masquerading.
 * @throws {SyntaxError} on a rule shape this tracer does not know.
 * @example
 * ```ts
 * const r = traceNftPacket(parseTableListing(listing), {
 *   sourceIP: "10.0.0.2", destIP: "172.30.0.41", destPort: 80, nodeIPs: ["192.168.0.2"],
 * });
 * r.output; // "10.180.0.1:80"
 * ```
 */
export function traceNftPacket(table: TableState, packet: NftTracePacket): NftTraceResult {
  const local = (ip: string) => isLoopback(ip) || packet.nodeIPs.includes(ip);
  const w: Walk = {
    src: packet.sourceIP,
    dst: packet.destIP,
    port: packet.destPort,
    proto: packet.protocol ?? "tcp",
    iif: packet.inInterface ?? "",
    mark: false,
    dnat: false,
    local,
    hops: [],
    outputs: [],
  };
  const fromNode = local(packet.sourceIP);
  const pre = fromNode ? CHAINS.filterOutputPreDnat : CHAINS.filterPreroutingPreDnat;
  const nat = fromNode ? CHAINS.natOutput : CHAINS.natPrerouting;
  const done = (verdict: "drop" | "reject"): NftTraceResult => ({
    output: verdict.toUpperCase(),
    verdict,
    masquerade: false,
    hops: w.hops,
  });
  let o = runChain(table, pre, w);
  if (o === "drop" || o === "reject") return done(o);
  o = runChain(table, nat, w);
  if (o === "drop" || o === "reject") return done(o);
  const output = w.outputs.join(", ");
  if (w.outputs.length > 0) {
    const first = w.outputs[0];
    if (first.startsWith("REDIRECT:")) {
      w.dst = fromNode ? "127.0.0.1" : packet.nodeIPs[0] ?? "127.0.0.1";
      w.port = Number(first.slice("REDIRECT:".length));
    } else {
      const colon = first.lastIndexOf(":");
      w.dst = first.slice(0, colon).replace(/^\[|\]$/g, "");
      w.port = Number(first.slice(colon + 1));
    }
    w.dnat = true;
  }
  const filter = fromNode
    ? CHAINS.filterOutput
    : local(w.dst)
    ? CHAINS.filterInput
    : CHAINS.filterForward;
  o = runChain(table, filter, w);
  if (o === "drop" || o === "reject") return done(o);
  let masquerade = false;
  const m = { ...w, hops: [] as NftTraceHop[] };
  if (runChain(table, CHAINS.natPostrouting, m) === "nat") masquerade = true;
  w.hops.push(...m.hops);
  return { output, verdict: "accept", masquerade, hops: w.hops };
}

/** Runs a chain; "continue" when it fell off the end or returned. */
function runChain(table: TableState, name: string, w: Walk, depth = 0): Outcome {
  const chain = table.chains.get(name);
  if (chain === undefined) return "continue";
  if (depth > 32) throw new SyntaxError(`Chain loop at ${name}`);
  for (const listed of chain.rules) {
    const rule = ruleWithoutComment(listed);
    const o = runRule(table, name, rule, w, depth);
    if (o === "return") return "continue";
    if (o !== "continue") return o;
  }
  return "continue";
}

const ADDR = String.raw`[0-9a-fA-F.:/]+`;
const MATCHERS: Array<[RegExp, (m: RegExpExecArray, t: TableState, w: Walk) => boolean]> = [
  [/^ct state new /, () => true],
  [/^ct status dnat /, (_m, _t, w) => w.dnat],
  [
    /^ip6? saddr \. ip6? daddr @(\S+) /,
    (m, t, w) => t.sets.get(m[1])?.elements.has(`${w.src} . ${w.dst}`) ?? false,
  ],
  [
    new RegExp(String.raw`^ip6? (saddr|daddr) (!= )?(\{ [^}]* \}|${ADDR}) `),
    (m, _t, w) => {
      const ip = m[1] === "saddr" ? w.src : w.dst;
      const items = m[3].replace(/[{}]/g, "").split(",").map((s) => s.trim()).filter((s) => s);
      const hit = items.some((c) => c.includes("/") ? cidrContains(c, ip) : c === ip);
      return m[2] === undefined ? hit : !hit;
    },
  ],
  [
    /^ip6? (saddr|daddr) @(\S+) /,
    (m, t, w) => t.sets.get(m[2])?.elements.has(m[1] === "saddr" ? w.src : w.dst) ?? false,
  ],
  [/^fib (saddr|daddr) type local /, (m, _t, w) => w.local(m[1] === "saddr" ? w.src : w.dst)],
  [/^iifname (!= )?"([^"]*)" /, (m, _t, w) => {
    const pat = m[2];
    const hit = pat.endsWith("*") ? w.iif.startsWith(pat.slice(0, -1)) : w.iif === pat;
    return m[1] === undefined ? hit : !hit;
  }],
  [/^meta l4proto (tcp|udp|sctp) /, (m, _t, w) => w.proto === m[1]],
  [/^(tcp|udp|sctp) dport (\d+) /, (m, _t, w) => w.proto === m[1] && w.port === Number(m[2])],
  [/^meta mark & 0x[0-9a-f]+ == 0x0+ /, (_m, _t, w) => !w.mark],
];

/** Runs one rule: its matches, then its statement. */
function runRule(
  table: TableState,
  chain: string,
  rule: string,
  w: Walk,
  depth: number,
): Outcome | "return" {
  let rest = rule + " ";
  // A load-balancing pick: taken here, and the walk goes on to the next rule afterwards.
  const pick = /^numgen random mod \d+ 0 /.exec(rest);
  if (pick !== null) rest = rest.slice(pick[0].length);
  const maybe = (o: Outcome | "return"): Outcome | "return" =>
    pick !== null && (o === "nat" || o === "return") ? "continue" : o;
  for (;;) {
    let matched = false;
    for (const [re, test] of MATCHERS) {
      const m = re.exec(rest);
      if (m === null) continue;
      // A vmap lookup keyed by the address is a statement, not an address match.
      if (/^ip6? daddr \. /.test(rest)) break;
      if (!test(m, table, w)) return "continue";
      rest = rest.slice(m[0].length);
      matched = true;
      break;
    }
    if (!matched) break;
  }
  const stmt = rest.trim();
  const hop = (text: string, endpoint?: string) => {
    w.hops.push({
      chain,
      rule: text,
      service: serviceOf(chain),
      ...(endpoint === undefined ? {} : { endpoint }),
    });
  };
  let m: RegExpExecArray | null;
  if ((m = /^(?:(ip6?) daddr \. )?meta l4proto \. th dport vmap @(\S+)$/.exec(stmt)) !== null) {
    const key = (m[1] === undefined ? "" : `${w.dst} . `) + `${w.proto} . ${w.port}`;
    const e = table.sets.get(m[2])?.elements.get(key);
    if (e?.value === undefined) return "continue";
    hop(`${rule} -> ${key} : ${e.value}`);
    return verdict(table, e.value, w, depth);
  }
  if ((m = /^dnat to (\S+)$/.exec(stmt)) !== null) {
    w.outputs.push(m[1]);
    hop(rule, m[1]);
    return maybe("nat");
  }
  if ((m = /^redirect to :(\d+)$/.exec(stmt)) !== null) {
    w.outputs.push(`REDIRECT:${m[1]}`);
    hop(rule);
    return "nat";
  }
  if (/^update @\S+ \{ ip6? saddr \}$/.test(stmt)) {
    hop(rule);
    return "continue";
  }
  if (/^meta mark set meta mark \| 0x[0-9a-f]+$/.test(stmt)) {
    w.mark = true;
    hop(rule);
    return "continue";
  }
  if (/^meta mark set meta mark \^ 0x[0-9a-f]+$/.test(stmt)) {
    w.mark = !w.mark;
    hop(rule);
    return "continue";
  }
  if (stmt === "masquerade fully-random") {
    hop(rule);
    return "nat";
  }
  hop(rule);
  return maybe(verdict(table, stmt, w, depth));
}

/** Applies a verdict (`jump X`, `goto X`, `drop`, `reject`, `return`, `accept`). */
function verdict(table: TableState, v: string, w: Walk, depth: number): Outcome | "return" {
  const m = /^(jump|goto) (\S+)$/.exec(v);
  if (m !== null) {
    const o = runChain(table, m[2], w, depth + 1);
    if (o !== "continue") return o;
    // After a goto the calling chain is done too; after a jump it goes on.
    return m[1] === "goto" ? "return" : "continue";
  }
  switch (v) {
    case "drop":
    case "reject":
    case "accept":
      return v;
    case "return":
      return "return";
  }
  throw new SyntaxError(`Cannot trace rule statement: ${v}`);
}

/** `ns/name/proto/port` of a per-service chain (after the prefix and hash). */
function serviceOf(chain: string): string | undefined {
  if (!isServiceChainName(chain)) return undefined;
  const m = /^[a-z]+-[A-Z2-7]{8}-(.*)$/.exec(chain);
  return m === null ? undefined : m[1].split("__")[0];
}

/**
 * A test helper that follows a packet through the rules held by a {@linkcode FakeIptables} and
 * reports where it goes, as upstream's packet-flow tests do.
 *
 * It runs nat KUBE-SERVICES (where PREROUTING and OUTPUT jump), applies the DNAT it finds, then
 * the filter chains KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS and KUBE-PROXY-FIREWALL
 * (which of them the kernel runs depends on the packet's direction, which the tracer does not
 * know; the rules are written so that running all of them is equivalent).
 *
 * Load balancing is not random here: a `-m statistic` rule is followed and then the walk goes on,
 * so every endpoint the packet could reach is reported (`"10.180.0.4:80, 10.180.0.5:80"`). A
 * `-m recent --rcheck` rule (session affinity) never matches, as for a first packet.
 *
 * NOTE: like upstream's nftables tracer, it understands only the rule shapes `rules.ts` writes,
 * and throws on anything else rather than guess.
 *
 * @module
 */

import type { FakeIptables } from "./fake.ts";
import { KUBE_MARK_MASQ } from "./chains.ts";
import { cidrContains, isLoopback } from "../net.ts";
import type { Table } from "./chains.ts";

/** The packet to trace. */
export interface TracedPacket {
  readonly sourceIP: string;
  readonly destIP: string;
  readonly destPort: number;
  /** `tcp` (default), `udp` or `sctp`. */
  readonly protocol?: string;
  /** Addresses of the node (for `-m addrtype --src-type/--dst-type LOCAL`); loopback always is. */
  readonly nodeIPs?: readonly string[];
  /** Input interface, for the interface-based local detectors. */
  readonly inInterface?: string;
}

/** Where the packet went. */
export interface TraceResult {
  /**
   * Comma-separated DNAT destinations (`10.180.0.1:80`), `REDIRECT:<port>`, `REJECT`, `DROP`,
   * `ACCEPT` (health-check node ports), or "" when no rule handled the packet.
   */
  readonly output: string;
  /** Whether KUBE-MARK-MASQ was reached (the packet will be masqueraded). */
  readonly masq: boolean;
  /** Every rule line that matched, in order. */
  readonly matched: string[];
}

interface ParsedRule {
  readonly line: string;
  readonly conds: ((p: PacketState) => boolean)[];
  readonly statistic: boolean;
  readonly target: string | undefined;
  readonly toDestination: string | undefined;
  readonly toPorts: string | undefined;
}

interface PacketState {
  sourceIP: string;
  destIP: string;
  destPort: number;
  protocol: string;
  nodeIPs: readonly string[];
  inInterface: string;
}

const TERMINAL = new Set(["DNAT", "REDIRECT", "DROP", "REJECT", "ACCEPT"]);

/**
 * Splits a rule line into arguments, keeping double-quoted strings together.
 *
 * @param line a rule line.
 * @returns its arguments, quotes removed.
 */
export function splitRuleArgs(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (const m of line.matchAll(re)) out.push(m[1] ?? m[2]);
  return out;
}

function isLocal(ip: string, p: PacketState): boolean {
  return isLoopback(ip) || p.nodeIPs.includes(ip);
}

function parseRule(line: string): ParsedRule {
  const args = splitRuleArgs(line);
  const conds: ((p: PacketState) => boolean)[] = [];
  let statistic = false;
  let target: string | undefined, toDestination: string | undefined, toPorts: string | undefined;
  let i = 2; // skip "-A CHAIN"
  const next = () => {
    const v = args[i++];
    if (v === undefined) throw new Error(`Cannot trace rule: truncated: ${line}`);
    return v;
  };
  while (i < args.length) {
    let a = next();
    let negate = false;
    if (a === "!") {
      negate = true;
      a = next();
    }
    const add = (f: (p: PacketState) => boolean) => conds.push(negate ? (p) => !f(p) : f);
    switch (a) {
      case "-m": {
        const mod = next();
        if (mod === "statistic") statistic = true;
        break;
      }
      case "--comment":
      case "--mode":
      case "--probability":
      case "--nfacct-name":
        next();
        break;
      case "-p": {
        const proto = next();
        add((p) => p.protocol === proto);
        break;
      }
      case "-s": {
        const cidr = next();
        add((p) => cidrContains(cidr, p.sourceIP));
        break;
      }
      case "-d": {
        const cidr = next();
        add((p) => cidrContains(cidr, p.destIP));
        break;
      }
      case "--dport": {
        const port = Number(next());
        add((p) => p.destPort === port);
        break;
      }
      case "--dst-type":
        if (next() !== "LOCAL") throw new Error(`Cannot trace rule: ${line}`);
        add((p) => isLocal(p.destIP, p));
        break;
      case "--src-type":
        if (next() !== "LOCAL") throw new Error(`Cannot trace rule: ${line}`);
        add((p) => isLocal(p.sourceIP, p));
        break;
      case "-i": {
        const iface = next();
        add((p) =>
          iface.endsWith("+")
            ? p.inInterface.startsWith(iface.slice(0, -1))
            : p.inInterface === iface
        );
        break;
      }
      case "--name":
        next();
        break;
      case "--rcheck":
        // No affinity state: a first packet never matches a recent check.
        add(() => false);
        break;
      case "--seconds":
        next();
        break;
      case "--reap":
      case "--set":
        break;
      case "-j":
        target = next();
        break;
      case "--to-destination":
        toDestination = next();
        break;
      case "--to-ports":
        toPorts = next();
        break;
      default:
        throw new Error(`Cannot trace rule: unknown argument ${a}: ${line}`);
    }
  }
  return { line, conds, statistic, target, toDestination, toPorts };
}

class Tracer {
  #fake: FakeIptables;
  #parsed = new Map<string, ParsedRule>();
  outputs: string[] = [];
  masq = false;
  matched: string[] = [];

  constructor(fake: FakeIptables) {
    this.#fake = fake;
  }

  /** Runs a chain; returns true when a terminal target ended the walk. */
  run(table: Table, chain: string, p: PacketState, depth = 0): boolean {
    if (depth > 20) throw new Error(`Cannot trace: jump loop at ${chain}`);
    const rules = this.#fake.rules(table, chain);
    if (rules === undefined) return false;
    for (const line of rules) {
      let rule = this.#parsed.get(line);
      if (rule === undefined) this.#parsed.set(line, rule = parseRule(line));
      if (!rule.conds.every((c) => c(p))) continue;
      this.matched.push(line);
      const t = rule.target;
      if (t === undefined) continue;
      if (t === KUBE_MARK_MASQ) {
        this.masq = true;
        continue;
      }
      if (t === "RETURN") return false;
      if (TERMINAL.has(t)) {
        if (t === "DNAT") this.outputs.push(rule.toDestination ?? "");
        else if (t === "REDIRECT") this.outputs.push(`REDIRECT:${rule.toPorts ?? ""}`);
        else this.outputs.push(t);
        return true;
      }
      const done = this.run(table, t, p, depth + 1);
      // A random-probability rule would stop here only sometimes: keep walking to find every
      // endpoint.
      if (done && !rule.statistic) return true;
    }
    return false;
  }
}

/**
 * Follows a packet through the fake's nat and filter rules.
 *
 * @param fake the iptables holding the rules (after a restore).
 * @param packet the packet.
 * @returns where it goes and whether it is masqueraded.
 * @throws {Error} On a rule shape the tracer does not understand.
 * @example
 * ```ts
 * tracePacket(fake, { sourceIP: "10.180.0.1", destIP: "172.30.0.41", destPort: 80 });
 * // { output: "10.180.0.1:80", masq: true, matched: [...] }
 * ```
 */
export function tracePacket(fake: FakeIptables, packet: TracedPacket): TraceResult {
  const tracer = new Tracer(fake);
  const p: PacketState = {
    sourceIP: packet.sourceIP,
    destIP: packet.destIP,
    destPort: packet.destPort,
    protocol: packet.protocol ?? "tcp",
    nodeIPs: packet.nodeIPs ?? [],
    inInterface: packet.inInterface ?? "",
  };
  tracer.run("nat", "KUBE-SERVICES", p);
  // The DNAT happens before the filter table sees the packet.
  const dnat = tracer.outputs[0];
  if (dnat !== undefined && dnat.startsWith("REDIRECT:")) {
    // REDIRECT is a DNAT to a local address of the node.
    p.destIP = p.destIP.includes(":") ? "::1" : "127.0.0.1";
  } else if (dnat !== undefined) {
    p.destIP = dnat.startsWith("[") ? dnat.slice(1, dnat.indexOf("]")) : dnat.split(":")[0];
  }
  for (const chain of ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS"]) {
    if (tracer.run("filter", chain, p)) break;
  }
  tracer.run("filter", "KUBE-PROXY-FIREWALL", p);
  return { output: tracer.outputs.join(", "), masq: tracer.masq, matched: tracer.matched };
}

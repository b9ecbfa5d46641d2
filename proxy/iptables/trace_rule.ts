/**
 * Reads iptables rule lines for the tracer (`tracer.ts`): the conditions a rule puts on a packet,
 * its target, and the service and endpoint its comment names. It knows the shapes kube-proxy
 * writes, this proxy's and upstream's, both as written in restore input (`-m tcp -p tcp -d
 * 10.96.0.1`, `--or-mark 0x4000`) and as `iptables-save` prints them (`-d 10.96.0.1/32 -p tcp -m
 * tcp`, `--set-xmark 0x4000/0x4000`, `-m recent ... --mask 255.255.255.255 --rsource`).
 * Anything else is marked unknown, never guessed. Pure.
 *
 * @module
 */

import { cidrContains, isLoopback } from "../net.ts";
import { splitRuleArgs } from "./iptables.ts";

/** What a rule's conditions look at: the packet as the tracer follows it. */
export interface RulePacket {
  readonly sourceIP: string;
  readonly destIP: string;
  readonly destPort: number;
  readonly protocol: string;
  readonly inInterface: string;
  /** The node's addresses (for `addrtype LOCAL`). */
  readonly nodeIPs: readonly string[];
  readonly mark: number;
  /** Set once a nat rule DNATed the packet (conntrack state `DNAT`). */
  readonly dnat?: object;
  /** Set once a nat rule REDIRECTed the packet (also conntrack state `DNAT`). */
  readonly redirect?: object;
}

/** One rule line, read: its conditions as functions of the packet, and its target. */
export interface TraceRule {
  readonly line: string;
  readonly chain: string;
  readonly conds: readonly ((p: RulePacket) => boolean)[];
  /** The first argument the tracer does not understand. */
  readonly unknown?: string;
  readonly target?: string;
  readonly goto: boolean;
  readonly toDestination?: string;
  readonly toPorts?: string;
  /** MARK as `--set-xmark value/mask`: mark = (mark & ~mask) ^ value. */
  readonly setXmark?: { readonly value: number; readonly mask: number };
  readonly probability?: number;
  readonly affinitySeconds?: number;
  readonly comment?: string;
}

const KNOWN_MODULES = new Set([
  "comment",
  "tcp",
  "udp",
  "sctp",
  "addrtype",
  "statistic",
  "recent",
  "mark",
  "conntrack",
  "nfacct",
]);

function parseMark(text: string): { value: number; mask: number } | undefined {
  const [v, m] = text.split("/");
  const value = Number(v);
  const mask = m === undefined ? 0xffffffff : Number(m);
  if (!Number.isInteger(value) || !Number.isInteger(mask)) return undefined;
  return { value, mask };
}

const ALL_ONES = new Set(["255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]);

/**
 * Reads one rule line (`-A CHAIN args`) as written in restore input or printed by
 * `iptables-save`. It never throws: an argument, match or value it does not know is recorded in
 * `unknown` (the tracer then reports an "unknown rule shape" instead of guessing).
 *
 * @param line the rule line.
 * @returns the rule.
 * @example
 * ```ts
 * parseTraceRule("-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-SVC-X").target; // "KUBE-SVC-X"
 * ```
 */
export function parseTraceRule(line: string): TraceRule {
  const args = splitRuleArgs(line);
  const chain = args[1] ?? "";
  const conds: ((p: RulePacket) => boolean)[] = [];
  let unknown: string | undefined;
  let target: string | undefined, goto = false;
  let toDestination: string | undefined, toPorts: string | undefined;
  let setXmark: { value: number; mask: number } | undefined;
  let probability: number | undefined, affinitySeconds: number | undefined;
  let comment: string | undefined;
  let recentCheck = false;
  let unknownModule: string | undefined;
  let i = 2; // skip "-A CHAIN"
  const next = () => args[i++] ?? "";
  const fail = (what: string) => {
    unknown ??= what;
  };
  while (i < args.length) {
    let a = next();
    let negate = false;
    if (a === "!") {
      negate = true;
      a = next();
    }
    const add = (f: (p: RulePacket) => boolean) => conds.push(negate ? (p) => !f(p) : f);
    switch (a) {
      case "-m": {
        const mod = next();
        if (!KNOWN_MODULES.has(mod)) unknownModule ??= mod;
        break;
      }
      case "--comment":
        comment = next();
        break;
      case "--nfacct-name":
        next(); // accounting only: always matches
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
        if (!Number.isInteger(port)) fail(`--dport ${args[i - 1]}`);
        add((p) => p.destPort === port);
        break;
      }
      case "--dst-type":
      case "--src-type": {
        const type = next();
        if (type !== "LOCAL") fail(`${a} ${type}`);
        const field = a === "--dst-type" ? "destIP" : "sourceIP";
        add((p) => isLocalAddress(p[field], p.nodeIPs));
        break;
      }
      case "-i": {
        const iface = next();
        add((p) =>
          iface.endsWith("+")
            ? p.inInterface.startsWith(iface.slice(0, -1))
            : p.inInterface === iface
        );
        break;
      }
      case "--mode":
        if (next() !== "random") fail(`statistic --mode ${args[i - 1]}`);
        break;
      case "--probability":
        probability = Number(next());
        if (!(probability >= 0 && probability <= 1)) fail(`--probability ${args[i - 1]}`);
        break;
      case "--rcheck":
        recentCheck = true;
        // No affinity state: the first packet of a client never matches a recent check.
        add(() => false);
        break;
      case "--seconds":
        affinitySeconds = Number(next());
        break;
      case "--name":
        next();
        break;
      case "--mask":
        if (!ALL_ONES.has(next())) fail(`recent --mask ${args[i - 1]}`);
        break;
      case "--reap":
      case "--set":
      case "--rsource":
        break;
      case "--mark": {
        const m = parseMark(next());
        if (m === undefined) fail(`--mark ${args[i - 1]}`);
        else add((p) => ((p.mark & m.mask) >>> 0) === (m.value >>> 0));
        break;
      }
      case "--ctstate": {
        const states = next().split(",");
        // The first packet of a connection: NEW, and DNAT once a nat rule changed its destination.
        add((p) =>
          states.includes("NEW") ||
          (states.includes("DNAT") && (p.dnat !== undefined || p.redirect !== undefined))
        );
        break;
      }
      case "-j":
      case "-g":
        target = next();
        goto = a === "-g";
        break;
      case "--to-destination":
        toDestination = next();
        break;
      case "--to-ports":
        toPorts = next();
        break;
      case "--or-mark": {
        const v = Number(next());
        setXmark = { value: v, mask: v };
        break;
      }
      case "--xor-mark":
        setXmark = { value: Number(next()), mask: 0 };
        break;
      case "--set-xmark":
      case "--set-mark": {
        const m = parseMark(next());
        if (m === undefined) fail(`${a} ${args[i - 1]}`);
        else setXmark = a === "--set-xmark" ? m : { value: m.value, mask: m.mask | m.value };
        break;
      }
      case "--reject-with":
        next();
        break;
      case "--random-fully":
      case "--random":
        break;
      default:
        fail(`unknown argument ${a}`);
    }
  }
  // A match module that takes no argument, unknown: its arguments were all understood.
  if (unknownModule !== undefined) fail(`unknown match ${unknownModule}`);
  // Only a `--rcheck` rule states the affinity timeout the trace reports.
  if (!recentCheck) affinitySeconds = undefined;
  return {
    line,
    chain,
    conds,
    unknown,
    target,
    goto,
    toDestination,
    toPorts,
    setXmark,
    probability,
    affinitySeconds,
    comment,
  };
}

/**
 * Whether an address is the node's (`-m addrtype LOCAL`): loopback, or one of `nodeIPs`.
 *
 * @param ip the address.
 * @param nodeIPs the node's addresses.
 * @returns true when local.
 */
export function isLocalAddress(ip: string, nodeIPs: readonly string[]): boolean {
  return isLoopback(ip) || nodeIPs.includes(ip);
}

const SERVICE_IN_COMMENT =
  /(?:^|\s)([a-z0-9][-a-z0-9.]*\/[a-z0-9][-a-z0-9.]*(?::[-a-z0-9]+)?)(?=\s|$)/;

/**
 * The service port (`ns/name:port`) and endpoint a kube-proxy rule comment names, if any.
 *
 * @param comment a rule comment: `ns1/svc1:p80 cluster IP`, `ns1/svc1:p80 -> 10.180.0.1:80`.
 * @returns what it names.
 * @example
 * ```ts
 * commentSubjects("ns1/svc1:p80 -> 10.180.0.1:80"); // { service: "ns1/svc1:p80", endpoint: "10.180.0.1:80" }
 * ```
 */
export function commentSubjects(comment: string): { service?: string; endpoint?: string } {
  const service = comment.match(SERVICE_IN_COMMENT)?.[1];
  const endpoint = comment.match(/-> (\S+)$/)?.[1];
  return { ...(service ? { service } : {}), ...(endpoint ? { endpoint } : {}) };
}

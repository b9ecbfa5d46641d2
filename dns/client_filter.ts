/**
 * Who the DNS responder answers: this cluster's clients only, so that a node is not an open
 * resolver (anyone reaching a node address could otherwise use it to recurse, and to reflect and
 * amplify traffic). Everyone else gets REFUSED and nothing is forwarded (`server.ts`).
 *
 * @module
 */

import type { NodeHandler } from "../cache/handlers.ts";
import type { Node } from "../cache/objects.ts";
import {
  cidrContainsIP,
  parseCIDR,
  type ParsedCIDR,
  type ParsedIP,
  parseIP,
  unmapIPv4,
} from "../config/ip.ts";

/** Loopback: the node itself, and queries the DNS intercept REDIRECTs in nat OUTPUT. */
const LOOPBACK_CIDRS = ["127.0.0.0/8", "::1/128"];

/** Decisions remembered per client address before the memo is dropped (bounds its memory). */
const MAX_REMEMBERED = 4096;

/** What a ClientFilter allows besides loopback and the Node's pod CIDRs and addresses. */
export interface ClientFilterOptions {
  /** The cluster's pod CIDRs (`clusterCIDR` of the configuration, split at commas). */
  readonly clusterCIDRs: readonly string[];
  /** `allowedClients` of the DNS document. */
  readonly allowedClients: readonly string[];
}

/**
 * Decides whether a client address is one of this cluster's: in a pod CIDR the proxy knows
 * (`clusterCIDR` and this Node's `podCIDRs`, followed through Node events: register the filter
 * with `ClusterCache.addNodeHandler`), one of the node's own addresses (its Node `addresses` and
 * the local interface addresses the server binds, see `setLocalAddresses`), loopback, or in
 * `allowedClients`. Unparsable CIDRs are ignored (the configuration was validated).
 *
 * Decisions are remembered per address text until the rules change, so the per-query cost is
 * one map lookup.
 */
export class ClientFilter implements NodeHandler {
  #fixed: readonly ParsedCIDR[];
  #podCIDRs: readonly ParsedCIDR[] = [];
  #nodeAddresses: readonly string[] = [];
  #localAddresses: readonly string[] = [];
  #own = new Set<string>();
  #decisions = new Map<string, boolean>();

  /**
   * @param opts The configured CIDRs.
   */
  constructor(opts: ClientFilterOptions) {
    this.#fixed = [...LOOPBACK_CIDRS, ...opts.clusterCIDRs, ...opts.allowedClients]
      .map((c) => parseCIDR(c.trim()))
      .filter((c): c is ParsedCIDR => c !== undefined);
  }

  /**
   * Whether a client at `address` gets an answer.
   *
   * @param address The client's IP address text (an IPv4-mapped IPv6 address counts as IPv4).
   * @returns False for anything that is not an address of this cluster (or not an address).
   */
  allows(address: string): boolean {
    const known = this.#decisions.get(address);
    if (known !== undefined) return known;
    const decision = this.#decide(address);
    if (this.#decisions.size >= MAX_REMEMBERED) this.#decisions.clear();
    this.#decisions.set(address, decision);
    return decision;
  }

  /**
   * Replaces the node's local interface addresses (the DNS server's address scan calls this).
   *
   * @param addresses Address texts, without zone.
   */
  setLocalAddresses(addresses: readonly string[]): void {
    this.#localAddresses = [...addresses];
    this.#rebuildOwn();
  }

  /** @inheritdoc */
  onNodeAdd(node: Node): void {
    this.#setNode(node);
  }

  /** @inheritdoc */
  onNodeUpdate(_previous: Node, current: Node): void {
    this.#setNode(current);
  }

  /** @inheritdoc */
  onNodeDelete(_node: Node): void {
    this.#podCIDRs = [];
    this.#nodeAddresses = [];
    this.#rebuildOwn();
  }

  /** @inheritdoc */
  onNodeSynced(): void {}

  #setNode(node: Node): void {
    this.#podCIDRs = node.podCIDRs.map((c) => parseCIDR(c))
      .filter((c): c is ParsedCIDR => c !== undefined);
    this.#nodeAddresses = [...node.addresses];
    this.#rebuildOwn();
  }

  #rebuildOwn(): void {
    this.#own = new Set<string>();
    for (const text of [...this.#nodeAddresses, ...this.#localAddresses]) {
      const key = addressKey(text);
      if (key !== undefined) this.#own.add(key);
    }
    this.#decisions.clear();
  }

  #decide(address: string): boolean {
    const ip = parseClient(address);
    if (ip === undefined) return false;
    if (this.#own.has(ip.bytes.join("."))) return true;
    return this.#fixed.some((c) => cidrContainsIP(c, ip)) ||
      this.#podCIDRs.some((c) => cidrContainsIP(c, ip));
  }
}

/** An address with an IPv4-mapped IPv6 address read as IPv4 (a dual-stack socket's peer). */
function parseClient(text: string): ParsedIP | undefined {
  const parsed = parseIP(text);
  if (parsed === undefined) return undefined;
  const bytes = unmapIPv4(parsed.bytes);
  return { family: bytes.length === 4 ? 4 : 6, bytes };
}

/** A comparable key of an address (its bytes, IPv4-mapped unmapped), or undefined. */
function addressKey(text: string): string | undefined {
  return parseClient(text)?.bytes.join(".");
}

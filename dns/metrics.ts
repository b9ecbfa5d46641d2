/**
 * The metrics the DNS responder reports, as a structural interface: the Prometheus
 * implementation lives with the proxy's metrics (`proxy/metrics.ts`), which dns/ must not import;
 * `main.ts` passes it in.
 *
 * @module
 */

/** Transport a query arrived on. */
export type DnsProto = "udp" | "tcp";

/** Receives one observation per query, reply and forwarded query. */
export interface DnsMetrics {
  /** A query was read (`type` is the qtype mnemonic, `other` for types without one). */
  observeRequest(labels: { proto: DnsProto; type: string }): void;
  /** A reply was sent after `seconds`, `sizeBytes` long. */
  observeResponse(
    labels: { proto: DnsProto; rcode: string },
    seconds: number,
    sizeBytes: number,
  ): void;
  /** A forwarded query completed (`rcode` is the upstream's, or SERVFAIL/REFUSED for ours). */
  observeForward(labels: { rcode: string }, seconds: number): void;
  /**
   * A query was refused because its client is not one of the cluster's (CoreDNS's `acl` plugin
   * counts the same as `coredns_acl_blocked_requests_total`).
   */
  observeBlocked(labels: { proto: DnsProto }): void;
}

/** A DnsMetrics that records nothing (the default). */
export const noopDnsMetrics: DnsMetrics = {
  observeRequest(): void {},
  observeResponse(): void {},
  observeForward(): void {},
  observeBlocked(): void {},
};

/**
 * Deleting stale conntrack entries with the `conntrack` tool from conntrack-tools.
 *
 * When a UDP service loses an endpoint, packets of an existing "connection" keep following the
 * conntrack entry to the dead endpoint until it times out: DNS over a Service then sticks to a
 * deleted pod. After a sync the proxier deletes those entries through this class, with upstream's
 * (pre-netlink) `conntrack -D` argument lists. `conntrack -D` exits 1 with "0 flow entries have been
 * deleted" when nothing matched; that is success.
 *
 * @module
 */

import type { IPFamily, Protocol } from "../cache/objects.ts";
import type { CommandRunner } from "./exec.ts";
import { canonicalIP } from "./net.ts";

/** conntrack's message when a delete matched nothing (exit code 1, not an error). */
export const NO_CONNECTION_TO_DELETE = "0 flow entries have been deleted";

/** The original destinations of the flows in one conntrack table: what a delete can match. */
export interface FlowDestinations {
  /** Original destination IPs (canonical form). */
  readonly ips: ReadonlySet<string>;
  /** Original destination ports. */
  readonly ports: ReadonlySet<number>;
}

/** Deletes conntrack entries through an injected {@linkcode CommandRunner}. */
export class Conntrack {
  #run: CommandRunner;

  /** @param run Runs the `conntrack` binary. */
  constructor(run: CommandRunner) {
    this.#run = run;
  }

  /**
   * Deletes entries whose original destination is `ip` (a ClusterIP, external IP or LB IP).
   *
   * @param ip The service IP.
   * @param protocol Usually UDP.
   * @returns The number of entries deleted.
   * @throws {Error} When conntrack fails for another reason than "nothing to delete".
   * @example
   * ```ts
   * await new Conntrack(run).clearEntriesForIP("172.30.0.10", "UDP");
   * // conntrack -D --orig-dst 172.30.0.10 -p udp
   * ```
   */
  clearEntriesForIP(ip: string, protocol: Protocol): Promise<number> {
    return this.#delete(isIPv6(ip), ["--orig-dst", ip, "-p", proto(protocol)]);
  }

  /**
   * Deletes entries whose original destination port is `port` (a NodePort).
   *
   * @param port The destination port.
   * @param family Which conntrack table (IPv4 or IPv6).
   * @param protocol Usually UDP.
   * @returns The number of entries deleted.
   * @throws {Error} When conntrack fails for another reason than "nothing to delete".
   */
  clearEntriesForPort(port: number, family: IPFamily, protocol: Protocol): Promise<number> {
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
      return Promise.reject(
        new RangeError(`Cannot clear conntrack entries for port ${port}: not a valid port`),
      );
    }
    return this.#delete(family === "IPv6", ["-p", proto(protocol), "--dport", String(port)]);
  }

  /**
   * Deletes entries to service IP `origin` that were DNATed to endpoint IP `dest`.
   *
   * @param origin The service IP.
   * @param dest The endpoint IP.
   * @param protocol Usually UDP.
   * @returns The number of entries deleted.
   * @throws {Error} When conntrack fails for another reason than "nothing to delete".
   */
  clearEntriesForNAT(origin: string, dest: string, protocol: Protocol): Promise<number> {
    return this.#delete(isIPv6(origin), [
      "--orig-dst",
      origin,
      "--dst-nat",
      dest,
      "-p",
      proto(protocol),
    ]);
  }

  /**
   * Deletes entries to destination port `port` (a NodePort) that were DNATed to endpoint IP `dest`.
   *
   * @param dest The endpoint IP.
   * @param port The NodePort.
   * @param protocol Usually UDP.
   * @returns The number of entries deleted.
   * @throws {Error} When conntrack fails for another reason than "nothing to delete".
   */
  clearEntriesForPortNAT(dest: string, port: number, protocol: Protocol): Promise<number> {
    return this.#delete(isIPv6(dest), [
      "-p",
      proto(protocol),
      "--dport",
      String(port),
      "--dst-nat",
      dest,
    ]);
  }

  /**
   * Lists one table's flows of a protocol (`conntrack -L`) and returns their original
   * destinations, so that a large cleanup can skip the deletes that cannot match anything: each
   * delete is one process, and a first sync of 10,000 services has hundreds of them.
   *
   * @param family Which conntrack table.
   * @param protocol Usually UDP.
   * @returns The destination IPs and ports of the original direction.
   * @throws {Error} When conntrack fails.
   */
  async listFlowDestinations(family: IPFamily, protocol: Protocol): Promise<FlowDestinations> {
    const args = ["-L", "-p", proto(protocol)];
    if (family === "IPv6") args.push("-f", "ipv6");
    const result = await this.#run.run("conntrack", args);
    if (result.code !== 0) {
      throw new Error(
        `Cannot list conntrack entries (conntrack ${
          args.join(" ")
        }): exited with code ${result.code}: ${result.stderr.trim()}`,
      );
    }
    return parseFlowDestinations(result.stdout);
  }

  async #delete(ipv6: boolean, filter: string[]): Promise<number> {
    const args = ["-D", ...filter];
    if (ipv6) args.push("-f", "ipv6");
    const result = await this.#run.run("conntrack", args);
    const output = result.stderr + result.stdout;
    if (result.code !== 0 && !output.includes(NO_CONNECTION_TO_DELETE)) {
      throw new Error(
        `Cannot delete conntrack entries (conntrack ${
          args.join(" ")
        }): exited with code ${result.code}: ${output.trim()}`,
      );
    }
    const m = output.match(/(\d+) flow entries have been deleted/);
    return m ? Number(m[1]) : 0;
  }
}

/**
 * The original-direction destinations of `conntrack -L` output (the first `dst=` and `dport=` of
 * each line; the second pair is the reply direction).
 *
 * @param text conntrack's listing.
 * @returns The destination IPs (canonical) and ports.
 * @example
 * ```ts
 * parseFlowDestinations("udp 17 29 src=10.0.0.2 dst=172.30.0.10 sport=5353 dport=53 ...");
 * // { ips: Set { "172.30.0.10" }, ports: Set { 53 } }
 * ```
 */
export function parseFlowDestinations(text: string): FlowDestinations {
  const ips = new Set<string>(), ports = new Set<number>();
  for (const line of text.split("\n")) {
    const dst = / dst=(\S+)/.exec(line);
    if (dst !== null) ips.add(canonicalIP(dst[1]) ?? dst[1]);
    const dport = / dport=(\d+)/.exec(line);
    if (dport !== null) ports.add(Number(dport[1]));
  }
  return { ips, ports };
}

function proto(protocol: Protocol): string {
  return protocol.toLowerCase();
}

function isIPv6(ip: string): boolean {
  return ip.includes(":");
}

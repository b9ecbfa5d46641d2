/**
 * Parses `kube-proxy trace --to`: either an address (`10.96.0.20:5432/tcp`, `[fd00::20]:53/udp`)
 * or a Service (`db.default:5432`, `db.default:postgres/tcp`), which the command resolves to the
 * Service's cluster IP and port through the API server. Pure.
 *
 * @module
 */

import { splitHostPort } from "../../config/ip.ts";
import { canonicalIP } from "../net.ts";

/** The protocols a Service port may have, as iptables spells them. */
export type TraceProtocol = "tcp" | "udp" | "sctp";

/** A destination given as an address. */
export interface AddressDestination {
  readonly kind: "address";
  readonly ip: string;
  readonly port: number;
  readonly protocol: TraceProtocol;
}

/** A destination given as a Service port, to be resolved. */
export interface ServiceDestination {
  readonly kind: "service";
  readonly namespace: string;
  readonly name: string;
  /** The port's number or name, as given. */
  readonly port: string;
  /** Undefined when not given: the Service port's own protocol is used. */
  readonly protocol?: TraceProtocol;
}

/** A parsed `--to`. */
export type TraceDestination = AddressDestination | ServiceDestination;

const PROTOCOLS: readonly string[] = ["tcp", "udp", "sctp"];

/**
 * Parses a `--to` value.
 *
 * @param text `IP:port[/proto]`, `[IPv6]:port[/proto]` or `service.namespace:port[/proto]`.
 * @returns the destination.
 * @throws {SyntaxError} When it is none of these.
 * @example
 * ```ts
 * parseDestination("10.96.0.20:5432/tcp"); // { kind: "address", ip: "10.96.0.20", port: 5432, protocol: "tcp" }
 * parseDestination("db.default:postgres"); // { kind: "service", namespace: "default", name: "db", port: "postgres" }
 * ```
 */
export function parseDestination(text: string): TraceDestination {
  const slash = text.lastIndexOf("/");
  const hostPort = slash < 0 ? text : text.slice(0, slash);
  const proto = slash < 0 ? undefined : text.slice(slash + 1).toLowerCase();
  if (proto !== undefined && !PROTOCOLS.includes(proto)) {
    throw new SyntaxError(`Cannot parse --to ${text}: protocol must be tcp, udp or sctp`);
  }
  const protocol = proto as TraceProtocol | undefined;
  const split = splitHostPort(hostPort);
  if (split === undefined || split.port === "") {
    throw new SyntaxError(
      `Cannot parse --to ${text}: expected IP:port, [IPv6]:port or service.namespace:port`,
    );
  }
  const ip = canonicalIP(split.host);
  if (ip !== undefined) {
    const port = Number(split.port);
    if (!/^[0-9]+$/.test(split.port) || port < 1 || port > 65535) {
      throw new SyntaxError(`Cannot parse --to ${text}: port must be 1-65535`);
    }
    return { kind: "address", ip, port, protocol: protocol ?? "tcp" };
  }
  const m = split.host.match(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/);
  if (m === null || !/^([0-9]+|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.test(split.port)) {
    throw new SyntaxError(
      `Cannot parse --to ${text}: expected IP:port, [IPv6]:port or service.namespace:port`,
    );
  }
  return {
    kind: "service",
    name: m[1],
    namespace: m[3],
    port: split.port,
    ...(protocol !== undefined ? { protocol } : {}),
  };
}

/**
 * Parses `--from`: one address.
 *
 * @param text the value.
 * @returns the address in canonical form.
 * @throws {SyntaxError} When it is not an address.
 * @example
 * ```ts
 * parseSource("10.244.1.5"); // "10.244.1.5"
 * ```
 */
export function parseSource(text: string): string {
  const ip = canonicalIP(text);
  if (ip === undefined) throw new SyntaxError(`Cannot parse --from ${text}: not an IP address`);
  return ip;
}

/**
 * ClusterIP and NodePort allocation for the API server fixture, as the real API server's service
 * registry does it: a missing cluster IP comes from the service CIDR, a missing node port from the
 * NodePort range, never one another Service holds; a requested one another Service holds is
 * refused with 422 Invalid (when `strict`); deleting a Service releases what it held.
 *
 * Like the real allocators, dynamic allocation prefers the upper part of each range and leaves the
 * lowest addresses and ports (the "static band": 1/16 of the range, at least 16, at most 256 IPs or
 * 128 ports) to Services that ask for a fixed value, so a fixed `10.96.0.20` rarely collides with
 * an address handed out earlier.
 *
 * @module
 */

import { ApiError, type RawObject } from "./errors.ts";

/** Default service CIDR of the fixture. */
const DEFAULT_SERVICE_CIDR = "10.96.0.0/16";
/** Default NodePort range of the fixture (the API server's `--service-node-port-range`). */
const DEFAULT_NODE_PORT_RANGE: readonly [number, number] = [30000, 32767];

function ipv4ToNumber(ip: string): number | undefined {
  const parts = ip.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    return undefined;
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function numberToIPv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** Offset where dynamic allocation starts in a range of `size` values. */
function staticBand(size: number, max: number): number {
  return Math.min(Math.max(16, Math.floor(size / 16)), max);
}

/**
 * A pool of values (IP offsets or ports) with an owner per value in use and a cursor that hands
 * out free values from the dynamic band first, then from the static band.
 */
class Pool {
  readonly #owners = new Map<string, string>();
  readonly #first: number;
  readonly #size: number;
  #cursor: number;

  constructor(first: number, size: number, band: number) {
    this.#first = first;
    this.#size = size;
    // A range no larger than its static band has no dynamic part: start at its beginning.
    this.#cursor = band < size ? band : 0;
  }

  owner(value: string): string | undefined {
    return this.#owners.get(value);
  }

  hold(value: string, owner: string): void {
    this.#owners.set(value, owner);
  }

  release(value: string, owner: string): void {
    if (this.#owners.get(value) === owner) this.#owners.delete(value);
  }

  /** The next free value (as number), or undefined when the pool is full. */
  next(render: (n: number) => string): string | undefined {
    for (let tried = 0; tried < this.#size; tried++) {
      const offset = this.#cursor;
      this.#cursor = this.#cursor + 1 >= this.#size ? 0 : this.#cursor + 1;
      const value = render(this.#first + offset);
      if (!this.#owners.has(value)) return value;
    }
    return undefined;
  }
}

function invalid(name: string, field: string, value: string, detail: string): ApiError {
  return new ApiError(
    422,
    "Invalid",
    `Service "${name}" is invalid: ${field}: Invalid value: ${value}: ${detail}`,
  );
}

/** The ClusterIPs and node ports a Service spec holds (keys of the pools). */
function heldIPs(spec: RawObject | undefined): string[] {
  const ips = Array.isArray(spec?.clusterIPs) ? spec.clusterIPs : [spec?.clusterIP];
  return ips.filter((ip: unknown): ip is string =>
    typeof ip === "string" && ip !== "" && ip !== "None"
  );
}

function heldPorts(spec: RawObject | undefined): string[] {
  const ports = Array.isArray(spec?.ports) ? spec.ports : [];
  const out = ports.map((p: RawObject) => p?.nodePort).filter((n: unknown) =>
    typeof n === "number" && n > 0
  );
  if (typeof spec?.healthCheckNodePort === "number" && spec.healthCheckNodePort > 0) {
    out.push(spec.healthCheckNodePort);
  }
  return [...new Set(out.map(String))] as string[];
}

/**
 * Cluster IPs (IPv4, from one CIDR) and node ports of the fixture's Services.
 *
 * @example
 * ```ts
 * const alloc = new ServiceAllocator();
 * alloc.assign("default/web", obj, undefined, true); // fills spec.clusterIP, may throw 422
 * alloc.record("default/web", obj.spec, undefined);   // after the write
 * ```
 */
export class ServiceAllocator {
  readonly #ips: Pool;
  readonly #ports: Pool;

  /**
   * @param cidr The IPv4 service CIDR.
   * @param nodePorts The NodePort range, inclusive.
   */
  constructor(cidr = DEFAULT_SERVICE_CIDR, nodePorts = DEFAULT_NODE_PORT_RANGE) {
    const [base, bits] = cidr.split("/");
    const size = 2 ** (32 - Number(bits));
    const first = ipv4ToNumber(base) ?? 0;
    // Offsets 1 .. size-2: neither the network nor the broadcast address.
    this.#ips = new Pool(first + 1, size - 2, staticBand(size, 256));
    const portCount = nodePorts[1] - nodePorts[0] + 1;
    this.#ports = new Pool(nodePorts[0], portCount, staticBand(portCount, 128));
  }

  /**
   * Fills in a Service's missing cluster IP and node ports (keeping those of `old` on update),
   * and with `strict` refuses requested ones another Service holds.
   *
   * @param key `namespace/name` of the Service.
   * @param obj The Service about to be written (its `spec` is changed in place).
   * @param old The stored Service, on update.
   * @param strict Refuse values held by another Service (HTTP writes); the in-process `apply()`
   *   accepts them, as the fixture accepts any object there.
   * @throws {ApiError} 422 Invalid for a value in use, or when a range is exhausted.
   */
  assign(key: string, obj: RawObject, old: RawObject | undefined, strict: boolean): void {
    const spec: RawObject = obj.spec;
    const name = String(obj.metadata?.name ?? "");
    if (spec.clusterIP === undefined || spec.clusterIP === "") {
      const previous = old?.spec?.clusterIP;
      if (typeof previous === "string" && previous !== "") {
        spec.clusterIP = previous;
        spec.clusterIPs = old?.spec?.clusterIPs ?? [previous];
      } else {
        const ip = this.#ips.next(numberToIPv4);
        if (ip === undefined) {
          throw invalid(name, "spec.clusterIPs", "[]", "range is full");
        }
        spec.clusterIP = ip;
        spec.clusterIPs = [ip];
      }
    }
    if (spec.clusterIPs === undefined) spec.clusterIPs = [spec.clusterIP];
    if (strict) {
      for (const ip of heldIPs(spec)) {
        const owner = this.#ips.owner(ip);
        if (owner !== undefined && owner !== key) {
          throw invalid(
            name,
            "spec.clusterIPs",
            `[]string{"${ip}"}`,
            `failed to allocate IP ${ip}: provided IP is already allocated`,
          );
        }
      }
    }
    this.#assignNodePorts(key, name, spec, old?.spec, strict);
  }

  #assignNodePorts(
    key: string,
    name: string,
    spec: RawObject,
    old: RawObject | undefined,
    strict: boolean,
  ): void {
    const type = spec.type;
    if (type !== "NodePort" && type !== "LoadBalancer") return;
    const taken = (port: number) => {
      const owner = this.#ports.owner(String(port));
      return owner !== undefined && owner !== key;
    };
    if (Array.isArray(spec.ports)) {
      spec.ports = spec.ports.map((p: RawObject, i: number) => {
        if (p?.nodePort) {
          if (strict && taken(p.nodePort)) {
            throw invalid(
              name,
              `spec.ports[${i}].nodePort`,
              String(p.nodePort),
              "provided port is already allocated",
            );
          }
          return p;
        }
        const previous = old?.ports?.[i]?.nodePort;
        return { ...p, nodePort: previous ?? this.#nextPort(name, `spec.ports[${i}].nodePort`) };
      });
    }
    if (type === "LoadBalancer" && spec.externalTrafficPolicy === "Local") {
      if (!spec.healthCheckNodePort) {
        spec.healthCheckNodePort = old?.healthCheckNodePort ??
          this.#nextPort(name, "spec.healthCheckNodePort");
      } else if (strict && taken(spec.healthCheckNodePort)) {
        throw invalid(
          name,
          "spec.healthCheckNodePort",
          String(spec.healthCheckNodePort),
          "provided port is already allocated",
        );
      }
    }
  }

  #nextPort(name: string, field: string): number {
    const port = this.#ports.next(String);
    if (port === undefined) throw invalid(name, field, "0", "range is full");
    return Number(port);
  }

  /**
   * Moves ownership after a write: releases what `oldSpec` held and `newSpec` no longer does,
   * holds what `newSpec` holds. `newSpec` undefined is a delete.
   *
   * @param key `namespace/name` of the Service.
   * @param newSpec The written spec, or undefined after a delete.
   * @param oldSpec The spec before the write.
   */
  record(key: string, newSpec: RawObject | undefined, oldSpec: RawObject | undefined): void {
    for (const ip of heldIPs(oldSpec)) this.#ips.release(ip, key);
    for (const port of heldPorts(oldSpec)) this.#ports.release(port, key);
    for (const ip of heldIPs(newSpec)) this.#ips.hold(ip, key);
    for (const port of heldPorts(newSpec)) this.#ports.hold(port, key);
  }
}

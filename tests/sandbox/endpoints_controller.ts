/**
 * The sandbox's EndpointSlice controller: keeps the EndpointSlices of every Service that has a
 * selector in step with the Pods it selects, as kube-controller-manager's controller does, so a
 * `kubectl apply` of a Service selecting `app=db` sends traffic to the db pods on the next sync.
 *
 * - Slices are named `<service>-<suffix>`, labelled `kubernetes.io/service-name` and
 *   `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, owned by the
 *   Service; one slice per address family and port set (a named `targetPort` resolves per pod from
 *   its container ports, so pods that name the port differently land in different slices).
 * - An endpoint per Pod that has an IP and is neither Succeeded nor Failed: `ready` = the Pod's
 *   Ready condition and not terminating (or the Service's `publishNotReadyAddresses`), `serving`
 *   = Ready, `terminating` = `metadata.deletionTimestamp` set, `nodeName`, `targetRef`, and
 *   `hostname` when the Pod's `spec.subdomain` is the Service's name.
 * - A Service selecting no pod gets one empty slice; a slice this controller manages whose
 *   Service is gone or lost its selector is deleted. Services without a selector are left alone:
 *   their slices are the user's.
 *
 * The controller runs inside the API server fixture's process (`api_server_main.ts`) and reacts
 * to its changes; writes of identical slices are no-ops there, so a sync changes nothing twice.
 *
 * @module
 */

import type { ApiServerFixture, RawObject } from "../apiserver/server.ts";

/** `endpointslice.kubernetes.io/managed-by` of the slices this controller writes. */
export const CONTROLLER_NAME = "endpointslice-controller.k8s.io";
const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
const MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";

/** Does `labels` satisfy the equality-based `selector`? */
function selects(selector: Record<string, string>, labels: Record<string, string> | undefined) {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function podReady(pod: RawObject): boolean {
  const conditions: RawObject[] = pod.status?.conditions ?? [];
  return conditions.some((c) => c.type === "Ready" && c.status === "True");
}

/** The port a Service port's `targetPort` means on this pod; undefined when it names none. */
function resolvePort(svcPort: RawObject, pod: RawObject): number | undefined {
  const target = svcPort.targetPort ?? svcPort.port;
  if (typeof target === "number") return target;
  if (/^\d+$/.test(String(target))) return Number(target);
  const protocol = svcPort.protocol ?? "TCP";
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.name === target && (p.protocol ?? "TCP") === protocol) return p.containerPort;
    }
  }
  return undefined;
}

/** A short stable suffix for a slice name (FNV-1a of the key, base 36). */
function suffixOf(key: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(36).padStart(5, "0").slice(-5);
}

function endpointOf(service: RawObject, pod: RawObject): RawObject {
  const ready = podReady(pod);
  const terminating = Boolean(pod.metadata?.deletionTimestamp);
  const namespace = service.metadata.namespace ?? "default";
  const hostname = pod.spec?.subdomain === service.metadata.name
    ? pod.spec?.hostname ?? pod.metadata.name
    : undefined;
  return {
    addresses: [pod.status.podIP],
    conditions: {
      ready: service.spec?.publishNotReadyAddresses === true || (ready && !terminating),
      serving: ready,
      terminating,
    },
    ...(hostname ? { hostname } : {}),
    ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    targetRef: { kind: "Pod", namespace, name: pod.metadata.name, uid: pod.metadata.uid },
  };
}

function sliceOf(
  service: RawObject,
  addressType: string,
  ports: RawObject[],
  endpoints: RawObject[],
): RawObject {
  const name = service.metadata.name;
  const key = `${addressType}/${JSON.stringify(ports)}`;
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${name}-${suffixOf(key)}`,
      namespace: service.metadata.namespace ?? "default",
      labels: { [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: CONTROLLER_NAME },
      ownerReferences: [{
        apiVersion: "v1",
        kind: "Service",
        name,
        uid: service.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      }],
    },
    addressType,
    endpoints,
    ports,
  };
}

/**
 * The EndpointSlices a Service with a selector should have, given the Pods of its namespace.
 *
 * @param service The Service (with `spec.selector`).
 * @param pods Pods (any namespace; others are ignored).
 * @returns the slices, sorted by name; empty for a Service without a selector.
 */
export function desiredSlices(service: RawObject, pods: readonly RawObject[]): RawObject[] {
  const selector = service.spec?.selector;
  if (selector === undefined || selector === null || service.spec?.type === "ExternalName") {
    return [];
  }
  const namespace = service.metadata.namespace ?? "default";
  const svcPorts: RawObject[] = service.spec?.ports ?? [];
  const groups = new Map<string, { addressType: string; ports: RawObject[]; eps: RawObject[] }>();
  const selected = pods.filter((p) =>
    (p.metadata?.namespace ?? "default") === namespace && selects(selector, p.metadata?.labels) &&
    typeof p.status?.podIP === "string" && p.status.podIP !== "" &&
    p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed"
  ).sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name)));
  for (const pod of selected) {
    const ports = svcPorts.flatMap((sp) => {
      const port = resolvePort(sp, pod);
      return port === undefined
        ? []
        : [{ name: sp.name ?? "", port, protocol: sp.protocol ?? "TCP" }];
    });
    const addressType = String(pod.status.podIP).includes(":") ? "IPv6" : "IPv4";
    const key = `${addressType}/${JSON.stringify(ports)}`;
    const group = groups.get(key) ?? { addressType, ports, eps: [] as RawObject[] };
    group.eps.push(endpointOf(service, pod));
    groups.set(key, group);
  }
  if (groups.size === 0) {
    const family = service.spec?.ipFamilies?.[0] === "IPv6" ? "IPv6" : "IPv4";
    return [sliceOf(service, family, [], [])];
  }
  return [...groups.values()].map((g) => sliceOf(service, g.addressType, g.ports, g.eps))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

/**
 * The controller, attached to an in-process API server fixture.
 *
 * @example
 * ```ts
 * const controller = new EndpointsController(fixture);
 * controller.start();
 * // ... kubectl apply -f service.yaml
 * controller.stop();
 * ```
 */
export class EndpointsController {
  #fixture: ApiServerFixture;
  #unsubscribe: (() => void) | undefined;
  #pending: ReturnType<typeof setTimeout> | undefined;
  #onError: (err: unknown) => void;

  /**
   * @param fixture The API server fixture whose objects it watches and writes.
   * @param onError Called when a sync fails (the next change syncs again).
   */
  constructor(fixture: ApiServerFixture, onError: (err: unknown) => void = console.error) {
    this.#fixture = fixture;
    this.#onError = onError;
  }

  /** Syncs now, then after every change of a Service, Pod or EndpointSlice. */
  start(): void {
    this.#unsubscribe ??= this.#fixture.onChange((kind) => {
      if (kind !== "Service" && kind !== "Pod" && kind !== "EndpointSlice") return;
      // Changes come from inside the fixture's write; sync after it, once per burst.
      this.#pending ??= setTimeout(() => {
        this.#pending = undefined;
        this.#syncSafely();
      }, 0);
    });
    this.#syncSafely();
  }

  /** Stops reacting to changes. */
  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#pending !== undefined) clearTimeout(this.#pending);
    this.#pending = undefined;
  }

  #syncSafely(): void {
    try {
      this.sync();
    } catch (err) {
      this.#onError(err);
    }
  }

  /** Writes every desired slice and deletes the managed slices no Service wants any more. */
  sync(): void {
    const pods = this.#fixture.list("Pod");
    const wanted = new Set<string>();
    for (const service of this.#fixture.list("Service")) {
      for (const slice of desiredSlices(service, pods)) {
        wanted.add(`${slice.metadata.namespace}/${slice.metadata.name}`);
        this.#fixture.apply(slice);
      }
    }
    for (const slice of this.#fixture.list("EndpointSlice")) {
      const m = slice.metadata;
      if (m.labels?.[MANAGED_BY_LABEL] !== CONTROLLER_NAME) continue;
      if (!wanted.has(`${m.namespace}/${m.name}`)) {
        this.#fixture.remove("EndpointSlice", m.namespace, m.name);
      }
    }
  }
}

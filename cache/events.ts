/**
 * Kubernetes Events about this proxy's Node, as upstream kube-proxy records them with its
 * `events.k8s.io/v1` recorder (the "Starting" event with action "StartKubeProxy" at start-up).
 * Recording is best effort: a failure is logged, never thrown, and never delays the proxy.
 *
 * @module
 */

import { log } from "../config/log.ts";
import { ApiClient, type ClientConfig } from "./client.ts";

/** What to record. */
export interface NodeEventOptions {
  /** The node the event is about (kube-proxy's hostname). */
  readonly nodeName: string;
  /** Machine-readable reason, e.g. "Starting". */
  readonly reason: string;
  /** What happened, e.g. "StartKubeProxy". */
  readonly action: string;
  /** Human-readable note; "" by default. */
  readonly note?: string;
  /** "Normal" (default) or "Warning". */
  readonly type?: "Normal" | "Warning";
  /** Clock, for tests. */
  readonly now?: () => Date;
}

/** The Event object upstream kube-proxy's recorder posts for a Node. */
export function buildNodeEvent(opts: NodeEventOptions): Record<string, unknown> {
  const now = (opts.now ?? (() => new Date()))();
  const micro = now.toISOString().replace(/Z$/, "000Z"); // MicroTime: 6 fractional digits
  // Upstream names events `<object>.<nanoseconds in hex>`.
  const suffix = (BigInt(now.getTime()) * 1_000_000n).toString(16);
  return {
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: { name: `${opts.nodeName}.${suffix}`, namespace: "default" },
    eventTime: micro,
    reportingController: "kube-proxy",
    reportingInstance: `kube-proxy-${opts.nodeName}`,
    action: opts.action,
    reason: opts.reason,
    // kube-proxy refers to its Node with the node name as UID, as upstream does.
    regarding: { kind: "Node", name: opts.nodeName, uid: opts.nodeName, apiVersion: "v1" },
    note: opts.note ?? "",
    type: opts.type ?? "Normal",
  };
}

/**
 * Posts an Event about the node. Never throws: a failure is one warning line.
 *
 * @param config The client configuration (`loadClientConfig()`).
 * @param opts What to record.
 * @returns true when the API server accepted the event.
 */
export async function recordNodeEvent(
  config: ClientConfig,
  opts: NodeEventOptions,
): Promise<boolean> {
  const client = new ApiClient(config);
  try {
    await client.create(
      "/apis/events.k8s.io/v1/namespaces/default/events",
      buildNodeEvent(opts),
      AbortSignal.timeout(10_000),
    );
    return true;
  } catch (err) {
    log.warn("Could not record an event", {
      node: opts.nodeName,
      reason: opts.reason,
      err: String(err),
    });
    return false;
  } finally {
    client.close();
  }
}

/**
 * Upstream's "birth cry": a Normal `Starting` event (action `StartKubeProxy`) on this Node, and
 * the line upstream's structured event logging prints for it. Best effort and in the
 * background: a refused or unreachable API server is only logged (by {@linkcode recordNodeEvent}),
 * never fatal, and start-up does not wait for it.
 *
 * @param config The client configuration (`loadClientConfig()`).
 * @param nodeName This proxy's Node.
 */
export function recordBirthCry(config: ClientConfig, nodeName: string): void {
  const event = {
    nodeName,
    reason: "Starting",
    action: "StartKubeProxy",
    note: "Starting kube-proxy.",
    type: "Normal" as const,
  };
  log.info("Event occurred", {
    object: nodeName,
    kind: "Node",
    type: event.type,
    reason: event.reason,
    message: event.note,
  });
  void recordNodeEvent(config, event);
}

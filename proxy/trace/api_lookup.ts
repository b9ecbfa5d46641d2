/**
 * What `kube-proxy trace` reads from the API server, with the proxy's own client
 * (`cache/client.ts`): one Service, its EndpointSlices, and this Node's labels. Read only (LIST
 * with selectors), converted by `cache/convert.ts` exactly as the proxy converts them.
 *
 * @module
 */

import type { ApiClient } from "../../cache/client.ts";
import { toEndpointSlice, toNode, toService } from "../../cache/convert.ts";
import type { EndpointSlice, Service } from "../../cache/objects.ts";

/** The objects behind one Service. */
export interface ServiceObjects {
  readonly service: Service;
  readonly slices: readonly EndpointSlice[];
}

async function listItems(
  client: ApiClient,
  path: string,
  query: Record<string, string>,
): Promise<unknown[]> {
  const items: unknown[] = [];
  await client.list(path, query, (item) => items.push(item), AbortSignal.timeout(15_000));
  return items;
}

/**
 * Reads a Service and its EndpointSlices.
 *
 * @param client the API client.
 * @param namespace the Service's namespace.
 * @param name its name.
 * @returns the objects, or undefined when there is no such Service (or it cannot be used).
 * @throws {Error} When the API server cannot be reached or refuses.
 */
export async function fetchServiceObjects(
  client: ApiClient,
  namespace: string,
  name: string,
): Promise<ServiceObjects | undefined> {
  const services = await listItems(client, `/api/v1/namespaces/${namespace}/services`, {
    fieldSelector: `metadata.name=${name}`,
  });
  const service = services.map((s) => toService(s)).find((s) => s?.name === name);
  if (service === undefined) return undefined;
  const rawSlices = await listItems(
    client,
    `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
    { labelSelector: `kubernetes.io/service-name=${name}` },
  );
  const slices = rawSlices
    .map((s) => toEndpointSlice(s))
    .filter((s): s is EndpointSlice => s !== undefined && s.serviceName === name);
  return { service, slices };
}

/**
 * Reads this Node's labels (for topology hints); empty when the Node is not found.
 *
 * @param client the API client.
 * @param nodeName this node's name.
 * @returns the labels.
 * @throws {Error} When the API server cannot be reached or refuses.
 */
export async function fetchNodeLabels(
  client: ApiClient,
  nodeName: string,
): Promise<Readonly<Record<string, string>>> {
  const nodes = await listItems(client, "/api/v1/nodes", {
    fieldSelector: `metadata.name=${nodeName}`,
  });
  const node = nodes.map((n) => toNode(n)).find((n) => n?.name === nodeName);
  return node?.labels ?? {};
}

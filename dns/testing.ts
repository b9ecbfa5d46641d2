/**
 * Test builders for the DNS responder: trimmed Services, EndpointSlices and Namespaces, and a
 * fixture cluster fed into a ClusterView through its handlers (the way the cache feeds it).
 *
 * @module
 */

import type {
  Endpoint,
  EndpointSlice,
  Namespace,
  Service,
  ServicePortSpec,
} from "../cache/objects.ts";
import {
  makeEndpoint,
  makeEndpointSlice as makeSharedEndpointSlice,
  makeNamespace,
  makeService as makeSharedService,
  type Mutable,
} from "../tests/fixtures.ts";
import { ClusterView, type ClusterViewOptions } from "./cluster_view.ts";
import { DnsServer, type DnsServerOptions } from "./server.ts";

export { makeEndpoint, makeNamespace, type Mutable };

/**
 * Builds a trimmed ClusterIP Service with ClusterIP 10.0.0.1 and one TCP port 80 named `http`
 * (the shared `tests/fixtures.ts` Service with the DNS tests' defaults).
 *
 * @param namespace Namespace.
 * @param name Name.
 * @param mutate Changes to apply.
 */
export function makeService(
  namespace: string,
  name: string,
  mutate: (s: Mutable<Service>) => void = () => {},
): Service {
  return makeSharedService(namespace, name, (s) => {
    s.clusterIPs = ["10.0.0.1"];
    s.ports = [makeServicePort("http", 80)];
    mutate(s);
  });
}

/**
 * A service port.
 *
 * @param name Port name ("" for unnamed).
 * @param port Port number.
 * @param protocol Protocol, TCP by default.
 */
export function makeServicePort(
  name: string,
  port: number,
  protocol: "TCP" | "UDP" | "SCTP" = "TCP",
): ServicePortSpec {
  return { name, protocol, port, targetPort: port, nodePort: 0 };
}

/**
 * An EndpointSlice of `service` with the given endpoints and one TCP port 80 named `http`; the
 * address type follows the first endpoint's address.
 *
 * @param namespace Namespace.
 * @param name Slice name.
 * @param service The service name (label `kubernetes.io/service-name`).
 * @param endpoints The endpoints.
 * @param mutate Changes to apply.
 */
export function makeEndpointSlice(
  namespace: string,
  name: string,
  service: string,
  endpoints: readonly Endpoint[],
  mutate: (s: Mutable<EndpointSlice>) => void = () => {},
): EndpointSlice {
  return makeSharedEndpointSlice(namespace, service, 0, (s) => {
    s.name = name;
    s.addressType = endpoints.some((e) => e.addresses[0]?.includes(":")) ? "IPv6" : "IPv4";
    s.ports = [{ name: "http", protocol: "TCP", port: 80 }];
    s.endpoints = endpoints;
    mutate(s);
  });
}

/** The objects of a fixture cluster. */
export interface Fixture {
  /** Namespaces that exist. */
  readonly namespaces: readonly Namespace[];
  /** Services. */
  readonly services: readonly Service[];
  /** EndpointSlices. */
  readonly slices: readonly EndpointSlice[];
}

/**
 * The fixture plus a headless Service `name` in `testns` whose endpoints sit in one slice
 * `<name>-x` (for answers too large for one UDP message).
 *
 * @param fixture The cluster to extend.
 * @param name The Service name.
 * @param endpoints Its endpoints.
 */
export function withHeadlessService(
  fixture: Fixture,
  name: string,
  endpoints: readonly Endpoint[],
): Fixture {
  const svc = makeService("testns", name, (s) => {
    s.clusterIPs = [];
    s.headless = true;
  });
  return {
    ...fixture,
    services: [...fixture.services, svc],
    slices: [...fixture.slices, makeEndpointSlice("testns", `${name}-x`, name, endpoints)],
  };
}

/**
 * Feeds objects into a new ClusterView through its handlers and marks everything synced.
 *
 * @param fixture The objects.
 * @param opts View options.
 */
export function makeClusterView(fixture: Fixture, opts: ClusterViewOptions = {}): ClusterView {
  const view = new ClusterView(opts);
  for (const ns of fixture.namespaces) view.onNamespaceAdd(ns);
  for (const svc of fixture.services) view.onServiceAdd(svc);
  for (const slice of fixture.slices) view.onEndpointSliceAdd(slice);
  view.onNamespacesSynced();
  view.onServicesSynced();
  view.onEndpointSlicesSynced();
  return view;
}

/**
 * The fixture cluster of the DNS tests, after CoreDNS's test cluster: namespaces `testns` and
 * `default`; in `testns`: `svc1` (ClusterIP 10.0.0.1, ports http/80 and unnamed 81),
 * `svc6` (dual stack 10.0.0.3 + fd00::3), `svc-empty` (ClusterIP without endpoints),
 * `hdls1` (headless, endpoints 172.0.0.2 `dup-name`, 172.0.0.3 `dup-name`, 172.0.0.4 no
 * hostname, and fd00::5 via a second slice), `hdls-none` (headless, only not-ready endpoints),
 * `hdls-pub` (headless, publishNotReadyAddresses, a not-ready endpoint 172.0.1.1),
 * `ext` (ExternalName `ext.example.org`), `ext-in` (ExternalName `svc1.testns.svc.cluster.local`),
 * `ext-ip` (ExternalName `1.2.3.4`); in `default`: StatefulSet `web` behind headless `nginx`
 * (`web-0` 10.1.0.10, `web-1` 10.1.0.11, ports web/80, metrics/9100 UDP).
 */
export function makeFixture(): Fixture {
  const ns = "testns";
  const services: Service[] = [
    makeService(ns, "svc1", (s) => {
      s.ports = [makeServicePort("http", 80), makeServicePort("", 81)];
    }),
    makeService(ns, "svc6", (s) => {
      s.clusterIPs = ["10.0.0.3", "fd00::3"];
      s.ipFamilies = ["IPv4", "IPv6"];
    }),
    makeService(ns, "svc-empty", (s) => {
      s.clusterIPs = ["10.0.0.4"];
    }),
    makeService(ns, "hdls1", (s) => {
      s.clusterIPs = [];
      s.headless = true;
    }),
    makeService(ns, "hdls-none", (s) => {
      s.clusterIPs = [];
      s.headless = true;
    }),
    makeService(ns, "hdls-pub", (s) => {
      s.clusterIPs = [];
      s.headless = true;
      s.publishNotReadyAddresses = true;
    }),
    makeService(ns, "ext", (s) => {
      s.type = "ExternalName";
      s.clusterIPs = [];
      s.ports = [];
      s.externalName = "ext.example.org";
    }),
    makeService(ns, "ext-in", (s) => {
      s.type = "ExternalName";
      s.clusterIPs = [];
      s.ports = [];
      s.externalName = "svc1.testns.svc.cluster.local";
    }),
    makeService(ns, "ext-ip", (s) => {
      s.type = "ExternalName";
      s.clusterIPs = [];
      s.ports = [];
      s.externalName = "1.2.3.4";
    }),
    makeService("default", "nginx", (s) => {
      s.clusterIPs = [];
      s.headless = true;
      s.ports = [makeServicePort("web", 80)];
    }),
  ];
  const slices: EndpointSlice[] = [
    makeEndpointSlice(ns, "svc1-abc", "svc1", [makeEndpoint("172.0.0.1")]),
    makeEndpointSlice(ns, "hdls1-v4", "hdls1", [
      makeEndpoint("172.0.0.2", (e) => e.hostname = "dup-name"),
      makeEndpoint("172.0.0.3", (e) => e.hostname = "dup-name"),
      makeEndpoint("172.0.0.4"),
      makeEndpoint("172.0.0.9", (e) => e.ready = false),
    ]),
    makeEndpointSlice(ns, "hdls1-v6", "hdls1", [makeEndpoint("fd00::5")]),
    makeEndpointSlice(ns, "hdls-none-x", "hdls-none", [
      makeEndpoint("172.0.0.20", (e) => e.ready = false),
    ]),
    makeEndpointSlice(ns, "hdls-pub-x", "hdls-pub", [
      makeEndpoint("172.0.1.1", (e) => {
        e.ready = false;
        e.hostname = "peer-0";
      }),
    ]),
    makeEndpointSlice("default", "nginx-x", "nginx", [
      makeEndpoint("10.1.0.10", (e) => e.hostname = "web-0"),
      makeEndpoint("10.1.0.11", (e) => e.hostname = "web-1"),
    ], (s) => {
      s.ports = [
        { name: "web", protocol: "TCP", port: 80 },
        { name: "metrics", protocol: "UDP", port: 9100 },
      ];
    }),
  ];
  return {
    namespaces: [makeNamespace(ns), makeNamespace("default"), makeNamespace("empty-ns")],
    services,
    slices,
  };
}

/**
 * DnsServer options for loopback tests: 127.0.0.1 on an ephemeral port, zone `cluster.local`,
 * TTL 5, pod records on, no upstreams and a resolv.conf that does not exist (so nothing is ever
 * forwarded off the machine). Tests spread it and change what they test.
 */
export const TEST_SERVER_OPTIONS: DnsServerOptions = {
  bindAddress: "127.0.0.1",
  port: 0,
  clusterDomain: "cluster.local",
  ttl: 5,
  podRecords: "insecure",
  upstreamServers: [],
  resolvConfPath: "/nonexistent/kpdns-resolv.conf",
  forwardTimeoutMs: 200,
  maxConcurrentForwards: 10,
  tcpIdleTimeoutMs: 5000,
};

/**
 * Starts a DnsServer over `view`, runs `fn` with it, and stops it even when `fn` throws.
 *
 * @param view The records the server answers from.
 * @param options The server options (usually `TEST_SERVER_OPTIONS` plus changes).
 * @param fn The test body.
 * @throws whatever `start()` or `fn` throws.
 */
export async function withDnsServer(
  view: ClusterView,
  options: DnsServerOptions,
  fn: (server: DnsServer) => Promise<void>,
): Promise<void> {
  const server = new DnsServer(view, options);
  await server.start();
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

/**
 * Sends one UDP message and waits for one reply.
 *
 * @param hostname Server address.
 * @param port Server port.
 * @param packet The query.
 * @param timeoutMs Give up after this long (resolves undefined).
 */
export async function exchangeUdp(
  hostname: string,
  port: number,
  packet: Uint8Array,
  timeoutMs = 2000,
): Promise<Uint8Array | undefined> {
  const sock = Deno.listenDatagram({
    hostname: hostname.includes(":") ? "::1" : "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await sock.send(packet, { transport: "udp", hostname, port });
    const reply = sock.receive().then(([data]) => data);
    const timeout = new Promise<undefined>((r) =>
      timer = setTimeout(() => r(undefined), timeoutMs)
    );
    return await Promise.race([reply, timeout]);
  } finally {
    clearTimeout(timer);
    sock.close();
  }
}

/**
 * Sends messages over one TCP connection (all in one write: pipelined) and reads one reply per
 * message, in arrival order.
 *
 * @param hostname Server address.
 * @param port Server port.
 * @param packets The queries.
 */
export async function exchangeTcp(
  hostname: string,
  port: number,
  packets: readonly Uint8Array[],
): Promise<Uint8Array[]> {
  const conn = await Deno.connect({ hostname, port });
  try {
    const total = packets.reduce((n, p) => n + p.length + 2, 0);
    const out = new Uint8Array(total);
    let off = 0;
    for (const p of packets) {
      out[off] = p.length >> 8;
      out[off + 1] = p.length & 0xff;
      out.set(p, off + 2);
      off += p.length + 2;
    }
    for (let w = 0; w < out.length;) w += await conn.write(out.subarray(w));
    const replies: Uint8Array[] = [];
    for (let i = 0; i < packets.length; i++) {
      const len = await readFull(conn, 2);
      replies.push(await readFull(conn, (len[0] << 8) | len[1]));
    }
    return replies;
  } finally {
    conn.close();
  }
}

/**
 * Reads exactly `n` bytes from a connection.
 *
 * @param conn The connection.
 * @param n How many bytes.
 * @returns The bytes.
 * @throws When the connection ends first.
 */
export async function readFull(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  for (let off = 0; off < n;) {
    const r = await conn.read(out.subarray(off));
    if (r === null) {
      throw new Error(`Cannot read DNS reply: connection closed after ${off} of ${n}`);
    }
    off += r;
  }
  return out;
}

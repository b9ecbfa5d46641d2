/**
 * The watch cache against the API server fixture over real HTTP(S): sync, exactly-once in-order
 * delivery through stream cuts, 500s and malformed lines, relist after 410 Gone, restart of the
 * server, and the ways of configuring the client.
 */

import { assert, assertEquals, assertRejects } from "../assert.ts";
import { configureLogging, type LogSettings } from "../../config/log.ts";
import { ClusterCache, type ClusterCacheOptions } from "../../cache/cache.ts";
import { loadClientConfig } from "../../cache/client.ts";
import { toEndpointSlice, toService } from "../../cache/convert.ts";
import type { EndpointSlice, Namespace, Node, Service } from "../../cache/objects.ts";
import { ApiServerFixture, type RawObject } from "../apiserver/server.ts";

// Keep the expected warnings of invalid objects and retries out of the test output
// (KPCACHE_TEST_LOG=1 shows them).
const QUIET: Partial<LogSettings> = Deno.env.get("KPCACHE_TEST_LOG") === "1"
  ? { verbosity: 0, write: (line) => console.error(line) }
  : { verbosity: 0, write: () => {} };
configureLogging(QUIET);

const FAST = { backoff: { initialMs: 5, maxMs: 100 }, watchTimeoutSeconds: 30 };
const ABSENT = "ABSENT";

/** Records every delivery as a sequence of states per key. */
class Recorder {
  readonly sequences = new Map<string, string[]>();
  readonly synced: string[] = [];
  readonly errors: string[] = [];
  #current = new Map<string, string>();

  #push(kind: string, key: string, state: string, previous?: string) {
    const k = `${kind}:${key}`;
    const last = this.#current.get(k) ?? ABSENT;
    if (previous !== undefined && previous !== last) {
      this.errors.push(`${k}: update's previous is not what was delivered`);
    }
    if (previous === undefined && state !== ABSENT && last !== ABSENT) {
      this.errors.push(`${k}: add of an object already delivered`);
    }
    if (state === ABSENT && last === ABSENT) this.errors.push(`${k}: delete of an absent object`);
    this.#current.set(k, state);
    const seq = this.sequences.get(k) ?? [];
    seq.push(state);
    this.sequences.set(k, seq);
  }

  services = {
    onServiceAdd: (s: Service) => this.#push("svc", key(s), stateOf(s)),
    onServiceUpdate: (p: Service, c: Service) => this.#push("svc", key(c), stateOf(c), stateOf(p)),
    onServiceDelete: (s: Service) => this.#push("svc", key(s), ABSENT, stateOf(s)),
    onServicesSynced: () => this.synced.push("services"),
  };
  slices = {
    onEndpointSliceAdd: (s: EndpointSlice) => this.#push("eps", key(s), stateOf(s)),
    onEndpointSliceUpdate: (p: EndpointSlice, c: EndpointSlice) =>
      this.#push("eps", key(c), stateOf(c), stateOf(p)),
    onEndpointSliceDelete: (s: EndpointSlice) => this.#push("eps", key(s), ABSENT, stateOf(s)),
    onEndpointSlicesSynced: () => this.synced.push("endpointslices"),
  };
  nodes = {
    onNodeAdd: (n: Node) => this.#push("node", n.name, stateOf(n)),
    onNodeUpdate: (p: Node, c: Node) => this.#push("node", c.name, stateOf(c), stateOf(p)),
    onNodeDelete: (n: Node) => this.#push("node", n.name, ABSENT, stateOf(n)),
    onNodeSynced: () => this.synced.push("node"),
  };
  namespaces = {
    onNamespaceAdd: (n: Namespace) => this.#push("ns", n.name, stateOf(n)),
    onNamespaceDelete: (n: Namespace) => this.#push("ns", n.name, ABSENT, stateOf(n)),
    onNamespacesSynced: () => this.synced.push("namespaces"),
    onNamespacesUnavailable: () => this.unavailable++,
  };
  unavailable = 0;

  attach(cache: ClusterCache): void {
    cache.addServiceHandler(this.services);
    cache.addEndpointSliceHandler(this.slices);
    cache.addNodeHandler(this.nodes);
    cache.addNamespaceHandler(this.namespaces);
  }
}

function key(o: { namespace: string; name: string }): string {
  return `${o.namespace}/${o.name}`;
}

/** A trimmed object as text, without its resourceVersion. */
function stateOf(o: object | undefined): string {
  return o === undefined ? ABSENT : JSON.stringify({ ...o, resourceVersion: "" });
}

/** Seeded PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeService(ns: string, name: string, n: number, valid = true): RawObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: ns, annotations: { touched: String(n) } },
    spec: {
      clusterIP: valid ? `10.96.${(n >> 8) & 255}.${n & 255}` : "10.96.0.999",
      ports: [{ name: "http", port: 80 + (n % 5), targetPort: 8080 }],
    },
  };
}

function makeSlice(ns: string, name: string, n: number, endpoints: number): RawObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace: ns, labels: { "kubernetes.io/service-name": name.split("-")[0] } },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: Array.from({ length: endpoints }, (_, i) => ({
      addresses: [`10.244.${n % 250}.${i + 1}`],
      conditions: { ready: (n + i) % 3 !== 0 },
      nodeName: "node-a",
    })),
  };
}

async function waitFor(what: string, cond: () => boolean, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The fixture's current trimmed state, as the cache should hold it. */
function fixtureState(api: ApiServerFixture): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of api.list("Service")) {
    const s = toService(raw);
    if (s) out.set(`svc:${key(s)}`, stateOf(s));
  }
  for (const raw of api.list("EndpointSlice")) {
    const s = toEndpointSlice(raw);
    if (s) out.set(`eps:${key(s)}`, stateOf(s));
  }
  return out;
}

function cacheState(cache: ClusterCache): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of cache.services()) out.set(`svc:${key(s)}`, stateOf(s));
  for (const s of cache.endpointSlices()) out.set(`eps:${key(s)}`, stateOf(s));
  return out;
}

function sameState(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

async function tempFile(text: string): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "kpcache-" });
  await Deno.writeTextFile(path, text);
  return path;
}

async function startCache(
  api: ApiServerFixture,
  rec: Recorder,
  opts: ClusterCacheOptions = FAST,
  attachMore: (cache: ClusterCache) => void = () => {},
): Promise<{ cache: ClusterCache; kubeconfig: string }> {
  const kubeconfig = await tempFile(api.kubeconfigFor());
  const cache = new ClusterCache(await loadClientConfig({ kubeconfig }), "node-a", opts);
  rec.attach(cache);
  attachMore(cache);
  await cache.start();
  return { cache, kubeconfig };
}

/**
 * Applies `ops` random creates, updates (some of them invisible in the trimmed object, some
 * making the object invalid) and deletes, calling `fault(i)` between batches, and returns the
 * expected sequence of trimmed states per key (consecutive duplicates collapsed).
 */
async function churn(
  api: ApiServerFixture,
  ops: number,
  seed: number,
  fault: (i: number) => void | Promise<void>,
  baseline = new Map<string, string[]>(),
): Promise<Map<string, string[]>> {
  const rand = prng(seed);
  const expected = new Map<string, string[]>();
  const record = (k: string, state: string) => {
    const seq = expected.get(k) ?? [];
    if ((seq.at(-1) ?? baseline.get(k)?.at(-1) ?? ABSENT) !== state) seq.push(state);
    expected.set(k, seq);
  };
  const exists = new Set<string>();
  for (const [k, seq] of baseline) if (seq.at(-1) !== ABSENT) exists.add(k);
  for (let i = 0; i < ops; i++) {
    const isSvc = rand() < 0.5;
    const ns = `ns${Math.floor(rand() * 3)}`;
    const name = `obj${Math.floor(rand() * 60)}`;
    const kind = isSvc ? "Service" : "EndpointSlice";
    const k = `${isSvc ? "svc" : "eps"}:${ns}/${isSvc ? name : `${name}-x`}`;
    const r = rand();
    if (exists.has(k) && r < 0.2) {
      api.remove(kind, ns, isSvc ? name : `${name}-x`);
      exists.delete(k);
      record(k, ABSENT);
    } else {
      const n = Math.floor(rand() * 1000);
      const obj = isSvc
        ? makeService(ns, name, r < 0.25 ? 7 : n, r > 0.97 ? false : true)
        : makeSlice(ns, `${name}-x`, r < 0.25 ? 7 : n, 1 + (n % 4));
      api.apply(obj);
      exists.add(k);
      const stored = api.get(kind, ns, obj.metadata.name)!;
      record(k, stateOf(isSvc ? toService(stored) : toEndpointSlice(stored)));
    }
    if (i % 25 === 24) {
      await fault(i);
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  return expected;
}

function isSubsequence(sub: string[], seq: string[]): boolean {
  let j = 0;
  for (const s of sub) {
    while (j < seq.length && seq[j] !== s) j++;
    if (j === seq.length) return false;
    j++;
  }
  return true;
}

Deno.test("ClusterCache syncs services, slices, node and namespaces over HTTP", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 50 });
  const rec = new Recorder();
  let cache: ClusterCache | undefined;
  try {
    api.apply(makeService("demo", "web", 1));
    api.apply(makeSlice("demo", "web-1", 1, 3));
    api.apply({ apiVersion: "v1", kind: "Node", metadata: { name: "node-a", labels: { z: "1" } } });
    api.apply({ apiVersion: "v1", kind: "Node", metadata: { name: "node-b" } });
    ({ cache } = await startCache(api, rec));
    await cache.synced;
    assert(cache.hasSynced());
    assertEquals(rec.synced.sort(), ["endpointslices", "namespaces", "node", "services"]);
    assertEquals(cache.services().map(key), ["demo/web"]);
    assertEquals(cache.node()?.labels, { z: "1" });
    assertEquals(cache.namespaces().map((n) => n.name), ["demo"]);
    // Live changes after the sync, including one only the resourceVersion sees.
    api.apply({ ...makeService("demo", "web", 2) });
    api.apply({
      ...makeService("demo", "web", 2),
      metadata: { name: "web", namespace: "demo", annotations: { x: "y" } },
    });
    api.remove("EndpointSlice", "demo", "web-1");
    api.apply({ apiVersion: "v1", kind: "Node", metadata: { name: "node-b", labels: { z: "2" } } });
    await waitFor("convergence", () => sameState(cacheState(cache!), fixtureState(api)));
    assertEquals(rec.sequences.get("svc:demo/web")?.length, 2);
    assertEquals(rec.sequences.get("eps:demo/web-1")?.at(-1), ABSENT);
    assertEquals(rec.sequences.has("node:node-b"), false, "only this node is watched");
    assertEquals(rec.errors, []);
  } finally {
    await cache?.stop();
    await api.close();
  }
});

Deno.test("ClusterCache delivers every change exactly once, in order, through cut streams, 500s and malformed lines", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 20 });
  const rec = new Recorder();
  let cache: ClusterCache | undefined;
  try {
    const initial = await churn(api, 300, 1, () => {});
    ({ cache } = await startCache(api, rec));
    await cache.synced;
    let faults = 0;
    const watchesBefore = api.watchRequestCount;
    const listsBefore = api.listCount;
    const expected = await churn(api, 3000, 2, async () => {
      // Inject each fault into live streams: wait until all four watches are back.
      await waitFor("four watches", () => api.watchCount === 4);
      switch (faults++ % 5) {
        case 0:
          api.cutWatches();
          break;
        case 1:
          api.failRequests(3);
          break;
        case 2:
          api.cutWatches({ mode: "reset" });
          break;
        case 3:
          api.sendMalformedEvent();
          break;
        case 4:
          api.cutWatches({ mode: "clean" });
          break;
      }
    }, initial);
    await waitFor("convergence", () => sameState(cacheState(cache!), fixtureState(api)));
    assert(faults >= 100);
    const rewatches = api.watchRequestCount - watchesBefore;
    assert(rewatches >= 4 * 90, `only ${rewatches} watch reconnects`);
    assertEquals(api.listCount, listsBefore, "no relist is needed without a 410");
    assertEquals(rec.errors, []);
    // Before the churn, the first list gave each key its state at that time (one add); after
    // it, every change the fixture made is delivered once, in order.
    let checked = 0;
    for (const [k, seq] of expected) {
      const before = initial.get(k)?.at(-1) ?? ABSENT;
      const want = [...(before === ABSENT ? [] : [before]), ...seq];
      assertEquals(rec.sequences.get(k) ?? [], want, k);
      checked++;
    }
    assert(checked > 300, `checked ${checked} keys`);
  } finally {
    await cache?.stop();
    await api.close();
  }
});

Deno.test("ApiServerFixture.cutWatches() reset breaks the stream abruptly and quietly", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  const printed: unknown[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => printed.push(args);
  try {
    for (const mode of ["reset", "clean"] as const) {
      const res = await fetch(`${api.url}/api/v1/services?watch=true&resourceVersion=0`);
      const reader = res.body!.getReader();
      // Wait until the watch is registered, then cut it.
      while (api.watchCount === 0) await new Promise((r) => setTimeout(r, 5));
      api.cutWatches({ mode });
      const chunks: string[] = [];
      const ended = await (async () => {
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return "end";
            chunks.push(new TextDecoder().decode(value));
          }
        } catch {
          return "broken";
        }
      })();
      // A reset is a broken connection, a clean cut a normal end of the body.
      assertEquals(ended, mode === "reset" ? "broken" : "end", mode);
      while (api.watchCount !== 0) await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(printed, [], "the injected reset prints nothing");
  } finally {
    console.error = consoleError;
    await api.close();
  }
});

Deno.test("ClusterCache relists after 410 Gone and delivers what the gap hid, never keeping a deleted object", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  const rec = new Recorder();
  let cache: ClusterCache | undefined;
  try {
    ({ cache } = await startCache(api, rec));
    await cache.synced;
    let compactions = 0;
    const expected = await churn(api, 3000, 3, async (i) => {
      await waitFor("four watches", () => api.watchCount === 4);
      if (i % 100 === 24) {
        // Expire everything and cut the streams: the next watch gets 410 and must relist.
        api.compact();
        api.cutWatches();
        compactions++;
      } else if (i % 100 === 49) {
        api.compact({ closeWatches: true });
        compactions++;
      } else if (i % 100 === 74) {
        api.failRequests(2);
      }
    });
    await waitFor("convergence", () => sameState(cacheState(cache!), fixtureState(api)));
    assert(compactions >= 60);
    assert(api.listCount >= 4 + 60, `only ${api.listCount} lists: the 410s did not relist`);
    assertEquals(rec.errors, []);
    // The gap: for each key, the delivered states are the fixture's states in order with some
    // skipped (those the gap hid), no state is delivered twice in a row, and the last delivered
    // state is the fixture's final state (ABSENT for a deleted object).
    let hidden = 0;
    for (const [k, seq] of expected) {
      const got = rec.sequences.get(k) ?? [];
      hidden += seq.length - got.length;
      assert(isSubsequence(got, seq), `${k}: ${got.length} delivered not a subsequence`);
      assert(got.every((s, i) => i === 0 || s !== got[i - 1]), `${k}: repeated state`);
      assertEquals(got.at(-1) ?? ABSENT, seq.at(-1), k);
    }
    assert(hidden > 0, "no gap hid a change: the test did not exercise the relist diff");
    const keys = new Set(cacheState(cache).keys());
    for (const raw of api.list("Service")) {
      keys.delete(`svc:${raw.metadata.namespace}/${raw.metadata.name}`);
    }
    for (const raw of api.list("EndpointSlice")) {
      keys.delete(`eps:${raw.metadata.namespace}/${raw.metadata.name}`);
    }
    assertEquals([...keys], [], "the cache holds objects the server deleted");
  } finally {
    await cache?.stop();
    await api.close();
  }
});

Deno.test("ClusterCache never reports synced before every resource was listed", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  const rec = new Recorder();
  let cache: ClusterCache | undefined;
  try {
    api.apply(makeService("demo", "web", 1));
    api.failRequests(1_000_000);
    ({ cache } = await startCache(api, rec));
    await waitFor("retries", () => api.requestCount >= 20);
    assertEquals(cache.hasSynced(), false);
    assertEquals(rec.synced, []);
    // Let three of the four resources list; Namespaces keep failing.
    api.failRequests(1_000_000, 500, "/api/v1/namespaces");
    await waitFor("three syncs", () => rec.synced.length === 3);
    const failing = api.requestCount;
    await waitFor("more namespace retries", () => api.requestCount >= failing + 5);
    assertEquals(rec.synced.sort(), ["endpointslices", "node", "services"]);
    assertEquals(cache.hasSynced(), false);
    api.failRequests(0);
    await cache.synced;
    assertEquals(rec.synced.sort(), ["endpointslices", "namespaces", "node", "services"]);
    assert(cache.hasSynced());
  } finally {
    await cache?.stop();
    await api.close();
  }
});

Deno.test("ClusterCache syncs without Namespaces when they are forbidden (403), tells the handler once, and recovers", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  const rec = new Recorder();
  const lines: string[] = [];
  configureLogging({ verbosity: 2, write: (line) => lines.push(line) });
  let cache: ClusterCache | undefined;
  try {
    api.apply(makeService("demo", "web", 1));
    // Upstream's system:node-proxier ClusterRole: every Namespace request is refused.
    api.failRequests(Number.MAX_SAFE_INTEGER, 403, "/api/v1/namespaces");
    ({ cache } = await startCache(api, rec, { ...FAST, forbiddenRetryMs: 20 }));
    await cache.synced;
    assert(cache.hasSynced());
    assertEquals(rec.synced.sort(), ["endpointslices", "node", "services"]);
    assertEquals(rec.unavailable, 1);
    assertEquals(cache.namespaces(), []);
    // Services still flow, while the refused list is retried (quietly) many times.
    api.apply(makeService("demo", "api", 2));
    await waitFor("the new service", () => cache!.services().length === 2);
    const retries = () => lines.filter((l) => l.includes("Namespace still forbidden")).length;
    await waitFor("namespace retries", () => retries() >= 5);
    assertEquals(rec.unavailable, 1, "the handler is told once per run of refusals");
    assertEquals(lines.filter((l) => l.includes("Namespaces are forbidden")).length, 1);
    assertEquals(lines.filter((l) => l.startsWith("W") && l.includes("Namespace")).length, 1);
    // The permission appears: the Namespaces are delivered and the handler is told synced.
    api.failRequests(0);
    await waitFor("namespaces synced", () => rec.synced.includes("namespaces"));
    assertEquals(cache.namespaces().map((n) => n.name), ["demo"]);
    assertEquals(rec.sequences.get("ns:demo")?.length, 1);
    assertEquals(rec.unavailable, 1);
    assertEquals(rec.errors, []);
  } finally {
    configureLogging(QUIET);
    await cache?.stop();
    await api.close();
  }
});

Deno.test("ClusterCache does not watch Namespaces without a NamespaceHandler", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  const rec = new Recorder();
  let cache: ClusterCache | undefined;
  try {
    api.apply(makeService("demo", "web", 1));
    api.failRequests(Number.MAX_SAFE_INTEGER, 403, "/api/v1/namespaces");
    const kubeconfig = await tempFile(api.kubeconfigFor());
    cache = new ClusterCache(await loadClientConfig({ kubeconfig }), "node-a", FAST);
    cache.addServiceHandler(rec.services);
    cache.addEndpointSliceHandler(rec.slices);
    cache.addNodeHandler(rec.nodes);
    await cache.start();
    await cache.synced;
    await waitFor("three watches", () => api.watchCount === 3);
    assertEquals(rec.synced.sort(), ["endpointslices", "node", "services"]);
    assertEquals(api.listCount, 3);
    assertEquals(api.requestCount, 6, "no Namespace request, refused or not");
    assertEquals(cache.namespaces(), []);
  } finally {
    await cache?.stop();
    await api.close();
  }
});

Deno.test("ClusterCache reconnects after the API server restarts on the same port", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 20 });
  const rec = new Recorder();
  let cache: ClusterCache | undefined;
  try {
    api.apply(makeService("demo", "a", 1));
    api.apply(makeService("demo", "b", 2));
    ({ cache } = await startCache(api, rec));
    await cache.synced;
    const port = new URL(api.url).port;
    await api.suspend();
    api.apply(makeService("demo", "c", 3));
    api.remove("Service", "demo", "a");
    await new Promise((r) => setTimeout(r, 50)); // the cache retries against a closed port
    await api.resume();
    assertEquals(new URL(api.url).port, port);
    await waitFor("convergence", () => sameState(cacheState(cache!), fixtureState(api)));
    assertEquals(cache.services().map(key).sort(), ["demo/b", "demo/c"]);
    assertEquals(rec.errors, []);
  } finally {
    await cache?.stop();
    await api.close();
  }
});

Deno.test("ClusterCache connects over HTTPS verifying the CA, with a bearer token", async () => {
  const api = await ApiServerFixture.start({ tls: true, token: "s3cret", bookmarkIntervalMs: 0 });
  let cache: ClusterCache | undefined;
  const files: string[] = [];
  try {
    api.apply(makeService("demo", "web", 1));
    const kubeconfig = await tempFile(api.kubeconfigFor({ clientCert: true }));
    files.push(kubeconfig);
    const config = await loadClientConfig({ kubeconfig });
    assert(config.server.startsWith("https://"));
    assert(config.clientCert?.includes("BEGIN CERTIFICATE"));
    cache = new ClusterCache(config, "node-a", FAST);
    await cache.start();
    await cache.synced;
    assertEquals(cache.services().map(key), ["demo/web"]);
    await cache.stop();
    // A wrong token never syncs.
    const wrong = await tempFile(api.kubeconfigFor({ token: "nope" }));
    files.push(wrong);
    cache = new ClusterCache(await loadClientConfig({ kubeconfig: wrong }), "node-a", FAST);
    const before = api.requestCount;
    await cache.start();
    await waitFor("rejected attempts", () => api.requestCount >= before + 8);
    assertEquals(cache.hasSynced(), false);
  } finally {
    await cache?.stop();
    await api.close();
    for (const f of files) await Deno.remove(f);
  }
});

Deno.test("ClusterCache refuses a server whose certificate is not signed by the CA", async () => {
  const api = await ApiServerFixture.start({ tls: true, bookmarkIntervalMs: 0 });
  const other = await ApiServerFixture.start({ tls: true, bookmarkIntervalMs: 0 });
  let cache: ClusterCache | undefined;
  let kubeconfig = "";
  try {
    // other's CA, api's URL.
    kubeconfig = await tempFile(other.kubeconfigFor({ server: api.url }));
    cache = new ClusterCache(await loadClientConfig({ kubeconfig }), "node-a", FAST);
    await cache.start();
    await new Promise((r) => setTimeout(r, 300));
    assertEquals(cache.hasSynced(), false);
    assertEquals(api.requestCount, 0, "no request may pass an unverified TLS handshake");
  } finally {
    await cache?.stop();
    await api.close();
    await other.close();
    if (kubeconfig) await Deno.remove(kubeconfig);
  }
});

Deno.test("loadClientConfig() takes --master http://... alone or over a kubeconfig", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  let cache: ClusterCache | undefined;
  let kubeconfig = "";
  try {
    api.apply(makeService("demo", "web", 1));
    const config = await loadClientConfig({ master: api.url });
    assertEquals([config.server, config.caCert], [api.url, undefined]);
    cache = new ClusterCache(config, "node-a", FAST);
    await cache.start();
    await cache.synced;
    assertEquals(cache.services().length, 1);
    kubeconfig = await tempFile(api.kubeconfigFor({ server: "https://192.0.2.1:6443" }));
    assertEquals((await loadClientConfig({ kubeconfig, master: api.url })).server, api.url);
  } finally {
    await cache?.stop();
    await api.close();
    if (kubeconfig) await Deno.remove(kubeconfig);
  }
});

Deno.test("loadClientConfig() uses the in-cluster service account", async () => {
  const api = await ApiServerFixture.start({ tls: true, token: "sa-token", bookmarkIntervalMs: 0 });
  const dir = await Deno.makeTempDir({ prefix: "kpcache-sa-" });
  let cache: ClusterCache | undefined;
  try {
    api.apply(makeService("demo", "web", 1));
    await Deno.writeTextFile(`${dir}/token`, "sa-token");
    await Deno.writeTextFile(`${dir}/ca.crt`, api.certificates!.caCert);
    const url = new URL(api.url);
    const env = (n: string) =>
      ({ KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port })[n];
    const config = await loadClientConfig({ serviceAccountDir: dir, env });
    assertEquals(config.server, api.url);
    cache = new ClusterCache(config, "node-a", FAST);
    await cache.start();
    await cache.synced;
    assertEquals(cache.services().length, 1);
    await assertRejects(
      () => loadClientConfig({ serviceAccountDir: dir, env: () => undefined }),
      Error,
      "KUBERNETES_SERVICE_HOST",
    );
    await assertRejects(
      () => loadClientConfig({ serviceAccountDir: `${dir}/missing`, env }),
      Error,
      "token does not exist",
    );
  } finally {
    await cache?.stop();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A kubeconfig whose cluster and user carry the given PEM texts as `*-data`. */
function kubeconfigWithTls(pem: { caData?: string; certData?: string; keyData?: string }): string {
  const b64 = (text: string | undefined) => text === undefined ? undefined : btoa(text);
  return JSON.stringify({
    "current-context": "c",
    clusters: [{
      name: "k",
      cluster: {
        server: "https://127.0.0.1:1",
        "certificate-authority-data": b64(pem.caData),
      },
    }],
    users: [{
      name: "u",
      user: {
        "client-certificate-data": b64(pem.certData),
        "client-key-data": b64(pem.keyData),
      },
    }],
    contexts: [{ name: "c", context: { cluster: "k", user: "u" } }],
  });
}

Deno.test("loadClientConfig() names the file and the problem of a broken kubeconfig", async () => {
  const cases: [string | undefined, string][] = [
    [undefined, "file does not exist"],
    ["clusters: [\n  - name: x\n  cluster: {", "Cannot load kubeconfig"],
    [
      '{"apiVersion":"v1","kind":"Config","clusters":[],"users":[],"contexts":[]}',
      "current-context is not set",
    ],
    [
      JSON.stringify({
        "current-context": "c",
        clusters: [{ name: "k", cluster: { server: "https://127.0.0.1:1" } }],
        users: [{ name: "u", user: {} }],
        contexts: [{ name: "c", context: { cluster: "missing", user: "u" } }],
      }),
      "no cluster for the current context",
    ],
    [
      JSON.stringify({
        "current-context": "c",
        clusters: [{
          name: "k",
          cluster: {
            server: "https://127.0.0.1:1",
            "certificate-authority": "/nonexistent/ca.crt",
          },
        }],
        users: [{ name: "u", user: {} }],
        contexts: [{ name: "c", context: { cluster: "k", user: "u" } }],
      }),
      "/nonexistent/ca.crt",
    ],
    [kubeconfigWithTls({ caData: "not a certificate\n" }), "holds no PEM certificate"],
    [
      kubeconfigWithTls({
        caData: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      }),
      "unusable TLS material",
    ],
    [kubeconfigWithTls({ certData: "garbage\n", keyData: "garbage\n" }), "unusable TLS material"],
  ];
  for (const [text, message] of cases) {
    const path = text === undefined ? "/nonexistent/kubeconfig" : await tempFile(text);
    try {
      const err = await assertRejects(() => loadClientConfig({ kubeconfig: path }), Error);
      assert(err.message.includes(path), `${err.message} does not name ${path}`);
      assert(err.message.includes(message), `${err.message} does not say ${message}`);
      assert(/^Cannot load/.test(err.message), err.message);
    } finally {
      if (text !== undefined) await Deno.remove(path);
    }
  }
});

Deno.test("ClusterCache keeps delivering when a handler throws", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  const rec = new Recorder();
  let cache: ClusterCache | undefined;
  try {
    api.apply(makeService("demo", "a", 1));
    const kubeconfig = await tempFile(api.kubeconfigFor());
    cache = new ClusterCache(await loadClientConfig({ kubeconfig }), "node-a", FAST);
    await Deno.remove(kubeconfig);
    let thrown = 0;
    const fail = () => {
      thrown++;
      throw new Error("handler bug");
    };
    cache.addServiceHandler({
      onServiceAdd: fail,
      onServiceUpdate: fail,
      onServiceDelete: fail,
      onServicesSynced: fail,
    });
    rec.attach(cache);
    await cache.start();
    await cache.synced;
    api.apply(makeService("demo", "b", 2));
    api.apply(makeService("demo", "a", 3));
    api.remove("Service", "demo", "b");
    await waitFor("convergence", () => sameState(cacheState(cache!), fixtureState(api)));
    await waitFor("deliveries", () => rec.sequences.get("svc:demo/b")?.at(-1) === ABSENT);
    assertEquals(thrown, 5);
    assertEquals(rec.sequences.get("svc:demo/a")?.length, 2);
    assert(rec.synced.includes("services"));
    assertEquals(rec.errors, []);
  } finally {
    await cache?.stop();
    await api.close();
  }
});

Deno.test("ClusterCache resyncs with a new API server process on the same port", async () => {
  const first = await ApiServerFixture.start({ bookmarkIntervalMs: 20 });
  const rec = new Recorder();
  let cache: ClusterCache | undefined;
  let second: ApiServerFixture | undefined;
  try {
    first.apply(makeService("demo", "old", 1));
    first.apply(makeService("demo", "kept", 2));
    ({ cache } = await startCache(first, rec));
    await cache.synced;
    const port = new URL(first.url).port;
    await first.close();
    // A fresh server (empty history, new state) where "old" is gone and "kept" changed.
    second = await ApiServerFixture.start({
      listen: [`127.0.0.1:${port}`],
      bookmarkIntervalMs: 20,
    });
    second.apply(makeService("demo", "kept", 3));
    second.apply(makeService("demo", "new", 4));
    await waitFor("convergence", () => sameState(cacheState(cache!), fixtureState(second!)));
    assertEquals(rec.sequences.get("svc:demo/old")?.at(-1), ABSENT);
    assertEquals(rec.sequences.get("svc:demo/kept")?.length, 2);
    assertEquals(rec.errors, []);
  } finally {
    await cache?.stop();
    await first.close();
    await second?.close();
  }
});

Deno.test("ClusterCache watches ServiceCIDRs for a handler, and treats 404 as unavailable", async () => {
  const { ServiceCIDRTracker } = await import("../../cache/service_cidr.ts");
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  let cache: ClusterCache | undefined;
  try {
    api.apply({
      apiVersion: "networking.k8s.io/v1",
      kind: "ServiceCIDR",
      metadata: { name: "kubernetes" },
      spec: { cidrs: ["10.96.0.0/16", "fd00:96::/108"] },
    });
    const seen: Array<readonly string[] | undefined> = [];
    ({ cache } = await startCache(
      api,
      new Recorder(),
      FAST,
      (c) => c.addServiceCIDRHandler(new ServiceCIDRTracker((cidrs) => seen.push(cidrs))),
    ));
    await cache.synced;
    assertEquals(seen, [["10.96.0.0/16", "fd00:96::/108"]]);
    api.apply({
      apiVersion: "networking.k8s.io/v1",
      kind: "ServiceCIDR",
      metadata: { name: "extra" },
      spec: { cidrs: ["10.100.0.0/24"] },
    });
    await waitFor("the new CIDR", () => seen.length === 2);
    assertEquals(seen[1], ["10.100.0.0/24", "10.96.0.0/16", "fd00:96::/108"]);
  } finally {
    await cache?.stop();
    await api.close();
  }
  // An API server that does not serve the resource: the cache still syncs, CIDRs unknown.
  const old = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  try {
    old.failRequests(Number.MAX_SAFE_INTEGER, 404, "/apis/networking.k8s.io/v1/servicecidrs");
    let unavailable = 0;
    ({ cache } = await startCache(
      old,
      new Recorder(),
      { ...FAST, forbiddenRetryMs: 20 },
      (c) =>
        c.addServiceCIDRHandler({
          onServiceCIDRAdd: () => {},
          onServiceCIDRUpdate: () => {},
          onServiceCIDRDelete: () => {},
          onServiceCIDRsSynced: () => {},
          onServiceCIDRsUnavailable: () => unavailable++,
        }),
    ));
    await cache.synced;
    assert(cache.hasSynced());
    assertEquals(unavailable, 1);
  } finally {
    await cache?.stop();
    await old.close();
  }
});

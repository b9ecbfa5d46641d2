import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { ApiServerFixture, type RawObject } from "./server.ts";
import { CHILD_ENV } from "../sandbox/command.ts";

function service(name: string, ns = "default", port = 80): RawObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: { ports: [{ port }] },
  };
}

/** Reads watch lines until `n` have arrived (bookmarks excluded unless asked). */
async function readEvents(
  reader: ReadableStreamDefaultReader<string>,
  n: number,
  withBookmarks = false,
): Promise<RawObject[]> {
  const out: RawObject[] = [];
  let buffered = "";
  while (out.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const e = JSON.parse(line);
      if (e.type !== "BOOKMARK" || withBookmarks) out.push(e);
    }
  }
  return out;
}

async function openWatch(url: string): Promise<ReadableStreamDefaultReader<string>> {
  const res = await fetch(url);
  assertEquals(res.status, 200);
  return res.body!.pipeThrough(new TextDecoderStream()).getReader();
}

Deno.test("ApiServerFixture serves LIST, GET and resourceVersions on the real paths", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  try {
    const rv1 = api.apply(service("a", "ns1"));
    api.apply(service("b", "ns2"));
    assertEquals(api.apply(service("b", "ns2")), api.resourceVersion, "a no-op apply");
    const list = await (await fetch(`${api.url}/api/v1/services`)).json();
    assertEquals(list.kind, "ServiceList");
    assertEquals(list.metadata.resourceVersion, api.resourceVersion);
    assertEquals(list.items.map((s: RawObject) => s.metadata.name), ["a", "b"]);
    assertEquals(list.items[0].metadata.resourceVersion, rv1);
    assert(list.items[0].spec.clusterIP.startsWith("10.96."), "cluster IP allocated");
    const ns = await (await fetch(`${api.url}/api/v1/namespaces/ns2/services`)).json();
    assertEquals(ns.items.map((s: RawObject) => s.metadata.name), ["b"]);
    const one = await (await fetch(`${api.url}/api/v1/namespaces/ns1/services/a`)).json();
    assertEquals(one.metadata.name, "a");
    const namespaces = await (await fetch(`${api.url}/api/v1/namespaces`)).json();
    assertEquals(namespaces.items.map((n: RawObject) => n.metadata.name), ["ns1", "ns2"]);
    const sel = await (await fetch(`${api.url}/api/v1/services?fieldSelector=metadata.name%3Db`))
      .json();
    assertEquals(sel.items.length, 1);
    const missing = await fetch(`${api.url}/api/v1/namespaces/ns1/services/zzz`);
    assertEquals(missing.status, 404);
    assertEquals((await missing.json()).reason, "NotFound");
  } finally {
    await api.close();
  }
});

Deno.test("ApiServerFixture pages lists with limit and continue", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  try {
    for (let i = 0; i < 7; i++) api.apply(service(`s${i}`));
    const names: string[] = [];
    let cont = "";
    let pages = 0;
    do {
      const q = `limit=3${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`;
      const page = await (await fetch(`${api.url}/api/v1/services?${q}`)).json();
      names.push(...page.items.map((s: RawObject) => s.metadata.name));
      cont = page.metadata.continue ?? "";
      pages++;
    } while (cont !== "");
    assertEquals(names, ["s0", "s1", "s2", "s3", "s4", "s5", "s6"]);
    assertEquals(pages, 3);
  } finally {
    await api.close();
  }
});

Deno.test("ApiServerFixture handles POST, PUT and DELETE as the API server does", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0, token: "t" });
  const headers = { authorization: "Bearer t", "content-type": "application/json" };
  try {
    const base = `${api.url}/api/v1/namespaces/default/services`;
    const unauthorized = await fetch(base);
    assertEquals(unauthorized.status, 401);
    await unauthorized.body?.cancel();
    const created = await fetch(base, {
      method: "POST",
      headers,
      body: JSON.stringify(service("x")),
    });
    assertEquals(created.status, 201);
    const obj = await created.json();
    const again = await fetch(base, {
      method: "POST",
      headers,
      body: JSON.stringify(service("x")),
    });
    assertEquals(again.status, 409);
    await again.body?.cancel();
    const stale = await fetch(`${base}/x`, {
      method: "PUT",
      headers,
      body: JSON.stringify({ ...obj, metadata: { ...obj.metadata, resourceVersion: "1" } }),
    });
    assertEquals(stale.status, 409);
    await stale.body?.cancel();
    const updated = await fetch(`${base}/x`, {
      method: "PUT",
      headers,
      body: JSON.stringify({ ...obj, spec: { ...obj.spec, ports: [{ port: 81 }] } }),
    });
    assertEquals(updated.status, 200);
    const u = await updated.json();
    assertEquals(u.spec.ports[0].port, 81);
    assertEquals(u.spec.clusterIP, obj.spec.clusterIP, "the cluster IP is kept on update");
    const notThere = await fetch(`${base}/y`, {
      method: "PUT",
      headers,
      body: JSON.stringify(service("y")),
    });
    assertEquals(notThere.status, 404);
    await notThere.body?.cancel();
    const deleted = await fetch(`${base}/x`, { method: "DELETE", headers });
    assertEquals(deleted.status, 200);
    await deleted.body?.cancel();
    assertEquals(api.get("Service", "default", "x"), undefined);
    const gone = await fetch(`${base}/x`, { method: "DELETE", headers });
    assertEquals(gone.status, 404);
    await gone.body?.cancel();
  } finally {
    await api.close();
  }
});

Deno.test("ApiServerFixture watches from a resourceVersion, with bookmarks and 410 after compaction", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  try {
    const rv0 = api.apply(service("a"));
    api.apply(service("a", "default", 81));
    api.apply(service("b"));
    api.remove("Service", "default", "a");
    const r = await openWatch(
      `${api.url}/api/v1/services?watch=true&resourceVersion=${rv0}&allowWatchBookmarks=true`,
    );
    const history = await readEvents(r, 3);
    assertEquals(history.map((e) => `${e.type} ${e.object.metadata.name}`), [
      "MODIFIED a",
      "ADDED b",
      "DELETED a",
    ]);
    assertEquals(history[2].object.metadata.resourceVersion, api.resourceVersion);
    api.bookmark();
    const [bookmark] = await readEvents(r, 1, true);
    assertEquals(bookmark.type, "BOOKMARK");
    assertEquals(bookmark.object.metadata.resourceVersion, api.resourceVersion);
    api.apply(service("c"));
    assertEquals((await readEvents(r, 1))[0].object.metadata.name, "c");
    await r.cancel();

    // A watch from before the compaction gets a 410 Gone ERROR event and the stream ends.
    api.compact();
    const old = await openWatch(`${api.url}/api/v1/services?watch=true&resourceVersion=${rv0}`);
    const [err] = await readEvents(old, 1);
    assertEquals([err.type, err.object.code, err.object.reason], ["ERROR", 410, "Expired"]);
    assertEquals((await old.read()).done, true);

    // From "0": the current objects as ADDED, then live events; fieldSelector filters.
    const fresh = await openWatch(
      `${api.url}/api/v1/services?watch=true&fieldSelector=metadata.name%3Dc`,
    );
    assertEquals((await readEvents(fresh, 1)).map((e) => e.type), ["ADDED"]);
    api.apply(service("d"));
    api.apply(service("c", "default", 90));
    assertEquals((await readEvents(fresh, 1))[0].object.spec.ports[0].port, 90);
    await fresh.cancel();
  } finally {
    await api.close();
  }
});

Deno.test("ApiServerFixture injects faults: 500s on matching paths, cut streams, malformed lines", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  try {
    api.apply(service("a"));
    api.failRequests(2, 503, "/nodes");
    const ok = await fetch(`${api.url}/api/v1/services`);
    assertEquals(ok.status, 200);
    await ok.body?.cancel();
    for (let i = 0; i < 2; i++) {
      const failed = await fetch(`${api.url}/api/v1/nodes`);
      assertEquals(failed.status, 503);
      await failed.body?.cancel();
    }
    const recovered = await fetch(`${api.url}/api/v1/nodes`);
    assertEquals(recovered.status, 200);
    await recovered.body?.cancel();

    const w = await openWatch(
      `${api.url}/api/v1/services?watch=true&resourceVersion=${api.resourceVersion}`,
    );
    api.sendMalformedEvent();
    const bad = await w.read();
    assert(!bad.done);
    assertStringIncludes(bad.value!, '{"type":"MODIFIED","object":{');
    api.cutWatches();
    let rest = "";
    while (true) {
      const { value, done } = await w.read();
      if (done) break;
      rest += value;
    }
    assert(!rest.endsWith("\n"), "the stream ends in the middle of an event");
    assertEquals(api.watchCount, 0);
  } finally {
    await api.close();
  }
});

Deno.test("ApiServerFixture keeps its objects across suspend() and resume() on the same port", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  try {
    api.apply(service("a"));
    const url = api.url;
    await api.suspend();
    let refused = false;
    try {
      await fetch(`${url}/api/v1/services`);
    } catch {
      refused = true;
    }
    assert(refused, "the port is closed while suspended");
    await api.resume();
    assertEquals(api.url, url);
    const list = await (await fetch(`${url}/api/v1/services`)).json();
    assertEquals(list.items.length, 1);
  } finally {
    await api.close();
  }
});

Deno.test("ApiServerFixture loads multi-document YAML and writes a working kubeconfig", async () => {
  const api = await ApiServerFixture.start({ tls: true, bookmarkIntervalMs: 0 });
  const dir = await Deno.makeTempDir({ prefix: "kpcache-fixture-" });
  try {
    await Deno.writeTextFile(
      `${dir}/a.yaml`,
      "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\n" +
        "spec: {ports: [{port: 80}]}\n---\n" +
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n" +
        "metadata: {name: web-1, namespace: demo, labels: {kubernetes.io/service-name: web}}\n" +
        "addressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}]\nports: [{port: 8080}]\n",
    );
    await Deno.writeTextFile(
      `${dir}/b.json`,
      JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [{ apiVersion: "v1", kind: "Node", metadata: { name: "n1" } }],
      }),
    );
    await api.applyManifests(dir);
    assertEquals(api.list("EndpointSlice").length, 1);
    assertEquals(api.list("Node").length, 1);
    await api.writeKubeconfig(`${dir}/kubeconfig`);
    const kc = JSON.parse(await Deno.readTextFile(`${dir}/kubeconfig`));
    assertEquals(kc.clusters[0].cluster.server, api.url);
    const client = Deno.createHttpClient({ caCerts: [api.certificates!.caCert] });
    try {
      const res = await fetch(
        `${api.url}/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices`,
        {
          client,
        },
      );
      assertEquals((await res.json()).items[0].metadata.name, "web-1");
    } finally {
      client.close();
    }
  } finally {
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tests/apiserver/main.ts starts from one command and answers the stdin control channel", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpcache-cli-" });
  await Deno.writeTextFile(
    `${dir}/svc.yaml`,
    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\nspec: {ports: [{port: 80}]}\n",
  );
  const child = new Deno.Command(Deno.execPath(), {
    env: CHILD_ENV,
    args: [
      "run",
      "-A",
      new URL("./main.ts", import.meta.url).pathname,
      "--listen",
      "127.0.0.1:0",
      "--manifests",
      dir,
      "--kubeconfig-out",
      `${dir}/kubeconfig`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async (): Promise<RawObject> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("main.ts ended");
      buffered += value;
    }
    const line = buffered.slice(0, buffered.indexOf("\n"));
    buffered = buffered.slice(line.length + 1);
    return JSON.parse(line);
  };
  const writer = child.stdin.getWriter();
  const send = async (op: unknown) => {
    await writer.write(new TextEncoder().encode(JSON.stringify(op) + "\n"));
    return await nextLine();
  };
  try {
    const ready = await nextLine();
    assertEquals(ready.ready, true);
    const url: string = ready.urls[0];
    const kc = JSON.parse(await Deno.readTextFile(`${dir}/kubeconfig`));
    assertEquals(kc.clusters[0].cluster.server, url);
    const applied = await send({
      op: "apply",
      object: { apiVersion: "v1", kind: "Node", metadata: { name: "n1" } },
    });
    assertEquals(applied.ok, true);
    assert(Number(applied.resourceVersion) > 0);
    assertEquals(
      (await send({
        op: "applyYaml",
        yaml: "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n",
      }))
        .ok,
      true,
    );
    assertEquals(
      (await send({ op: "delete", kind: "Service", namespace: "demo", name: "web" })).ok,
      true,
    );
    const failed = await send({ op: "delete", kind: "Service", namespace: "demo", name: "web" });
    assertEquals(failed.ok, false);
    assertStringIncludes(String(failed.error), "not found");
    assertEquals((await send({ op: "fault", fault: "failRequests", count: 1 })).ok, true);
    const res = await fetch(`${url}/api/v1/nodes`);
    assertEquals(res.status, 500);
    await res.body?.cancel();
    const nodes = await (await fetch(`${url}/api/v1/nodes`)).json();
    assertEquals(nodes.items.map((n: RawObject) => n.metadata.name), ["n1"]);
    assertEquals((await send({ op: "nope" })).ok, false);
  } finally {
    child.kill("SIGTERM");
    await writer.close().catch(() => {});
    await lines.cancel().catch(() => {});
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

async function post(api: ApiServerFixture, obj: RawObject): Promise<Response> {
  return await fetch(`${api.url}/api/v1/namespaces/default/services`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(obj),
  });
}

Deno.test("ApiServerFixture allocates cluster IPs and node ports without duplicates", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  try {
    const ips = new Set<string>();
    const ports = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const res = await post(api, {
        ...service(`s${i}`),
        spec: { type: "NodePort", ports: [{ port: 80 }, { port: 81 }] },
      });
      assertEquals(res.status, 201);
      const svc = await res.json();
      ips.add(svc.spec.clusterIP);
      for (const p of svc.spec.ports) ports.add(p.nodePort);
    }
    assertEquals(ips.size, 20, "every Service got its own cluster IP");
    assertEquals(ports.size, 40, "every port got its own node port");
    for (const p of ports) assert(p >= 30000 && p <= 32767, `node port ${p} in range`);
    // Services that ask for the next addresses and ports a sequential allocator would hand out:
    // later allocations must step over them.
    const last = [...ips].sort().at(-1)!.split(".").map(Number);
    const lastPort = Math.max(...ports);
    const fixedIPs: string[] = [];
    const fixedPorts: number[] = [];
    for (let i = 1; i <= 3; i++) {
      fixedIPs.push(`${last[0]}.${last[1]}.${last[2]}.${last[3] + i}`);
      fixedPorts.push(lastPort + i);
      api.apply({
        ...service(`fixed${i}`),
        spec: {
          type: "NodePort",
          clusterIP: fixedIPs.at(-1),
          ports: [{ port: 80, nodePort: fixedPorts.at(-1) }],
        },
      });
    }
    for (let i = 0; i < 3; i++) {
      const svc = await (await post(api, {
        ...service(`after${i}`),
        spec: { type: "NodePort", ports: [{ port: 80 }] },
      })).json();
      assert(!fixedIPs.includes(svc.spec.clusterIP), `${svc.spec.clusterIP} is held`);
      assert(!ips.has(svc.spec.clusterIP), `${svc.spec.clusterIP} was handed out before`);
      assert(!fixedPorts.includes(svc.spec.ports[0].nodePort), "a held node port");
      assert(!ports.has(svc.spec.ports[0].nodePort), "a node port handed out before");
    }
  } finally {
    await api.close();
  }
});

Deno.test("ApiServerFixture refuses a held cluster IP or node port with 422, releases on delete", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  try {
    const spec = {
      type: "NodePort",
      clusterIP: "10.96.0.20",
      ports: [{ port: 80, nodePort: 30080 }],
    };
    assertEquals((await post(api, { ...service("a"), spec })).status, 201);
    const sameIP = await post(api, {
      ...service("b"),
      spec: { clusterIP: "10.96.0.20", ports: [{ port: 80 }] },
    });
    assertEquals(sameIP.status, 422);
    const status = await sameIP.json();
    assertEquals(status.reason, "Invalid");
    assertStringIncludes(status.message, "provided IP is already allocated");
    const samePort = await post(api, {
      ...service("c"),
      spec: { type: "NodePort", ports: [{ port: 80, nodePort: 30080 }] },
    });
    assertEquals(samePort.status, 422);
    assertStringIncludes((await samePort.json()).message, "spec.ports[0].nodePort");
    assertEquals(api.get("Service", "default", "b"), undefined, "nothing was stored");
    // The owner may keep its own values on update.
    const put = await fetch(`${api.url}/api/v1/namespaces/default/services/a`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...service("a"), spec: { ...spec, selector: { app: "a" } } }),
    });
    assertEquals(put.status, 200);
    const del = await fetch(`${api.url}/api/v1/namespaces/default/services/a`, {
      method: "DELETE",
    });
    assertEquals(del.status, 200);
    await del.body?.cancel();
    const again = await post(api, { ...service("d"), spec });
    assertEquals(again.status, 201, "the IP and the port were released");
    await again.body?.cancel();
  } finally {
    await api.close();
  }
});

Deno.test("ApiServerFixture serves discovery, OpenAPI v3 patch markers and Tables", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  try {
    api.apply(service("web"));
    const core = await (await fetch(`${api.url}/api/v1`)).json();
    const svc = core.resources.find((r: RawObject) => r.name === "services");
    assertEquals([svc.kind, svc.namespaced, svc.shortNames], ["Service", true, ["svc"]]);
    const groups = await (await fetch(`${api.url}/apis`)).json();
    assert(groups.groups.some((g: RawObject) => g.name === "discovery.k8s.io"));
    const disco = await (await fetch(`${api.url}/apis/discovery.k8s.io/v1`)).json();
    assertEquals(disco.resources.map((r: RawObject) => r.name), ["endpointslices"]);
    const root = await (await fetch(`${api.url}/openapi/v3`)).json();
    const gv = await (await fetch(`${api.url}${root.paths["api/v1"].serverRelativeURL}`)).json();
    const patch = gv.paths["/api/v1/namespaces/{namespace}/services/{name}"].patch;
    assertEquals(patch["x-kubernetes-group-version-kind"].kind, "Service");
    const v2 = await fetch(`${api.url}/openapi/v2`);
    assertEquals([v2.status, (await v2.arrayBuffer()).byteLength], [200, 0], "an empty document");
    const table = await (await fetch(`${api.url}/api/v1/services`, {
      headers: { accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json" },
    })).json();
    assertEquals(table.kind, "Table");
    assertEquals(table.columnDefinitions.map((c: RawObject) => c.name).slice(0, 3), [
      "Name",
      "Type",
      "Cluster-IP",
    ]);
    const ip = api.get("Service", "default", "web")!.spec.clusterIP;
    assertEquals(table.rows[0].cells.slice(0, 5), ["web", "ClusterIP", ip, "<none>", "80/TCP"]);
    assertEquals(table.rows[0].object.kind, "PartialObjectMetadata");
  } finally {
    await api.close();
  }
});

Deno.test("ApiServerFixture PATCH: strategic merge, merge and JSON patch; 415 for others", async () => {
  const api = await ApiServerFixture.start({ bookmarkIntervalMs: 0 });
  try {
    api.apply({
      ...service("web"),
      spec: { ports: [{ name: "a", port: 80 }], selector: { x: "1" } },
    });
    const url = `${api.url}/api/v1/namespaces/default/services/web`;
    const patch = async (type: string, body: unknown) =>
      await fetch(url, {
        method: "PATCH",
        headers: { "content-type": type },
        body: JSON.stringify(body),
      });
    let res = await patch("application/strategic-merge-patch+json", {
      spec: { ports: [{ name: "b", port: 81 }], selector: { y: "2" } },
    });
    assertEquals(res.status, 200);
    let obj = await res.json();
    assertEquals(obj.spec.ports.map((p: RawObject) => p.port), [80, 81], "ports merge by port");
    assertEquals(obj.spec.selector, { x: "1", y: "2" });
    res = await patch("application/merge-patch+json", { spec: { ports: [{ port: 82 }] } });
    obj = await res.json();
    assertEquals(obj.spec.ports.map((p: RawObject) => p.port), [82], "a merge patch replaces");
    res = await patch("application/json-patch+json", [
      { op: "replace", path: "/spec/selector/x", value: "3" },
    ]);
    obj = await res.json();
    assertEquals(obj.spec.selector, { x: "3", y: "2" });
    assertEquals(api.get("Service", "default", "web")!.spec.selector.x, "3", "stored");
    res = await patch("application/apply-patch+yaml", {});
    assertEquals(res.status, 415);
    await res.body?.cancel();
  } finally {
    await api.close();
  }
});

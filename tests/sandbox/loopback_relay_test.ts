import { assertEquals } from "../assert.ts";
import { ApiServerFixture } from "../apiserver/server.ts";
import { LoopbackRelay } from "./loopback_relay.ts";

Deno.test("LoopbackRelay carries requests and watches from 127.0.0.1 to a Unix socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "relay-test-" });
  const api = await ApiServerFixture.start({
    unixSocket: `${dir}/api.sock`,
    bookmarkIntervalMs: 0,
  });
  const relay = LoopbackRelay.start(`${dir}/api.sock`);
  try {
    api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "ns1" } });
    const base = `http://127.0.0.1:${relay.port}`;
    const list = await (await fetch(`${base}/api/v1/namespaces`)).json();
    assertEquals(list.items.map((n: { metadata: { name: string } }) => n.metadata.name), ["ns1"]);
    const watch = await fetch(
      `${base}/api/v1/namespaces?watch=true&resourceVersion=${list.metadata.resourceVersion}`,
    );
    const reader = watch.body!.pipeThrough(new TextDecoderStream()).getReader();
    api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "ns2" } });
    let text = "";
    while (!text.includes("\n")) text += (await reader.read()).value ?? "";
    assertEquals(JSON.parse(text.split("\n")[0]).object.metadata.name, "ns2");
    await reader.cancel();
  } finally {
    relay.close();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});

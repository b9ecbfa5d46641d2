import { assertEquals, assertRejects } from "../tests/assert.ts";
import { decodeList } from "./list_decoder.ts";

function streamOf(text: string, chunkSize: number): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= bytes.length) return c.close();
      c.enqueue(bytes.slice(off, off + chunkSize));
      off += chunkSize;
    },
  });
}

Deno.test("decodeList() yields every item and the other fields, whatever the chunking", async () => {
  const doc = {
    kind: "ServiceList",
    apiVersion: "v1",
    metadata: { resourceVersion: "42", continue: "" },
    items: [
      { metadata: { name: 'a"}]', labels: { x: "[{" } }, n: 1.5e3, t: true, z: null },
      "str",
      7,
      [1, [2]],
      { e: {} },
    ],
    trailing: false,
    count: 12,
  };
  const text = JSON.stringify(doc, null, 1);
  for (const size of [1, 2, 3, 7, 64, 100000]) {
    const items: unknown[] = [];
    const env = await decodeList(streamOf(text, size), (i) => items.push(i));
    assertEquals(items, doc.items, `chunk ${size}`);
    assertEquals(env.itemCount, 5);
    assertEquals(env.fields, {
      kind: "ServiceList",
      apiVersion: "v1",
      metadata: { resourceVersion: "42", continue: "" },
      trailing: false,
      count: 12,
    });
  }
});

Deno.test("decodeList() handles an empty list", async () => {
  const items: unknown[] = [];
  const env = await decodeList(
    streamOf('{"items":[],"metadata":{"resourceVersion":"1"}}', 5),
    (i) => items.push(i),
  );
  assertEquals([items, env.fields.metadata.resourceVersion], [[], "1"]);
  const env2 = await decodeList(streamOf('{"items":null}', 5), (i) => items.push(i));
  assertEquals(env2.fields, { items: null });
});

Deno.test("decodeList() rejects a truncated or non-object body", async () => {
  await assertRejects(() => decodeList(streamOf('{"items":[{"a":1}', 4), () => {}), SyntaxError);
  await assertRejects(() => decodeList(streamOf("[1,2]", 4), () => {}), SyntaxError);
});

import { assertEquals } from "../tests/assert.ts";
import { TcpMessageFramer } from "./tcp_framer.ts";

function framed(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 2);
  out[0] = body.length >> 8;
  out[1] = body.length & 0xff;
  out.set(body, 2);
  return out;
}

Deno.test("TcpMessageFramer.push() reassembles a 64 KB message sent a byte at a time into one buffer", () => {
  const body = new Uint8Array(65535).map((_, i) => (i * 7) & 0xff);
  const stream = framed(body);
  const framer = new TcpMessageFramer();
  const messages: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i++) {
    messages.push(...framer.push(stream.subarray(i, i + 1)));
    if (i < stream.length - 1) assertEquals(messages.length, 0);
  }
  assertEquals(messages.length, 1);
  assertEquals(messages[0], body);
  // One buffer for the whole message, however many reads it took.
  assertEquals(framer.allocations, 1);
  assertEquals(framer.pending, 0);
});

Deno.test("TcpMessageFramer.push() splits pipelined messages across arbitrary read boundaries", () => {
  const bodies = [Uint8Array.of(1, 2, 3), Uint8Array.of(4), new Uint8Array(300).fill(9)];
  const stream = new Uint8Array(bodies.reduce((n, b) => n + b.length + 2, 0));
  let at = 0;
  for (const b of bodies) {
    stream.set(framed(b), at);
    at += b.length + 2;
  }
  for (const cut of [1, 2, 3, 5, 7, 64, stream.length]) {
    const framer = new TcpMessageFramer();
    const got: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += cut) {
      got.push(...framer.push(stream.subarray(i, i + cut)));
    }
    assertEquals(got, bodies, `reads of ${cut}`);
    assertEquals(framer.allocations, bodies.length);
  }
});

Deno.test("TcpMessageFramer.push() returns a zero-length message as an empty array", () => {
  const framer = new TcpMessageFramer();
  assertEquals(framer.push(Uint8Array.of(0, 1, 0xaa, 0)), [Uint8Array.of(0xaa)]);
  assertEquals(framer.pending, 1);
  assertEquals(framer.push(Uint8Array.of(0, 0, 1)), [new Uint8Array(0)]);
  assertEquals(framer.pending, 2);
});

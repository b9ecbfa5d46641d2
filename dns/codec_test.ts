import { assert, assertEquals } from "../tests/assert.ts";
import {
  decodeMessage,
  encodeError,
  encodeQuery,
  encodeReply,
  parseQuery,
  replySizeLimit,
} from "./codec.ts";
import { type DnsRecord, RRType } from "./message.ts";

Deno.test("parseQuery() reads the question, keeps its case and reads EDNS(0)", () => {
  const q = parseQuery(
    encodeQuery({ id: 7, name: "Web.NS.svc.cluster.local", type: "AAAA", ednsUdpSize: 300 }),
  )!;
  assertEquals(
    [q.id, q.name, q.lowerName, q.type, q.class, q.error],
    [7, "Web.NS.svc.cluster.local", "web.ns.svc.cluster.local", RRType.AAAA, 1, undefined],
  );
  assertEquals(q.edns, { udpSize: 512, version: 0, dnssecOk: false });
  assertEquals(replySizeLimit(q, "udp"), 512);
  assertEquals(replySizeLimit(q, "tcp"), 65535);
  const big = parseQuery(encodeQuery({ id: 1, name: "a", type: "A", ednsUdpSize: 65000 }))!;
  assertEquals(replySizeLimit(big, "udp"), 1232);
});

Deno.test("parseQuery() escapes dots and binary bytes inside labels", () => {
  const packet = new Uint8Array([
    0,
    1,
    1,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    3,
    0x61,
    0x2e,
    0x00,
    0,
    0,
    1,
    0,
    1,
  ]);
  assertEquals(parseQuery(packet)!.name, "a\\.\\000");
});

Deno.test("encodeReply() compresses owner names into the question and decodes cleanly", () => {
  const packet = encodeQuery({ id: 3, name: "svc.ns.svc.cluster.local", type: "A" });
  const q = parseQuery(packet)!;
  const answers: DnsRecord[] = Array.from({ length: 3 }, (_, i) => ({
    name: "svc.ns.svc.cluster.local",
    type: RRType.A,
    ttl: 5,
    data: `10.0.0.${i + 1}`,
  }));
  const out = encodeReply(q, packet, {
    rcode: "NOERROR",
    answers,
    authority: [],
    additionals: [],
    authoritative: true,
  }, 512);
  // header + question + 3 x (2-byte pointer + 10 + 4)
  assertEquals(out.length, packet.length + 3 * 16);
  const msg = decodeMessage(out)!;
  assertEquals(msg.answers.length, 3);
  assertEquals([msg.id, msg.authoritative, msg.recursionAvailable], [3, true, true]);
});

Deno.test("encodeReply() drops whole records and sets TC only when answers do not fit", () => {
  const packet = encodeQuery({ id: 3, name: "x.cluster.local", type: "A" });
  const q = parseQuery(packet)!;
  const rr = (i: number): DnsRecord => ({
    name: "x.cluster.local",
    type: RRType.A,
    ttl: 5,
    data: `10.0.${i >> 8}.${i & 255}`,
  });
  const many = Array.from({ length: 100 }, (_, i) => rr(i));
  const out = encodeReply(q, packet, {
    rcode: "NOERROR",
    answers: many,
    authority: [],
    additionals: [],
    authoritative: true,
  }, 512);
  assert(out.length <= 512);
  const msg = decodeMessage(out)!;
  assert(msg.truncated);
  assertEquals(msg.answers.length, Math.floor((512 - packet.length) / 16));
  const glue = encodeReply(q, packet, {
    rcode: "NOERROR",
    answers: [rr(0)],
    authority: [],
    additionals: many,
    authoritative: true,
  }, 512);
  const g = decodeMessage(glue)!;
  assertEquals([g.truncated, g.answers.length], [false, 1]);
  assert(g.additionals.length < 100);
});

Deno.test("encodeError() echoes the question and adds OPT with the extended rcode", () => {
  const packet = encodeQuery({ id: 9, name: "a.b", type: "A", ednsUdpSize: 1232 });
  packet[packet.length - 5] = 1; // version 1
  const q = parseQuery(packet)!;
  assertEquals(q.error, "BADVERS");
  const msg = decodeMessage(encodeError(q, packet, "BADVERS"))!;
  assertEquals([msg.rcode, msg.questions[0]?.name, msg.edns?.udpSize], ["BADVERS", "a.b", 1232]);
});

Deno.test("decodeMessage() returns undefined for garbage and absurd counts", () => {
  assertEquals(decodeMessage(new Uint8Array(5)), undefined);
  const absurd = new Uint8Array(40);
  absurd[6] = 0xff;
  assertEquals(decodeMessage(absurd), undefined);
});

Deno.test("decodeMessage() rejects a compression pointer loop", () => {
  // A response whose answer owner is a pointer to itself (offset 17).
  const loop = new Uint8Array([
    0,
    1,
    0x81,
    0x80,
    0,
    1,
    0,
    1,
    0,
    0,
    0,
    0, // header
    0,
    0,
    1,
    0,
    1, // question: root A IN
    0xc0,
    17,
    0,
    1,
    0,
    1,
    0,
    0,
    0,
    5,
    0,
    4,
    1,
    2,
    3,
    4, // answer
  ]);
  assertEquals(decodeMessage(loop), undefined);
});

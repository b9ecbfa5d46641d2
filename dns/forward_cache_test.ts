import { assert, assertEquals } from "../tests/assert.ts";
import { decodeMessage, encodeQuery, encodeReply, parseQuery } from "./codec.ts";
import { ForwardCache } from "./forward_cache.ts";
import { type DnsRecord, type Reply, RRType } from "./message.ts";

function replyTo(name: string, reply: Partial<Reply>, mutate: (b: Uint8Array) => void = () => {}) {
  const packet = encodeQuery({ id: 1, name, type: "A" });
  const out = encodeReply(parseQuery(packet)!, packet, {
    rcode: "NOERROR",
    answers: [],
    authority: [],
    additionals: [],
    authoritative: false,
    ...reply,
  }, 65535);
  mutate(out);
  return out;
}

const a = (ttl: number, ip = "192.0.2.1"): DnsRecord => ({
  name: "x.example",
  type: RRType.A,
  ttl,
  data: ip,
});
const soa = (ttl: number, minimum: number): DnsRecord => ({
  name: "example",
  type: RRType.SOA,
  ttl,
  data: {
    mname: "ns.example",
    rname: "h.example",
    serial: 1,
    refresh: 1,
    retry: 1,
    expire: 1,
    minimum,
  },
});

Deno.test("ForwardCache keeps a reply for its smallest TTL and counts TTLs down", () => {
  let now = 1_000_000;
  const cache = new ForwardCache({ now: () => now });
  assert(cache.set("k", replyTo("x.example", { answers: [a(20), a(10, "192.0.2.2")] })));
  now += 4_000;
  const hit = cache.get("k", 0xbeef, 0x0100)!;
  const msg = decodeMessage(hit)!;
  assertEquals(msg.id, 0xbeef);
  assertEquals(msg.answers, ["x.example. 16 IN A 192.0.2.1", "x.example. 6 IN A 192.0.2.2"]);
  now += 6_000;
  assertEquals(cache.get("k", 1, 0), undefined);
  assertEquals(cache.size, 0);
});

Deno.test("ForwardCache caps the time at maxTtlSeconds", () => {
  let now = 0;
  const cache = new ForwardCache({ now: () => now, maxTtlSeconds: 30 });
  cache.set("k", replyTo("x.example", { answers: [a(3600)] }));
  now = 29_000;
  assert(cache.get("k", 1, 0) !== undefined);
  now = 30_000;
  assertEquals(cache.get("k", 1, 0), undefined);
});

Deno.test("ForwardCache keeps negative replies for the SOA's TTL and MINIMUM only when an SOA is present", () => {
  let now = 0;
  const cache = new ForwardCache({ now: () => now });
  assert(cache.set("nx", replyTo("x.example", { rcode: "NXDOMAIN", authority: [soa(60, 5)] })));
  now = 4_999;
  assertEquals(decodeMessage(cache.get("nx", 1, 0)!)!.rcode, "NXDOMAIN");
  now = 5_000;
  assertEquals(cache.get("nx", 1, 0), undefined);
  assertEquals(cache.set("nosoa", replyTo("x.example", { rcode: "NXDOMAIN" })), false);
  assertEquals(cache.set("nodata", replyTo("x.example", {})), false);
});

Deno.test("ForwardCache refuses truncated, failed, zero-TTL and malformed replies", () => {
  const cache = new ForwardCache();
  assertEquals(
    cache.set("tc", replyTo("x.example", { answers: [a(10)] }, (b) => b[2] |= 0x02)),
    false,
  );
  assertEquals(cache.set("sf", replyTo("x.example", { rcode: "SERVFAIL" })), false);
  assertEquals(cache.set("zero", replyTo("x.example", { answers: [a(0)] })), false);
  const cut = replyTo("x.example", { answers: [a(10)] }).subarray(0, 40);
  assertEquals(cache.set("cut", cut), false);
  assertEquals(cache.size, 0);
});

Deno.test("ForwardCache keeps its replies within maxBytes, emptying itself when a new one would pass it", () => {
  const big = (i: number) =>
    replyTo("x.example", {
      answers: Array.from({ length: 40 }, (_, k) => a(30, `192.0.${i}.${k}`)),
    });
  const size = big(0).length + "k0".length;
  const cache = new ForwardCache({ maxBytes: size * 3 + 10 });
  for (let i = 0; i < 3; i++) assert(cache.set(`k${i}`, big(i)));
  assertEquals([cache.size, cache.bytes], [3, size * 3]);
  assert(cache.set("k3", big(3)));
  assertEquals([cache.size, cache.bytes], [1, size]);
  assertEquals(cache.get("k0", 1, 0), undefined);
  assert(cache.get("k3", 1, 0) !== undefined);
  // Replacing an entry counts it once; a reply larger than the budget is not stored.
  assert(cache.set("k3", big(4)));
  assertEquals(cache.bytes, size);
  assertEquals(new ForwardCache({ maxBytes: size - 1 }).set("k0", big(0)), false);
});

Deno.test("ForwardCache gives back the bytes of an entry that expired", () => {
  let now = 0;
  const cache = new ForwardCache({ now: () => now });
  cache.set("k", replyTo("x.example", { answers: [a(5)] }));
  assert(cache.bytes > 0);
  now = 5_000;
  assertEquals(cache.get("k", 1, 0), undefined);
  assertEquals(cache.bytes, 0);
});

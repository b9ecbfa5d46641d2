/**
 * Fuzzing the responder with random and mutated packets: the server must never throw, every
 * reply must be a well-formed response to the packet's ID, and afterwards the server must still
 * answer correctly over UDP and TCP. Seeded (KPDNS_FUZZ_SEED) and bounded in count and time.
 */

import { assert, assertEquals } from "../tests/assert.ts";
import { decodeMessage, encodeQuery, readHeader } from "./codec.ts";
import type { DnsServer, DnsServerOptions } from "./server.ts";
import {
  exchangeTcp,
  exchangeUdp,
  makeClusterView,
  makeFixture,
  TEST_SERVER_OPTIONS,
  withDnsServer,
} from "./testing.ts";
import { seededRandom } from "../tests/seeded_random.ts";

const OPTS: DnsServerOptions = {
  ...TEST_SERVER_OPTIONS,
  forwardTimeoutMs: 100,
  maxConcurrentForwards: 100,
  tcpIdleTimeoutMs: 2000,
};

const SEED = Number(Deno.env.get("KPDNS_FUZZ_SEED") ?? Date.now() % 1e9);
const IN_PROCESS = 40000;
const OVER_UDP = 5000;
/** Stop generating after this long even if the count is not reached (slow CI machines). */
const BUDGET_MS = 20000;

const SEEDS: Uint8Array[] = [
  encodeQuery({ id: 1, name: "svc1.testns.svc.cluster.local", type: "A" }),
  encodeQuery({ id: 2, name: "_http._tcp.hdls1.testns.svc.cluster.local", type: "SRV" }),
  encodeQuery({ id: 3, name: "1.0.0.10.in-addr.arpa", type: "PTR", ednsUdpSize: 1232 }),
  encodeQuery({ id: 4, name: "1-2-3-4.testns.pod.cluster.local", type: "A", ednsUdpSize: 4096 }),
  encodeQuery({ id: 5, name: "cluster.local", type: "NS", dnssecOk: true, ednsUdpSize: 512 }),
  encodeQuery({ id: 6, name: "ext-in.testns.svc.cluster.local", type: "A" }),
];

function makePacket(rand: () => number): Uint8Array {
  const r = rand();
  const int = (n: number) => Math.floor(rand() * n);
  if (r < 0.15) {
    // Pure noise, often with a plausible header.
    const p = new Uint8Array(int(600));
    for (let i = 0; i < p.length; i++) p[i] = int(256);
    if (p.length > 3 && rand() < 0.7) p[2] &= 0x7f; // QR=0 so it is read
    return p;
  }
  const base = SEEDS[int(SEEDS.length)];
  let p: Uint8Array = base.slice();
  const mutations = 1 + int(4);
  for (let m = 0; m < mutations; m++) {
    const kind = int(8);
    if (kind === 0 && p.length > 0) p[int(p.length)] = int(256); // byte flip
    else if (kind === 1) p = p.slice(0, int(p.length + 1)); // truncate
    else if (kind === 2) { // append garbage
      const extra = new Uint8Array(int(64));
      for (let i = 0; i < extra.length; i++) extra[i] = int(256);
      p = new Uint8Array([...p, ...extra]);
    } else if (kind === 3 && p.length >= 12) { // absurd counts
      const at = 4 + 2 * int(4);
      p[at] = int(256);
      p[at + 1] = int(256);
    } else if (kind === 4 && p.length > 14) { // compression pointer into the name (loops)
      const at = 12 + int(p.length - 13);
      p[at] = 0xc0 | int(4);
      p[at + 1] = int(256);
    } else if (kind === 5 && p.length > 3) p[2] = int(256) & 0x7f; // opcode/flags
    else if (kind === 6 && p.length > 12) { // label length
      p[12] = int(256);
    } else if (kind === 7 && p.length > 4) { // type/class bytes near the end
      p[p.length - 1 - int(4)] = int(256);
    }
  }
  return p;
}

function checkReply(packet: Uint8Array, reply: Uint8Array | undefined): void {
  if (reply === undefined) return;
  const h = readHeader(reply);
  assert(h !== undefined, "reply shorter than a header");
  assert(h.response, "reply without QR");
  assertEquals(h.id, (packet[0] << 8) | packet[1], "reply ID");
  assert(reply.length <= 65535);
  assert(decodeMessage(reply) !== undefined, "reply does not decode");
}

async function assertStillAnswers(server: DnsServer): Promise<void> {
  const { hostname, udpPort, tcpPort } = server.address;
  const q = encodeQuery({ id: 99, name: "web-0.nginx.default.svc.cluster.local", type: "A" });
  const want = ["web-0.nginx.default.svc.cluster.local. 5 IN A 10.1.0.10"];
  assertEquals(decodeMessage((await exchangeUdp(hostname, udpPort, q))!)!.answers, want);
  const [tcp] = await exchangeTcp(hostname, tcpPort, [q]);
  assertEquals(decodeMessage(tcp)!.answers, want);
}

Deno.test(`DnsServer.handle() survives ${IN_PROCESS} random and mutated packets (seed ${SEED})`, async () => {
  const rand = seededRandom(SEED);
  await withDnsServer(makeClusterView(makeFixture()), OPTS, async (server) => {
    const deadline = Date.now() + BUDGET_MS;
    const pending: Promise<void>[] = [];
    for (let i = 0; i < IN_PROCESS && Date.now() < deadline; i++) {
      const packet = makePacket(rand);
      for (const proto of ["udp", "tcp"] as const) {
        const out = server.handle(packet, proto);
        if (out instanceof Promise) pending.push(out.then((r) => checkReply(packet, r)));
        else checkReply(packet, out);
      }
    }
    await Promise.all(pending);
    await assertStillAnswers(server);
  });
});

Deno.test(`DnsServer survives ${OVER_UDP} mutated packets and garbage TCP streams on its sockets (seed ${SEED})`, async () => {
  const rand = seededRandom(SEED + 1);
  await withDnsServer(makeClusterView(makeFixture()), OPTS, async (server) => {
    const { hostname, udpPort, tcpPort } = server.address;
    const sock = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
    try {
      const deadline = Date.now() + BUDGET_MS;
      for (let i = 0; i < OVER_UDP && Date.now() < deadline; i++) {
        const p = makePacket(rand);
        if (p.length === 0) continue;
        await sock.send(p, { transport: "udp", hostname, port: udpPort });
      }
      for (let c = 0; c < 20; c++) {
        const conn = await Deno.connect({ hostname, port: tcpPort });
        try {
          const garbage = new Uint8Array(1 + Math.floor(rand() * 3000));
          for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(rand() * 256);
          await conn.write(garbage).catch(() => 0);
        } finally {
          conn.close();
        }
      }
      await assertStillAnswers(server);
    } finally {
      sock.close();
    }
  });
});

/**
 * Memory of the proxy's DNS responder under a flood of malformed packets (issue 14, item 5):
 * `main.ts` (iptables mode, DNS on 127.0.0.1:53) in a scratch namespace at `--services` x 10
 * endpoints (`proxy_memory.ts`); after the first sync and `--settle` seconds, `--packets` malformed
 * UDP packets (the kinds of {@linkcode malformedPacket}, cycled, random IDs and bytes) are sent from
 * the namespace's loopback at about `--rate` a second, in bounded batches; the replies (FORMERR,
 * NOTIMP, BADVERS) are counted. VmRSS is sampled every second: before (median of the settle
 * phase), peak during the flood, and `--after` seconds after it (last sample and median of the
 * last 10 s). A valid query must still be answered at the end.
 *
 *     deno run -A bench/dns_flood_memory.ts [--packets=1000000] [--rate=20000] [--services=2000]
 *       [--settle=20] [--after=30] [--backend=nft] [--v8-flags=FLAGS]
 *       [--probe-dir=DIR [--snapshots]]
 *
 * `--v8-flags` defaults to the shipped binary's; `--v8-flags=` (empty) runs without any.
 * `--probe-dir` runs the proxy under `memory_probe_main.ts` (V8 heap per second into DIR, and a
 * forced GC before and after the flood; with `--snapshots`, heap snapshots then too, which
 * inflate RSS). Root only.
 *
 * @module
 */

import { encodeQuery } from "../dns/codec.ts";
import type { BenchFlags } from "./flags.ts";
import {
  DNS_PORT,
  readCpuSeconds,
  readLoadAverages,
  runMemoryBenchmark,
  summarizeRss,
  withInnerRun,
} from "./proxy_memory.ts";
import { syntheticNamespace, syntheticServiceName } from "./synthetic.ts";

/** Number of kinds {@linkcode malformedPacket} cycles through. */
const MALFORMED_KINDS = 9;

/**
 * One malformed DNS query of kind `i % MALFORMED_KINDS`, with `random` supplying the ID and
 * the junk bytes: shorter than a header; a response (QR set); opcode 5; two questions; a
 * compression pointer in the question; a name running past the end; bytes after the question;
 * an OPT record of EDNS version 1; random bytes of random length (12-300). Each is one the
 * responder must drop or answer with an error, never resolve.
 */
function malformedPacket(i: number, random: () => number): Uint8Array {
  const id = Math.floor(random() * 0x10000);
  const header = (flags: number, qd: number, ar = 0) => [
    id >> 8,
    id & 0xff,
    flags >> 8,
    flags & 0xff,
    0,
    qd,
    0,
    0,
    0,
    0,
    0,
    ar,
  ];
  const question = [3, 0x66, 0x6f, 0x6f, 0, 0, 1, 0, 1]; // foo. A IN
  switch (i % MALFORMED_KINDS) {
    case 0:
      return new Uint8Array([id >> 8, id & 0xff, 1, 0, 0]);
    case 1:
      return new Uint8Array([...header(0x8100, 1), ...question]);
    case 2:
      return new Uint8Array([...header(0x2900, 1), ...question]);
    case 3:
      return new Uint8Array([...header(0x0100, 2), ...question, ...question]);
    case 4:
      return new Uint8Array([...header(0x0100, 1), 0xc0, 0x0c, 0, 1, 0, 1]);
    case 5:
      return new Uint8Array([...header(0x0100, 1), 40, 0x61, 0x62]);
    case 6:
      return new Uint8Array([...header(0x0100, 1), ...question, 0xde, 0xad]);
    case 7:
      return new Uint8Array([
        ...header(0x0100, 1, 1),
        ...question,
        ...[0, 0, 41, 4, 208, 0, 1, 0, 0, 0, 0],
      ]);
    default: {
      const out = new Uint8Array(12 + Math.floor(random() * 289));
      for (let k = 0; k < out.length; k++) out[k] = Math.floor(random() * 256);
      out[5] = 2; // two questions: never a query we could resolve, whatever the rest says
      return out;
    }
  }
}

/** A small deterministic generator, so every run floods with the same packets. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

interface FloodResult {
  sent: number;
  replies: number;
  seconds: number;
}

/** Sends `packets` malformed packets to the responder at about `rate` a second. */
async function flood(packets: number, rate: number): Promise<FloodResult> {
  const conn = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: DNS_PORT };
  let replies = 0;
  const counting = (async () => {
    const buffer = new Uint8Array(2048);
    try {
      for (;;) {
        await conn.receive(buffer);
        replies++;
      }
    } catch { /* closed */ }
  })();
  const random = xorshift(14);
  const batch = 200;
  const t0 = performance.now();
  let sent = 0;
  while (sent < packets) {
    const n = Math.min(batch, packets - sent);
    const sends: Promise<number>[] = [];
    for (let k = 0; k < n; k++) sends.push(conn.send(malformedPacket(sent + k, random), to));
    await Promise.all(sends);
    sent += n;
    const ahead = sent / rate * 1000 - (performance.now() - t0);
    if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
  }
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 1000));
  conn.close();
  await counting;
  return { sent, replies, seconds };
}

/** Whether the responder answers a valid query for a synthetic service with NOERROR. */
async function answersValidQuery(): Promise<boolean> {
  const conn = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  try {
    const name = `${syntheticServiceName(1)}.${syntheticNamespace(1)}.svc.cluster.local`;
    await conn.send(encodeQuery({ id: 7, name, type: "A" }), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: DNS_PORT,
    });
    const timer = setTimeout(() => conn.close(), 3000);
    const [reply] = await conn.receive();
    clearTimeout(timer);
    return reply[0] === 0 && reply[1] === 7 && (reply[3] & 0x0f) === 0 && reply[7] > 0;
  } catch {
    return false;
  } finally {
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

function inner(flags: BenchFlags): Promise<unknown> {
  return withInnerRun(flags, async ({ proxy, recorder, load, probeGc }) => {
    recorder.phase = "flood";
    const cpu0 = await readCpuSeconds(proxy.pid);
    const result = await flood(flags.number("packets", 1_000_000), flags.number("rate", 20_000));
    const cpuSeconds = await readCpuSeconds(proxy.pid) - cpu0;
    load.push(await readLoadAverages());
    recorder.phase = "after";
    const after = flags.number("after", 30);
    await new Promise((r) => setTimeout(r, after * 1000));
    recorder.stop();
    probeGc();
    const answering = await answersValidQuery();
    load.push(await readLoadAverages());
    const tail = recorder.of("after").slice(-10);
    return {
      firstSyncMs: Math.round(proxy.firstSyncMs),
      ...result,
      cpuSeconds,
      answering,
      before: summarizeRss(recorder.of("before")).median,
      peak: summarizeRss([...recorder.of("flood"), ...recorder.of("after")]).peak,
      after: summarizeRss(recorder.of("after")).last,
      afterMedianLast10s: summarizeRss(tail).median,
    };
  });
}

function render(r: Record<string, unknown>, v8Flags: string): string {
  return [
    `DNS flood: ${r.sent} malformed packets in ${Number(r.seconds).toFixed(0)} s, ${r.replies} ` +
    `error replies, valid query answered after: ${r.answering}; V8 flags: ${
      v8Flags || "(none)"
    }; ` +
    `load ${(r.load as string[]).join(" / ")}`,
    "",
    "| RSS before | peak during/after | 30 s after (last) | median of the last 10 s |",
    "|---|---|---|---|",
    `| ${r.before} MB | ${r.peak} MB | ${r.after} MB | ${r.afterMedianLast10s} MB |`,
    "",
  ].join("\n");
}

if (import.meta.main) {
  await runMemoryBenchmark("dns_flood_memory", new URL(import.meta.url).pathname, inner, render);
}

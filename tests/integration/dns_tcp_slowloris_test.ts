/**
 * DNS over TCP under a slowloris from loopback: 300 connections, half trickling one byte of a
 * never-finished message every second, half idle, must not keep legitimate TCP queries from
 * being answered. Run twice: with the default per-client share (the attacker and the legitimate
 * client share 127.0.0.1, so the share evicts the attacker's idle connections) and with a share
 * as large as the whole table (only the oldest-idle eviction and the message deadline help).
 * No timing is asserted: every legitimate query must simply be answered.
 */

import { assert, assertEquals } from "../assert.ts";
import { decodeMessage, encodeQuery } from "../../dns/codec.ts";
import type { DnsServerOptions } from "../../dns/server.ts";
import {
  exchangeTcp,
  makeClusterView,
  makeFixture,
  TEST_SERVER_OPTIONS,
  withDnsServer,
} from "../../dns/testing.ts";

const ATTACKERS = 300;
const TRICKLE_SECONDS = 8;
const LEGITIMATE_QUERIES = 20;

/** One attacking connection: trickles a message that never completes, or just sits there. */
async function attacker(port: number, trickle: boolean, stop: AbortSignal): Promise<void> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return; // refused or reset: the server is protecting itself
  }
  try {
    // The length prefix announces 65535 bytes; the body arrives one byte per second.
    const bytes = [0xff, 0xff];
    for (let i = 0; i < TRICKLE_SECONDS && !stop.aborted; i++) {
      if (trickle) await conn.write(new Uint8Array([bytes[i] ?? 0x41]));
      await new Promise((r) => setTimeout(r, 1000));
    }
  } catch {
    // closed by the server (evicted or past its deadline)
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** A legitimate query, answered or the test fails (the guard only prevents a hang). */
async function legitimate(port: number, id: number): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`query ${id} hung for 30 s`)), 30_000);
  });
  try {
    const q = encodeQuery({ id, name: "svc1.testns.svc.cluster.local", type: "A" });
    const [reply] = await Promise.race([exchangeTcp("127.0.0.1", port, [q]), guard]);
    const msg = decodeMessage(reply)!;
    assertEquals(msg.id, id);
    return msg.answers.join(",");
  } finally {
    clearTimeout(timer);
  }
}

async function underSlowloris(options: DnsServerOptions): Promise<void> {
  await withDnsServer(makeClusterView(makeFixture()), options, async (server) => {
    const port = server.address.tcpPort;
    const stop = new AbortController();
    const attacks: Promise<void>[] = [];
    for (let i = 0; i < ATTACKERS; i++) attacks.push(attacker(port, i % 2 === 0, stop.signal));
    try {
      // Let every attacking connection be accepted before the legitimate client comes.
      await new Promise((r) => setTimeout(r, 1000));
      const answered: string[] = [];
      for (let i = 0; i < LEGITIMATE_QUERIES; i++) {
        answered.push(await legitimate(port, 1000 + i));
        await new Promise((r) => setTimeout(r, 200));
      }
      assert(answered.every((a) => a.endsWith("IN A 10.0.0.1")), answered.join("\n"));
    } finally {
      stop.abort();
      await Promise.allSettled(attacks);
    }
  });
}

Deno.test({
  name: "a 300-connection TCP slowloris from loopback leaves legitimate queries answered",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await underSlowloris({ ...TEST_SERVER_OPTIONS, tcpIdleTimeoutMs: 3000 });
  },
});

Deno.test({
  name: "the same slowloris with a per-client share as large as the table (oldest-idle eviction)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await underSlowloris({
      ...TEST_SERVER_OPTIONS,
      tcpIdleTimeoutMs: 3000,
      maxTcpConnections: 256,
      maxTcpConnectionsPerClient: 256,
    });
  },
});

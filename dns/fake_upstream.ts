/**
 * A fake upstream resolver on loopback for the forwarding tests (dns/ unit tests and the
 * integration tests that run a DnsServer in a network namespace).
 *
 * @module
 */

import { encodeQuery, encodeReply, parseQuery } from "./codec.ts";
import { RRType } from "./message.ts";

/**
 * What a FakeUpstream does: answer, truncate over UDP, stay silent, reply for another question
 * (a spoof), or answer A questions with {@linkcode LARGE_ANSWER_RECORDS} records (about 4,000
 * bytes, over UDP too).
 */
export type Behaviour = "answer" | "truncate-udp" | "silent" | "wrong-question" | "large";

/** A records in a `large` answer: 250 × 16 bytes plus the header and question. */
export const LARGE_ANSWER_RECORDS = 250;

/**
 * A tiny upstream on loopback (UDP and TCP on one port) answering every A question with
 * 192.0.2.1 (its own marker), or truncating over UDP, or never answering; it counts what it
 * receives.
 */
export class FakeUpstream {
  readonly udp: Deno.DatagramConn;
  readonly tcp: Deno.TcpListener;
  readonly port: number;
  udpQueries = 0;
  tcpQueries = 0;
  #loops: Promise<void>[] = [];

  /**
   * @param behaviour See Behaviour.
   * @param address The A record's address.
   * @param hostname Where to listen (loopback).
   */
  constructor(
    public behaviour: Behaviour,
    public address = "192.0.2.1",
    readonly hostname = "127.0.0.1",
  ) {
    for (;;) {
      const udp = Deno.listenDatagram({ hostname, port: 0, transport: "udp" });
      try {
        this.tcp = Deno.listen({ hostname, port: (udp.addr as Deno.NetAddr).port });
        this.udp = udp;
        break;
      } catch {
        udp.close();
      }
    }
    this.port = (this.udp.addr as Deno.NetAddr).port;
    this.#loops.push(this.#serveUdp(), this.#serveTcp());
  }

  /** `host:port` as an upstream server entry. */
  get hostPort(): string {
    return `${this.hostname}:${this.port}`;
  }

  #reply(packet: Uint8Array, truncate: boolean): Uint8Array | undefined {
    const q = parseQuery(packet);
    if (q === undefined || q.error !== undefined) return undefined;
    const count = this.behaviour === "large" ? LARGE_ANSWER_RECORDS : 1;
    const answers = q.type === RRType.A
      ? Array.from({ length: count }, (_, i) => ({
        name: q.name,
        type: RRType.A as 1,
        ttl: 60,
        data: i === 0 ? this.address : `198.51.100.${i % 256}`,
      }))
      : [];
    const bytes = encodeReply(q, packet, {
      rcode: "NOERROR",
      answers: truncate ? [] : answers,
      authority: [],
      additionals: [],
      authoritative: false,
    }, 65535);
    if (truncate) bytes[2] |= 0x02;
    return bytes;
  }

  async #serveUdp(): Promise<void> {
    for (;;) {
      let packet: Uint8Array, addr: Deno.Addr;
      try {
        [packet, addr] = await this.udp.receive();
      } catch {
        return;
      }
      this.udpQueries++;
      if (this.behaviour === "silent") continue;
      if (this.behaviour === "wrong-question") {
        // A reply with the right ID from the right address, for another name (a spoof).
        const other = encodeQuery({
          id: (packet[0] << 8) | packet[1],
          name: "evil.example",
          type: "A",
        });
        const out = this.#reply(other, false);
        if (out) await this.udp.send(out, addr).catch(() => 0);
        continue;
      }
      const out = this.#reply(packet, this.behaviour === "truncate-udp");
      if (out) await this.udp.send(out, addr).catch(() => 0);
    }
  }

  async #serveTcp(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.tcp.accept();
      } catch {
        return;
      }
      this.tcpQueries++;
      (async () => {
        try {
          const len = new Uint8Array(2);
          if ((await conn.read(len)) !== 2) return;
          const msg = new Uint8Array((len[0] << 8) | len[1]);
          for (let off = 0; off < msg.length;) {
            const n = await conn.read(msg.subarray(off));
            if (n === null) return;
            off += n;
          }
          if (this.behaviour === "silent") return;
          const out = this.#reply(msg, false)!;
          await conn.write(new Uint8Array([out.length >> 8, out.length & 0xff, ...out]));
        } catch {
          // client went away
        } finally {
          try {
            conn.close();
          } catch { /* closed */ }
        }
      })();
    }
  }

  /** Closes both sockets. */
  async close(): Promise<void> {
    this.udp.close();
    this.tcp.close();
    await Promise.allSettled(this.#loops);
  }
}

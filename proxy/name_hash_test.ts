import { createHash } from "node:crypto";
import { assertEquals } from "../tests/assert.ts";
import { hashName } from "./name_hash.ts";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** The reference: node:crypto's SHA-256, its first 80 bits in base32. */
function reference(input: string): string {
  const digest = createHash("sha256").update(input).digest();
  let bits = "";
  for (const byte of digest.subarray(0, 10)) bits += byte.toString(2).padStart(8, "0");
  let out = "";
  for (let i = 0; i < 80; i += 5) out += BASE32[parseInt(bits.slice(i, i + 5), 2)];
  return out;
}

Deno.test("hashName() is upstream's chain hash (a known KUBE-SVC name)", () => {
  assertEquals(hashName("ns1/svc1:p80tcp"), "XPGD46QRK7WJZT7O");
});

Deno.test("hashName() equals node:crypto's SHA-256 for short, long, empty and non-ASCII input", () => {
  const inputs = [
    "",
    "a",
    "ns1/svc1:p80tcp10.180.0.1:80",
    "x".repeat(55),
    "x".repeat(56),
    "y".repeat(64),
    "z".repeat(300),
    "ns/ünïcødé:p80tcp",
    "ns/svc:p80tcp[fd00::1]:8080",
  ];
  for (let i = 0; i < 200; i++) {
    inputs.push(`ns${i}/svc-${i * 7919}:port-${i}udp10.${i}.0.${i}:${i}`);
  }
  for (const input of inputs) assertEquals(hashName(input), reference(input), input);
});

import { assert, assertEquals } from "../tests/assert.ts";
import { type TcpSlot, TcpSlots } from "./tcp_slots.ts";

Deno.test("TcpSlots closes the oldest idle connection of a client at its share", () => {
  const slots = new TcpSlots(10, 2);
  const closed: string[] = [];
  const a1 = slots.admit("a", () => closed.push("a1"))!;
  slots.admit("a", () => closed.push("a2"));
  a1.setBusy(true); // answering: not evictable
  assert(slots.admit("a", () => closed.push("a3")) !== undefined);
  assertEquals(closed, ["a2"]);
  // Another client is not touched by a's share.
  assert(slots.admit("b", () => closed.push("b1")) !== undefined);
  assertEquals([closed, slots.size], [["a2"], 3]);
});

Deno.test("TcpSlots makes room by closing the oldest idle connection, else refuses", () => {
  const slots = new TcpSlots(3, 3);
  const closed: string[] = [];
  const taken: TcpSlot[] = [];
  for (const name of ["x", "y", "z"]) taken.push(slots.admit(name, () => closed.push(name))!);
  taken[0].setBusy(true);
  taken[1].setBusy(true);
  taken[1].setBusy(false); // idle again, newer than z
  assert(slots.admit("w", () => closed.push("w")) !== undefined);
  assertEquals(closed, ["z"]);
  taken[1].setBusy(true);
  // x and y busy, w idle: w goes.
  slots.admit("v", () => closed.push("v"))!.setBusy(true);
  assertEquals(closed, ["z", "w"]);
  // Everyone busy: the new connection is refused and nothing is closed.
  assertEquals(slots.admit("u", () => {}), undefined);
  assertEquals(closed, ["z", "w"]);
  assertEquals(slots.size, 3);
});

Deno.test("TcpSlots releases a slot once", () => {
  const slots = new TcpSlots(1, 1);
  const slot = slots.admit("a", () => {})!;
  slot.setBusy(true);
  assertEquals(slots.admit("b", () => {}), undefined);
  slot.release();
  slot.release();
  assertEquals(slots.size, 0);
  assert(slots.admit("b", () => {}) !== undefined);
  assertEquals(slots.size, 1);
});

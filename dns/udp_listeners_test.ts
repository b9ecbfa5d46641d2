import { FakeClock } from "../config/clock.ts";
import { assertEquals } from "../tests/assert.ts";
import { addressesToBind, UdpListeners } from "./udp_listeners.ts";

function iface(address: string): Deno.NetworkInterfaceInfo {
  const family = address.includes(":") ? "IPv6" : "IPv4";
  return { name: "eth0", family, address, netmask: "", scopeid: null, cidr: "", mac: "" };
}

Deno.test("addressesToBind() binds a specific address alone, a wildcard per local address", () => {
  const ifaces = ["10.0.0.2", "10.0.0.3", "fd00::2", "fe80::1", "127.0.0.1"].map(iface);
  assertEquals(addressesToBind("10.0.0.2", ifaces), ["10.0.0.2"]);
  assertEquals(addressesToBind("0.0.0.0", ifaces), ["127.0.0.1", "10.0.0.2", "10.0.0.3"]);
  assertEquals(addressesToBind("::", ifaces), [
    "127.0.0.1",
    "::1",
    "10.0.0.2",
    "10.0.0.3",
    "fd00::2",
  ]);
  assertEquals(addressesToBind("0.0.0.0", []), ["127.0.0.1"]);
});

Deno.test("UdpListeners binds new local addresses and closes vanished ones on each scan", () => {
  // Every 127/8 address is local on Linux: they stand in for a node's changing addresses.
  const probe = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  let current = ["127.0.0.2"];
  const seen: string[][] = [];
  const sockets: Deno.DatagramConn[] = [];
  const clock = new FakeClock();
  const listeners = new UdpListeners({
    bindAddress: "0.0.0.0",
    port,
    scanIntervalMs: 20,
    interfaces: () => current.map(iface),
    onSocket: (conn) => sockets.push(conn),
    onAddresses: (a) => seen.push([...a]),
    clock,
  });
  try {
    listeners.start(false);
    assertEquals(listeners.addresses, ["127.0.0.1", "127.0.0.2"]);
    current = ["127.0.0.3"];
    clock.tick(19);
    assertEquals(listeners.addresses, ["127.0.0.1", "127.0.0.2"], "no scan before the interval");
    clock.tick(1);
    assertEquals(listeners.addresses, ["127.0.0.1", "127.0.0.3"]);
    assertEquals(clock.pendingTimers, 1, "the next scan is scheduled");
    assertEquals(seen[0], ["127.0.0.1", "127.0.0.2"]);
    assertEquals(sockets.map((s) => (s.addr as Deno.NetAddr).hostname), [
      "127.0.0.1",
      "127.0.0.2",
      "127.0.0.3",
    ]);
    // The socket of 127.0.0.2 was closed: the address can be bound again.
    Deno.listenDatagram({ hostname: "127.0.0.2", port, transport: "udp" }).close();
  } finally {
    listeners.close();
  }
  assertEquals(clock.pendingTimers, 0, "close() stops the scans");
});

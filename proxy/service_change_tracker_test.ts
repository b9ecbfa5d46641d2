import { assert, assertEquals } from "../tests/assert.ts";
import { makeService, type MutableService } from "../tests/fixtures.ts";
import { applyServiceChanges, ServiceChangeTracker } from "./service_change_tracker.ts";
import { servicePortsFromService, shouldSkipService } from "./service_port.ts";
import type { Service } from "../cache/objects.ts";
import type { ServicePortMap } from "./types.ts";

function svc1(mutate: (s: MutableService) => void = () => {}): Service {
  return makeService("ns1", "svc1", (s) => {
    s.clusterIPs = ["172.30.0.41"];
    s.ports = [{ name: "p80", protocol: "TCP", port: 80, targetPort: 80, nodePort: 0 }];
    mutate(s);
  });
}

Deno.test("servicePortsFromService() ignores skipped services and other families", () => {
  const headless = makeService("ns", "h", (s) => {
    s.headless = true;
  });
  const ext = makeService("ns", "e", (s) => {
    s.type = "ExternalName";
  });
  const other = makeService("ns", "o", (s) => {
    s.clusterIPs = ["172.30.0.1"];
    s.serviceProxyName = "other-proxy";
  });
  assert(shouldSkipService(headless) && shouldSkipService(ext) && shouldSkipService(other));
  assertEquals(servicePortsFromService(svc1(), "IPv6").size, 0);
  const ports = servicePortsFromService(svc1(), "IPv4");
  assertEquals([...ports.keys()], ["ns1/svc1:p80 TCP"]);
  assertEquals(ports.get("ns1/svc1:p80 TCP")!.nameString, "ns1/svc1:p80");
});

Deno.test("servicePortsFromService() filters LB ingress, external IPs and source ranges", () => {
  const svc = makeService("ns", "lb", (s) => {
    s.type = "LoadBalancer";
    s.clusterIPs = ["172.30.0.1", "fd00::1"];
    s.ipFamilies = ["IPv4", "IPv6"];
    s.ports = [{ name: "", protocol: "UDP", port: 53, targetPort: 53, nodePort: 3001 }];
    s.externalIPs = ["192.168.1.1", "fd01::1"];
    s.loadBalancerIngress = [
      { ip: "1.2.3.4", ipMode: "VIP" },
      { ip: "1.2.3.5", ipMode: "Proxy" },
      { ip: "fd02::1", ipMode: "VIP" },
    ];
    s.loadBalancerSourceRanges = [" 203.0.113.000/025", "fd03::/64"];
    s.externalTrafficPolicy = "Local";
    s.healthCheckNodePort = 30000;
    s.sessionAffinity = "ClientIP";
  });
  const v4 = servicePortsFromService(svc, "IPv4").get("ns/lb UDP")!;
  assertEquals(v4.clusterIP, "172.30.0.1");
  assertEquals(v4.externalIPs, ["192.168.1.1"]);
  assertEquals(v4.loadBalancerVIPs, ["1.2.3.4"]);
  assertEquals(v4.loadBalancerSourceRanges, ["203.0.113.0/25"]);
  assertEquals(v4.externalPolicyLocal, true);
  assertEquals(v4.healthCheckNodePort, 30000);
  assertEquals(v4.stickyMaxAgeSeconds, 10800);
  assertEquals(v4.protocol, "udp");
  const v6 = servicePortsFromService(svc, "IPv6").get("ns/lb UDP")!;
  assertEquals(v6.clusterIP, "fd00::1");
  assertEquals(v6.loadBalancerVIPs, ["fd02::1"]);
  assertEquals(v6.loadBalancerSourceRanges, ["fd03::/64"]);
  const open = makeService("ns", "open", (s) => {
    s.clusterIPs = ["172.30.0.2"];
    s.ports = [{ name: "", protocol: "TCP", port: 80, targetPort: 80, nodePort: 0 }];
    s.loadBalancerSourceRanges = ["10.0.0.0/8", "0.0.0.0/0"];
  });
  assertEquals(
    servicePortsFromService(open, "IPv4").get("ns/open TCP")!.loadBalancerSourceRanges,
    [],
  );
});

Deno.test("ServiceChangeTracker.update() reports add then delete before sync as no change", () => {
  const tracker = new ServiceChangeTracker("IPv4");
  const svc = svc1();
  assert(tracker.update(undefined, svc));
  assert(!tracker.update(svc, undefined));
  assertEquals(tracker.checkout().size, 0);
});

Deno.test("ServiceChangeTracker.update() ignores updates that change nothing it reads", () => {
  const tracker = new ServiceChangeTracker("IPv4");
  const a = svc1();
  tracker.update(undefined, a);
  tracker.checkout();
  const b = { ...a, resourceVersion: "2" };
  assert(!tracker.update(a, b));
  const c = svc1((s) => {
    s.clusterIPs = ["172.30.0.99"];
  });
  assert(tracker.update(b, c));
  const changes = tracker.checkout();
  assertEquals(changes.get("ns1/svc1")!.previous.get("ns1/svc1:p80 TCP")!.clusterIP, "172.30.0.41");
  assertEquals(changes.get("ns1/svc1")!.current.get("ns1/svc1:p80 TCP")!.clusterIP, "172.30.0.99");
});

Deno.test("applyServiceChanges() updates the map and reports deleted UDP cluster IPs", () => {
  const tracker = new ServiceChangeTracker("IPv4");
  const udp = makeService("ns", "dns", (s) => {
    s.clusterIPs = ["172.30.0.10"];
    s.ports = [{ name: "dns", protocol: "UDP", port: 53, targetPort: 53, nodePort: 0 }];
  });
  const map: ServicePortMap = new Map();
  tracker.update(undefined, udp);
  tracker.update(undefined, svc1());
  let result = applyServiceChanges(map, tracker.checkout());
  assertEquals(map.size, 2);
  assertEquals([...result.updatedServices].sort(), ["ns/dns", "ns1/svc1"]);
  tracker.update(udp, undefined);
  result = applyServiceChanges(map, tracker.checkout());
  assertEquals([...map.keys()], ["ns1/svc1:p80 TCP"]);
  assertEquals([...result.deletedUDPClusterIPs], ["172.30.0.10"]);
});

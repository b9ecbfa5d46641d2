import { assertEquals } from "../assert.ts";
import { nftChainsForService, nftElementsForChains, rulesForService } from "./demo_rules.ts";

Deno.test("rulesForService() picks a service's chains and the jumps into them", () => {
  const dump = [
    "*nat",
    ":KUBE-SERVICES - [0:0]",
    '-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "default/db-service:db cluster IP" -m tcp --dport 5432 -j KUBE-SVC-AAAA',
    '-A KUBE-SERVICES -d 10.96.0.30/32 -p tcp -m comment --comment "default/web-service:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-BBBB',
    '-A KUBE-SVC-AAAA -m comment --comment "default/db-service:db -> 10.244.2.2:8080" -m statistic --mode random --probability 0.5 -j KUBE-SEP-CCCC',
    '-A KUBE-SVC-AAAA -m comment --comment "default/db-service:db -> 10.244.2.3:8080" -j KUBE-SEP-DDDD',
    '-A KUBE-SEP-CCCC -p tcp -m comment --comment "default/db-service:db" -m tcp -j DNAT --to-destination 10.244.2.2:8080',
    '-A KUBE-SEP-DDDD -p tcp -m comment --comment "default/db-service:db" -m tcp -j DNAT --to-destination 10.244.2.3:8080',
    '-A KUBE-SVC-BBBB -m comment --comment "default/web-service:http -> 10.244.1.2:8080" -j KUBE-SEP-EEEE',
    "COMMIT",
  ].join("\n");
  const rules = rulesForService(dump, "default/db-service");
  assertEquals(rules.length, 5);
  assertEquals(rules.filter((l) => l.includes("web-service")), []);
});

Deno.test("nftChainsForService() and nftElementsForChains() pick a service's chains and elements", () => {
  const listing = [
    "table ip kube-proxy {",
    "\tmap service-ips {",
    "\t\ttype ipv4_addr . inet_proto . inet_service : verdict",
    "\t\telements = { 10.96.0.20 . tcp . 5432 : goto service-AAAAAAAA-default/db-service/tcp/db,",
    "\t\t\t     10.96.0.30 . tcp . 80 : goto service-BBBBBBBB-default/web-service/tcp/http }",
    "\t}",
    "",
    "\tchain service-AAAAAAAA-default/db-service/tcp/db {",
    "\t\tnumgen random mod 2 0 meta l4proto tcp dnat to 10.244.2.2:8080",
    "\t\tmeta l4proto tcp dnat to 10.244.2.3:8080",
    "\t}",
    "",
    "\tchain service-BBBBBBBB-default/web-service/tcp/http {",
    "\t\tmeta l4proto tcp dnat to 10.244.1.2:8080",
    "\t}",
    "}",
  ].join("\n");
  const chains = nftChainsForService(listing, "default/db-service");
  assertEquals(chains, ["service-AAAAAAAA-default/db-service/tcp/db"]);
  assertEquals(nftElementsForChains(listing, chains), [
    "service-ips: 10.96.0.20 . tcp . 5432 : goto service-AAAAAAAA-default/db-service/tcp/db",
  ]);
  assertEquals(nftChainsForService(listing, "default/db"), []);
});

/**
 * The DNS side of `dns_netns_test.ts`, run inside the server's network namespace: a fake
 * upstream on the namespace's loopback and a DnsServer on `0.0.0.0:53` over the dns/ fixture
 * cluster, answering only the clients a ClientFilter allows. Prints `{"ready":true}` once
 * listening, then `upstream <n>` whenever the number of queries the upstream received changes.
 *
 * Usage: `deno run -A dns_netns_server.ts '{"clusterCIDRs":[...],"allowedClients":[...]}'`
 *
 * @module
 */

import { ClientFilter, type ClientFilterOptions } from "../../dns/client_filter.ts";
import { FakeUpstream } from "../../dns/fake_upstream.ts";
import { DnsServer } from "../../dns/server.ts";
import { makeClusterView, makeFixture, TEST_SERVER_OPTIONS } from "../../dns/testing.ts";

const filter: ClientFilterOptions = JSON.parse(Deno.args[0] ?? "{}");
const upstream = new FakeUpstream("answer");
const server = new DnsServer(makeClusterView(makeFixture()), {
  ...TEST_SERVER_OPTIONS,
  bindAddress: "0.0.0.0",
  port: 53,
  upstreamServers: [upstream.hostPort],
  forwardTimeoutMs: 1000,
  addressScanIntervalMs: 300,
  forwardCacheSize: 0,
  clients: new ClientFilter(filter),
});
await server.start();
console.log(JSON.stringify({ ready: true }));
let reported = 0;
setInterval(() => {
  const n = upstream.udpQueries + upstream.tcpQueries;
  if (n !== reported) console.log(`upstream ${reported = n}`);
}, 50);

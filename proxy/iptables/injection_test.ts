// deno-lint-ignore-file no-explicit-any
/**
 * No byte of an API object can change the structure of the rules (issue 14, item 1): random names
 * (quotes, newlines, spaces, `-j`, `;`, `}`, unicode, whole injected rule lines) for the service
 * name, namespace, port name and protocol go through ingest (`cache/convert.ts`); the objects that
 * survive go through the proxier's state and rule rendering, and the rendered ruleset, parsed by
 * `FakeIptables`, must be exactly the ruleset of the same services under safe names: the same
 * chains and the same rules once chain hashes and comments are set aside, and every DNAT to an
 * endpoint of ours.
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import { configureLogging } from "../../config/log.ts";
import { toEndpointSlice, toService } from "../../cache/convert.ts";
import type { EndpointSlice, Service } from "../../cache/objects.ts";
import { FakeIptables } from "./fake.ts";
import { renderState, stateOf } from "./test_helpers.ts";
import type { Table } from "./chains.ts";
import { seededRandom } from "../../tests/seeded_random.ts";

const SEED = 0x5eed14;
const BATCHES = 40;
const SERVICES_PER_BATCH = 8;

/** The injection names of issue 14, tried first. */
const ISSUE_NAMES = {
  dnat443: 'web"\n-A KUBE-SERVICES -p tcp --dport 443 -j DNAT --to-destination 6.6.6.6:443\n#',
  quoteJump: 'web" -j ACCEPT',
  spacedNamespace: "demo prod",
};

const PIECES = [
  '"',
  "'",
  "\n",
  "\r",
  " ",
  "\t",
  ";",
  "}",
  "{",
  "-j",
  " -j DNAT --to-destination 6.6.6.6:443",
  "\n-A KUBE-SERVICES -p tcp --dport 443 -j DNAT --to-destination 6.6.6.6:443\n",
  "\nCOMMIT\n",
  "é",
  "😀",
  "\u0000",
  "\u2028",
  "\\",
  "$",
  "`",
  ".",
  "/",
  ":",
  "_",
  "A",
  "-",
  "a",
  "z",
  "0",
  "9",
];

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)];
}

/** A name that Kubernetes accepts (for every rule used here): a letter, then a-z0-9 and '-'. */
function validName(rand: () => number, max: number): string {
  const len = 1 + Math.floor(rand() * max);
  let s = pick(rand, "abcdefghijklmnopqrstuvwxyz".split(""));
  for (let i = 1; i < len; i++) s += pick(rand, "abcdefghijklmnopqrstuvwxyz0123456789-".split(""));
  return s.endsWith("-") ? s + "x" : s;
}

/** Random bytes and injection fragments, or (rarely) a valid name with one character changed. */
function hostileName(rand: () => number): string {
  if (rand() < 0.2) {
    const base = validName(rand, 10);
    const at = Math.floor(rand() * base.length);
    return base.slice(0, at) + pick(rand, PIECES) + base.slice(at + 1);
  }
  const n = 1 + Math.floor(rand() * 8);
  let s = "";
  for (let i = 0; i < n; i++) s += pick(rand, PIECES);
  return s;
}

function fuzzed(rand: () => number, valid: () => string): string {
  return rand() < 0.25 ? hostileName(rand) : valid();
}

function fuzzedProtocol(rand: () => number): string {
  const r = rand();
  if (r < 0.6) return pick(rand, ["TCP", "UDP", "SCTP"]);
  if (r < 0.8) return pick(rand, ["tcp", "TCP ", "TCP -j ACCEPT", "TCP\n", "ICMP", ""]);
  return hostileName(rand);
}

interface RawPair {
  readonly service: any;
  readonly slice: any;
}

/** A raw Service with one port and its EndpointSlice with one endpoint, as the API sends them. */
function rawPair(
  i: number,
  namespace: string,
  name: string,
  portName: string,
  protocol: string,
): RawPair {
  const port = { name: portName, protocol, port: 80 + i, targetPort: 8080 + i };
  return {
    service: {
      metadata: { namespace, name, resourceVersion: "1" },
      spec: {
        type: "ClusterIP",
        clusterIP: `172.30.${i >> 8}.${i & 255}`,
        clusterIPs: [`172.30.${i >> 8}.${i & 255}`],
        ports: [port],
      },
    },
    slice: {
      metadata: {
        namespace,
        name: `slice-${i}`,
        resourceVersion: "1",
        labels: { "kubernetes.io/service-name": name },
      },
      addressType: "IPv4",
      ports: [{ name: portName, protocol, port: 8080 + i }],
      endpoints: [{ addresses: [`10.180.${i >> 8}.${i & 255}`], conditions: { ready: true } }],
    },
  };
}

/** The same Service and slice under safe names (`ns<i>/svc<i>`, port `p<i>` or unnamed). */
function renamed(svc: Service, slice: EndpointSlice | undefined, i: number) {
  const namespace = `ns${i}`, name = `svc${i}`;
  const portName = (n: string) => (n === "" ? "" : `p${i}`);
  return {
    service: {
      ...svc,
      namespace,
      name,
      ports: svc.ports.map((p) => ({ ...p, name: portName(p.name) })),
    },
    slice: slice === undefined ? undefined : {
      ...slice,
      namespace,
      name: `slice-${i}`,
      serviceName: name,
      ports: slice.ports.map((p) => ({ ...p, name: portName(p.name) })),
    },
  };
}

const TABLES: Table[] = ["filter", "nat"];
const HASHED_CHAIN = /\bKUBE-(SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16}\b/g;
const COMMENT = / -m comment --comment ("(?:[^"\\]|\\.)*"|\S+)/g;

/** A ruleset with the names set aside: chain hashes and comments blanked, rules sorted. */
function structureOf(fake: FakeIptables): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const table of TABLES) {
    const chains = fake.chains(table).map((c) => c.replace(HASHED_CHAIN, "KUBE-$1-*"));
    const rules = fake.chains(table).flatMap((c) =>
      fake.rules(table, c)!.map((r) => r.replace(COMMENT, "").replace(HASHED_CHAIN, "KUBE-$1-*"))
    );
    out[`${table} chains`] = chains.sort();
    out[`${table} rules`] = rules.sort();
  }
  return out;
}

async function restored(text: string): Promise<FakeIptables> {
  const fake = new FakeIptables("IPv4");
  await fake.restore(text, { noflush: true });
  return fake;
}

Deno.test("random names through ingest and rendering give exactly the intended rules", async () => {
  const lines: string[] = [];
  configureLogging({ write: (l) => lines.push(l), format: "text" });
  const rand = seededRandom(SEED);
  let survivors = 0, refused = 0, hostileSurvivors = 0;
  for (let batch = 0; batch < BATCHES; batch++) {
    const pairs: RawPair[] = [];
    for (let k = 0; k < SERVICES_PER_BATCH; k++) {
      const i = batch * SERVICES_PER_BATCH + k;
      if (i === 0) pairs.push(rawPair(i, "demo", ISSUE_NAMES.dnat443, "https", "TCP"));
      else if (i === 1) pairs.push(rawPair(i, "demo", "web", ISSUE_NAMES.dnat443, "TCP"));
      else if (i === 2) pairs.push(rawPair(i, "demo", ISSUE_NAMES.quoteJump, "", "TCP"));
      else if (i === 3) pairs.push(rawPair(i, ISSUE_NAMES.spacedNamespace, "web", "", "TCP"));
      else {
        pairs.push(rawPair(
          i,
          fuzzed(rand, () => validName(rand, 20)),
          fuzzed(rand, () => validName(rand, 20)),
          rand() < 0.3 ? "" : fuzzed(rand, () => validName(rand, 15)),
          fuzzedProtocol(rand),
        ));
      }
    }
    const services: Service[] = [], slices: EndpointSlice[] = [];
    const safeServices: Service[] = [], safeSlices: EndpointSlice[] = [];
    const endpoints = new Set<string>();
    const seen = new Set<string>();
    pairs.forEach((pair, k) => {
      const i = batch * SERVICES_PER_BATCH + k;
      lines.length = 0;
      const svc = toService(pair.service);
      const slice = toEndpointSlice(pair.slice);
      // One log line per refused object, naming the field.
      assertEquals(lines.length, (svc ? 0 : 1) + (slice ? 0 : 1), lines.join("\n"));
      for (const line of lines) assert(/ field="(\\.|[^"\\])+" /.test(line), line);
      if (svc === undefined) {
        refused++;
        return;
      }
      const key = `${svc.namespace}/${svc.name}`;
      if (seen.has(key)) return; // a valid name drawn twice: the later one replaces it anyway
      seen.add(key);
      survivors++;
      const { metadata, spec } = pair.service;
      if (metadata.name !== svc.name || metadata.namespace !== svc.namespace) {
        throw new Error("ingest changed a name instead of refusing it");
      }
      if (!/^[a-z][-a-z0-9]*$/.test(metadata.name) || /[^-a-z0-9]/.test(spec.ports[0].name)) {
        hostileSurvivors++;
      }
      services.push(svc);
      const safe = renamed(svc, slice, i);
      safeServices.push(safe.service);
      if (slice !== undefined) {
        slices.push(slice);
        safeSlices.push(safe.slice!);
        endpoints.add(`${slice.endpoints[0].addresses[0]}:${slice.ports[0].port}`);
      }
    });
    const fake = await restored(renderState(stateOf(services, slices)));
    const safe = await restored(renderState(stateOf(safeServices, safeSlices)));
    assertEquals(structureOf(fake), structureOf(safe), `batch ${batch} (seed ${SEED})`);
    // Every DNAT goes to one of our endpoints; nothing matches a port no service has.
    for (const chain of fake.chains("nat")) {
      for (const rule of fake.rules("nat", chain)!) {
        const dnat = rule.match(/ -j DNAT --to-destination (\S+)/);
        if (dnat !== null) assert(endpoints.has(dnat[1]), `unexpected DNAT: ${rule}`);
        assert(!/--dport 443\b/.test(rule), `unexpected port 443 rule: ${rule}`);
      }
    }
  }
  // The test is not vacuous: many objects went through to the rules, many were refused.
  assert(survivors >= 80, `only ${survivors} services survived ingest`);
  assert(refused >= 60, `only ${refused} services were refused`);
  assertEquals(hostileSurvivors, 0);
});

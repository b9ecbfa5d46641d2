import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { configureLogging } from "../config/log.ts";
import { FakeCommandRunner } from "./exec.ts";
import {
  conntrackMax,
  type ConntrackSettings,
  execSysctl,
  HASHSIZE_PATH,
  prepareNode,
  readTcpBeLiberal,
  type Sysctl,
} from "./node_prep.ts";

configureLogging({ write: () => {} });

const DEFAULTS: ConntrackSettings = {
  maxPerCore: 32768,
  min: 131072,
  tcpEstablishedTimeout: 24 * 3600_000,
  tcpCloseWaitTimeout: 3600_000,
  tcpBeLiberal: false,
  udpTimeout: 0,
  udpStreamTimeout: 0,
};

/** An in-memory sysctl tree; paths in `readOnly` refuse writes as /proc does. */
class FakeSysctl implements Sysctl {
  values: Map<string, string>;
  readOnly: Set<string>;
  writes: string[] = [];
  constructor(values: Record<string, string>, readOnly: string[] = []) {
    this.values = new Map(Object.entries(values));
    this.readOnly = new Set(readOnly);
  }
  read(path: string): Promise<string> {
    const v = this.values.get(path);
    return v === undefined
      ? Promise.reject(new Deno.errors.NotFound(`/proc/sys/${path}`))
      : Promise.resolve(v);
  }
  write(path: string, value: string): Promise<void> {
    if (this.readOnly.has(path)) {
      return Promise.reject(new Deno.errors.PermissionDenied(`Permission denied: ${path}`));
    }
    this.writes.push(`${path}=${value}`);
    this.values.set(path, value);
    return Promise.resolve();
  }
}

function nodeSysctls(): Record<string, string> {
  return {
    "net/netfilter/nf_conntrack_max": "65536",
    "net/netfilter/nf_conntrack_tcp_timeout_established": "432000",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait": "60",
    "net/netfilter/nf_conntrack_tcp_be_liberal": "0",
    "net/netfilter/nf_conntrack_udp_timeout": "30",
    "net/netfilter/nf_conntrack_udp_timeout_stream": "120",
    "net/ipv4/conf/all/route_localnet": "0",
    "net/bridge/bridge-nf-call-iptables": "1",
  };
}

Deno.test("conntrackMax() scales per core with a floor, 0 when maxPerCore is 0", () => {
  assertEquals(conntrackMax({ maxPerCore: 32768, min: 131072 }, 2), 131072);
  assertEquals(conntrackMax({ maxPerCore: 32768, min: 131072 }, 8), 262144);
  assertEquals(conntrackMax({ maxPerCore: 0, min: 131072 }, 8), 0);
});

Deno.test("prepareNode() sets conntrack max, hash size and TCP timeouts as upstream", async () => {
  const sysctl = new FakeSysctl(nodeSysctls());
  const sysfs = new FakeSysctl({ [HASHSIZE_PATH]: "16384" });
  const oom: number[] = [];
  const result = await prepareNode(
    { conntrack: DEFAULTS, localhostNodePorts: false, oomScoreAdj: -999, numCPU: 8 },
    { sysctl, sysfs, applyOOMScoreAdj: (v) => Promise.resolve(void oom.push(v)) },
  );
  assertEquals(result.conntrackMax, 262144);
  assertEquals(sysctl.writes, [
    "net/netfilter/nf_conntrack_max=262144",
    "net/netfilter/nf_conntrack_tcp_timeout_established=86400",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait=3600",
  ]);
  assertEquals(sysfs.writes, [`${HASHSIZE_PATH}=65536`]);
  assertEquals(oom, [-999]);
  assertEquals(result.warnings, []);
});

Deno.test("prepareNode() leaves equal values, zero settings and a big enough hash size alone", async () => {
  const values = nodeSysctls();
  values["net/netfilter/nf_conntrack_max"] = "131072";
  values["net/netfilter/nf_conntrack_tcp_timeout_established"] = "86400";
  const sysctl = new FakeSysctl(values);
  const sysfs = new FakeSysctl({ [HASHSIZE_PATH]: "65536" });
  const result = await prepareNode(
    {
      conntrack: { ...DEFAULTS, tcpCloseWaitTimeout: 0 },
      localhostNodePorts: false,
      numCPU: 2,
    },
    { sysctl, sysfs },
  );
  assertEquals(sysctl.writes, []);
  assertEquals(sysfs.writes, []);
  assertEquals(result.applied, []);
});

Deno.test("prepareNode() sets tcp_be_liberal, UDP timeouts and route_localnet when asked", async () => {
  const sysctl = new FakeSysctl(nodeSysctls());
  await prepareNode(
    {
      conntrack: {
        ...DEFAULTS,
        maxPerCore: 0,
        tcpBeLiberal: true,
        udpTimeout: 30_000,
        udpStreamTimeout: 180_000,
      },
      localhostNodePorts: true,
    },
    { sysctl, sysfs: new FakeSysctl({}) },
  );
  assertEquals(sysctl.writes, [
    "net/netfilter/nf_conntrack_tcp_timeout_established=86400",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait=3600",
    "net/netfilter/nf_conntrack_tcp_be_liberal=1",
    "net/netfilter/nf_conntrack_udp_timeout_stream=180",
    "net/ipv4/conf/all/route_localnet=1",
  ]);
});

Deno.test("prepareNode() warns, without failing, when nf_conntrack_max is read-only", async () => {
  const sysctl = new FakeSysctl(nodeSysctls(), ["net/netfilter/nf_conntrack_max"]);
  const sysfs = new FakeSysctl({ [HASHSIZE_PATH]: "1" });
  const result = await prepareNode(
    { conntrack: DEFAULTS, localhostNodePorts: false, numCPU: 2 },
    { sysctl, sysfs },
  );
  assertEquals(result.warnings.length, 1);
  assert(result.warnings[0].includes("nf_conntrack_max is read-only"));
  assertEquals(sysfs.writes, [], "no hash size change after a failed nf_conntrack_max");
  assert(sysctl.writes.includes("net/netfilter/nf_conntrack_tcp_timeout_close_wait=3600"));
});

Deno.test("prepareNode() fails like upstream when a conntrack timeout or route_localnet cannot be set", async () => {
  await assertRejects(
    () =>
      prepareNode(
        { conntrack: DEFAULTS, localhostNodePorts: false, numCPU: 2 },
        {
          sysctl: new FakeSysctl(nodeSysctls(), [
            "net/netfilter/nf_conntrack_max",
            "net/netfilter/nf_conntrack_tcp_timeout_established",
          ]),
          sysfs: new FakeSysctl({}),
        },
      ),
    Error,
    "Cannot set sysctl net/netfilter/nf_conntrack_tcp_timeout_established",
  );
  await assertRejects(
    () =>
      prepareNode(
        { conntrack: { ...DEFAULTS, maxPerCore: 0 }, localhostNodePorts: true },
        {
          sysctl: new FakeSysctl(nodeSysctls(), ["net/ipv4/conf/all/route_localnet"]),
          sysfs: new FakeSysctl({}),
        },
      ),
    Error,
    "disable iptables.localhostNodePorts",
  );
});

Deno.test("prepareNode() warns about bridge-nf-call-iptables only when it is readable and not 1", async () => {
  const values = nodeSysctls();
  values["net/bridge/bridge-nf-call-iptables"] = "0";
  const off = await prepareNode(
    { conntrack: { ...DEFAULTS, maxPerCore: 0 }, localhostNodePorts: false },
    { sysctl: new FakeSysctl(values) },
  );
  assertEquals(off.warnings, [
    "Missing br-netfilter module or unset sysctl br-nf-call-iptables, proxy may not work as intended",
  ]);
  delete values["net/bridge/bridge-nf-call-iptables"];
  const missing = await prepareNode(
    { conntrack: { ...DEFAULTS, maxPerCore: 0 }, localhostNodePorts: false },
    { sysctl: new FakeSysctl(values) },
  );
  assertEquals(missing.warnings, []);
});

Deno.test("execSysctl() reads and writes /proc/sys through the runner", async () => {
  const fake = new FakeCommandRunner();
  fake.respond((c) => c.cmd === "cat" ? { stdout: "60\n" } : undefined);
  const s = execSysctl(fake);
  assertEquals(await s.read("net/netfilter/nf_conntrack_tcp_timeout_close_wait"), "60");
  await s.write("net/netfilter/nf_conntrack_tcp_timeout_close_wait", "3600");
  assertEquals(fake.calls.map((c) => [c.cmd, ...c.args]), [
    ["cat", "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait"],
    [
      "sh",
      "-c",
      'printf "%s\\n" "$1" > "$2"',
      "sh",
      "3600",
      "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait",
    ],
  ]);
  fake.respond(() => ({ code: 2, stderr: "sh: 1: cannot create x: Permission denied" }));
  await assertRejects(() => s.write("net/x", "1"), Error, "Permission denied");
});

Deno.test("prepareNode() reports tcpBeLiberal from the kernel's value, not the config", async () => {
  const liberal = new FakeSysctl({
    ...nodeSysctls(),
    "net/netfilter/nf_conntrack_tcp_be_liberal": "1",
  });
  const opts = { conntrack: { ...DEFAULTS, maxPerCore: 0 }, localhostNodePorts: false };
  const sysfs = new FakeSysctl({});
  assertEquals((await prepareNode(opts, { sysctl: liberal, sysfs })).tcpBeLiberal, true);
  const strict = new FakeSysctl(nodeSysctls());
  assertEquals((await prepareNode(opts, { sysctl: strict, sysfs })).tcpBeLiberal, false);
  const set = new FakeSysctl(nodeSysctls());
  const asked = { ...opts, conntrack: { ...opts.conntrack, tcpBeLiberal: true } };
  assertEquals((await prepareNode(asked, { sysctl: set, sysfs })).tcpBeLiberal, true);
});

Deno.test("readTcpBeLiberal() is false when the sysctl is 0 or unreadable", async () => {
  const path = "net/netfilter/nf_conntrack_tcp_be_liberal";
  assertEquals(await readTcpBeLiberal(new FakeSysctl({ [path]: "0" })), false);
  assertEquals(await readTcpBeLiberal(new FakeSysctl({ [path]: "2" })), true);
  assertEquals(await readTcpBeLiberal(new FakeSysctl({})), false);
});

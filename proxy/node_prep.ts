/**
 * Node preparation at start-up, as upstream kube-proxy does before it creates its proxiers: the
 * OOM score, the conntrack sysctls, `route_localnet` for localhost NodePorts and the
 * `bridge-nf-call-iptables` check.
 *
 * What is fatal follows upstream: a conntrack timeout or `tcp_be_liberal` that cannot be set, and
 * `route_localnet` that cannot be set when localhost NodePorts are on, stop the start-up (the
 * error names the sysctl and what to do). `nf_conntrack_max` that cannot be written because it is
 * read-only is a warning: upstream treats read-only /sys the same way, and a proxy in a non-initial
 * network namespace always sees it read-only (see below). The OOM score and the bridge check only
 * log.
 *
 * NOTE: `net.netfilter.nf_conntrack_max` (and `nf_conntrack_buckets`, the hash size) is global to
 * the kernel. Outside the initial network namespace the file shows the global value and is mode
 * 0444 (checked on Linux 6.18), so only a proxy in the host namespace can raise it. The TCP and UDP
 * timeouts and `nf_conntrack_tcp_be_liberal` are per network namespace and writable there.
 *
 * @module
 */

import { log } from "../config/log.ts";
import type { CommandRunner } from "./exec.ts";

/** Reads and writes sysctls by their path under /proc/sys (`net/netfilter/nf_conntrack_max`). */
export interface Sysctl {
  /** The value, trimmed. @throws {Error} When it cannot be read. */
  read(path: string): Promise<string>;
  /** Sets the value. @throws {Error} When it cannot be written. */
  write(path: string, value: string): Promise<void>;
}

/** Sysctls through /proc/sys of this process's network namespace. */
export const procSysctl: Sysctl = {
  async read(path) {
    return (await Deno.readTextFile(`/proc/sys/${path}`)).trim();
  },
  async write(path, value) {
    await Deno.writeTextFile(`/proc/sys/${path}`, value);
  },
};

/**
 * Sysctls read and written through /proc/sys by commands run by a {@linkcode CommandRunner} (a
 * namespace-prefixed one reaches the sysctls of that network namespace).
 *
 * NOTE: not the `sysctl` tool: procps' `sysctl -w` exits 0 even when the kernel refuses a value.
 *
 * @param run The command runner.
 * @returns The sysctl accessor.
 */
export function execSysctl(run: CommandRunner): Sysctl {
  return {
    async read(path) {
      const r = await run.run("cat", [`/proc/sys/${path}`]);
      if (r.code !== 0) throw new Error(`Cannot read sysctl ${path}: ${r.stderr.trim()}`);
      return r.stdout.trim();
    },
    async write(path, value) {
      const r = await run.run("sh", [
        "-c",
        'printf "%s\\n" "$1" > "$2"',
        "sh",
        value,
        `/proc/sys/${path}`,
      ]);
      if (r.code !== 0) throw new Error(`Cannot write sysctl ${path}: ${r.stderr.trim()}`);
    },
  };
}

/** Conntrack settings, as `KubeProxyConntrackConfiguration` (durations in milliseconds). */
export interface ConntrackSettings {
  maxPerCore: number;
  min: number;
  tcpEstablishedTimeout: number;
  tcpCloseWaitTimeout: number;
  tcpBeLiberal: boolean;
  udpTimeout: number;
  udpStreamTimeout: number;
}

/** Options of {@linkcode prepareNode}. */
export interface NodePrepOptions {
  /** The `conntrack` section of the configuration. */
  conntrack: ConntrackSettings;
  /** Whether localhost NodePorts are in effect (IPv4, `iptables.localhostNodePorts`, loopback allowed). */
  localhostNodePorts: boolean;
  /** `oomScoreAdj`; undefined leaves the OOM score alone. */
  oomScoreAdj?: number;
  /** CPUs for `maxPerCore`; `navigator.hardwareConcurrency` by default. */
  numCPU?: number;
}

/** Side-effect dependencies of {@linkcode prepareNode}. */
export interface NodePrepDeps {
  /** Sysctl access; {@linkcode execSysctl} over `run` when given, else {@linkcode procSysctl}. */
  sysctl?: Sysctl;
  /** Command runner for the default sysctl access (a namespace-prefixed one in tests). */
  run?: CommandRunner;
  /** /sys access for the conntrack hash size; real files by default. */
  sysfs?: Sysctl;
  /** Applies the OOM score adjustment; writes /proc/self/oom_score_adj by default. */
  applyOOMScoreAdj?: (value: number) => Promise<void>;
}

/** What {@linkcode prepareNode} did. */
export interface NodePrepResult {
  /** The nf_conntrack_max kube-proxy wanted (0: leave alone). */
  conntrackMax: number;
  /** `sysctl=value` for every value written. */
  applied: string[];
  /** Non-fatal problems, each with what to do. */
  warnings: string[];
  /**
   * Whether the kernel's `nf_conntrack_tcp_be_liberal` is non-zero once the node is prepared
   * (whoever set it): the proxier then omits the INVALID drop rule. See
   * {@linkcode readTcpBeLiberal}.
   */
  tcpBeLiberal: boolean;
}

/** sysctl paths kube-proxy touches. */
export const SYSCTL = {
  conntrackMax: "net/netfilter/nf_conntrack_max",
  tcpEstablished: "net/netfilter/nf_conntrack_tcp_timeout_established",
  tcpCloseWait: "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
  tcpBeLiberal: "net/netfilter/nf_conntrack_tcp_be_liberal",
  udpTimeout: "net/netfilter/nf_conntrack_udp_timeout",
  udpStreamTimeout: "net/netfilter/nf_conntrack_udp_timeout_stream",
  routeLocalnet: "net/ipv4/conf/all/route_localnet",
  bridgeNfCallIptables: "net/bridge/bridge-nf-call-iptables",
} as const;

/** The conntrack hash size parameter (relative to /sys). */
export const HASHSIZE_PATH = "module/nf_conntrack/parameters/hashsize";

const sysFiles: Sysctl = {
  async read(path) {
    return (await Deno.readTextFile(`/sys/${path}`)).trim();
  },
  async write(path, value) {
    await Deno.writeTextFile(`/sys/${path}`, value);
  },
};

async function writeOwnOOMScoreAdj(value: number): Promise<void> {
  await Deno.writeTextFile("/proc/self/oom_score_adj", String(value));
}

/**
 * The nf_conntrack_max kube-proxy sets: `maxPerCore × CPUs`, at least `min`; 0 (leave alone) when
 * `maxPerCore` is 0.
 *
 * @param conntrack The conntrack settings.
 * @param numCPU The number of CPUs.
 * @returns The value to set, or 0.
 * @example
 * ```ts
 * conntrackMax({ maxPerCore: 32768, min: 131072 }, 2); // 131072
 * conntrackMax({ maxPerCore: 32768, min: 131072 }, 8); // 262144
 * ```
 */
export function conntrackMax(
  conntrack: Pick<ConntrackSettings, "maxPerCore" | "min">,
  numCPU: number,
): number {
  if (conntrack.maxPerCore <= 0) return 0;
  const scaled = conntrack.maxPerCore * numCPU;
  return scaled > conntrack.min ? scaled : Math.max(0, conntrack.min);
}

function isReadOnlyError(err: unknown): boolean {
  if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
    return true;
  }
  const msg = err instanceof Error ? err.message : String(err);
  return /permission denied|read-only|EACCES|EROFS|EPERM/i.test(msg);
}

/** Sets a sysctl when its value differs (upstream's setIntSysCtl / EnsureSysctl). */
async function ensureSysctl(
  sysctl: Sysctl,
  path: string,
  value: number,
  result: NodePrepResult,
): Promise<void> {
  let current: string | undefined;
  try {
    current = await sysctl.read(path);
  } catch {
    current = undefined;
  }
  if (current === String(value)) return;
  log.info("Set sysctl", { entry: path, value });
  await sysctl.write(path, String(value));
  result.applied.push(`${path}=${value}`);
}

function fatal(path: string, err: unknown, hint: string): Error {
  const reason = err instanceof Error ? err.message : String(err);
  return new Error(`Cannot set sysctl ${path}: ${reason}; ${hint}`, { cause: err });
}

/**
 * Prepares the node as upstream kube-proxy does at start-up.
 *
 * @param opts Conntrack settings, localhost NodePorts, OOM score.
 * @param deps Sysctl access and other side effects (injected in tests).
 * @returns What was set and the warnings logged.
 * @throws {Error} Where upstream fails the start-up: a conntrack timeout or tcp_be_liberal that
 *   cannot be set, or route_localnet with localhost NodePorts on.
 */
export async function prepareNode(
  opts: NodePrepOptions,
  deps: NodePrepDeps,
): Promise<NodePrepResult> {
  const result: NodePrepResult = {
    conntrackMax: 0,
    applied: [],
    warnings: [],
    tcpBeLiberal: false,
  };
  const warn = (msg: string, fields: Record<string, unknown>) => {
    log.warn(msg, fields);
    result.warnings.push(msg);
  };
  const sysctl = deps.sysctl ?? (deps.run ? execSysctl(deps.run) : procSysctl);

  if (opts.oomScoreAdj !== undefined) {
    try {
      await (deps.applyOOMScoreAdj ?? writeOwnOOMScoreAdj)(opts.oomScoreAdj);
      result.applied.push(`oom_score_adj=${opts.oomScoreAdj}`);
    } catch (err) {
      // Upstream logs this at V(2) and carries on.
      log.v(2).info("Failed to apply OOMScore", { err: String(err), value: opts.oomScoreAdj });
    }
  }

  const ct = opts.conntrack;
  const numCPU = opts.numCPU ?? navigator.hardwareConcurrency ?? 1;
  result.conntrackMax = conntrackMax(ct, numCPU);
  if (result.conntrackMax > 0) {
    await setConntrackMax(result.conntrackMax, sysctl, deps.sysfs ?? sysFiles, result, warn);
  }

  // Durations are whole seconds in the kernel; 0 leaves a value alone.
  const seconds = (ms: number) => Math.floor(ms / 1000);
  const settings: [string, number][] = [
    [SYSCTL.tcpEstablished, seconds(ct.tcpEstablishedTimeout)],
    [SYSCTL.tcpCloseWait, seconds(ct.tcpCloseWaitTimeout)],
    [SYSCTL.tcpBeLiberal, ct.tcpBeLiberal ? 1 : 0],
    [SYSCTL.udpTimeout, seconds(ct.udpTimeout)],
    [SYSCTL.udpStreamTimeout, seconds(ct.udpStreamTimeout)],
  ];
  for (const [path, value] of settings) {
    if (value <= 0) continue;
    try {
      await ensureSysctl(sysctl, path, value, result);
    } catch (err) {
      throw fatal(
        path,
        err,
        "kube-proxy needs write access to /proc/sys/net/netfilter (run it privileged), " +
          "or set the matching conntrack option to 0 to leave the kernel's value",
      );
    }
  }

  if (opts.localhostNodePorts) {
    log.info(
      "Setting route_localnet=1 to allow node-ports on localhost; to change this either disable " +
        "iptables.localhostNodePorts (--iptables-localhost-nodeports) or set nodePortAddresses " +
        "(--nodeport-addresses) to filter loopback addresses",
    );
    try {
      await ensureSysctl(sysctl, SYSCTL.routeLocalnet, 1, result);
    } catch (err) {
      throw fatal(
        SYSCTL.routeLocalnet,
        err,
        "run kube-proxy privileged, or disable iptables.localhostNodePorts",
      );
    }
  }

  result.tcpBeLiberal = await readTcpBeLiberal(sysctl);

  // Proxy needs br_netfilter and bridge-nf-call-iptables=1 when containers are connected to a
  // Linux bridge (but not SDN bridges); upstream only logs when the value is readable and not 1.
  try {
    const v = await sysctl.read(SYSCTL.bridgeNfCallIptables);
    if (v !== "1") {
      warn(
        "Missing br-netfilter module or unset sysctl br-nf-call-iptables, proxy may not work as intended",
        { hint: "load br_netfilter and set net.bridge.bridge-nf-call-iptables=1", value: v },
      );
    }
  } catch {
    log.v(2).info("Cannot read bridge-nf-call-iptables; br_netfilter is not loaded", {
      hint: "only needed when pods are attached to a Linux bridge",
    });
  }
  return result;
}

/**
 * Whether conntrack is liberal about TCP windows, as upstream's iptables proxier decides whether to
 * install `KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP`: from the kernel's
 * `nf_conntrack_tcp_be_liberal`, not from the configuration (an operator or another agent may have
 * set it). Non-zero means only out-of-window RSTs are marked INVALID, so the drop rule is not
 * needed; a value that cannot be read counts as 0 (the rule is installed).
 *
 * @param sysctl Sysctl access (of the namespace the proxier programs).
 * @returns true when the sysctl reads as a non-zero number.
 */
export async function readTcpBeLiberal(sysctl: Sysctl): Promise<boolean> {
  let value: string;
  try {
    value = await sysctl.read(SYSCTL.tcpBeLiberal);
  } catch (err) {
    log.v(2).info("Cannot read nf_conntrack_tcp_be_liberal; installing the INVALID drop rule", {
      err: String(err),
    });
    return false;
  }
  const n = Number.parseInt(value, 10);
  if (!Number.isFinite(n) || n === 0) return false;
  log.info(
    "net/netfilter/nf_conntrack_tcp_be_liberal set, not installing DROP rules for INVALID packets",
  );
  return true;
}

async function setConntrackMax(
  max: number,
  sysctl: Sysctl,
  sysfs: Sysctl,
  result: NodePrepResult,
  warn: (msg: string, fields: Record<string, unknown>) => void,
): Promise<void> {
  try {
    await ensureSysctl(sysctl, SYSCTL.conntrackMax, max, result);
  } catch (err) {
    if (!isReadOnlyError(err)) {
      throw fatal(SYSCTL.conntrackMax, err, "set conntrack.maxPerCore to 0 to leave it alone");
    }
    warn(
      "Cannot modify conntrack limits: nf_conntrack_max is read-only, problems may arise later",
      {
        wanted: max,
        hint: "the limit is global: set it from the host network namespace, or set " +
          "conntrack.maxPerCore to 0 to silence this",
        err: String(err),
      },
    );
    return;
  }
  log.info("Setting nf_conntrack_max", { nfConntrackMax: max });
  // The hash size can only be written from the initial network namespace; skip it when it is
  // already big enough (upstream: hashsize >= max/4).
  let hashsize: number;
  try {
    hashsize = Number(await sysfs.read(HASHSIZE_PATH));
  } catch (err) {
    warn("Cannot read the conntrack hash size", { err: String(err) });
    return;
  }
  if (hashsize >= Math.floor(max / 4)) return;
  try {
    log.info("Setting conntrack hashsize", { conntrackHashsize: Math.floor(max / 4) });
    await sysfs.write(HASHSIZE_PATH, String(Math.floor(max / 4)));
    result.applied.push(`${HASHSIZE_PATH}=${Math.floor(max / 4)}`);
  } catch (err) {
    warn(
      "CRI error: /sys is read-only: cannot modify conntrack limits, problems may arise later " +
        "(If running Docker, see docker issue #24000)",
      { err: String(err) },
    );
  }
}

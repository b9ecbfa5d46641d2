/**
 * A stand-in generator of kube-proxy-shaped `iptables-restore` input, written for the benchmarks
 * so that the kernel side can be measured independently of (and before) `proxy/iptables/rules.ts`.
 * It follows upstream's full-sync shapes (see /work/shared/reference/kube-proxy-iptables.md §5-8):
 * filter and nat tables, KUBE-SERVICES / KUBE-NODEPORTS / KUBE-EXT / KUBE-FW / KUBE-SVC / KUBE-SVL /
 * KUBE-SEP chains with upstream's hashed names, comments, probabilities and DNAT rules. It is not
 * the proxier's generator and is not held to its exactness; the restore benchmark also measures the
 * real one when it exists.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Endpoint, EndpointSlice, Service } from "../cache/objects.ts";
import { objectKey } from "../cache/objects.ts";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function hash16(input: string): string {
  const bytes = createHash("sha256").update(input).digest();
  let out = "";
  let bits = 0;
  let value = 0;
  for (let i = 0; i < bytes.length && out.length < 16; i++) {
    value = ((value << 8) | bytes[i]) & 0xffff;
    bits += 8;
    while (bits >= 5 && out.length < 16) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** Options of {@linkcode renderKubeShapedRestore}. */
export interface KubeShapedOptions {
  readonly nodeName: string;
  readonly clusterCIDR: string;
  /** Restore text without the comments (upstream's large-cluster mode). */
  readonly largeClusterMode?: boolean;
}

/** The rendered text plus its size. */
export interface KubeShapedRestore {
  readonly text: string;
  readonly natChains: number;
  readonly natRules: number;
  readonly filterRules: number;
}

/**
 * Renders a full-sync restore input (filter then nat) for the given trimmed cluster, in
 * upstream's chain layout and rule shapes.
 */
export function renderKubeShapedRestore(
  services: readonly Service[],
  slices: readonly EndpointSlice[],
  opts: KubeShapedOptions,
): KubeShapedRestore {
  const slicesByService = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const key = `${s.namespace}/${s.serviceName}`;
    const list = slicesByService.get(key) ?? [];
    list.push(s);
    slicesByService.set(key, list);
  }
  const cm = (c: string) => opts.largeClusterMode ? "" : ` -m comment --comment ${c}`;
  const q = (c: string) => `"${c}"`;
  const filter: string[] = [];
  const natChains: string[] = [];
  const nat: string[] = [];
  const nodePorts: string[] = [];
  for (const svc of services) {
    if (svc.headless || svc.type === "ExternalName" || svc.clusterIPs.length === 0) continue;
    const cip = svc.clusterIPs[0];
    const svcSlices = slicesByService.get(objectKey(svc)) ?? [];
    for (const port of svc.ports) {
      const name = port.name ? `${objectKey(svc)}:${port.name}` : objectKey(svc);
      const p = port.protocol.toLowerCase();
      const h = hash16(name + p);
      const eps: { ip: string; port: number; ep: Endpoint }[] = [];
      for (const sl of svcSlices) {
        const sp = sl.ports.find((x) => x.name === port.name);
        if (!sp) continue;
        for (const ep of sl.endpoints) {
          if (ep.ready) eps.push({ ip: ep.addresses[0], port: sp.port, ep });
        }
      }
      eps.sort((a, b) => `${a.ip}:${a.port}` < `${b.ip}:${b.port}` ? -1 : 1);
      const local = eps.filter((e) => e.ep.nodeName === opts.nodeName);
      const external = port.nodePort !== 0 || svc.externalIPs.length > 0 ||
        svc.loadBalancerIngress.length > 0;
      const etpLocal = external && svc.externalTrafficPolicy === "Local";
      const itpLocal = svc.internalTrafficPolicy === "Local";
      const svcChain = `KUBE-SVC-${h}`;
      const svlChain = `KUBE-SVL-${h}`;
      const extChain = `KUBE-EXT-${h}`;
      const fwChain = `KUBE-FW-${h}`;
      const match = `-m ${p} -p ${p}`;
      if (eps.length === 0) {
        filter.push(
          `-A KUBE-SERVICES${cm(q(`${name} has no endpoints`))} ${match} -d ${cip} ` +
            `--dport ${port.port} -j REJECT`,
        );
        continue;
      }
      const usesCluster = !itpLocal || external;
      const usesLocal = (itpLocal || etpLocal) && local.length > 0;
      const internal = itpLocal ? svlChain : svcChain;
      const hasInternal = !itpLocal || local.length > 0;
      if (hasInternal) {
        nat.push(
          `-A KUBE-SERVICES${cm(q(`${name} cluster IP`))} ${match} -d ${cip} ` +
            `--dport ${port.port} -j ${internal}`,
        );
      } else {
        filter.push(
          `-A KUBE-SERVICES${cm(q(`${name} has no local endpoints`))} ${match} -d ${cip} ` +
            `--dport ${port.port} -j DROP`,
        );
      }
      const usesFw = svc.loadBalancerIngress.length > 0 && svc.loadBalancerSourceRanges.length > 0;
      if (external) {
        natChains.push(extChain);
        for (const eip of svc.externalIPs) {
          nat.push(
            `-A KUBE-SERVICES${cm(q(`${name} external IP`))} ${match} -d ${eip} ` +
              `--dport ${port.port} -j ${extChain}`,
          );
        }
        for (const lb of svc.loadBalancerIngress) {
          nat.push(
            `-A KUBE-SERVICES${cm(q(`${name} loadbalancer IP`))} ${match} -d ${lb.ip} ` +
              `--dport ${port.port} -j ${usesFw ? fwChain : extChain}`,
          );
          if (usesFw) {
            filter.push(
              `-A KUBE-PROXY-FIREWALL${cm(q(`${name} traffic not accepted by ${fwChain}`))} ` +
                `${match} -d ${lb.ip} --dport ${port.port} -j DROP`,
            );
          }
        }
        if (port.nodePort !== 0) {
          nodePorts.push(
            `-A KUBE-NODEPORTS${cm(name)} ${match} --dport ${port.nodePort} -j ${extChain}`,
          );
        }
        if (etpLocal) {
          nat.push(
            `-A ${extChain}${cm(q(`pod traffic for ${name} external destinations`))} ` +
              `-s ${opts.clusterCIDR} -j ${svcChain}`,
            `-A ${extChain}${
              cm(q(`masquerade LOCAL traffic for ${name} external destinations`))
            } ` +
              `-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
            `-A ${extChain}${cm(q(`route LOCAL traffic for ${name} external destinations`))} ` +
              `-m addrtype --src-type LOCAL -j ${svcChain}`,
          );
          if (local.length > 0) nat.push(`-A ${extChain} -j ${svlChain}`);
          else {
            filter.push(
              `-A KUBE-EXTERNAL-SERVICES${cm(q(`${name} has no local endpoints`))} ` +
                `-m addrtype --dst-type LOCAL ${match} --dport ${port.nodePort} -j DROP`,
            );
          }
        } else {
          nat.push(
            `-A ${extChain}${cm(q(`masquerade traffic for ${name} external destinations`))} ` +
              `-j KUBE-MARK-MASQ`,
            `-A ${extChain} -j ${svcChain}`,
          );
        }
        if (usesFw) {
          natChains.push(fwChain);
          for (const r of svc.loadBalancerSourceRanges) {
            nat.push(`-A ${fwChain}${cm(q(`${name} loadbalancer IP`))} -s ${r} -j ${extChain}`);
          }
          nat.push(
            `-A ${fwChain}${
              cm(q(`other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL`))
            }`,
          );
        }
      }
      const sepOf = (e: { ip: string; port: number }) =>
        `KUBE-SEP-${hash16(`${name}${p}${e.ip}:${e.port}`)}`;
      const lbChain = (chain: string, list: typeof eps, masq: boolean) => {
        natChains.push(chain);
        if (masq) {
          nat.push(
            `-A ${chain}${cm(q(`${name} cluster IP`))} ${match} -d ${cip} --dport ${port.port} ` +
              `! -s ${opts.clusterCIDR} -j KUBE-MARK-MASQ`,
          );
        }
        if (svc.sessionAffinity === "ClientIP") {
          for (const e of list) {
            const sep = sepOf(e);
            nat.push(
              `-A ${chain}${cm(q(`${name} -> ${e.ip}:${e.port}`))} -m recent --name ${sep} ` +
                `--rcheck --seconds ${svc.sessionAffinityTimeoutSeconds} --reap -j ${sep}`,
            );
          }
        }
        list.forEach((e, i) => {
          const prob = i < list.length - 1
            ? ` -m statistic --mode random --probability ${(1 / (list.length - i)).toFixed(10)}`
            : "";
          nat.push(`-A ${chain}${cm(q(`${name} -> ${e.ip}:${e.port}`))}${prob} -j ${sepOf(e)}`);
        });
      };
      if (usesCluster) lbChain(svcChain, eps, !itpLocal);
      if (usesLocal) lbChain(svlChain, local, itpLocal);
      const reachable = new Set<string>();
      for (const e of usesCluster ? eps : local) {
        const sep = sepOf(e);
        if (reachable.has(sep)) continue;
        reachable.add(sep);
        natChains.push(sep);
        const affinity = svc.sessionAffinity === "ClientIP" ? ` -m recent --name ${sep} --set` : "";
        nat.push(
          `-A ${sep}${cm(name)} -s ${e.ip} -j KUBE-MARK-MASQ`,
          `-A ${sep}${cm(name)}${affinity} ${match} -j DNAT --to-destination ${e.ip}:${e.port}`,
        );
      }
    }
  }
  const filterFixed = [
    "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
    `-A KUBE-FORWARD${cm(q("kubernetes forwarding rules"))} -m mark --mark 0x4000/0x4000 -j ACCEPT`,
    `-A KUBE-FORWARD${
      cm(q("kubernetes forwarding conntrack rule"))
    } -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  ];
  const natFixed = [
    "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
    "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
    `-A KUBE-POSTROUTING${
      cm(q("kubernetes service traffic requiring SNAT"))
    } -j MASQUERADE --random-fully`,
    "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
  ];
  const lines = [
    "*filter",
    ":KUBE-SERVICES - [0:0]",
    ":KUBE-EXTERNAL-SERVICES - [0:0]",
    ":KUBE-FORWARD - [0:0]",
    ":KUBE-NODEPORTS - [0:0]",
    ":KUBE-PROXY-FIREWALL - [0:0]",
    ...filterFixed,
    ...filter,
    "COMMIT",
    "*nat",
    ":KUBE-SERVICES - [0:0]",
    ":KUBE-NODEPORTS - [0:0]",
    ":KUBE-POSTROUTING - [0:0]",
    ":KUBE-MARK-MASQ - [0:0]",
    ...natChains.map((c) => `:${c} - [0:0]`),
    ...natFixed,
    ...nat,
    ...nodePorts,
    `-A KUBE-SERVICES${
      cm(q("kubernetes service nodeports; NOTE: this must be the last rule in this chain"))
    } -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`,
    "COMMIT",
    "",
  ];
  return {
    text: lines.join("\n"),
    natChains: natChains.length + 4,
    natRules: natFixed.length + nat.length + nodePorts.length + 1,
    filterRules: filterFixed.length + filter.length,
  };
}

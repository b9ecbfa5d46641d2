/**
 * Picking one Service's rules out of a node's ruleset, for the demo's "node1's rules" step: from
 * an `iptables-save` dump (iptables mode) or an `nft list table ip kube-proxy` listing (nftables
 * mode). Text only; the demo runs the commands.
 *
 * @module
 */

/**
 * The rules of a Service in an iptables-save dump: its chains and the jumps into them.
 *
 * @param dump `iptables-save` output.
 * @param service `namespace/name`.
 * @returns the `-A ...` lines.
 */
export function rulesForService(dump: string, service: string): string[] {
  const lines = dump.split("\n");
  const chains = new Set<string>();
  for (const l of lines) {
    if (!l.includes(`"${service}`) && !l.includes(`${service}:`)) continue;
    for (const m of l.matchAll(/KUBE-(SVC|SEP|EXT|FW|SVL)-[A-Z0-9]+/g)) chains.add(m[0]);
  }
  // The service chains jump to their KUBE-SEP- chains, whose comments name the service too.
  return lines.filter((l) =>
    l.startsWith("-A ") &&
    [...chains].some((c) => l.startsWith(`-A ${c} `) || l.includes(`-j ${c}`))
  );
}

/**
 * The per-service chains of a Service in a `kube-proxy` table listing (upstream's names:
 * `<prefix><hash>-<namespace>/<name>/<proto>/<port>[__<endpoint>]`).
 *
 * @param listing `nft list table ip kube-proxy` output.
 * @param service `namespace/name`.
 * @returns the chain names, in listing order.
 */
export function nftChainsForService(listing: string, service: string): string[] {
  const re = new RegExp(
    String
      .raw`^\s*chain ((?:service|external|local|firewall|endpoint)-[A-Z2-7]{8}-${service}/\S+) \{`,
    "gm",
  );
  return [...listing.matchAll(re)].map((m) => m[1]);
}

/**
 * The map elements that dispatch to `chains` (e.g. `10.96.0.20 . tcp . 5432 : goto service-...`
 * of `service-ips`), one per line as `<map>: <element>`.
 *
 * @param listing `nft list table ip kube-proxy` output.
 * @param chains the Service's chains.
 * @returns the elements.
 */
export function nftElementsForChains(listing: string, chains: readonly string[]): string[] {
  const out: string[] = [];
  for (const m of listing.matchAll(/\bmap (\S+) \{[^}]*?elements = \{([^}]*)\}/g)) {
    for (const raw of m[2].split(",")) {
      const e = raw.trim();
      if (chains.some((c) => e.endsWith(` ${c}`))) out.push(`${m[1]}: ${e}`);
    }
  }
  return out;
}

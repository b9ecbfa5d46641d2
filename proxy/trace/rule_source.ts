/**
 * Reads what `kube-proxy trace` needs from the live node, read only: the `nat` and `filter`
 * tables through `iptables-save`/`ip6tables-save` of one backend (never a restore), the node's
 * addresses, and the interface a source address is routed through.
 *
 * The saved text is restore syntax, so it is loaded into a `FakeIptables`, the same in-memory
 * tables the packet-flow tests trace over.
 *
 * @module
 */

import type { IPFamily } from "../../cache/objects.ts";
import type { CommandRunner } from "../exec.ts";
import { FakeIptables } from "../iptables/fake.ts";
import { ExecIptables, type IptablesBackend } from "../iptables/iptables.ts";
import { canonicalIP, ipFamilyOf } from "../net.ts";

/** The rules of one family as the kernel holds them. */
export interface RuleSnapshot {
  readonly tables: FakeIptables;
  /** `iptables-nft`, `ip6tables-legacy`, ...: what was read. */
  readonly source: string;
}

/**
 * Reads the nat and filter tables of one family with `iptables-save -t <table>`.
 *
 * @param family IPv4 (iptables) or IPv6 (ip6tables).
 * @param backend nft or legacy.
 * @param run the command runner.
 * @returns the rules, loaded for tracing.
 * @throws {Error} When a save fails or its output does not parse.
 * @example
 * ```ts
 * const { tables } = await readIptablesRules("IPv4", "nft", new DenoCommandRunner());
 * ```
 */
export async function readIptablesRules(
  family: IPFamily,
  backend: IptablesBackend,
  run: CommandRunner,
): Promise<RuleSnapshot> {
  const ipt = new ExecIptables(family, backend, { run });
  const text = (await ipt.save("nat")) + "\n" + (await ipt.save("filter"));
  const tables = new FakeIptables(family, backend, { anyTarget: true });
  await tables.restore(text);
  return { tables, source: `${family === "IPv6" ? "ip6tables" : "iptables"}-${backend}` };
}

/**
 * The addresses of this host's interfaces (of the network namespace the process runs in).
 *
 * @returns the addresses, canonical, loopback included.
 */
export function localAddresses(): string[] {
  const out: string[] = [];
  for (const i of Deno.networkInterfaces()) {
    const ip = canonicalIP(i.address.split("%")[0]);
    if (ip !== undefined && !out.includes(ip)) out.push(ip);
  }
  return out;
}

/**
 * The interface this host routes `ip` through (`ip route get`), which is where a packet from
 * `ip` comes in; "" when unknown or local.
 *
 * @param ip the source address.
 * @param run the command runner.
 * @returns the interface name, or "".
 */
export async function routeInterface(ip: string, run: CommandRunner): Promise<string> {
  const family = ipFamilyOf(ip) === "IPv6" ? "-6" : "-4";
  const r = await run.run("ip", [family, "-o", "route", "get", ip]);
  if (r.code !== 0 || /^local /.test(r.stdout)) return "";
  return r.stdout.match(/ dev (\S+)/)?.[1] ?? "";
}

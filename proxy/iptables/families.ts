/**
 * Which IP families' iptables the node can use, and what its iptables binary supports: the
 * start-up probes upstream's `server_linux.go` makes before it builds the proxiers.
 *
 * @module
 */

import { log } from "../../config/log.ts";
import type { IPFamily } from "../../cache/objects.ts";
import type { CommandRunner } from "../exec.ts";
import { ExecIptables, type Iptables, type IptablesBackend } from "./iptables.ts";

/**
 * The iptables of each family this node can use, as upstream's best-effort dual stack: the
 * primary family must work; the other is added when its binary and kernel support are there
 * (IPv6 also needs `/proc/net/if_inet6`).
 *
 * @param backend nft or legacy.
 * @param primary The primary IP family (from `bindAddress`, IPv4 by default).
 * @param run Runs the probes.
 * @returns One {@linkcode Iptables} per usable family.
 * @throws Error when the primary family's iptables does not work.
 */
export async function createFamilies(
  backend: IptablesBackend,
  primary: IPFamily,
  run: CommandRunner,
): Promise<Partial<Record<IPFamily, Iptables>>> {
  const out: Partial<Record<IPFamily, Iptables>> = {};
  for (const family of ["IPv4", "IPv6"] as const) {
    const ipt = new ExecIptables(family, backend, { run });
    let usable = await ipt.present();
    if (usable && family === "IPv6") {
      const r = await run.run("test", ["-e", "/proc/net/if_inet6"]);
      usable = r.code === 0;
    }
    if (usable) out[family] = ipt;
    else if (family === primary) {
      throw new Error(
        `Cannot use iptables for the primary IP family ${family} (${backend} backend): ` +
          `${family === "IPv4" ? "iptables" : "ip6tables"} does not work on this node`,
      );
    } else {
      log.info("No iptables support for this IP family, running single-stack", {
        ipFamily: family,
      });
    }
  }
  return out;
}

/**
 * Whether `iptables --version` is at least 1.6.2, the first with MASQUERADE `--random-fully`.
 *
 * @param backend nft or legacy (which binary to ask).
 * @param run Runs `iptables-<backend> --version`.
 * @returns False also when the binary fails or prints no version.
 */
export async function supportsRandomFully(
  backend: IptablesBackend,
  run: CommandRunner,
): Promise<boolean> {
  const r = await run.run(`iptables-${backend}`, ["--version"]);
  const m = r.stdout.match(/v(\d+)\.(\d+)\.(\d+)/);
  if (r.code !== 0 || m === null) return false;
  const [major, minor, patch] = m.slice(1).map(Number);
  return major > 1 || (major === 1 && (minor > 6 || (minor === 6 && patch >= 2)));
}

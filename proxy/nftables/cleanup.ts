/**
 * Removing nftables mode's rules: delete the `kube-proxy` table of families `ip` and `ip6`, as
 * upstream's `CleanupLeftovers` does (one `delete table` transaction per family; a missing table
 * is fine). Used by `--cleanup` (with the iptables cleanup) and at start-up in iptables mode;
 * upstream's cleanup deletes the same tables, since the name and families are upstream's.
 *
 * @module
 */

import { log } from "../../config/log.ts";
import type { CommandRunner } from "../exec.ts";
import { TABLE } from "./names.ts";
import type { NftFamily } from "./transaction.ts";

/**
 * Deletes both `kube-proxy` tables.
 *
 * @param run runs `nft`.
 * @returns true when something failed (besides a missing table or a missing `nft` tool).
 * @example
 * ```ts
 * const failed = await cleanupNftables(new DenoCommandRunner());
 * ```
 */
export async function cleanupNftables(run: CommandRunner): Promise<boolean> {
  let failed = false;
  for (const family of ["ip", "ip6"] as NftFamily[]) {
    const r = await run.run("nft", ["-f", "-"], { stdin: `delete table ${family} ${TABLE}\n` });
    if (r.code === 0) {
      log.v(2).info("Deleted the nftables table", { family, table: TABLE });
    } else if (r.code === 127) {
      log.v(2).info("No nft tool: no nftables rules to remove", { family });
      return failed;
    } else if (!/No such file or directory/.test(r.stderr)) {
      log.error("Cannot delete the nftables table", undefined, {
        family,
        table: TABLE,
        stderr: r.stderr.trim(),
      });
      failed = true;
    }
  }
  return failed;
}

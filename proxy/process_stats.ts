/**
 * This process's figures for the standard `process_*` metrics, read from `/proc` as Go's
 * Prometheus process collector reads them (prom-client's own collector is written for Node's
 * `process` object; reading `/proc` directly gives the same figures under Deno without it).
 *
 * - CPU time: `utime + stime` of `/proc/self/stat`, in clock ticks (USER_HZ, 100 on Linux);
 * - start time: `starttime` of the same line (ticks since boot) plus `btime` of `/proc/stat`;
 * - virtual memory: `vsize` (bytes); resident memory: `VmRSS` of `/proc/self/status`;
 * - open descriptors: the entries of `/proc/self/fd`; the limit: the soft "Max open files" of
 *   `/proc/self/limits`.
 *
 * @module
 */

/** Clock ticks per second of the times in `/proc/<pid>/stat` (USER_HZ, fixed at 100 on Linux). */
const USER_HZ = 100;

/** One reading of the process's figures. */
export interface ProcessStats {
  /** User plus system CPU time, in seconds. */
  readonly cpuSeconds: number;
  /** Start time, seconds since the epoch. */
  readonly startTimeSeconds: number;
  /** Virtual memory size, bytes. */
  readonly virtualMemoryBytes: number;
  /** Resident memory size, bytes. */
  readonly residentMemoryBytes: number;
  /** Open file descriptors. */
  readonly openFds: number;
  /** The soft limit of open file descriptors (`Infinity` when unlimited). */
  readonly maxFds: number;
}

/** The fields of `/proc/<pid>/stat` after the command name, which may itself hold spaces. */
function statFields(stat: string): string[] {
  const close = stat.lastIndexOf(")");
  if (close < 0) throw new SyntaxError("/proc/self/stat: no command name");
  return stat.slice(close + 2).trim().split(/\s+/);
}

/**
 * Parses the figures out of the `/proc` texts.
 *
 * @param texts `stat` (`/proc/self/stat`), `status` (`/proc/self/status`), `limits`
 *   (`/proc/self/limits`), `procStat` (`/proc/stat`), and the number of open descriptors.
 * @returns The figures.
 * @throws {SyntaxError} When a text lacks a field.
 */
export function parseProcessStats(texts: {
  stat: string;
  status: string;
  limits: string;
  procStat: string;
  openFds: number;
}): ProcessStats {
  // Field numbers of proc(5), minus 3: the fields after "pid (comm) ".
  const f = statFields(texts.stat);
  const utime = Number(f[11]), stime = Number(f[12]);
  const starttime = Number(f[19]), vsize = Number(f[20]);
  const btime = Number(texts.procStat.match(/^btime\s+(\d+)/m)?.[1]);
  const rssKiB = Number(texts.status.match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1]);
  const limit = texts.limits.match(/^Max open files\s+(\S+)/m)?.[1];
  const figures = [utime, stime, starttime, vsize, btime, rssKiB];
  if (figures.some((n) => !Number.isFinite(n)) || limit === undefined) {
    throw new SyntaxError("/proc: a field of stat, status, limits or /proc/stat is missing");
  }
  return {
    cpuSeconds: (utime + stime) / USER_HZ,
    startTimeSeconds: btime + starttime / USER_HZ,
    virtualMemoryBytes: vsize,
    residentMemoryBytes: rssKiB * 1024,
    openFds: texts.openFds,
    maxFds: limit === "unlimited" ? Infinity : Number(limit),
  };
}

/**
 * Reads this process's figures from `/proc`.
 *
 * @returns The figures, or undefined where `/proc` is not mounted or readable.
 */
export function readProcessStats(): ProcessStats | undefined {
  try {
    let openFds = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) openFds++;
    return parseProcessStats({
      stat: Deno.readTextFileSync("/proc/self/stat"),
      status: Deno.readTextFileSync("/proc/self/status"),
      limits: Deno.readTextFileSync("/proc/self/limits"),
      procStat: Deno.readTextFileSync("/proc/stat"),
      // As with Go's collector, the count includes the descriptor the listing itself holds.
      openFds,
    });
  } catch {
    return undefined;
  }
}

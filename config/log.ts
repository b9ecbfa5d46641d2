/**
 * Structured logging in klog's shape, shared by every part of the proxy.
 *
 * Text lines look like upstream kube-proxy's:
 *
 *     I1121 12:00:00.000000    1234 proxier.ts:42] "Syncing iptables rules" ipFamily="IPv4"
 *
 * and `logging.format: json` gives one JSON object per line with klog's JSON keys
 * (`ts`, `caller`, `msg`, `v`, `err`, then the key/value pairs). `ts` is what component-base's
 * JSON logger writes: milliseconds since the epoch, fractional (`1764936000123.456`).
 *
 * An error is written with the messages of its `cause` chain (`outer: inner: innermost`), so a
 * wrapped system error is never lost.
 *
 * Verbosity follows klog: `log.info()` always prints, `log.v(2).info()` prints only with `--v=2` or
 * more. Warnings and errors always print. The module keeps one process-wide configuration, set by
 * `main.ts` from the flags and the config file.
 *
 * @module
 */

/** Output format, as `logging.format` in KubeProxyConfiguration. */
export type LogFormat = "text" | "json";

/** Key/value pairs attached to a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** Settings of the process-wide logger. */
export interface LogSettings {
  /** klog verbosity (`--v`); lines logged at a higher level are dropped. */
  verbosity: number;
  /** Output format. */
  format: LogFormat;
  /** Where lines go; standard error by default. Tests capture lines through this. */
  write?: (line: string) => void;
  /** Clock for timestamps, in fractional milliseconds since the epoch; the wall clock by default. */
  now?: () => number;
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // Standard error closed: nothing better to do than to drop the line.
  }
}

/** The wall clock with sub-millisecond digits (`Date.now()` has whole milliseconds only). */
function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

let settings: Required<LogSettings> = {
  verbosity: 0,
  format: "text",
  write: writeStderr,
  now: wallClockMs,
};

/**
 * Replaces the process-wide logger settings. Fields left out keep their current values.
 *
 * @param next The settings to change.
 */
export function configureLogging(next: Partial<LogSettings>): void {
  settings = { ...settings, ...next } as Required<LogSettings>;
}

/** The current verbosity. */
export function logVerbosity(): number {
  return settings.verbosity;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** The caller's `file.ts:line`, read from a stack trace (only when a line is actually written). */
function callerOf(depth: number): string {
  const stack = new Error().stack?.split("\n") ?? [];
  const frame = stack[depth + 1] ?? "";
  const match = frame.match(/([^/\\ (]+\.[jt]s):(\d+):\d+\)?$/);
  return match ? `${match[1]}:${match[2]}` : "???:0";
}

/**
 * The text of an error with its `cause` chain: each message that does not already repeat its
 * cause's, joined with `: ` (`Cannot list: Get "…": dial tcp …: connect: connection refused`).
 *
 * @param err Anything thrown.
 * @returns The text to log.
 */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  for (let e: unknown = err; e !== undefined && e !== null && !seen.has(e);) {
    seen.add(e);
    const message = e instanceof Error ? e.message : String(e);
    if (message !== "" && !parts.some((p) => p.includes(message))) parts.push(message);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(": ");
}

function quote(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof Error) return JSON.stringify(errorText(value));
  if (typeof value === "number" || typeof value === "boolean" || value === null) {
    return String(value);
  }
  if (value === undefined) return "<nil>";
  try {
    return JSON.stringify(value);
  } catch {
    return JSON.stringify(String(value));
  }
}

function emit(
  severity: "I" | "W" | "E",
  level: number,
  msg: string,
  fields: LogFields | undefined,
  err: unknown,
): void {
  const now = settings.now();
  const caller = callerOf(3);
  if (settings.format === "json") {
    const record: Record<string, unknown> = { ts: now, caller, msg };
    if (severity === "I") record.v = level;
    if (err !== undefined) record.err = errorText(err);
    for (const [k, v] of Object.entries(fields ?? {})) {
      record[k] = v instanceof Error ? errorText(v) : v;
    }
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch {
      line = JSON.stringify({ ts: now, caller, msg, err: "unserializable fields" });
    }
    settings.write(line);
    return;
  }
  const d = new Date(Math.floor(now));
  const micros = pad(Math.floor((now % 1000) * 1000), 6);
  const header = `${severity}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)} ` +
    `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.` +
    `${micros} ${String(Deno.pid).padStart(7)} ${caller}]`;
  let line = `${header} ${JSON.stringify(msg)}`;
  if (err !== undefined) line += ` err=${quote(err)}`;
  for (const [k, v] of Object.entries(fields ?? {})) line += ` ${k}=${quote(v)}`;
  settings.write(line);
}

/** A logger bound to a verbosity level, as klog's `V(n)`. */
export interface VerboseLogger {
  /** Whether lines at this level are written. */
  readonly enabled: boolean;
  /** Logs an informational line at this level. */
  info(msg: string, fields?: LogFields): void;
}

/** The process-wide logger. */
export const log = {
  /** Logs an informational line at level 0. */
  info(msg: string, fields?: LogFields): void {
    if (settings.verbosity >= 0) emit("I", 0, msg, fields, undefined);
  },
  /** Logs a warning. */
  warn(msg: string, fields?: LogFields): void {
    emit("W", 0, msg, fields, undefined);
  },
  /** Logs an error with its cause. */
  error(msg: string, err?: unknown, fields?: LogFields): void {
    emit("E", 0, msg, fields, err);
  },
  /** A logger that writes only when `--v` is at least `level`. */
  v(level: number): VerboseLogger {
    const enabled = settings.verbosity >= level;
    return {
      enabled,
      info(msg: string, fields?: LogFields): void {
        if (enabled) emit("I", level, msg, fields, undefined);
      },
    };
  },
};

/**
 * Go `time.Duration` text, as used by every duration field of `KubeProxyConfiguration`
 * (`metav1.Duration`) and by duration flags (`--iptables-sync-period=30s`).
 *
 * The configuration keeps durations as milliseconds (`number`); sub-millisecond values are
 * fractional. Parsing and formatting go through exact integer nanoseconds (`bigint`), so
 * `formatDuration(parseDuration(s))` gives Go's canonical spelling of `s`.
 *
 * @module
 */

const NANOS_PER_MILLI = 1_000_000n;
const MAX_NANOS = (1n << 63n) - 1n;

/** Nanoseconds per unit, as Go's `unitMap` (both micro signs are accepted). */
const UNITS: ReadonlyMap<string, bigint> = new Map([
  ["ns", 1n],
  ["us", 1_000n],
  ["\u00b5s", 1_000n],
  ["\u03bcs", 1_000n],
  ["ms", 1_000_000n],
  ["s", 1_000_000_000n],
  ["m", 60_000_000_000n],
  ["h", 3_600_000_000_000n],
]);

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

/**
 * Parses a Go duration string into nanoseconds, exactly as Go's `time.ParseDuration`:
 * a sign, then one or more decimal numbers each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`,
 * `h`), such as `300ms`, `-1.5h` or `2h45m`; a bare `0` is zero.
 *
 * @param text The duration text.
 * @returns The duration in nanoseconds.
 * @throws {SyntaxError} With Go's message (`time: invalid duration "x"`,
 * `time: missing unit in duration "1"`, `time: unknown unit "d" in duration "1d"`).
 * @example
 * ```ts
 * parseDurationNanos("1m30s"); // 90_000_000_000n
 * ```
 */
export function parseDurationNanos(text: string): bigint {
  const invalid = () => new SyntaxError(`time: invalid duration ${JSON.stringify(text)}`);
  let s = text;
  let neg = false;
  if (s.startsWith("-") || s.startsWith("+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") throw invalid();
  let total = 0n;
  let i = 0;
  while (i < s.length) {
    if (!(s[i] === "." || isDigit(s[i]))) throw invalid();
    const intStart = i;
    while (isDigit(s[i])) i++;
    const intDigits = s.slice(intStart, i);
    let fracDigits = "";
    if (s[i] === ".") {
      i++;
      const fracStart = i;
      while (isDigit(s[i])) i++;
      fracDigits = s.slice(fracStart, i);
    }
    if (intDigits === "" && fracDigits === "") throw invalid();
    const unitStart = i;
    while (i < s.length && s[i] !== "." && !isDigit(s[i])) i++;
    if (i === unitStart) {
      throw new SyntaxError(`time: missing unit in duration ${JSON.stringify(text)}`);
    }
    const unitText = s.slice(unitStart, i);
    const unit = UNITS.get(unitText);
    if (unit === undefined) {
      throw new SyntaxError(
        `time: unknown unit ${JSON.stringify(unitText)} in duration ${JSON.stringify(text)}`,
      );
    }
    let value = intDigits === "" ? 0n : BigInt(intDigits);
    if (value > (1n << 63n) / unit) throw invalid();
    value *= unit;
    if (fracDigits !== "") {
      // As Go's leadingFraction: accumulate digits until the value would overflow, then convert
      // through float64 ("needed to be nanosecond accurate for fractions of hours").
      let frac = 0n;
      let scale = 1;
      for (const c of fracDigits) {
        const next = frac * 10n + BigInt(c);
        if (frac > MAX_NANOS / 10n || next > 1n << 63n) break;
        frac = next;
        scale *= 10;
      }
      if (frac > 0n) {
        value += BigInt(Math.trunc(Number(frac) * (Number(unit) / scale)));
        if (value > 1n << 63n) throw invalid();
      }
    }
    total += value;
    if (total > 1n << 63n) throw invalid();
  }
  if (neg) return -total;
  if (total > MAX_NANOS) throw invalid();
  return total;
}

/**
 * Parses a Go duration string into milliseconds (fractional below one millisecond).
 *
 * @param text The duration text, such as `30s` or `1h0m0s`.
 * @returns The duration in milliseconds.
 * @throws {SyntaxError} With Go's `time.ParseDuration` message.
 * @example
 * ```ts
 * parseDuration("1.5s"); // 1500
 * ```
 */
export function parseDuration(text: string): number {
  const nanos = parseDurationNanos(text);
  const whole = nanos / NANOS_PER_MILLI;
  const rest = nanos % NANOS_PER_MILLI;
  return Number(whole) + Number(rest) / 1e6;
}

/** Writes `v / 10**prec` as a fraction (".25"), dropping trailing zeros, as Go's `fmtFrac`. */
function splitFraction(v: bigint, prec: number): [string, bigint] {
  let digits = "";
  let printed = false;
  for (let i = 0; i < prec; i++) {
    const digit = v % 10n;
    printed = printed || digit !== 0n;
    if (printed) digits = digit.toString() + digits;
    v /= 10n;
  }
  return [printed ? "." + digits : "", v];
}

/**
 * Formats nanoseconds exactly as Go's `time.Duration.String()`: `1h0m0s`, `1m30s`, `1.5s`,
 * `500ms`, `1.2µs`, `0s`.
 *
 * @param nanos The duration in nanoseconds.
 * @returns Go's canonical text for the duration.
 * @example
 * ```ts
 * formatDurationNanos(86_400_000_000_000n); // "24h0m0s"
 * ```
 */
export function formatDurationNanos(nanos: bigint): string {
  const neg = nanos < 0n;
  let u = neg ? -nanos : nanos;
  let out: string;
  if (u < 1_000_000_000n) {
    if (u === 0n) return "0s";
    let prec: number;
    let unit: string;
    if (u < 1_000n) {
      prec = 0;
      unit = "ns";
    } else if (u < 1_000_000n) {
      prec = 3;
      unit = "\u00b5s";
    } else {
      prec = 6;
      unit = "ms";
    }
    const [frac, rest] = splitFraction(u, prec);
    out = `${rest}${frac}${unit}`;
  } else {
    const [frac, seconds] = splitFraction(u, 9);
    u = seconds;
    out = `${u % 60n}${frac}s`;
    u /= 60n;
    if (u > 0n) {
      out = `${u % 60n}m${out}`;
      u /= 60n;
      if (u > 0n) out = `${u}h${out}`;
    }
  }
  return neg ? "-" + out : out;
}

/**
 * Formats milliseconds as Go's `time.Duration.String()` would format the same duration.
 *
 * @param millis The duration in milliseconds (rounded to whole nanoseconds).
 * @returns Go's canonical text, such as `30s` or `24h0m0s`.
 * @example
 * ```ts
 * formatDuration(90_000); // "1m30s"
 * ```
 */
export function formatDuration(millis: number): string {
  const whole = Math.trunc(millis);
  const nanos = BigInt(whole) * NANOS_PER_MILLI + BigInt(Math.round((millis - whole) * 1e6));
  return formatDurationNanos(nanos);
}

/**
 * Kubernetes' own syntax rules for names, as the API server applies them (apimachinery's
 * `IsDNS1123Label`, `IsDNS1123Subdomain`, `IsDNS1035Label`, `IsValidPortName`, `IsQualifiedName`,
 * `IsValidLabelValue`), for `cache/convert.ts` to check every name that reaches a rule comment,
 * an nft element or a DNS record. The proxy does not trust the API server to have validated: an
 * object whose name, namespace or port name breaks these rules is skipped at ingest.
 *
 * Each rule is a {@linkcode NameRule}: a predicate plus the words that say what it wants, for the
 * log line, and a bounded pool of the valid names seen, shared (the same namespaces, node names
 * and port names come back on every object: one check and one copy each).
 *
 * @module
 */

/** One syntax rule for a name. */
export interface NameRule {
  /** What a valid name looks like, for log lines ("a DNS-1123 label (...)"). */
  readonly what: string;
  /** Whether `s` follows the rule. */
  test(s: string): boolean;
  /**
   * `s` when it follows the rule, as one shared copy: the first valid string seen with this text
   * (the API server's JSON repeats namespaces, node names, zones and port names on every object;
   * at 100,000 endpoints the copies add up). Undefined when `s` breaks the rule.
   */
  shared(s: string): string | undefined;
}

/**
 * How many valid names a rule keeps shared. Bounded: the pool starts over when full, which loses
 * sharing (and costs one check again), never correctness.
 */
const POOL_LIMIT = 8192;

/** A rule whose valid names are remembered and shared: being in the pool means valid. */
function nameRule(what: string, check: (s: string) => boolean): NameRule {
  const pool = new Map<string, string>();
  return {
    what,
    test: check,
    shared(s: string): string | undefined {
      const known = pool.get(s);
      if (known !== undefined) return known;
      if (!check(s)) return undefined;
      if (pool.size >= POOL_LIMIT) pool.clear();
      pool.set(s, s);
      return s;
    },
  };
}

const LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const IANA_SVC_NAME_RE = /^[-a-z0-9]+$/;
const QUALIFIED_NAME_PART_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function isDNS1123Subdomain(s: string): boolean {
  return s.length <= 253 && SUBDOMAIN_RE.test(s);
}

/**
 * DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter
 * or digit. Namespaces, Service port names, EndpointSlice port names, endpoint hostnames.
 */
export const DNS1123_LABEL: NameRule = nameRule(
  "a DNS-1123 label (at most 63 of a-z, 0-9 and '-', starting and ending with a-z or 0-9)",
  (s) => s.length <= 63 && LABEL_RE.test(s),
);

/**
 * DNS-1123 subdomain: at most 253 characters, DNS-1123 labels joined by '.'. EndpointSlice and
 * Node names, endpoint node names, ExternalName targets.
 */
export const DNS1123_SUBDOMAIN: NameRule = nameRule(
  "a DNS-1123 subdomain (at most 253 of a-z, 0-9, '-' and '.', each part starting and ending with a-z or 0-9)",
  isDNS1123Subdomain,
);

/** DNS-1035 label: a DNS-1123 label that starts with a letter. Service names. */
export const DNS1035_LABEL: NameRule = nameRule(
  "a DNS-1035 label (at most 63 of a-z, 0-9 and '-', starting with a-z and ending with a-z or 0-9)",
  (s) => s.length <= 63 && DNS1035_RE.test(s),
);

/**
 * IANA service name (RFC 6335): at most 15 of a-z, 0-9 and '-', at least one letter, no '-' at
 * either end and no "--". Container port names, so a Service's `targetPort` given by name.
 */
export const IANA_SVC_NAME: NameRule = nameRule(
  "an IANA service name (at most 15 of a-z, 0-9 and '-', with a letter, no '-' at either end, no '--')",
  (s) =>
    s.length >= 1 && s.length <= 15 && IANA_SVC_NAME_RE.test(s) && /[a-z]/.test(s) &&
    !s.includes("--") && !s.startsWith("-") && !s.endsWith("-"),
);

/**
 * Qualified name: an optional DNS-1123 subdomain prefix and '/', then at most 63 of A-Z, a-z, 0-9,
 * '-', '_' and '.', starting and ending with a letter or digit. Label keys, `appProtocol`.
 */
export const QUALIFIED_NAME: NameRule = nameRule(
  "a qualified name (an optional DNS-1123 subdomain and '/', then at most 63 of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit)",
  (s) => {
    const slash = s.indexOf("/");
    const name = slash < 0 ? s : s.slice(slash + 1);
    if (slash >= 0) {
      const prefix = s.slice(0, slash);
      if (prefix === "" || !isDNS1123Subdomain(prefix)) return false;
    }
    return name.length <= 63 && QUALIFIED_NAME_PART_RE.test(name);
  },
);

function isLabelValue(s: string): boolean {
  return s.length <= 63 && LABEL_VALUE_RE.test(s);
}

/** Label value: empty, or at most 63 of A-Z, a-z, 0-9, '-', '_' and '.', alphanumeric at both ends. */
export const LABEL_VALUE: NameRule = nameRule(
  "a label value (empty, or at most 63 of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit)",
  isLabelValue,
);

const SHOWN_LIMIT = 64;

/**
 * A value as a log line shows it: JSON, cut to 64 characters, so that a megabyte-long name does
 * not become a megabyte-long log line (the logger escapes quotes and newlines).
 *
 * @param value Any value from an API object.
 * @returns its JSON text (or `undefined`), shortened with "..." when long.
 */
export function shown(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length <= SHOWN_LIMIT ? text : `${text.slice(0, SHOWN_LIMIT)}...`;
}

/** A field that breaks a rule: its path in the object and what is wrong. */
export interface FieldProblem {
  /** Path as the API server's errors give it: `metadata.labels`, `spec.ports[1].name`. */
  readonly field: string;
  readonly problem: string;
}

/**
 * Checks a name against a rule.
 *
 * @param value The field's value (anything: the raw JSON).
 * @param rule The rule it must follow.
 * @returns undefined when `value` is a string that follows the rule, else what is wrong.
 */
export function nameProblem(value: unknown, rule: NameRule): string | undefined {
  if (typeof value !== "string") return `not a string: ${shown(value)}`;
  return rule.test(value) ? undefined : `invalid ${shown(value)}: must be ${rule.what}`;
}

/**
 * Checks `metadata.labels` as the API server does: a map of qualified-name keys to label values.
 *
 * @param labels The raw `metadata.labels` (undefined and null are an empty map).
 * @returns undefined when valid, else the first problem found.
 */
export function labelsProblem(labels: unknown): FieldProblem | undefined {
  if (labels === undefined || labels === null) return undefined;
  if (typeof labels !== "object" || Array.isArray(labels)) {
    return { field: "metadata.labels", problem: `not a map: ${shown(labels)}` };
  }
  for (const key in labels) {
    if (!Object.hasOwn(labels, key)) continue;
    const value = (labels as Record<string, unknown>)[key];
    if (QUALIFIED_NAME.shared(key) === undefined) {
      return {
        field: "metadata.labels",
        problem: `invalid key ${shown(key)}: must be ${QUALIFIED_NAME.what}`,
      };
    }
    // Not through LABEL_VALUE's pool: label values are often the object's own name.
    if (typeof value !== "string" || !isLabelValue(value)) {
      return { field: `metadata.labels[${shown(key)}]`, problem: nameProblem(value, LABEL_VALUE)! };
    }
  }
  return undefined;
}

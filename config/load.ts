/**
 * Reads and writes the configuration file: a multi-document YAML file holding one
 * `KubeProxyConfiguration` (upstream's v1alpha1) and at most one `ClusterDNSConfiguration`
 * (ours). The only importer of the `yaml` package.
 *
 * Decoding follows upstream's two passes: an unknown field is not an error but is reported in
 * `unknownFields` (path and line) so that the caller warns about each one and starts, as
 * upstream's lenient fallback does (a config written by a newer kubeadm must not stop a
 * rollout). A duplicate field, a value of the wrong type, a malformed duration, a wrong
 * `apiVersion` or `kind`, an empty file, invalid YAML or a file that is not UTF-8
 * ({@linkcode readConfigFile}) are errors, reported together as one `ConfigError` whose problems
 * name the field and the line. A value quoted in a message is cut short and escaped
 * ({@linkcode excerpt}), so that a file of binary garbage is described, never echoed.
 *
 * YAML is read with the YAML 1.1 schema, as upstream's `sigs.k8s.io/yaml` does (`yes`/`no`/`on`/
 * `off` are booleans), and a number or boolean given for a string field is taken as its text
 * (`showHiddenMetricsForVersion: 1.30` is `"1.3"`, as upstream).
 *
 * @module
 */

import {
  Document,
  type DocumentOptions,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node as YamlNode,
  parseAllDocuments,
  type ParseOptions,
  type SchemaOptions,
  stringify,
  type Tags,
} from "yaml";
import { ConfigError, type ConfigProblem } from "./config_error.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { appendPortIfNeeded, isIPv6String } from "./ip.ts";
import {
  CLUSTER_DNS_FIELDS,
  type FieldSpec,
  isQuantity,
  KUBE_PROXY_FIELDS,
  QUANTITY_FORMAT_MESSAGE,
  type ScalarSpec,
} from "./schema.ts";
import {
  CLUSTER_DNS_API_VERSION,
  CLUSTER_DNS_KIND,
  type ClusterDNSConfiguration,
  KUBE_PROXY_API_VERSION,
  KUBE_PROXY_KIND,
  type KubeProxyConfiguration,
} from "./types.ts";

/** Both documents of a configuration file, fully defaulted. */
export interface LoadedConfig {
  /** The kube-proxy document. */
  readonly config: KubeProxyConfiguration;
  /** The DNS document (all defaults when the file has none). */
  readonly dns: ClusterDNSConfiguration;
  /**
   * The fields the file sets that this build does not know, ignored, each with its path and
   * line (`KubeProxyConfiguration.iptables.newField (line 7)`), in file order.
   */
  readonly unknownFields: readonly string[];
}

/** Longest excerpt of a value in a message, in characters of the escaped text. */
const EXCERPT_MAX = 48;

/**
 * Text made safe for a message: every character outside printable ASCII escaped (`\u001b`) as
 * in a JSON string, and cut after `max` characters of the escaped text.
 */
function escapeText(value: string, max: number): { text: string; cut: boolean } {
  let text = "";
  for (const c of value) {
    const escaped = JSON.stringify(c).slice(1, -1).replace(
      /[^\x20-\x7e]/g,
      (u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
    if (text.length + escaped.length > max) return { text, cut: true };
    text += escaped;
  }
  return { text, cut: false };
}

/**
 * A value as a message quotes it: JSON-quoted, every character outside printable ASCII escaped
 * (`\u001b`), and cut after 48 characters of that with the full length said, so that binary
 * garbage cannot reach a terminal or flood a log.
 *
 * @param value The text to quote.
 * @returns e.g. `"ipvs"`, or `"\u0000\u00ff..." (3000 characters)`.
 */
export function excerpt(value: string): string {
  const { text, cut } = escapeText(value, EXCERPT_MAX);
  return cut ? `"${text}..." (${[...value].length} characters)` : `"${text}"`;
}

/** Text shown unquoted in a message (a parser's message, an unknown kind), escaped and cut. */
function unquoted(value: string, max = EXCERPT_MAX): string {
  const { text, cut } = escapeText(value, max);
  return cut ? `${text}...` : text;
}

/**
 * Reads a configuration file as UTF-8, as upstream's YAML reader requires it.
 *
 * @param path The `--config` path.
 * @returns The text.
 * @throws {ConfigError} `not valid UTF-8 at byte N` when it is not UTF-8 (nothing of it quoted).
 * @throws {Error} The read error (missing file, permissions).
 */
export async function readConfigFile(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError([{
      path,
      message: `not valid UTF-8 at byte ${firstInvalidUtf8(bytes)} ` +
        `(${bytes.length} bytes); expected a YAML ${KUBE_PROXY_KIND} document`,
    }]);
  }
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const strict = new TextDecoder("utf-8", { fatal: true });
  // A sequence is at most 4 bytes: grow the valid prefix until a decode of it fails.
  let lo = 0;
  while (lo < bytes.length) {
    const lead = bytes[lo];
    const length = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 0;
    if (length === 0 || lo + length > bytes.length) return lo;
    try {
      strict.decode(bytes.subarray(lo, lo + length));
    } catch {
      return lo;
    }
    lo += length;
  }
  return lo;
}

/** Options of {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /** Name of the file, used as the path of file-level problems. Default `config`. */
  readonly source?: string;
}

/** Upstream's `ports.ProxyHealthzPort`. */
export const DEFAULT_HEALTHZ_PORT = 10256;
/** Upstream's `ports.ProxyStatusPort` (metrics). */
export const DEFAULT_METRICS_PORT = 10249;

type Json = Record<string, unknown>;

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;

const PARSE_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: "1.1",
  uniqueKeys: false,
  // Timestamps stay strings: no field of either document is a timestamp.
  customTags: (tags: Tags) =>
    tags.filter((t) =>
      typeof t === "string" ? t !== "timestamp" : t.tag !== "tag:yaml.org,2002:timestamp"
    ),
};

/** Walks one YAML document against a field table, collecting problems. */
class Decoder {
  #doc: Document.Parsed;
  #lines: LineCounter;
  #problems: { line: number; problem: ConfigProblem }[] = [];
  #unknown: { line: number; text: string }[] = [];

  constructor(doc: Document.Parsed, lines: LineCounter) {
    this.#doc = doc;
    this.#lines = lines;
  }

  /** The problems found so far, in file order. */
  problems(): ConfigProblem[] {
    return this.#problems.sort((a, b) => a.line - b.line).map((p) => p.problem);
  }

  /** The unknown fields found so far, in file order (`path (line N)`). */
  unknownFields(): string[] {
    return this.#unknown.sort((a, b) => a.line - b.line).map((u) => u.text);
  }

  /** Records a field this build does not know: ignored, for the caller to warn about. */
  unknownField(path: string, node: unknown): void {
    const line = this.line(node);
    this.#unknown.push({
      line: line ?? 0,
      text: line === undefined ? path : `${path} (line ${line})`,
    });
  }

  /** Line of a node, for messages. */
  line(node: unknown): number | undefined {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? this.#lines.linePos(range[0]).line : undefined;
  }

  problem(path: string, message: string, node: unknown): void {
    const line = this.line(node);
    this.#problems.push({
      line: line ?? 0,
      problem: { path, message: line === undefined ? message : `${message} (line ${line})` },
    });
  }

  /** Follows aliases; undefined for a missing value or an explicit null. */
  resolve(node: unknown): YamlNode | undefined {
    let n = node as YamlNode | null | undefined;
    while (n && isAlias(n)) n = n.resolve(this.#doc) as YamlNode | undefined;
    if (!n) return undefined;
    if (isScalar(n) && n.value === null) return undefined;
    return n;
  }

  /** Decodes a mapping against `fields`, defaulting every field. */
  decodeObject(
    node: YamlNode | undefined,
    fields: readonly FieldSpec[],
    path: string,
    root = false,
  ): Json {
    const present = new Map<string, YamlNode | undefined>();
    if (node !== undefined) {
      if (!isMap(node)) {
        this.problem(path, `cannot unmarshal ${describe(node)} into an object`, node);
      } else {
        const known = new Set(fields.map((f) => f.json));
        // YAML 1.1 merge keys (`<<: *anchor`), which upstream's YAML reader expands: the
        // merged mappings fill in only the fields the mapping does not set itself.
        const merged: YamlNode[] = [];
        for (const pair of node.items) {
          const keyNode = this.resolve(pair.key);
          if (keyNode && isScalar(keyNode) && typeof keyNode.value === "symbol") {
            const value = this.resolve(pair.value);
            const sources = value && isSeq(value)
              ? value.items.map((item) => this.resolve(item))
              : [value];
            for (const source of sources) {
              if (source && isMap(source)) merged.push(source);
              else {
                this.problem(
                  path,
                  "a merge key (<<) needs a mapping or a list of them",
                  source ?? keyNode,
                );
              }
            }
            continue;
          }
          const key = keyNode && isScalar(keyNode) ? String(keyNode.value) : undefined;
          if (key === undefined) {
            this.problem(path, "field names must be strings", pair.key ?? node);
            continue;
          }
          const where = path ? `${path}.${key}` : key;
          if (!known.has(key)) {
            if (!(root && (key === "apiVersion" || key === "kind"))) {
              this.unknownField(path ? `${path}.${excerptKey(key)}` : excerptKey(key), keyNode);
            }
            continue;
          }
          if (present.has(key)) {
            this.problem(where, `duplicate field ${excerpt(key)}`, keyNode);
            continue;
          }
          present.set(key, this.resolve(pair.value));
        }
        for (const source of merged) {
          if (!isMap(source)) continue;
          for (const pair of source.items) {
            const keyNode = this.resolve(pair.key);
            const key = keyNode && isScalar(keyNode) ? String(keyNode.value) : undefined;
            if (key === undefined || present.has(key)) continue;
            if (!known.has(key)) {
              this.unknownField(path ? `${path}.${excerptKey(key)}` : excerptKey(key), keyNode);
              continue;
            }
            present.set(key, this.resolve(pair.value));
          }
        }
      }
    }
    const out: Json = {};
    for (const field of fields) {
      const where = path ? `${path}.${field.json}` : field.json;
      out[field.json] = this.decodeField(present.get(field.json), field, where);
    }
    return out;
  }

  decodeField(node: YamlNode | undefined, field: FieldSpec, path: string): unknown {
    switch (field.kind) {
      case "object":
        return this.decodeObject(node, field.fields, path);
      case "objectList": {
        if (node === undefined) return [];
        if (!isSeq(node)) {
          this.problem(path, `cannot unmarshal ${describe(node)} into a list`, node);
          return [];
        }
        return node.items.map((item, i) =>
          this.decodeObject(this.resolve(item), field.fields, `${path}[${i}]`)
        );
      }
      case "stringList": {
        if (node === undefined) return field.nullable ? null : [];
        if (!isSeq(node)) {
          this.problem(path, `cannot unmarshal ${describe(node)} into a list of strings`, node);
          return field.nullable ? null : [];
        }
        const out: string[] = [];
        node.items.forEach((item, i) => {
          const text = this.decodeString(this.resolve(item), `${path}[${i}]`);
          if (text !== undefined) out.push(text);
        });
        return out;
      }
      case "boolMap": {
        const out: Record<string, boolean> = {};
        if (node === undefined) return out;
        if (!isMap(node)) {
          this.problem(path, `cannot unmarshal ${describe(node)} into map[string]bool`, node);
          return out;
        }
        for (const pair of node.items) {
          const keyNode = this.resolve(pair.key);
          const key = keyNode && isScalar(keyNode) ? String(keyNode.value) : "";
          const value = this.resolve(pair.value);
          if (Object.hasOwn(out, key)) {
            this.problem(`${path}.${key}`, `duplicate field ${JSON.stringify(key)}`, keyNode);
          } else if (value && isScalar(value) && typeof value.value === "boolean") {
            out[key] = value.value;
          } else {
            this.problem(`${path}.${key}`, `cannot unmarshal ${describe(value)} into bool`, value);
          }
        }
        return out;
      }
      default:
        return this.decodeScalar(node, field, path);
    }
  }

  decodeString(node: YamlNode | undefined, path: string): string | undefined {
    if (node === undefined) return undefined;
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === "string") return v;
      if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") {
        return String(v);
      }
    }
    this.problem(path, `cannot unmarshal ${describe(node)} into string`, node);
    return undefined;
  }

  decodeScalar(node: YamlNode | undefined, field: ScalarSpec, path: string): unknown {
    const value = this.convertScalar(node, field, path);
    if (value === undefined || (!field.pointer && isZero(value))) {
      return field.def ?? zeroOf(field);
    }
    return value;
  }

  /** The field's value from YAML, or undefined when absent, null or wrong. */
  convertScalar(node: YamlNode | undefined, field: ScalarSpec, path: string): unknown {
    if (node === undefined) return undefined;
    if (field.kind === "string") return this.decodeString(node, path);
    const v = isScalar(node) ? node.value : undefined;
    const bad = (type: string) => {
      this.problem(path, `cannot unmarshal ${describe(node)} into ${type}`, node);
      return undefined;
    };
    switch (field.kind) {
      case "bool":
        return typeof v === "boolean" ? v : bad("bool");
      case "int32":
        return typeof v === "number" && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX
          ? v
          : bad("int32");
      case "uint32":
        return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= UINT32_MAX
          ? v
          : bad("uint32");
      case "float32":
        return typeof v === "number" && Number.isFinite(v) ? v : bad("float32");
      case "duration":
      case "timeOrDuration": {
        if (field.kind === "timeOrDuration" && typeof v === "number" && Number.isInteger(v)) {
          return v / 1e6; // integer nanoseconds, as component-base's TimeOrMetaDuration
        }
        if (typeof v !== "string") return bad('a duration (a string such as "30s")');
        try {
          return parseDuration(v);
        } catch (err) {
          this.problem(path, (err as Error).message, node);
          return undefined;
        }
      }
      case "quantity": {
        const text = typeof v === "number" ? String(v) : v;
        if (typeof text !== "string") return bad("a quantity");
        if (!isQuantity(text)) {
          this.problem(path, `${QUANTITY_FORMAT_MESSAGE}, got ${JSON.stringify(text)}`, node);
          return undefined;
        }
        return text;
      }
    }
  }
}

/** A field name for a path: as it is when plain, else as an {@linkcode excerpt}. */
function excerptKey(key: string): string {
  return /^[\w.-]{1,64}$/.test(key) ? key : excerpt(key);
}

function describe(node: unknown): string {
  if (node === undefined || node === null) return "null";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    if (typeof v === "string") return `string ${excerpt(v)}`;
    if (typeof v === "number") return `number ${v}`;
    if (typeof v === "boolean") return `bool ${v}`;
    if (v === null) return "null";
  }
  return "a value of an unsupported type";
}

function isZero(value: unknown): boolean {
  return value === "" || value === 0 || value === false;
}

function zeroOf(field: ScalarSpec): unknown {
  switch (field.kind) {
    case "string":
    case "quantity":
      return "";
    case "bool":
      return false;
    default:
      return 0;
  }
}

/** Upstream's defaulting of the two listen addresses, which depend on `bindAddress`. */
function defaultBindAddresses(raw: Json): void {
  const v6 = isIPv6String(raw.bindAddress as string);
  const healthz = raw.healthzBindAddress as string;
  const metrics = raw.metricsBindAddress as string;
  raw.healthzBindAddress = healthz === ""
    ? `${v6 ? "[::]" : "0.0.0.0"}:${DEFAULT_HEALTHZ_PORT}`
    : appendPortIfNeeded(healthz, DEFAULT_HEALTHZ_PORT);
  raw.metricsBindAddress = metrics === ""
    ? `${v6 ? "[::1]" : "127.0.0.1"}:${DEFAULT_METRICS_PORT}`
    : appendPortIfNeeded(metrics, DEFAULT_METRICS_PORT);
}

function scalarText(decoder: Decoder, node: unknown, path: string): string | undefined {
  const resolved = decoder.resolve(node);
  if (resolved === undefined) return undefined;
  return decoder.decodeString(resolved, path);
}

/**
 * Decodes, strictly, a configuration file's text into both documents and applies upstream's
 * defaults (and ours for the DNS document). Empty documents (a stray `---`) are skipped.
 *
 * @param text The file's content.
 * @param options Where the text came from, for messages.
 * @returns Both documents, fully defaulted (not yet validated: see `validateConfig`).
 * @throws {ConfigError} With every decoding problem found.
 * @example
 * ```ts
 * const { config } = loadConfig("apiVersion: kubeproxy.config.k8s.io/v1alpha1\n" +
 *   "kind: KubeProxyConfiguration\nmode: iptables\n");
 * config.iptables.syncPeriod; // 30000
 * ```
 */
export function loadConfig(text: string, options: LoadConfigOptions = {}): LoadedConfig {
  const source = options.source ?? "config";
  const problems: ConfigProblem[] = [];
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { ...PARSE_OPTIONS, lineCounter: lines });
  const found: Record<string, Json> = {};
  const unknownFields: string[] = [];
  let seen = 0;
  for (const doc of Array.isArray(docs) ? docs : []) {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const pos = err.linePos?.[0];
        const where = pos ? ` at line ${pos.line}, column ${pos.col}` : "";
        const first = err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
        problems.push({
          path: source,
          message: `invalid YAML${where}: ${unquoted(first, 160)}`,
        });
      }
      seen++;
      continue;
    }
    const decoder = new Decoder(doc, lines);
    const root = decoder.resolve(doc.contents);
    if (root === undefined) continue; // an empty document, such as a trailing `---`
    seen++;
    decodeDocument(decoder, root, source, found);
    problems.push(...decoder.problems());
    unknownFields.push(...decoder.unknownFields());
  }
  if (seen === 0) {
    problems.push({
      path: source,
      message: `the file is empty; expected a ${KUBE_PROXY_KIND} document`,
    });
  } else if (found[KUBE_PROXY_KIND] === undefined && problems.length === 0) {
    problems.push({ path: source, message: `no ${KUBE_PROXY_KIND} document in the file` });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    config: finishKubeProxy(found[KUBE_PROXY_KIND]),
    dns: found[CLUSTER_DNS_KIND] !== undefined
      ? found[CLUSTER_DNS_KIND] as unknown as ClusterDNSConfiguration
      : absentDns(),
    unknownFields,
  };
}

/** The DNS document of a file without one: every default, but off (port 53 only when asked). */
function absentDns(): ClusterDNSConfiguration {
  return {
    ...decodeEmpty(CLUSTER_DNS_FIELDS),
    enabled: false,
  } as unknown as ClusterDNSConfiguration;
}

/** Decodes one non-empty document into `found[kind]`, recording problems on the decoder. */
function decodeDocument(
  decoder: Decoder,
  root: YamlNode,
  source: string,
  found: Record<string, Json>,
): void {
  if (!isMap(root)) {
    decoder.problem(source, `not a YAML mapping: the document is ${describe(root)}`, root);
    return;
  }
  const apiVersion = scalarText(decoder, root.get("apiVersion", true), "apiVersion");
  const kind = scalarText(decoder, root.get("kind", true), "kind");
  if (!kind || !apiVersion) {
    decoder.problem(
      source,
      `Object 'Kind' or 'apiVersion' is missing; expected apiVersion ` +
        `${KUBE_PROXY_API_VERSION}, kind ${KUBE_PROXY_KIND} (or apiVersion ` +
        `${CLUSTER_DNS_API_VERSION}, kind ${CLUSTER_DNS_KIND})`,
      root,
    );
    return;
  }
  const known: Record<string, [string, readonly FieldSpec[]]> = {
    [KUBE_PROXY_KIND]: [KUBE_PROXY_API_VERSION, KUBE_PROXY_FIELDS],
    [CLUSTER_DNS_KIND]: [CLUSTER_DNS_API_VERSION, CLUSTER_DNS_FIELDS],
  };
  const entry = Object.hasOwn(known, kind) ? known[kind] : undefined;
  if (!entry) {
    decoder.problem(
      `${excerptKey(kind)}.kind`,
      `got unexpected config type: ${unquoted(apiVersion)}, Kind=${unquoted(kind)}; ` +
        `expected ${KUBE_PROXY_KIND} or ${CLUSTER_DNS_KIND}`,
      root.get("kind", true),
    );
    return;
  }
  const [wantVersion, fields] = entry;
  // (kind is known from here on: it is safe in paths and messages.)
  if (apiVersion !== wantVersion) {
    decoder.problem(
      `${kind}.apiVersion`,
      `unsupported apiVersion ${excerpt(apiVersion)} for kind ${kind}; ` +
        `this build reads ${wantVersion}`,
      root.get("apiVersion", true),
    );
    return;
  }
  if (found[kind] !== undefined) {
    decoder.problem(source, `more than one ${kind} document`, root);
    return;
  }
  found[kind] = decoder.decodeObject(root, fields, kind, true);
}

function finishKubeProxy(raw: Json): KubeProxyConfiguration {
  defaultBindAddresses(raw);
  return raw as unknown as KubeProxyConfiguration;
}

function decodeEmpty(fields: readonly FieldSpec[]): Json {
  const doc = new Document({}) as unknown as Document.Parsed;
  return new Decoder(doc, new LineCounter()).decodeObject(undefined, fields, "");
}

/**
 * Upstream's defaulted `KubeProxyConfiguration` (the result of defaulting an empty document)
 * and the DNS defaults of a file without the DNS document (disabled).
 *
 * @returns Fresh default documents.
 */
export function defaultConfig(): LoadedConfig {
  const raw = decodeEmpty(KUBE_PROXY_FIELDS);
  return {
    config: finishKubeProxy(raw),
    dns: absentDns(),
    unknownFields: [],
  };
}

/** Builds the YAML value of a document from the field table, keys sorted as upstream writes. */
function encodeObject(value: Json, fields: readonly FieldSpec[]): Json {
  const out: Json = {};
  const sorted = [...fields].sort((a, b) => (a.json < b.json ? -1 : a.json > b.json ? 1 : 0));
  for (const field of sorted) {
    const v = value[field.json];
    switch (field.kind) {
      case "object":
        out[field.json] = encodeObject(v as Json, field.fields);
        break;
      case "objectList":
        if ((v as Json[]).length > 0) {
          out[field.json] = (v as Json[]).map((item) => encodeObject(item, field.fields));
        }
        break;
      case "boolMap":
        if (!field.omitEmpty || Object.keys(v as Json).length > 0) {
          out[field.json] = Object.fromEntries(
            Object.entries(v as Json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
          );
        }
        break;
      case "stringList":
        out[field.json] = v === null ? null : [...(v as string[])];
        break;
      case "duration":
      case "timeOrDuration":
        out[field.json] = formatDuration(v as number);
        break;
      default:
        if (!(field.omitEmpty && isZero(v))) out[field.json] = v;
    }
  }
  return out;
}

function renderDocument(apiVersion: string, kind: string, body: Json): string {
  const withEnvelope = Object.fromEntries(
    Object.entries({ ...body, apiVersion, kind }).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  return stringify(withEnvelope, {
    version: "1.1",
    indentSeq: false,
    lineWidth: 0,
    nullStr: "null",
  });
}

/**
 * Renders both documents as the YAML `--write-config-to` writes: fully defaulted, keys in
 * upstream's (sorted) order, durations as Go strings. Loading the result gives the same values.
 *
 * The DNS document is written only when DNS is enabled: without it the file is one upstream
 * kube-proxy reads too, and loading it gives DNS disabled again.
 *
 * @param config The kube-proxy document.
 * @param dns The DNS document.
 * @returns The file's text: the kube-proxy document, then `---` and the DNS document if enabled.
 */
export function renderConfig(config: KubeProxyConfiguration, dns: ClusterDNSConfiguration): string {
  const kubeProxy = encodeObject(config as unknown as Json, KUBE_PROXY_FIELDS);
  const text = renderDocument(KUBE_PROXY_API_VERSION, KUBE_PROXY_KIND, kubeProxy);
  if (!dns.enabled) return text;
  const clusterDns = encodeObject(dns as unknown as Json, CLUSTER_DNS_FIELDS);
  return text + "---\n" + renderDocument(CLUSTER_DNS_API_VERSION, CLUSTER_DNS_KIND, clusterDns);
}

/**
 * Parses a YAML stream (documents separated by `---`; JSON is YAML too) with the plain YAML 1.2
 * core schema into JSON values, one per document, for the project's other YAML readers
 * (kubeconfigs, test manifests), so that this file stays the only importer of the `yaml` package.
 * Duplicate keys are errors.
 *
 * @param text The YAML text.
 * @returns One value per document (an empty or comment-only stream has none).
 * @throws {SyntaxError} with the first YAML error's message (which names line and column).
 * @example
 * ```ts
 * parseYamlDocuments("a: 1\n---\nb: 2\n"); // [{ a: 1 }, { b: 2 }]
 * ```
 */
export function parseYamlDocuments(text: string): unknown[] {
  const values: unknown[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new SyntaxError(doc.errors[0].message);
    values.push(doc.toJSON());
  }
  return values;
}

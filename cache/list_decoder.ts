/**
 * Streaming decoder of a Kubernetes list response (`{"kind":..., "metadata":{...},
 * "items":[...]}`): hands each item to a callback as soon as its JSON text is complete, so that a
 * list of 10,000 EndpointSlices never exists as one 100 MB tree of parsed objects. Only one raw
 * item (plus the bytes of the current chunk) is alive at a time.
 *
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

/** What a list response carried besides its items. */
export interface ListEnvelope {
  /** Every top-level field except `items` (parsed). */
  // deno-lint-ignore no-explicit-any
  readonly fields: Record<string, any>;
  /** Number of items handed to the callback. */
  readonly itemCount: number;
}

/**
 * Decodes a list response from a byte stream.
 *
 * @param body The response body.
 * @param onItem Called with each parsed item, in order.
 * @param signal Cancels the body (an aborted fetch does not always end a pending body read).
 * @returns the other top-level fields and the number of items.
 * @throws {SyntaxError} when the body is not a JSON object.
 */
export async function decodeList(
  body: ReadableStream<Uint8Array>,
  onItem: (item: unknown) => void,
  signal?: AbortSignal,
): Promise<ListEnvelope> {
  const decoder = new TextDecoder();
  const fields: Record<string, unknown> = {};
  let itemCount = 0;
  let depth = 0; // open containers around the scan position
  let inString = false;
  let escaped = false;
  let expectKey = true; // at depth 1: the next string is a key
  let key: string | undefined; // the current top-level key
  let inItems = false; // inside the top-level "items" array (depth 2)
  let collecting = false; // collecting the bytes of a key, field value or item
  let mode: "key" | "field" | "item" = "key";
  let parts: Uint8Array[] = [];
  let segStart = 0;

  const begin = (i: number) => {
    collecting = true;
    parts = [];
    segStart = i;
    mode = inItems ? "item" : expectKey ? "key" : "field";
  };
  const finish = (chunk: Uint8Array, end: number) => {
    parts.push(chunk.subarray(segStart, end));
    collecting = false;
    let bytes = parts[0];
    if (parts.length > 1) {
      bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let off = 0;
      for (const p of parts) {
        bytes.set(p, off);
        off += p.length;
      }
    }
    parts = [];
    const value = JSON.parse(decoder.decode(bytes));
    if (mode === "item") {
      onItem(value);
      itemCount++;
    } else if (mode === "key") {
      key = value;
    } else if (key !== undefined) {
      fields[key] = value;
    }
  };

  const reader = body.getReader();
  const cancel = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  // The abort may have come while the response was arriving: then the listener never fires.
  if (signal?.aborted) cancel();
  try {
    while (true) {
      const { value: chunk, done } = await reader.read();
      if (done) break;
      signal?.throwIfAborted();
      scan(chunk);
    }
    signal?.throwIfAborted();
  } finally {
    signal?.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
  if (depth !== 0 || inString) throw new SyntaxError("Cannot decode list: body ended early");
  return { fields, itemCount };

  function scan(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      const base = inItems ? 2 : 1;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) {
          inString = false;
          if (collecting && depth === base) finish(chunk, i + 1);
        }
        continue;
      }
      if (c <= 0x20) continue;
      if (depth === 0) {
        if (c !== OPEN_BRACE) throw new SyntaxError("Cannot decode list: body is not an object");
        depth = 1;
        continue;
      }
      switch (c) {
        case QUOTE:
          inString = true;
          if (!collecting && depth === base) begin(i);
          break;
        case OPEN_BRACE:
        case OPEN_BRACKET:
          if (
            depth === 1 && !collecting && !expectKey && key === "items" && c === OPEN_BRACKET
          ) {
            inItems = true;
            depth = 2;
            break;
          }
          if (!collecting && depth === base) begin(i);
          depth++;
          break;
        case CLOSE_BRACE:
        case CLOSE_BRACKET:
          if (collecting && depth === base) finish(chunk, i); // a scalar ends
          if (inItems && depth === 2) {
            inItems = false;
            depth = 1;
            key = undefined;
          } else {
            depth--;
            if (collecting && depth === base) finish(chunk, i + 1); // a container ends
          }
          break;
        case COMMA:
          if (collecting && depth === base) finish(chunk, i);
          if (depth === 1) expectKey = true;
          break;
        case COLON:
          if (depth === 1) expectKey = false;
          break;
        default:
          if (!collecting && depth === base && !(depth === 1 && expectKey)) begin(i);
      }
    }
    if (collecting) {
      parts.push(chunk.subarray(segStart));
      segStart = 0;
    }
  }
}

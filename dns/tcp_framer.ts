/**
 * Splits a DNS-over-TCP byte stream into messages.
 *
 * @module
 */

/**
 * Reassembles DNS messages from a TCP stream: each is preceded by its length as two bytes,
 * network order (RFC 1035 section 4.2.2, RFC 7766 section 8).
 *
 * Why: a message may arrive in any number of reads, down to a byte at a time. Appending each
 * read to everything buffered so far copies quadratically (a 64 KB message sent one byte at a
 * time costs about 2 GB of copying). Instead, once the length prefix is complete, the message
 * gets one buffer of exactly that length and every read is copied into it once.
 *
 * @example
 * ```ts
 * const framer = new TcpMessageFramer();
 * framer.push(Uint8Array.of(0, 2, 0xab)); // []
 * framer.push(Uint8Array.of(0xcd)); // [Uint8Array [0xab, 0xcd]]
 * ```
 */
export class TcpMessageFramer {
  #prefix = 0;
  #prefixBytes = 0;
  #message: Uint8Array | undefined;
  #filled = 0;
  #allocations = 0;

  /** How many message buffers were allocated so far: one per message with a body. */
  get allocations(): number {
    return this.#allocations;
  }

  /** How many bytes of an incomplete message (prefix included) are buffered. */
  get pending(): number {
    return this.#message === undefined ? this.#prefixBytes : 2 + this.#filled;
  }

  /**
   * Consumes bytes read from the connection.
   *
   * @param bytes The bytes just read; not kept (the caller may reuse its read buffer).
   * @returns The messages completed by these bytes, in order. A zero-length message (which
   *   tells the server to close the connection) is returned as an empty array.
   */
  push(bytes: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let off = 0;
    while (off < bytes.length) {
      if (this.#message === undefined) {
        this.#prefix = (this.#prefix << 8) | bytes[off++];
        if (++this.#prefixBytes < 2) continue;
        const length = this.#prefix;
        this.#prefix = 0;
        this.#prefixBytes = 0;
        if (length === 0) {
          out.push(new Uint8Array(0));
          continue;
        }
        this.#message = new Uint8Array(length);
        this.#filled = 0;
        this.#allocations++;
      }
      const n = Math.min(this.#message.length - this.#filled, bytes.length - off);
      this.#message.set(bytes.subarray(off, off + n), this.#filled);
      this.#filled += n;
      off += n;
      if (this.#filled === this.#message.length) {
        out.push(this.#message);
        this.#message = undefined;
      }
    }
    return out;
  }
}

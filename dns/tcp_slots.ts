/**
 * Admission of DNS-over-TCP connections, so that no client can hold every slot: each client
 * address gets at most `perClient` of the `max` slots, and a new connection that finds its
 * client's share (or all slots) taken closes the oldest idle connection (its client's, or any)
 * instead of being turned away. Idle = nothing being answered: a connection still sending a
 * partial message is idle, which is what a slowloris holds.
 *
 * @module
 */

/** One admitted connection. */
export interface TcpSlot {
  /** Marks the connection as answering (not evictable) or idle (evictable, newest last). */
  setBusy(busy: boolean): void;
  /** Frees the slot (call once, when the connection ends). */
  release(): void;
}

interface Entry {
  readonly client: string;
  readonly close: () => void;
  busy: boolean;
  /** Monotonic order of becoming idle; the smallest is evicted first. */
  idleSince: number;
}

/** The slot table of one server; see the module comment. */
export class TcpSlots {
  #max: number;
  #perClient: number;
  #entries = new Set<Entry>();
  #perClientCount = new Map<string, number>();
  #clock = 0;

  /**
   * @param max Connections at most.
   * @param perClient Connections per client address at most (clamped to [1, max]).
   */
  constructor(max: number, perClient: number) {
    this.#max = Math.max(1, max);
    this.#perClient = Math.min(this.#max, Math.max(1, perClient));
  }

  /** Connections holding a slot. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Admits a connection, closing the oldest idle one of the same client when the client is at
   * its share, or the oldest idle one overall when every slot is taken.
   *
   * @param client The client's address.
   * @param close Closes the connection (called if it is evicted later).
   * @returns Its slot, or undefined when no idle connection could make room (close the new one).
   */
  admit(client: string, close: () => void): TcpSlot | undefined {
    if ((this.#perClientCount.get(client) ?? 0) >= this.#perClient) {
      if (!this.#evictOldestIdle(client)) return undefined;
    }
    if (this.#entries.size >= this.#max && !this.#evictOldestIdle(undefined)) return undefined;
    const entry: Entry = { client, close, busy: false, idleSince: this.#clock++ };
    this.#entries.add(entry);
    this.#perClientCount.set(client, (this.#perClientCount.get(client) ?? 0) + 1);
    let released = false;
    return {
      setBusy: (busy) => {
        if (busy === entry.busy) return;
        entry.busy = busy;
        if (!busy) entry.idleSince = this.#clock++;
      },
      release: () => {
        if (released) return;
        released = true;
        this.#remove(entry);
      },
    };
  }

  #evictOldestIdle(client: string | undefined): boolean {
    let oldest: Entry | undefined;
    for (const e of this.#entries) {
      if (e.busy || (client !== undefined && e.client !== client)) continue;
      if (oldest === undefined || e.idleSince < oldest.idleSince) oldest = e;
    }
    if (oldest === undefined) return false;
    this.#remove(oldest);
    oldest.close();
    return true;
  }

  #remove(entry: Entry): void {
    if (!this.#entries.delete(entry)) return;
    const left = (this.#perClientCount.get(entry.client) ?? 1) - 1;
    if (left > 0) this.#perClientCount.set(entry.client, left);
    else this.#perClientCount.delete(entry.client);
  }
}

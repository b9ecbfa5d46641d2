import { assert, assertEquals } from "../tests/assert.ts";
import { configureLogging } from "../config/log.ts";
import { ApiStatusError, type WatchEvent } from "./client.ts";
import { type ListWatcher, Reflector, sameExceptVersion } from "./reflector.ts";

configureLogging({ write: () => {} });

interface Item {
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion: string;
  readonly value: number;
}

function raw(name: string, rv: number, value: number) {
  return { metadata: { name, namespace: "ns", resourceVersion: String(rv) }, value };
}

// deno-lint-ignore no-explicit-any
function convert(r: any): Item | undefined {
  if (r.value < 0) return undefined; // "unusable"
  return {
    namespace: "ns",
    name: r.metadata.name,
    resourceVersion: r.metadata.resourceVersion,
    value: r.value,
  };
}

/** A scripted API: each list() and watch() call takes the next step. */
class FakeApi implements ListWatcher {
  lists: { items: unknown[]; rv: string }[] = [];
  watches: (WatchEvent[] | Error)[] = [];
  watchFrom: string[] = [];
  listCalls = 0;
  #stop: () => void;
  constructor(stop: () => void) {
    this.#stop = stop;
  }
  list(
    _path: string,
    _q: Record<string, string>,
    onItem: (item: unknown) => void,
  ): Promise<{ resourceVersion: string; itemCount: number }> {
    this.listCalls++;
    const next = this.lists.shift();
    if (next === undefined) {
      this.#stop();
      return Promise.reject(new Error("no more lists"));
    }
    next.items.forEach(onItem);
    return Promise.resolve({ resourceVersion: next.rv, itemCount: next.items.length });
  }
  async *watch(_path: string, q: Record<string, string>): AsyncGenerator<WatchEvent> {
    this.watchFrom.push(q.resourceVersion);
    const next = this.watches.shift();
    if (next === undefined) {
      this.#stop();
      return;
    }
    if (next instanceof Error) throw next;
    for (const e of next) {
      await Promise.resolve();
      yield e;
    }
  }
}

function recorder() {
  const log: string[] = [];
  let synced = 0;
  return {
    log,
    synced: () => synced,
    sink: {
      add: (o: Item) => log.push(`add ${o.name}=${o.value}`),
      update: (p: Item, c: Item) => log.push(`update ${c.name} ${p.value}->${c.value}`),
      delete: (o: Item) => log.push(`delete ${o.name}=${o.value}`),
      synced: () => synced++,
    },
  };
}

async function run(setup: (api: FakeApi) => void) {
  const abort = new AbortController();
  const api = new FakeApi(() => abort.abort());
  setup(api);
  const rec = recorder();
  const reflector = new Reflector<Item>(api, {
    kind: "Item",
    path: "/items",
    convert,
    sink: rec.sink,
    backoff: { initialMs: 1, maxMs: 2 },
    watchTimeoutSeconds: 1,
  });
  await reflector.run(abort.signal);
  return { api, rec, reflector };
}

Deno.test("Reflector delivers list then watch events with the previous object, resuming after each event", async () => {
  const { api, rec, reflector } = await run((api) => {
    api.lists.push({ items: [raw("a", 2, 1), raw("b", 3, 1)], rv: "3" });
    api.watches.push([
      { type: "MODIFIED", object: raw("a", 4, 2) },
      { type: "MODIFIED", object: raw("a", 5, 2) }, // resourceVersion only: not delivered
      { type: "BOOKMARK", object: { metadata: { resourceVersion: "6" } } },
    ]);
    api.watches.push(new SyntaxError("cut mid-event"));
    api.watches.push([
      { type: "DELETED", object: raw("b", 7, 1) },
      { type: "ADDED", object: raw("c", 8, 1) },
      { type: "MODIFIED", object: raw("c", 9, -1) }, // became unusable: a delete
    ]);
  });
  assertEquals(rec.log, [
    "add a=1",
    "add b=1",
    "update a 1->2",
    "delete b=1",
    "add c=1",
    "delete c=1",
  ]);
  assertEquals(rec.synced(), 1);
  assertEquals(api.watchFrom, ["3", "6", "6", "9"]);
  assertEquals(api.listCalls, 1);
  assertEquals(reflector.store.get("ns/a")?.resourceVersion, "4", "keeps what it delivered");
});

Deno.test("Reflector relists on 410 Gone and delivers only the net change per object", async () => {
  const { api, rec } = await run((api) => {
    api.lists.push({ items: [raw("a", 2, 1), raw("b", 3, 1), raw("c", 4, 1)], rv: "4" });
    api.watches.push([{
      type: "ERROR",
      object: { kind: "Status", code: 410, message: "too old resource version" },
    }]);
    // During the gap: a changed twice (1->5->6), b deleted, c changed and changed back, d added.
    api.lists.push({ items: [raw("a", 9, 6), raw("c", 10, 1), raw("d", 11, 1)], rv: "11" });
    api.watches.push(new ApiStatusError(410, "Gone"));
    api.lists.push({ items: [raw("a", 9, 6), raw("c", 10, 1), raw("d", 11, 1)], rv: "12" });
  });
  assertEquals(rec.log, [
    "add a=1",
    "add b=1",
    "add c=1",
    "update a 1->6",
    "add d=1",
    "delete b=1",
  ]);
  assertEquals(rec.synced(), 1, "synced fires once, on the first list");
  assertEquals(api.watchFrom, ["4", "11", "12"]);
});

Deno.test("Reflector never reports synced before a list succeeded", async () => {
  const { rec, reflector } = await run((api) => {
    api.lists.push(undefined as never); // the first list fails (the fake stops the run)
  });
  assertEquals(rec.synced(), 0);
  assertEquals(reflector.hasSynced(), false);
});

Deno.test("sameExceptVersion() ignores only the resourceVersion", () => {
  assert(sameExceptVersion({ a: 1, resourceVersion: "1" }, { a: 1, resourceVersion: "2" }));
  assert(!sameExceptVersion({ a: 1, resourceVersion: "1" }, { a: 2, resourceVersion: "1" }));
});

Deno.test("Reflector that is stopped during its list does not start a watch", async () => {
  const abort = new AbortController();
  const api = new FakeApi(() => abort.abort());
  api.lists.push({ items: [raw("a", 2, 1)], rv: "2" });
  api.watches.push([]);
  const rec = recorder();
  const reflector = new Reflector<Item>({
    list: (p, q, onItem) => {
      const result = api.list(p, q, onItem);
      abort.abort(); // the stop arrives while the list is in flight
      return result;
    },
    watch: (p, q) => api.watch(p, q),
  }, { kind: "Item", path: "/items", convert, sink: rec.sink, watchTimeoutSeconds: 1 });
  await reflector.run(abort.signal);
  assertEquals(api.watchFrom, []);
  assertEquals(rec.log, ["add a=1"]);
});

Deno.test("Reflector backs off before relisting when every watch is refused at once with 410 Gone", async () => {
  // A server whose watches always answer 410 right after a successful list (its watch cache
  // behind its storage, say) must not be relisted in a loop that never yields to timers.
  const abort = new AbortController();
  let lists = 0;
  let timerRan = false;
  const timerRanBeforeList: boolean[] = [];
  const reflector = new Reflector<Item>({
    list: (_p, _q, onItem) => {
      lists++;
      timerRanBeforeList.push(timerRan);
      if (lists === 1) setTimeout(() => timerRan = true, 0);
      if (lists === 3) abort.abort();
      onItem(raw("a", 2, 1));
      return Promise.resolve({ resourceVersion: "2", itemCount: 1 });
    },
    // deno-lint-ignore require-yield
    watch: async function* () {
      await Promise.resolve();
      throw new ApiStatusError(410, "too old resource version");
    },
  }, {
    kind: "Item",
    path: "/items",
    convert,
    sink: recorder().sink,
    backoff: { initialMs: 20, maxMs: 40 },
    watchTimeoutSeconds: 1,
  });
  await reflector.run(abort.signal);
  assertEquals(lists, 3);
  // The second list came only after a pause (the 0 ms timer set at the first list had run).
  assertEquals(timerRanBeforeList, [false, true, true]);
});

Deno.test("Reflector gives up a list that gets no answer and lists again", async () => {
  // A list on a silently dead connection never answers; only the client's deadline ends it.
  const abort = new AbortController();
  const guard = setTimeout(() => abort.abort(), 10_000); // only if the deadline never fires
  let lists = 0;
  const rec = recorder();
  const reflector = new Reflector<Item>({
    list: (_p, _q, onItem, signal) => {
      lists++;
      if (lists === 2) {
        abort.abort();
        onItem(raw("a", 2, 1));
        return Promise.resolve({ resourceVersion: "2", itemCount: 1 });
      }
      return new Promise((_resolve, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    },
    watch: () => {
      throw new Error("no watch expected");
    },
  }, {
    kind: "Item",
    path: "/items",
    convert,
    sink: rec.sink,
    backoff: { initialMs: 1, maxMs: 2 },
    listTimeoutMs: 20,
    watchTimeoutSeconds: 1,
  });
  try {
    await reflector.run(abort.signal);
  } finally {
    clearTimeout(guard);
  }
  assertEquals(lists, 2);
  assertEquals(rec.log, ["add a=1"]);
  assertEquals(reflector.hasSynced(), true);
});

Deno.test("Reflector reports a run of 403s once through onForbidden and recovers", async () => {
  const abort = new AbortController();
  const forbidden = () => new ApiStatusError(403, "namespaces is forbidden");
  const lists: (Error | unknown[])[] = [forbidden(), forbidden(), [raw("a", 5, 1)]];
  const watches: (Error | WatchEvent[])[] = [forbidden(), forbidden(), [
    { type: "ADDED", object: raw("b", 6, 2) },
  ]];
  const client: ListWatcher = {
    list: (_p, _q, onItem) => {
      const next = lists.shift()!;
      if (next instanceof Error) return Promise.reject(next);
      next.forEach(onItem);
      return Promise.resolve({ resourceVersion: "5", itemCount: next.length });
    },
    async *watch() {
      const next = watches.shift();
      if (next === undefined) return abort.abort();
      if (next instanceof Error) throw next;
      yield* next;
    },
  };
  const rec = recorder();
  const reports: number[] = [];
  const r = new Reflector<Item>(client, {
    kind: "Item",
    path: "/items",
    convert,
    sink: rec.sink,
    backoff: { initialMs: 1, maxMs: 1 },
    forbiddenRetryMs: 1,
    onForbidden: (err) => reports.push(err.code),
  });
  await r.run(abort.signal);
  // Once for the refused lists, once more for the refused watches after the list succeeded.
  assertEquals(reports, [403, 403]);
  assertEquals(rec.synced(), 1);
  assertEquals(rec.log, ["add a=1", "add b=2"]);
});

/**
 * Upstream's watch of the `--config` file: kube-proxy reads its file once, and when the file is
 * written or renamed it exits with `content of the proxy server's configuration file was
 * updated`, so that the kubelet restarts it and the new file is read from scratch (there is no
 * live reload). `main.ts` races {@linkcode ConfigFileWatch.updated} against the stop signals.
 *
 * Deno reports writes as `modify`, which also covers attribute changes (a `touch`, a `chmod`, the
 * link count dropping when a ConfigMap volume swaps its files): each of those ends the process
 * too. `access`, `create` and `remove` events do not (upstream reacts to Write and Rename only).
 *
 * @module
 */

import { log } from "./log.ts";

/** A running watch of the configuration file. */
export interface ConfigFileWatch {
  /** Resolves with the event kind (`modify`, `rename`) once the file was updated; else never. */
  readonly updated: Promise<string>;
  /** Stops watching (idempotent). */
  close(): void;
}

/** The part of `Deno.FsWatcher` used here (tests pass a scripted one). */
export interface FsEventSource extends AsyncIterable<{ readonly kind: string }> {
  close(): void;
}

/** Event kinds that mean the file's content may have changed. */
const UPDATE_KINDS: ReadonlySet<string> = new Set(["modify", "rename"]);

/**
 * Starts watching `path`. A watch that cannot be set up (the file vanished, inotify limits) is
 * logged as a warning and never reports an update: it is not a reason to stop the proxy.
 *
 * @param path The `--config` file.
 * @param watchFs Creates the watcher; `Deno.watchFs` by default.
 * @returns The watch; call `close()` at shutdown.
 * @example
 * ```ts
 * const watch = watchConfigFile("/var/lib/kube-proxy/config.conf");
 * await watch.updated; // then exit 1, as upstream does
 * watch.close();
 * ```
 */
export function watchConfigFile(
  path: string,
  watchFs: (path: string) => FsEventSource = (p) => Deno.watchFs(p, { recursive: false }),
): ConfigFileWatch {
  let watcher: FsEventSource;
  try {
    watcher = watchFs(path);
  } catch (err) {
    log.warn("Cannot watch the configuration file; changes to it will go unnoticed", {
      file: path,
      err: err instanceof Error ? err.message : String(err),
    });
    return { updated: new Promise(() => {}), close: () => {} };
  }
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      watcher.close();
    } catch {
      // already closed
    }
  };
  const updated = new Promise<string>((resolve) => {
    (async () => {
      try {
        for await (const event of watcher) {
          if (UPDATE_KINDS.has(event.kind)) {
            resolve(event.kind);
            close();
            return;
          }
        }
      } catch (err) {
        if (!closed) {
          log.warn("Watch of the configuration file failed; changes to it will go unnoticed", {
            file: path,
            err: err instanceof Error ? err.message : String(err),
          });
        }
      }
    })();
  });
  return { updated, close };
}

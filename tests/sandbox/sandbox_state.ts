/**
 * What a sandbox run made, on disk, so that a run that died (SIGKILL, a crashed test) is cleaned
 * up by the next one.
 *
 * Each run writes `<stateDir>/<runId>.json` with its process id before it creates anything, and
 * names every namespace `kpsbx-<runId>-…`. At start, {@linkcode removeLeftovers} deletes the
 * namespaces of every run whose process is gone, and any `kpsbx-` namespace no live run owns.
 * Runs whose process is still alive (a demo held up with `--keep`, another test file) are left
 * alone.
 *
 * @module
 */

import { runCommand } from "./command.ts";

/** Prefix of everything the sandbox creates. */
export const SANDBOX_PREFIX = "kpsbx-";

/** The record of one run. */
export interface SandboxState {
  runId: string;
  /** Process that owns the run; while it lives the run is not a leftover. */
  pid: number;
  /** Namespaces created, in creation order. */
  namespaces: string[];
  /** Temporary directories created (config files, kubeconfigs). */
  dirs: string[];
  /** Processes started (inside the namespaces), by id. */
  pids: number[];
  /** Kept up for exploring (`deno task sandbox`, `demo --keep`): what `sandbox --down` stops. */
  kept?: boolean;
}

/** Directory holding the state files (`KPSBX_STATE_DIR`, else /run/kpsbx or /tmp/kpsbx). */
export function stateDir(): string {
  const fromEnv = Deno.env.get("KPSBX_STATE_DIR");
  if (fromEnv) return fromEnv;
  try {
    Deno.statSync("/run");
    return "/run/kpsbx";
  } catch {
    return "/tmp/kpsbx";
  }
}

/** Writes (replaces) the state file of `state.runId`. */
export function writeState(state: SandboxState): void {
  const dir = stateDir();
  Deno.mkdirSync(dir, { recursive: true });
  const tmp = `${dir}/.${state.runId}.json.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify(state, null, 2) + "\n");
  Deno.renameSync(tmp, `${dir}/${state.runId}.json`);
}

/** Deletes the state file of `runId`. */
export function removeState(runId: string): void {
  try {
    Deno.removeSync(`${stateDir()}/${runId}.json`);
  } catch {
    // Already gone.
  }
}

/** Every readable state file. */
export function readStates(): SandboxState[] {
  const states: SandboxState[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(stateDir())];
  } catch {
    return states;
  }
  for (const e of entries) {
    if (!e.isFile || !e.name.endsWith(".json") || e.name.startsWith(".")) continue;
    try {
      states.push(JSON.parse(Deno.readTextFileSync(`${stateDir()}/${e.name}`)));
    } catch {
      // A half-written file: its namespaces are found by name below.
    }
  }
  return states;
}

/** True when a process with this id exists. */
export function isAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Names of all network namespaces with the sandbox prefix. */
export async function listSandboxNamespaces(): Promise<string[]> {
  const { stdout } = await runCommand(["ip", "netns", "list"], { check: false });
  return stdout.split("\n").map((l) => l.split(" ")[0]).filter((n) => n.startsWith(SANDBOX_PREFIX));
}

/**
 * Deletes one sandbox namespace: stops the processes inside it first (they would keep the
 * namespace alive after its name is gone), then removes the name.
 */
export async function deleteNamespace(ns: string): Promise<void> {
  const { stdout } = await runCommand(["ip", "netns", "pids", ns], { check: false });
  const pids = stdout.split("\n").map((l) => Number(l.trim())).filter((p) => p > 1);
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }
  await runCommand(["ip", "netns", "delete", ns], { check: false });
}

/**
 * Removes what dead runs left behind: their namespaces (and the processes in them), temporary
 * directories and state files; then every `kpsbx-` namespace that no live run owns.
 *
 * @returns The namespaces deleted.
 */
export async function removeLeftovers(): Promise<string[]> {
  const removed: string[] = [];
  const live = new Set<string>();
  for (const state of readStates()) {
    if (state.pid === Deno.pid || isAlive(state.pid)) {
      live.add(state.runId);
      continue;
    }
    for (const ns of [...state.namespaces].reverse()) {
      await deleteNamespace(ns);
      removed.push(ns);
    }
    for (const dir of state.dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
    removeState(state.runId);
  }
  const namespaces = await listSandboxNamespaces();
  // A run that started since the states were read has written its state file before creating
  // its first namespace: read the states again so that it is not mistaken for an orphan.
  for (const state of readStates()) {
    if (state.pid === Deno.pid || isAlive(state.pid)) live.add(state.runId);
  }
  for (const ns of namespaces) {
    const runId = ns.slice(SANDBOX_PREFIX.length).split("-")[0];
    if (live.has(runId)) continue;
    await deleteNamespace(ns);
    removed.push(ns);
  }
  return removed;
}

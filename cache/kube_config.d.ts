/**
 * The part of `@kubernetes/client-node`'s `KubeConfig` that `cache/client.ts` uses, declared
 * here so that type-checking does not pull in the package's own declarations: they depend on
 * `@types/node`, which would replace Deno's built-in Node types for the whole project (and
 * break, for example, `node:assert` in `tests/assert.ts`).
 */

/** A cluster entry of a kubeconfig, as client-node normalizes it. */
export interface Cluster {
  readonly name: string;
  server: string;
  skipTLSVerify: boolean;
  readonly caData?: string;
  readonly caFile?: string;
}

/** client-node's kubeconfig model. */
export declare class KubeConfig {
  constructor();
  loadFromString(config: string): void;
  loadFromOptions(options: unknown): void;
  makePathsAbsolute(rootDirectory: string): void;
  getCurrentContext(): string;
  getCurrentCluster(): Cluster | null;
  applyToHTTPSOptions(opts: unknown): Promise<void>;
}

/**
 * Declarations of the parts of `@kubernetes/client-node` that `cache/client.ts` imports
 * (`dist/config_types.js`, `dist/exec_auth.js`), so that type-checking does not pull in the
 * package's own declarations: they depend on `@types/node`, which would replace Deno's built-in
 * Node types for the whole project (and break, for example, `node:assert` in `tests/assert.ts`).
 */

/** A kubeconfig cluster entry, as client-node normalizes it. */
export interface Cluster {
  readonly name: string;
  readonly server: string;
  readonly skipTLSVerify: boolean;
  readonly caData?: string;
  readonly caFile?: string;
  readonly tlsServerName?: string;
  readonly proxyUrl?: string;
}

/** A kubeconfig user entry, as client-node normalizes it. */
export interface User {
  readonly name: string;
  // deno-lint-ignore no-explicit-any
  readonly authProvider?: any;
  readonly certData?: string | null;
  readonly certFile?: string | null;
  // deno-lint-ignore no-explicit-any
  readonly exec?: any;
  readonly keyData?: string | null;
  readonly keyFile?: string | null;
  readonly token?: string;
  readonly username?: string | null;
  readonly password?: string | null;
  readonly impersonateUser?: string | null;
}

/** A kubeconfig context entry. */
export interface Context {
  readonly name: string;
  readonly cluster: string;
  readonly user: string;
  readonly namespace?: string;
}

/** Validates and normalizes `clusters:`; throws naming the bad entry. */
export declare function newClusters(a: unknown): Cluster[];
/** Validates and normalizes `users:`; throws naming the bad entry. */
export declare function newUsers(a: unknown): User[];
/** Validates and normalizes `contexts:`; throws naming the bad entry. */
export declare function newContexts(a: unknown): Context[];

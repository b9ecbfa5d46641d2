/**
 * Declaration of client-node's `dist/exec_auth.js` (see `kube_config.d.ts` for why it is
 * declared here).
 */

import type { User } from "./kube_config.d.ts";

/** Runs a kubeconfig `exec` credential plugin (client.authentication.k8s.io). */
export declare class ExecAuth {
  constructor();
  isAuthProvider(user: User): boolean;
  /** Sets `opts.headers.Authorization` (and `opts.cert`/`opts.key` when the plugin gives them). */
  applyAuthentication(
    user: User,
    opts: { headers: Record<string, string>; cert?: string; key?: string },
  ): Promise<void>;
}

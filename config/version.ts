/**
 * Version of this build and the upstream Kubernetes release whose kube-proxy it follows.
 *
 * @module
 */

/** This program's version (as in deno.json). */
export const PROXY_VERSION = "0.1.0";
/** Major version of the Kubernetes release this build is compatible with. */
export const KUBERNETES_MAJOR = 1;
/** Minor version of the Kubernetes release this build is compatible with. */
export const KUBERNETES_MINOR = 36;

/**
 * The `--version` line, in upstream's shape (`Kubernetes v1.36.0`) plus this build.
 *
 * @returns Such as `Kubernetes v1.36.0 (kube-proxy-deno 0.1.0)`.
 */
export function versionString(): string {
  return `Kubernetes v${KUBERNETES_MAJOR}.${KUBERNETES_MINOR}.0 (kube-proxy-deno ${PROXY_VERSION})`;
}

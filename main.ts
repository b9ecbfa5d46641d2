/**
 * kube-proxy (iptables mode) with a built-in cluster DNS responder: the composition root.
 *
 * Placeholder until the configuration, cache, proxier and DNS pieces land.
 *
 * @module
 */

import { log } from "./config/log.ts";

if (import.meta.main) {
  log.info("kube-proxy: not wired yet");
}

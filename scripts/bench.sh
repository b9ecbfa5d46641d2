#!/usr/bin/env bash
# The benchmarks (bench/RESULTS.md): installs Deno, the Debian tools the proxy drives, and dnsperf +
# NSD for the DNS comparison, then runs `deno task bench` with any arguments given (e.g. --quick).
# Needs root: the kernel benchmarks build scratch network namespaces.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ensure_deno
ensure_debian_tools
if [ "$(id -u)" = 0 ] && ! { command -v dnsperf >/dev/null 2>&1 && command -v nsd >/dev/null 2>&1; }; then
  echo "Installing Debian packages: dnsperf nsd ..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dnsperf nsd >/dev/null
fi
cd "$ROOT"
exec deno task bench "$@"

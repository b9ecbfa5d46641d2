#!/usr/bin/env bash
# The sandbox demo, as the README's quick start runs it: installs Deno and the Debian tools when
# missing, then builds a two-node cluster from network namespaces and narrates what it shows.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
if [ "$(id -u)" != 0 ]; then
  echo "The demo needs root: it creates network namespaces, veth pairs and a bridge, and programs" >&2
  echo "iptables inside them. Run it as root (for example: sudo ./scripts/demo.sh)." >&2
  exit 1
fi
ensure_deno
ensure_debian_tools
cd "$ROOT"
exec deno task demo "$@"

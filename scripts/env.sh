#!/usr/bin/env bash
# Sourced by the other scripts: puts a pinned Deno on PATH (installed from the npm registry into
# .tools/ when missing) and installs the Debian tools the proxy and its tests drive.
set -euo pipefail

DENO_VERSION="2.9.6"
# No call home: `deno run`/`test`/`task` otherwise ask Deno's update server for a newer release
# at every start, from wherever they run (a node's network namespace included).
export DENO_NO_UPDATE_CHECK=1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"

ensure_deno() {
  if [ -x "$TOOLS/node_modules/.bin/deno" ] &&
    "$TOOLS/node_modules/.bin/deno" --version 2>/dev/null | grep -q "deno $DENO_VERSION "; then
    export PATH="$TOOLS/node_modules/.bin:$PATH"
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "scripts/env.sh: npm is needed to install Deno $DENO_VERSION from the npm registry" >&2
    exit 1
  fi
  echo "Installing Deno $DENO_VERSION from the npm registry into .tools/ ..." >&2
  mkdir -p "$TOOLS"
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$TOOLS" \
    "deno@$DENO_VERSION" >&2
  export PATH="$TOOLS/node_modules/.bin:$PATH"
  deno --version >&2
}

# ensure_debian_tools installs what is missing among iptables, iproute2, conntrack, nftables,
# dnsutils (dig, for the demo and the end-to-end tests), openssl (test certificates) and
# kubernetes-client (kubectl, to drive the sandbox; Debian 12 ships 1.20, which the sandbox's API
# server serves as well as a current kubectl).
# It needs root; without root it only warns.
ensure_debian_tools() {
  local missing=()
  command -v iptables-restore >/dev/null 2>&1 || missing+=(iptables)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v conntrack >/dev/null 2>&1 || missing+=(conntrack)
  command -v nft >/dev/null 2>&1 || missing+=(nftables)
  command -v dig >/dev/null 2>&1 || missing+=(dnsutils)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl) # the API server fixture's TLS certs
  command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client) # kubectl for the sandbox
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/env.sh: missing ${missing[*]}; run as root to install them with apt-get" >&2
    return
  fi
  echo "Installing Debian packages: ${missing[*]} ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

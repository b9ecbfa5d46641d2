#!/bin/bash
# What-if wrapper for iptables-nft-restore, used only by bench/proxy_run.ts (--what-if=...): put on
# PATH in front of the real binary for the proxy under test, it applies the two changes that
# bench/RESULTS.md recommends to the proxier, so their end-to-end effect can be measured before the
# proxier adopts them. KPBENCH_WHAT_IF (comma-separated):
#   list-first  a chain-less "-S" after *filter and *nat when the input declares > 1000 chains
#               (iptables-nft then skips its quadratic per-chain bookkeeping); stdout discarded.
#   own-chains  drop from the input every fixed chain (not KUBE-SVC/SVL/EXT/FW/SEP-) whose
#               declaration and rules equal those of the last successful restore; state kept in
#               KPBENCH_STATE_DIR and wiped after a failed restore (the next one writes everything).
set -u
real="${KPBENCH_REAL_RESTORE:-/usr/sbin/iptables-nft-restore}"
what="${KPBENCH_WHAT_IF:-}"
state="${KPBENCH_STATE_DIR:-/tmp/kpbench-restore-state}"
in="$(mktemp /tmp/kpbench-restore.XXXXXX)"
trap 'rm -f "$in" "$in.new"' EXIT
cat > "$in"
if [[ ",$what," == *",own-chains,"* ]]; then
  mkdir -p "$state"
  awk -v state="$state" '
    function flushchains(   c, f, body, old, line) {
      for (c in decl) {
        if (c ~ /^KUBE-(SVC|SVL|EXT|FW|SEP)-/) continue
        f = state "/" table "." c
        body = rules[c]
        old = ""
        while ((getline line < f) > 0) old = old line "\n"
        close(f)
        if (old == body && body != "") skip[c] = 1
        else { printf "%s", body > (f ".next"); close(f ".next") }
      }
    }
    /^\*/ { table = substr($0, 2) }
    { lines[++n] = $0; tab[n] = table }
    /^:/ { c = substr($1, 2); decl[c] = 1; dn[n] = c }
    /^-A / { rules[$2] = rules[$2] $0 "\n"; rc[n] = $2 }
    /^COMMIT$/ {
      flushchains()
      for (i = start + 1; i <= n; i++) {
        if (dn[i] != "" && skip[dn[i]]) continue
        if (rc[i] != "" && skip[rc[i]]) continue
        print lines[i]
      }
      start = n; delete decl; delete rules; delete skip
    }
  ' "$in" > "$in.new" && mv "$in.new" "$in"
fi
if [[ ",$what," == *",list-first,"* ]] && [ "$(grep -c '^:' "$in")" -gt 1000 ]; then
  sed -i -e '/^\*filter$/a -S' -e '/^\*nat$/a -S' "$in"
  "$real" "$@" < "$in" > /dev/null
  rc=$?
else
  "$real" "$@" < "$in"
  rc=$?
fi
if [[ ",$what," == *",own-chains,"* ]]; then
  if [ $rc -eq 0 ]; then
    for f in "$state"/*.next; do [ -e "$f" ] && mv "$f" "${f%.next}"; done
  else
    rm -rf "$state"
  fi
fi
exit $rc

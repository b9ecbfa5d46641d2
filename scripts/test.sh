#!/usr/bin/env bash
# The whole test suite, as the README's quick start and CI run it: installs Deno and the Debian
# tools when missing, then runs `deno task ok` (format check, lint, type check, every test,
# including the end-to-end tests in network namespaces when run as root).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ensure_deno
ensure_debian_tools
cd "$ROOT"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
deno task ok 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# Deno's own closing line is "ok | 12 passed (3 steps) | 0 failed (4s)"; restate it in the plain
# "N passed, N failed" form that CI reads.
summary="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1 || true)"
if [ -n "$summary" ]; then
  passed="$(echo "$summary" | sed -E 's/.*\| ([0-9]+) passed.*/\1/')"
  failed="$(echo "$summary" | sed -E 's/.*\| ([0-9]+) failed.*/\1/')"
  ignored="$(echo "$summary" | grep -oE '([0-9]+) ignored' | grep -oE '[0-9]+' || echo 0)"
  echo "tests: $passed passed, $failed failed, $ignored skipped"
elif [ "$status" -ne 0 ]; then
  echo "tests: 0 passed, 1 failed (deno task ok stopped before the tests: see above)"
fi
exit "$status"

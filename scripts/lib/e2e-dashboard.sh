#!/usr/bin/env bash
# End-to-end browser test of a built dashboard: dashboard/tests/e2e.mjs under node, driving
# Debian's Chromium with playwright-core (pinned in tools/package.json; never downloads a browser).
#
#   scripts/lib/e2e-dashboard.sh [DIST_DIR]     (default: target/dashboard-dist)
#
# Installs tools/node_modules with `npm ci` if playwright-core is missing. The test itself serves
# DIST_DIR on 127.0.0.1, bounds every wait, prints frame times, and saves screenshots under
# target/screenshots/. This wrapper adds an outer time limit (E2E_TIMEOUT seconds, default 240).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIST="${1:-$ROOT/target/dashboard-dist}"
E2E_TIMEOUT="${E2E_TIMEOUT:-240}"

die() {
  printf 'e2e: FAIL: %s\n' "$*" >&2
  exit 1
}

command -v node >/dev/null || die "node is needed (apt-get install nodejs npm)"
command -v python3 >/dev/null || die "python3 is needed to serve the dist dir"
if [ ! -f "$ROOT/tools/node_modules/playwright-core/package.json" ]; then
  echo "e2e: installing tools/node_modules (npm ci) for playwright-core"
  npm ci --prefix "$ROOT/tools" --no-audit --no-fund >/dev/null
fi

rc=0
timeout -k 10 "$E2E_TIMEOUT" node "$ROOT/dashboard/tests/e2e.mjs" "$DIST" </dev/null || rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  die "dashboard/tests/e2e.mjs did not finish within ${E2E_TIMEOUT}s"
fi
exit "$rc"

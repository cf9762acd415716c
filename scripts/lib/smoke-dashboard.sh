#!/usr/bin/env bash
# Browser smoke test of a built dashboard.
#
#   scripts/lib/smoke-dashboard.sh [DIST_DIR]     (default: target/dashboard-dist)
#
# Serves DIST_DIR on 127.0.0.1 (a free port) with python3's http.server, loads it in headless
# Chromium and fails unless the rendered DOM contains the marker below, or if the page logged a
# Rust panic. Also saves a 1280x800 screenshot (default target/screenshots/dashboard.png,
# override with SCREENSHOT=path). Every wait is bounded; the server is stopped on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIST="${1:-$ROOT/target/dashboard-dist}"
MARKER='data-testid="walden-dashboard"'
SCREENSHOT="${SCREENSHOT:-$ROOT/target/screenshots/dashboard.png}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
BROWSER_TIMEOUT="${BROWSER_TIMEOUT:-90}"

say() { printf 'smoke: %s\n' "$*"; }
die() {
  printf 'smoke: FAIL: %s\n' "$*" >&2
  exit 1
}

[ -f "$DIST/index.html" ] || die "no $DIST/index.html (run 'trunk build --release' first)"
[ -x "$CHROMIUM" ] || die "no Chromium at $CHROMIUM (scripts/lib/tools.sh ensure_chromium installs it)"
command -v python3 >/dev/null || die "python3 is needed to serve the dist dir"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/walden-smoke.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free port on the loopback interface (the kernel picks it; a race with another process
# grabbing it in between is possible but unlikely, and then the readiness wait fails loudly).
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
URL="http://127.0.0.1:$PORT/"

python3 -m http.server --bind 127.0.0.1 --directory "$DIST" "$PORT" \
  >"$WORK/http.log" 2>&1 </dev/null &
SERVER_PID=$!

# Wait (at most 15 s) until the server answers.
if ! timeout 15 python3 - "$URL" <<'EOF'; then
import sys, time, urllib.request
while True:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=2).read()
        break
    except Exception:
        time.sleep(0.2)
EOF
  cat "$WORK/http.log" >&2 || true
  die "http.server on $URL did not answer within 15 s"
fi
say "serving $DIST at $URL"

# run_chromium NAME ARGS... : one headless Chromium run with a fresh profile, bounded in time.
# Its stdout goes to $WORK/NAME.out, its log (including the page's console) to $WORK/NAME.log.
run_chromium() {
  local name="$1"
  shift
  local rc=0
  timeout -k 10 "$BROWSER_TIMEOUT" "$CHROMIUM" \
    --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --no-default-browser-check \
    --enable-logging=stderr --v=0 \
    --user-data-dir="$WORK/profile-$name" \
    --virtual-time-budget=5000 \
    "$@" "$URL" >"$WORK/$name.out" 2>"$WORK/$name.log" </dev/null || rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    tail -n 30 "$WORK/$name.log" >&2 || true
    die "Chromium ($name) did not finish within ${BROWSER_TIMEOUT}s"
  fi
  if [ "$rc" -ne 0 ]; then
    tail -n 30 "$WORK/$name.log" >&2 || true
    die "Chromium ($name) exited with status $rc"
  fi
}

# Lines of the page's own console output, from Chromium's log.
console_lines() {
  grep -h 'CONSOLE' "$@" 2>/dev/null || true
}

run_chromium dom --dump-dom
if ! grep -qF "$MARKER" "$WORK/dom.out"; then
  {
    echo "---- page console ----"
    console_lines "$WORK/dom.log" | tail -n 30
    echo "---- DOM (first 60 lines) ----"
    head -n 60 "$WORK/dom.out"
    echo "----"
  } >&2
  die "the rendered page has no element with $MARKER"
fi
say "DOM contains $MARKER ($(wc -c <"$WORK/dom.out") bytes)"

mkdir -p "$(dirname "$SCREENSHOT")"
rm -f "$SCREENSHOT"
run_chromium shot --screenshot="$SCREENSHOT" --window-size=1280,800 --hide-scrollbars
[ -s "$SCREENSHOT" ] || die "Chromium wrote no screenshot to $SCREENSHOT"
say "screenshot saved to ${SCREENSHOT#"$ROOT"/}"

# A Rust panic (console_error_panic_hook logs "panicked at") or a wasm load failure is a
# failure even if the marker was rendered before it happened.
if console_lines "$WORK/dom.log" "$WORK/shot.log" |
  grep -E 'panicked at|RuntimeError|CompileError|LinkError|WebAssembly\.[A-Za-z]+\.[a-z]+\(\)' >"$WORK/errors"; then
  cat "$WORK/errors" >&2
  die "the page logged an error (above)"
fi
say "OK: dashboard rendered at $URL without console errors"

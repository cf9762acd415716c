#!/usr/bin/env bash
# Build wasm/example-vite with Vite against the npm package, offline, and test it in headless
# Chromium.
#
#   scripts/lib/wasm-vite.sh [PKG_DIR]
#     PKG_DIR  default target/wasm-pkg (built by scripts/lib/build-wasm-pkg.sh)
#
# Copies wasm/example-vite to a temporary folder, points its `walden-wasm` dependency at
# PKG_DIR and installs it with `npm install --offline --install-links` (a copy of what the
# package's "files" lists, as from a registry; nothing fetched), runs `vite build`
# (tools/node_modules; scripts/lib/tools.sh ensure_js_test_tools) with Vite's default
# settings, checks that dist/ holds the worker and the wasm, serves dist/ with python3's plain
# http.server on 127.0.0.1 (no COOP/COEP headers: the package must not need them) and runs
# scripts/lib/wasm-vite.mjs on it. Never reads standard input; removes the temporary folder
# and stops the server on exit.
set -euo pipefail
exec </dev/null

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PKG="${1:-$ROOT/target/wasm-pkg}"
VITE="$ROOT/tools/node_modules/.bin/vite"

say() { printf 'wasm-vite: %s\n' "$*"; }
die() {
  printf 'wasm-vite: FAIL: %s\n' "$*" >&2
  exit 1
}

[ -f "$PKG/package.json" ] && [ -f "$PKG/walden_wasm.js" ] ||
  die "no package in $PKG: run scripts/lib/build-wasm-pkg.sh first"
PKG="$(cd "$PKG" && pwd)"
[ -x "$VITE" ] || die "no $VITE: run scripts/lib/tools.sh's ensure_js_test_tools (npm ci in tools/)"
command -v npm >/dev/null 2>&1 || die "npm is missing"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/walden-vite.XXXXXX")"
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

APP="$WORK/app"
mkdir -p "$APP"
# The example's sources only (not a developer's node_modules/ or dist/ in the tree).
(cd "$ROOT/wasm/example-vite" && find . -mindepth 1 -maxdepth 1 \
  ! -name node_modules ! -name dist ! -name package-lock.json -exec cp -r {} "$APP/" \;)
# The committed manifest points at ../../target/wasm-pkg; here, at PKG_DIR.
python3 - "$APP/package.json" "$PKG" <<'PY'
import json, sys
path, pkg = sys.argv[1], sys.argv[2]
manifest = json.load(open(path))
deps = manifest.get("dependencies", {})
assert list(deps) == ["walden-wasm"], f"wasm/example-vite must depend on walden-wasm only, not {sorted(deps)}"
deps["walden-wasm"] = "file:" + pkg
json.dump(manifest, open(path, "w"), indent=2)
PY

# A copy, as npm would unpack it from a registry (install-links, as in the example's .npmrc):
# only the files the package's "files" names, so a file missing from that list fails here.
say "npm install --offline --install-links (walden-wasm from $PKG, copied)"
(cd "$APP" && npm install --offline --install-links --no-audit --no-fund --loglevel=error \
  --cache "$WORK/npm-cache" >"$WORK/npm-install.log" 2>&1) || {
  cat "$WORK/npm-install.log" >&2
  die "npm install --offline failed"
}
INSTALLED="$APP/node_modules/walden-wasm"
[ -d "$INSTALLED" ] && [ ! -L "$INSTALLED" ] || die "npm did not install walden-wasm as a copy in $INSTALLED"
cmp -s "$INSTALLED/walden_wasm_bg.wasm" "$PKG/walden_wasm_bg.wasm" ||
  die "node_modules/walden-wasm/walden_wasm_bg.wasm is not the one in $PKG"

say "vite build ($("$VITE" --version | cut -d' ' -f1), default settings)"
(cd "$APP" && "$VITE" build --logLevel warn) || die "vite build failed"
DIST="$APP/dist"
[ -f "$DIST/index.html" ] || die "vite build wrote no dist/index.html"

# What Vite emitted: the page's bundle, the worker (its own chunk, from the package's
# `new Worker(new URL("../../walden-worker.js", import.meta.url))`) and the wasm.
mapfile -t WORKERS < <(cd "$DIST" && find . -type f -name 'walden-worker*.js' | sort)
mapfile -t WASMS < <(cd "$DIST" && find . -type f -name '*.wasm' | sort)
[ "${#WORKERS[@]}" -ge 1 ] ||
  die "dist/ has no walden-worker*.js: Vite did not follow the package's new Worker(new URL(...)): $(cd "$DIST" && find . -type f | sort | tr '\n' ' ')"
[ "${#WASMS[@]}" -ge 1 ] || die "dist/ has no .wasm file: $(cd "$DIST" && find . -type f | sort | tr '\n' ' ')"
# Vite rewrites the package's `new URL("../../walden-worker.js", import.meta.url)` to the
# hashed chunk; the unhashed name left in a bundle would be a URL that 404s.
STALE="$(grep -rl --include='*.js' 'walden-worker\.js' "$DIST" || true)"
[ -z "$STALE" ] || die "a bundle in dist/ still names walden-worker.js (not rewritten by Vite): $STALE"
grep -rqF --include='*.js' "$(basename "${WORKERS[0]}")" "$DIST" ||
  die "no bundle in dist/ names the worker chunk $(basename "${WORKERS[0]}")"
grep -rqF --include='*.js' "$(basename "${WASMS[0]}")" "$DIST" ||
  die "no bundle in dist/ names the wasm $(basename "${WASMS[0]}")"
say "dist/: worker ${WORKERS[*]}, wasm ${WASMS[*]} ($(du -sh "$DIST" | cut -f1) in all)"

# A free port on 127.0.0.1, then python3's plain http.server (no special headers).
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$DIST" >"$WORK/http.log" 2>&1 &
SERVER_PID=$!
BASE="http://127.0.0.1:$PORT/"
for _ in $(seq 1 75); do
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$BASE" 2>/dev/null; then
    break
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/http.log" >&2; die "http.server on port $PORT exited"; }
  sleep 0.2
done
python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$BASE" 2>/dev/null ||
  die "http.server on $BASE did not answer within 15 s"
say "serving dist/ at $BASE (python3 -m http.server, no COOP/COEP)"

timeout -k 10 300 node "$ROOT/scripts/lib/wasm-vite.mjs" "$BASE" || die "the Vite-built page failed in headless Chromium (above)"

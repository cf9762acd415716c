#!/usr/bin/env bash
# Build walden-wasm into an npm-style package, and the example site that serves it.
#
#   scripts/lib/build-wasm-pkg.sh [PKG_DIR] [SITE_DIR]
#     PKG_DIR  default target/wasm-pkg: walden_wasm.js, walden_wasm_bg.wasm, walden_wasm.d.ts,
#              snippets/, walden-worker.js and package.json
#     SITE_DIR default target/wasm-site: wasm/example/* with the package under pkg/
#
# Uses wasm-pack (--target web, --mode no-install: the wasm-bindgen on PATH, no download,
# wasm-opt off in wasm/Cargo.toml) when wasm-pack is installed, else cargo + wasm-bindgen
# directly, which give the same files. Never reads standard input.
set -euo pipefail
exec </dev/null

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib/tools.sh
source "$ROOT/scripts/lib/tools.sh"
PKG="${1:-$ROOT/target/wasm-pkg}"
SITE="${2:-$ROOT/target/wasm-site}"
# Absolute, since wasm-pack resolves --out-dir against the crate's folder.
mkdir -p "$(dirname "$PKG")" "$(dirname "$SITE")"
PKG="$(cd "$(dirname "$PKG")" && pwd)/$(basename "$PKG")"
SITE="$(cd "$(dirname "$SITE")" && pwd)/$(basename "$SITE")"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

say() { printf 'wasm-pkg: %s\n' "$*"; }

cd "$ROOT"
cargo fetch --target wasm32-unknown-unknown
rm -rf "$PKG"
if [ "$(_tools_version_of wasm-pack)" = "wasm-pack $WALDEN_WASM_PACK_VERSION" ]; then
  say "wasm-pack build --release --target web --mode no-install"
  wasm-pack --quiet build wasm --release --target web --mode no-install \
    --out-dir "$PKG" --out-name walden_wasm
else
  say "wasm-pack $WALDEN_WASM_PACK_VERSION not installed: cargo build + wasm-bindgen --target web"
  cargo build --release --target wasm32-unknown-unknown -p walden-wasm --lib
  wasm-bindgen --target web --out-dir "$PKG" --out-name walden_wasm \
    "$TARGET_DIR/wasm32-unknown-unknown/release/walden_wasm.wasm"
fi
cp wasm/js/walden-worker.js "$PKG/"
cp wasm/README.md "$PKG/README.md"
cp LICENSE-MIT LICENSE-APACHE "$PKG/"
# The package manifest: wasm-pack writes one; list the worker script and the snippets in it
# (or write it whole when wasm-bindgen ran alone).
python3 - "$PKG" <<'PY'
import json, os, sys
pkg = sys.argv[1]
path = os.path.join(pkg, "package.json")
manifest = json.load(open(path)) if os.path.exists(path) else {
    "name": "walden-wasm",
    "version": "0.1.0",
    "description": "Walden write-ahead log in the browser: OPFS storage in a dedicated worker.",
    "license": "MIT OR Apache-2.0",
    "type": "module",
    "main": "walden_wasm.js",
    "types": "walden_wasm.d.ts",
    "sideEffects": ["./snippets/*"],
}
files = set(manifest.get("files", []))
files.update(["walden_wasm.js", "walden_wasm_bg.wasm", "walden_wasm.d.ts", "walden-worker.js", "snippets", "README.md", "LICENSE-MIT", "LICENSE-APACHE"])
manifest["files"] = sorted(files)
manifest["type"] = "module"
manifest["main"] = "walden_wasm.js"
manifest["types"] = "walden_wasm.d.ts"
# `import { WaldenLog } from "walden-wasm"` in a bundler or Node's resolver; the worker script
# and the wasm stay reachable by path (bundlers resolve them through `new URL(..., import.meta.url)`).
manifest["exports"] = {
    ".": {"types": "./walden_wasm.d.ts", "import": "./walden_wasm.js", "default": "./walden_wasm.js"},
    "./walden-worker.js": "./walden-worker.js",
    "./walden_wasm_bg.wasm": "./walden_wasm_bg.wasm",
    "./package.json": "./package.json",
}
manifest["sideEffects"] = ["./snippets/*", "./walden-worker.js"]
json.dump(manifest, open(path, "w"), indent=2)
open(path, "a").write("\n")
PY
for f in walden_wasm.js walden_wasm_bg.wasm walden_wasm.d.ts walden-worker.js package.json; do
  [ -f "$PKG/$f" ] || { echo "wasm-pkg: FAIL: $PKG/$f is missing" >&2; exit 1; }
done
grep -q "commit(payload: Uint8Array): Promise<bigint>" "$PKG/walden_wasm.d.ts" ||
  { echo "wasm-pkg: FAIL: walden_wasm.d.ts lacks the typed commit()" >&2; exit 1; }
# The declarations must type a real program (and reject wrong ones): tsc from tools/.
TSC="$ROOT/tools/node_modules/.bin/tsc"
if [ -x "$TSC" ]; then
  CHECK="$(mktemp -d "${TMPDIR:-/tmp}/walden-tscheck.XXXXXX")"
  trap 'rm -rf "$CHECK"' EXIT
  cp wasm/js/api-check.ts "$CHECK/"
  ln -s "$PKG" "$CHECK/pkg"
  cat >"$CHECK/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "strict": true, "noEmit": true, "target": "es2022", "module": "esnext",
    "moduleResolution": "bundler", "lib": ["esnext", "dom"], "types": []
  },
  "files": ["api-check.ts"]
}
JSON
  "$TSC" -p "$CHECK/tsconfig.json" || { echo "wasm-pkg: FAIL: walden_wasm.d.ts does not type wasm/js/api-check.ts" >&2; exit 1; }
  say "walden_wasm.d.ts types wasm/js/api-check.ts (tsc $("$TSC" --version | cut -d' ' -f2) --strict)"
else
  say "tools/node_modules/.bin/tsc missing (scripts/lib/tools.sh ensure_js_test_tools installs it): declarations not type-checked"
fi
say "package in $PKG ($(du -sh "$PKG/walden_wasm_bg.wasm" | cut -f1) of wasm)"

rm -rf "$SITE"
mkdir -p "$SITE"
cp -r wasm/example/. "$SITE/"
cp -r "$PKG" "$SITE/pkg"
say "example site in $SITE"

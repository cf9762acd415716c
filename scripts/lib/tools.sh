# shellcheck shell=bash
# Tool installers for Walden's scripts. Source this file; do not run it.
#
# Each ensure_* function installs what is missing, skips what is already present, and prints
# one line saying which it did. Long installs write their output to a log under
# target/tool-logs/ and print that log's tail only if they fail. Everything here is safe under
# `set -euo pipefail` and never reads standard input.
#
# Pinned versions (keep in step with Cargo.toml, Trunk.toml and tools/package.json):
WALDEN_WASM_BINDGEN_VERSION=0.2.130
WALDEN_TRUNK_VERSION=0.21.14
WALDEN_WASM_OPT_VERSION=132 # npm package binaryen@132.0.0, reports "version_132"
WALDEN_WASM_PACK_VERSION=0.15.1
WALDEN_PLAYWRIGHT_CORE_VERSION=1.65.1 # npm, drives /usr/bin/chromium; never downloads a browser
WALDEN_TYPESCRIPT_VERSION=7.0.2        # npm, tsc for the browser package's .d.ts
WALDEN_VITE_VERSION=8.4.0              # npm, bundles wasm/example-vite (scripts/lib/wasm-vite.sh)
WALDEN_RUST_TARGETS=(wasm32-unknown-unknown thumbv7em-none-eabi x86_64-pc-windows-gnu)
WALDEN_RUST_COMPONENTS=(rustfmt clippy)

WALDEN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WALDEN_TOOL_LOG_DIR="${WALDEN_TOOL_LOG_DIR:-$WALDEN_ROOT/target/tool-logs}"

# Trunk must not phone home for an update check (no network here).
export TRUNK_SKIP_VERSION_CHECK=true
# The npm wasm-opt comes first so that no other wasm-opt (e.g. Debian's 108) is ever picked;
# cargo-installed tools come next.
export PATH="$WALDEN_ROOT/tools/node_modules/.bin:${CARGO_HOME:-${HOME:-/root}/.cargo}/bin:$PATH"

_walden_apt_updated=0

tools_log() {
  printf 'tools: %s\n' "$*"
}

# Run a command as root (we normally are root; use sudo otherwise, if there is one).
_tools_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    tools_log "need root for: $*" >&2
    return 1
  fi
}

# _tools_run_logged NAME CMD... : run CMD with output to a log file; on failure print the
# log's tail to stderr. Sets _tools_secs to the elapsed seconds.
_tools_run_logged() {
  local name="$1"
  shift
  mkdir -p "$WALDEN_TOOL_LOG_DIR"
  local log="$WALDEN_TOOL_LOG_DIR/$name.log"
  local start=$SECONDS rc=0
  "$@" >"$log" 2>&1 </dev/null || rc=$?
  _tools_secs=$((SECONDS - start))
  if [ "$rc" -ne 0 ]; then
    {
      echo "---- last 40 lines of $log ----"
      tail -n 40 "$log"
      echo "----"
    } >&2
  fi
  return "$rc"
}

_tools_apt_update_once() {
  if [ "$_walden_apt_updated" -eq 0 ]; then
    _tools_run_logged apt-update _tools_as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get update -q || return
    _walden_apt_updated=1
  fi
}

_tools_apt_install() {
  _tools_apt_update_once || return
  _tools_run_logged apt-install _tools_as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q "$@"
}

# The first line of `CMD --version`, or nothing if CMD is missing or fails.
_tools_version_of() {
  local out
  out="$("$@" --version 2>/dev/null </dev/null)" || return 0
  printf '%s\n' "$out" | head -n 1
}

ensure_rust_targets() {
  local installed missing=() t c
  installed="$(rustup target list --installed)" || return
  for t in "${WALDEN_RUST_TARGETS[@]}"; do
    grep -qx "$t" <<<"$installed" || missing+=("$t")
  done
  installed="$(rustup component list --installed)" || return
  local missing_components=()
  for c in "${WALDEN_RUST_COMPONENTS[@]}"; do
    grep -q "^$c\(-\|\$\)" <<<"$installed" || missing_components+=("$c")
  done
  if [ "${#missing[@]}" -eq 0 ] && [ "${#missing_components[@]}" -eq 0 ]; then
    tools_log "rust targets ${WALDEN_RUST_TARGETS[*]} and components ${WALDEN_RUST_COMPONENTS[*]} present (skipped)"
    return 0
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    _tools_run_logged rustup-target rustup target add "${missing[@]}" || return
  fi
  if [ "${#missing_components[@]}" -gt 0 ]; then
    _tools_run_logged rustup-component rustup component add "${missing_components[@]}" || return
  fi
  tools_log "added rust targets [${missing[*]}] components [${missing_components[*]}]"
}

# The MSRV the manifests state (workspace.package.rust-version): scripts/test builds the
# published crates with exactly that toolchain, so the claim stays true.
walden_msrv() {
  sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1
}

ensure_msrv_toolchain() {
  local msrv
  msrv="$(walden_msrv)" || return
  if rustup toolchain list | grep -q "^$msrv-"; then
    tools_log "rust $msrv (the stated MSRV) present (skipped)"
    return 0
  fi
  _tools_run_logged rustup-msrv rustup toolchain install "$msrv" --profile minimal || return
  tools_log "installed rust $msrv (the stated MSRV)"
}

ensure_wasm_bindgen() {
  local want="wasm-bindgen $WALDEN_WASM_BINDGEN_VERSION" have
  have="$(_tools_version_of wasm-bindgen)"
  if [ "$have" = "$want" ]; then
    tools_log "wasm-bindgen-cli $WALDEN_WASM_BINDGEN_VERSION present (skipped)"
    return 0
  fi
  local start=$SECONDS
  if _tools_run_logged wasm-bindgen-install cargo install --force --locked \
    wasm-bindgen-cli --version "$WALDEN_WASM_BINDGEN_VERSION" 2>/dev/null; then
    tools_log "installed wasm-bindgen-cli $WALDEN_WASM_BINDGEN_VERSION --locked (was: ${have:-none}) in $((SECONDS - start))s"
  else
    # Its published Cargo.lock pins a webpki-roots version the registry no longer serves.
    tools_log "cargo install --locked wasm-bindgen-cli failed (its lock file wants a crate version the registry lacks; see $WALDEN_TOOL_LOG_DIR/wasm-bindgen-install.log); retrying without --locked"
    _tools_run_logged wasm-bindgen-install-unlocked cargo install --force \
      wasm-bindgen-cli --version "$WALDEN_WASM_BINDGEN_VERSION" || return
    tools_log "installed wasm-bindgen-cli $WALDEN_WASM_BINDGEN_VERSION without --locked (was: ${have:-none}) in $((SECONDS - start))s"
  fi
  have="$(_tools_version_of wasm-bindgen)"
  if [ "$have" != "$want" ]; then
    tools_log "after install, wasm-bindgen on PATH reports '${have:-nothing}', wanted '$want'" >&2
    return 1
  fi
}

ensure_trunk() {
  local want="trunk $WALDEN_TRUNK_VERSION" have
  have="$(_tools_version_of trunk)"
  if [ "$have" = "$want" ]; then
    tools_log "trunk $WALDEN_TRUNK_VERSION present (skipped)"
    return 0
  fi
  local start=$SECONDS
  # A debug build without debug info compiles in about half the time of a release build and
  # is fast enough for a build tool. Fall back to a release build if it fails.
  if _tools_run_logged trunk-install env CARGO_PROFILE_DEV_DEBUG=0 cargo install --force \
    --locked --debug trunk --version "$WALDEN_TRUNK_VERSION" 2>/dev/null; then
    tools_log "installed trunk $WALDEN_TRUNK_VERSION (debug build) (was: ${have:-none}) in $((SECONDS - start))s"
  else
    tools_log "debug build of trunk failed (see $WALDEN_TOOL_LOG_DIR/trunk-install.log); trying a release build"
    _tools_run_logged trunk-install-release cargo install --force --locked \
      trunk --version "$WALDEN_TRUNK_VERSION" || return
    tools_log "installed trunk $WALDEN_TRUNK_VERSION (release build) (was: ${have:-none}) in $((SECONDS - start))s"
  fi
  have="$(_tools_version_of trunk)"
  if [ "$have" != "$want" ]; then
    tools_log "after install, trunk on PATH reports '${have:-nothing}', wanted '$want'" >&2
    return 1
  fi
}

# wasm-pack packages walden-wasm for npm (scripts/lib/build-wasm-pkg.sh). It takes wasm-bindgen
# from PATH (ensure_wasm_bindgen) and, with `wasm-opt = false` in wasm/Cargo.toml, never
# downloads anything.
ensure_wasm_pack() {
  local want="wasm-pack $WALDEN_WASM_PACK_VERSION" have
  have="$(_tools_version_of wasm-pack)"
  if [ "$have" = "$want" ]; then
    tools_log "wasm-pack $WALDEN_WASM_PACK_VERSION present (skipped)"
    return 0
  fi
  local start=$SECONDS was="$have"
  _tools_run_logged wasm-pack-install cargo install --force --locked \
    wasm-pack --version "$WALDEN_WASM_PACK_VERSION" || return
  have="$(_tools_version_of wasm-pack)"
  if [ "$have" != "$want" ]; then
    tools_log "after install, wasm-pack on PATH reports '${have:-nothing}', wanted '$want'" >&2
    return 1
  fi
  tools_log "installed wasm-pack $WALDEN_WASM_PACK_VERSION (was: ${was:-none}) in $((SECONDS - start))s"
}

# _tools_npm_ci LOG_NAME: installs every package pinned in tools/package-lock.json into
# tools/node_modules (npm ci), installing Debian's nodejs and npm first if npm is missing.
_tools_npm_ci() {
  if ! command -v npm >/dev/null 2>&1; then
    tools_log "npm missing: installing Debian's nodejs and npm first"
    _tools_apt_install nodejs npm || return
  fi
  _tools_run_logged "$1" npm ci --prefix "$WALDEN_ROOT/tools" --no-audit --no-fund
}

ensure_wasm_opt() {
  local bin="$WALDEN_ROOT/tools/node_modules/.bin/wasm-opt" want="version_$WALDEN_WASM_OPT_VERSION"
  local have=""
  [ -x "$bin" ] && have="$(_tools_version_of "$bin")"
  if [[ "$have" == *"($want)"* ]]; then
    tools_log "wasm-opt $want (npm binaryen, tools/node_modules) present (skipped)"
    return 0
  fi
  local start=$SECONDS
  _tools_npm_ci npm-ci || return
  have="$(_tools_version_of "$bin")"
  if [[ "$have" != *"($want)"* ]]; then
    tools_log "after npm ci, $bin reports '${have:-nothing}', wanted $want" >&2
    return 1
  fi
  tools_log "installed wasm-opt $want with npm ci into tools/node_modules in $((SECONDS - start))s"
}

# playwright-core (drives the system Chromium for scripts/lib/wasm-e2e.mjs and wasm-vite.mjs;
# `npx playwright install`, which downloads a browser, is never run), typescript (type-checks the
# browser package's declarations in scripts/lib/build-wasm-pkg.sh) and vite (bundles the Vite
# example in scripts/lib/wasm-vite.sh), all pinned in tools/package.json.
ensure_js_test_tools() {
  local modules="$WALDEN_ROOT/tools/node_modules" have_pw="" have_ts="" have_vite=""
  _tools_npm_version() {
    [ -f "$modules/$1/package.json" ] &&
      python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$modules/$1/package.json"
  }
  _tools_js_test_tools_present() {
    have_pw="$(_tools_npm_version playwright-core || true)"
    have_ts="$(_tools_npm_version typescript || true)"
    have_vite="$(_tools_npm_version vite || true)"
    [ "$have_pw" = "$WALDEN_PLAYWRIGHT_CORE_VERSION" ] &&
      [ "$have_ts" = "$WALDEN_TYPESCRIPT_VERSION" ] &&
      [ "$have_vite" = "$WALDEN_VITE_VERSION" ] &&
      [ -x "$modules/.bin/vite" ]
  }
  if _tools_js_test_tools_present; then
    tools_log "playwright-core $have_pw, typescript $have_ts and vite $have_vite (tools/node_modules) present (skipped)"
    return 0
  fi
  local start=$SECONDS
  _tools_npm_ci npm-ci-js-test-tools || return
  if ! _tools_js_test_tools_present; then
    tools_log "after npm ci, tools/node_modules has playwright-core '${have_pw:-none}', typescript '${have_ts:-none}', vite '${have_vite:-none}'; wanted $WALDEN_PLAYWRIGHT_CORE_VERSION, $WALDEN_TYPESCRIPT_VERSION, $WALDEN_VITE_VERSION (tools/package.json and tools/package-lock.json out of step with scripts/lib/tools.sh?)" >&2
    return 1
  fi
  tools_log "installed playwright-core $WALDEN_PLAYWRIGHT_CORE_VERSION, typescript $WALDEN_TYPESCRIPT_VERSION and vite $WALDEN_VITE_VERSION with npm ci into tools/node_modules in $((SECONDS - start))s"
}

ensure_chromium() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    tools_log "chromium and chromedriver present (skipped)"
    return 0
  fi
  local start=$SECONDS
  _tools_apt_install chromium chromium-driver || return
  tools_log "installed Debian chromium and chromium-driver in $((SECONDS - start))s"
}

# Everything the full build needs, in order.
ensure_all_tools() {
  ensure_rust_targets || return
  ensure_msrv_toolchain || return
  ensure_wasm_bindgen || return
  ensure_trunk || return
  ensure_wasm_pack || return
  ensure_wasm_opt || return
  ensure_js_test_tools || return
  ensure_chromium || return
}

# shellcheck shell=bash
# Sourced by scripts/test: `package_tests` checks the published set with `cargo publish
# --dry-run --workspace`, builds the published crates' packages (`cargo package`), unpacks
# every `.crate` outside the repository, and runs each one's own tests and doctests there, the
# unpacked crates patched in for one another (none is on crates.io yet). It
# catches what only a package shows: a file a test or doctest reads from outside the crate's
# directory, a path dependency without a version, a README the package does not hold.
#
# Uses $WORK (scripts/test's scratch directory) for the unpacked crates and their target dir.

# The workspace's version (every crate shares it).
crate_version() {
  sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1
}

package_tests() {
  local unpacked="$WORK/packages" target="$WORK/package-target" dir name
  rm -rf "$unpacked" && mkdir -p "$unpacked" || return
  local published=(walden-core walden walden-wasm walden-raft walden-cli)
  # The whole set as crates.io would take it: manifests, metadata, files (built below).
  cargo publish --dry-run --workspace --no-verify --allow-dirty || return
  # --no-verify: the tests below build every package anyway.
  cargo package "${published[@]/#/--package=}" --no-verify --allow-dirty || return
  for name in "${published[@]}"; do
    tar -xzf "target/package/$name-$(crate_version).crate" -C "$unpacked" || return
  done
  local patches=()
  for dir in "$unpacked"/*/; do
    name="$(basename "$dir")"
    name="${name%-*}" # walden-core-0.1.0 -> walden-core
    patches+=(--config "patch.crates-io.$name.path=\"${dir%/}\"")
  done
  for dir in "$unpacked"/*/; do
    echo "package-tests: cargo test in $(basename "$dir") (unpacked from its .crate)"
    (cd "$dir" && CARGO_TARGET_DIR="$target" cargo test "${patches[@]}") || return
  done
}

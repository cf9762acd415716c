//! `walden-wasm`: the Walden log in the browser.
//!
//! The OPFS backend (a `FileSystemSyncAccessHandle` storage in a dedicated worker, and the
//! page-side client) lands with the browser-backend issue. Today the crate exposes the format
//! version to JavaScript, so pages can check which on-disk format a build writes, and proves the
//! core builds and links for `wasm32-unknown-unknown` with wasm-bindgen.

use wasm_bindgen::prelude::wasm_bindgen;

/// The on-disk format version this build writes and the newest it reads.
#[wasm_bindgen(js_name = formatVersion)]
pub fn format_version() -> u32 {
    walden_core::FORMAT_VERSION
}

//! `walden-wasm`: the Walden log in the browser, on the Origin Private File System.
//!
//! The log runs in a dedicated worker (OPFS sync access handles exist only there) and the page
//! talks to it by messages. Every decision about the format, recovery, watermarks and group
//! commit is the core's ([`walden_core::LogWriter`], [`walden_core::Pipeline`]); this crate
//! adds only the browser's I/O, the worker's event loop and the JavaScript API.
//!
//! | concept | module |
//! |---|---|
//! | OPFS errors, classified ([`OpfsError`]) | `error` |
//! | the core's `Storage` over a sync access handle ([`OpfsStorage`]) | `opfs_storage` |
//! | errors as the page sees them, with a stable `kind` ([`LogError`]) | `log_error` |
//! | the served log: writer + group commit + waiting requests ([`WorkerLog`]) | `worker_log` |
//! | what observers see ([`LogEvent`]) | `events` |
//! | the page/worker messages | `protocol`, `batch` (the binary hot path) |
//! | the worker's event loop ([`worker_main`]): leading or following | `worker` |
//! | how the tabs of one log meet: Web Lock, channels, announcements | `tabs` |
//! | a follower's forwarded ops, and what a lost leader's unanswered ones become | `forwarded` |
//! | the page's handle ([`WaldenLog`]) | `client` |

mod batch;
mod client;
mod error;
mod events;
mod forwarded;
mod log_error;
mod opfs_storage;
mod protocol;
mod tabs;
mod worker;
mod worker_log;

pub use client::{WaldenLog, WaldenRecords};
pub use error::OpfsError;
pub use events::{EventLog, LogEvent};
pub use log_error::{LogError, StorageFailure};
pub use opfs_storage::OpfsStorage;
pub use worker::worker_main;
pub use worker_log::{
    CommitOutcome, FlushPolicy, FlushReport, LogOptions, LogStats, RequestId, WorkerLog,
};

use wasm_bindgen::prelude::wasm_bindgen;

/// The on-disk format version this build writes and the newest it reads.
#[wasm_bindgen(js_name = formatVersion)]
pub fn format_version() -> u32 {
    walden_core::FORMAT_VERSION
}

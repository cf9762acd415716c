//! `walden`: the Walden write-ahead log on native files.
//!
//! Today this crate provides [`FileStorage`], the [`walden_core::Storage`] implementation over a
//! file, and [`sync_dir`]. The `WalWriter` and shared `Wal` with group commit build on them (see
//! ARCHITECTURE.md for the plan and the ownership of each step).

#![deny(unsafe_code)]

mod file_storage;

pub use file_storage::{sync_dir, FileStorage};
/// The core this crate builds on, re-exported so users need only one dependency.
pub use walden_core;

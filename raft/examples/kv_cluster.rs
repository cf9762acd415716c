//! A three-node key-value cluster in one process, each node with its own directory holding its
//! log (`log/`) and state machine (`sm/`): a leader is cut off with a write it cannot commit, the
//! other two elect a new leader and move on, the old leader rejoins and loses that write, every
//! node snapshots and purges its log, one node restarts from its directory and catches up by the
//! leader's snapshot, and all state machines end equal.
//!
//! Run with `cargo run -p walden-raft --example kv_cluster [DIR]`; DIR (new or empty) keeps the
//! nodes' directories for a look afterwards, else a temporary directory is used.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::ExitCode;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kv-cluster: failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let temporary;
    let base = match std::env::args_os().nth(1) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let in_use = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
            if in_use {
                return Err(format!("{} is not empty", dir.display()));
            }
            dir
        }
        None => {
            temporary = tempfile::tempdir().map_err(|e| e.to_string())?;
            temporary.path().to_path_buf()
        }
    };
    println!("kv-cluster: nodes under {}", base.display());
    let report = support::cluster::run(&base).await?;
    let leader_map = &report.maps[&report.second_leader];
    if leader_map != &report.committed || report.maps.values().any(|map| map != leader_map) {
        return Err(format!("state machines differ: {:#?}", report.maps));
    }
    if report
        .maps
        .values()
        .any(|map| map.contains_key(support::cluster::ORPHAN_KEY))
    {
        return Err("the isolated leader's uncommitted write was applied".to_string());
    }
    println!(
        "kv-cluster: ok: {} committed writes on all {} nodes, the orphan write on none",
        report.committed.len(),
        report.maps.len()
    );
    Ok(())
}

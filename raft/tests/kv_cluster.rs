//! The three-node key-value cluster on real directories: a leader cut off with an uncommitted
//! write, a new leader, the old one's entry truncated when it rejoins, snapshots and purges on
//! every node, a restart from disk that needs the leader's snapshot, and state machines that end
//! equal: on Walden's log store, and on the in-memory one for comparison. Also openraft's own
//! storage suite on the in-memory log store with the state machine (Walden's log store runs it
//! in four setups in `openraft_suite.rs`).

mod support;

use support::cluster::{self, Report, NODES, ORPHAN_KEY};
use support::kv::KvStateMachine;
use support::stores::{LogStores, MemLogs};
use support::types::TypeConfig;

/// Checks everything the scenario promises on `report`.
fn check(report: &Report) {
    let old = report.first_leader;
    assert_ne!(
        old, report.second_leader,
        "the isolated leader cannot lead again"
    );
    // The old leader really held an uncommitted entry, and lost it on rejoining.
    assert!(report.orphan_logged_while_isolated, "{report:#?}");
    assert!(!report.orphan_logged_after_rejoin, "{report:#?}");
    let slot = report
        .orphan_slot_after_rejoin
        .expect("the rejoined node's log has that index");
    assert_eq!(slot.index, report.orphan_index);
    assert!(
        slot.leader_id.term > 1 && slot.leader_id.node_id == report.second_leader,
        "index {} should hold the new leader's entry: {slot:?}",
        report.orphan_index
    );
    assert!(
        !report.orphan_outcome.starts_with("acknowledged"),
        "the orphan write was acknowledged: {}",
        report.orphan_outcome
    );
    // Every committed write on every node, nothing else.
    assert_eq!(report.committed.len(), 15, "k0..k14");
    assert_eq!(report.committed["k0"], "v0-rewritten");
    assert_eq!(report.maps.len(), NODES.len());
    for (id, map) in &report.maps {
        assert!(
            !map.contains_key(ORPHAN_KEY),
            "node {id} applied the orphan write"
        );
        assert_eq!(map, &report.committed, "node {id}'s state machine");
    }
    let applied: Vec<_> = report.applied.values().collect();
    assert!(
        applied.windows(2).all(|w| w[0] == w[1]),
        "{:?}",
        report.applied
    );
    // The restarted node came back from its own snapshot, then caught up past it.
    let reloaded = report
        .reloaded
        .expect("the restarted node reloaded its snapshot");
    assert_eq!(report.applied_at_restart, Some(reloaded));
    assert!(report.applied[&report.restarted] > Some(reloaded));
    // The leader had purged what it lacked, so it caught up by installing the leader's snapshot.
    let leader_snapshot = report.snapshots[&report.second_leader];
    assert!(leader_snapshot > Some(reloaded), "{:?}", report.snapshots);
    assert_eq!(report.snapshots[&report.restarted], leader_snapshot);
    // Every log store kept a purge, and the leader's reaches past the restarted node's snapshot.
    for (id, (purged, last)) in &report.logs {
        let purged = purged.unwrap_or_else(|| panic!("node {id}'s log store purged nothing"));
        assert!(
            Some(purged) <= *last,
            "node {id}: purged {purged:?} past last {last:?}"
        );
    }
    assert!(report.logs[&report.second_leader].0 > Some(reloaded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_walden_nodes_survive_isolation_truncation_purge_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let report = cluster::run(dir.path()).await.unwrap();
    check(&report);
    // The nodes' logs are Walden logs, on disk where the scenario put them.
    for id in NODES {
        let log = dir.path().join(format!("node-{id}")).join("log");
        assert!(
            std::fs::read_dir(&log).unwrap().next().is_some(),
            "{} is empty",
            log.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_runs_on_the_in_memory_log_store() {
    let dir = tempfile::tempdir().unwrap();
    let stores = MemLogs::default();
    assert_eq!(stores.name(), "mem-log");
    let report = cluster::run_with(dir.path(), &stores).await.unwrap();
    check(&report);
}

/// The whole suite on the in-memory baseline, which the bench compares with.
#[test]
fn openraft_suite_passes_on_mem_log_and_kv_state_machine() {
    let ran = support::suite::run_suite::<MemLogs>(|_| true).unwrap();
    assert_eq!(ran, 35);
}

/// A state machine reopened from its directory holds its last snapshot, and nothing applied
/// after it.
#[tokio::test]
async fn state_machine_reloads_its_last_snapshot() {
    use openraft::storage::RaftStateMachine;
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftSnapshotBuilder};
    use support::types::Request;
    let dir = tempfile::tempdir().unwrap();
    let entry = |index: u64, key: &str| Entry::<TypeConfig> {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Request::set(key, format!("value-{index}"))),
    };
    let mut machine = KvStateMachine::open(dir.path()).unwrap();
    machine.apply([entry(1, "a"), entry(2, "b")]).await.unwrap();
    let snapshot = machine
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_eq!(snapshot.meta.last_log_id.map(|id| id.index), Some(2));
    machine.apply([entry(3, "c")]).await.unwrap();
    assert_eq!(machine.get("c").as_deref(), Some("value-3"));
    drop(machine);

    let mut reopened = KvStateMachine::open(dir.path()).unwrap();
    assert_eq!(reopened.get("a").as_deref(), Some("value-1"));
    assert_eq!(reopened.get("c"), None, "entry 3 came after the snapshot");
    let (applied, _) = reopened.applied_state().await.unwrap();
    assert_eq!(applied.map(|id| id.index), Some(2));
    let current = reopened
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("a snapshot");
    assert_eq!(current.meta, snapshot.meta);
    assert!(!dir.path().join("snapshot.json.tmp").exists());
}

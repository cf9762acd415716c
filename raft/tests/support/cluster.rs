//! The three-node key-value scenario, run by `examples/kv_cluster.rs` and checked by
//! `tests/kv_cluster.rs`: [`run`] drives a cluster whose nodes keep their log (`log/`) and state
//! machine (`sm/`) under `base_dir/node-<id>`, through a leader's isolation, the truncation of
//! its uncommitted entry, a snapshot and purge on every node, a restart from disk that needs the
//! leader's snapshot, and ends when all three state machines are equal.
//!
//! Owns the cluster's nodes for the length of the run; every node is shut down before [`run`]
//! returns. Invariants the [`Report`] lets a caller check: `committed` holds exactly the writes
//! a leader acknowledged, in order of acknowledgment; `orphan` was appended to the isolated
//! leader's log and never acknowledged; the log states come from stores reopened after the
//! nodes shut down, so they are what the stores kept.

use crate::support::kv::KvStateMachine;
use crate::support::router::Router;
use crate::support::stores::{LogStores, WaldenLogs};
use crate::support::types::{LogId, NodeId, Raft, Request};
use openraft::storage::RaftLogStorage;
use openraft::{
    BasicNode, Config, EntryPayload, RaftLogReader, RaftMetrics, ServerState, SnapshotPolicy,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The nodes of the cluster.
pub(crate) const NODES: [NodeId; 3] = [1, 2, 3];
/// The key of the write made to the isolated leader, which must never be applied.
pub(crate) const ORPHAN_KEY: &str = "orphan";
/// How long any one step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// How often a step's condition is checked.
const POLL: Duration = Duration::from_millis(20);

/// What the scenario did and what it left.
#[derive(Debug)]
pub(crate) struct Report {
    /// The leader elected first, later isolated.
    pub(crate) first_leader: NodeId,
    /// The leader the other two elected while it was cut off.
    pub(crate) second_leader: NodeId,
    /// The log index of the uncommitted write on the isolated leader.
    pub(crate) orphan_index: u64,
    /// Whether the isolated leader's log held the orphan entry while it was cut off.
    pub(crate) orphan_logged_while_isolated: bool,
    /// Whether the old leader's log still held it after it rejoined and caught up.
    pub(crate) orphan_logged_after_rejoin: bool,
    /// The log id at `orphan_index` on the old leader after it rejoined (the new leader's entry).
    pub(crate) orphan_slot_after_rejoin: Option<LogId>,
    /// What the client of the orphan write was told (it must not be a success).
    pub(crate) orphan_outcome: String,
    /// Every acknowledged write, applied in order: what every state machine must equal.
    pub(crate) committed: BTreeMap<String, String>,
    /// Each node's final map.
    pub(crate) maps: BTreeMap<NodeId, BTreeMap<String, String>>,
    /// Each node's final last applied log id.
    pub(crate) applied: BTreeMap<NodeId, Option<LogId>>,
    /// The node restarted from its directory.
    pub(crate) restarted: NodeId,
    /// What its state machine reloaded from its directory (its snapshot's last log id).
    pub(crate) reloaded: Option<LogId>,
    /// Its last applied log id right after it restarted, before it caught up.
    pub(crate) applied_at_restart: Option<LogId>,
    /// Each node's stored snapshot at the end (the restarted node's is the leader's, installed).
    pub(crate) snapshots: BTreeMap<NodeId, Option<LogId>>,
    /// Each node's (last purged, last) log ids, read from its reopened log store.
    pub(crate) logs: BTreeMap<NodeId, (Option<LogId>, Option<LogId>)>,
}

/// The Raft configuration of every node: short timeouts for an in-process network, snapshots
/// and purges only when the scenario asks.
pub(crate) fn config() -> Result<Arc<Config>, String> {
    let config = Config {
        cluster_name: "walden-kv".to_string(),
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        snapshot_policy: SnapshotPolicy::Never,
        ..Config::default()
    };
    Ok(Arc::new(config.validate().map_err(|e| e.to_string())?))
}

/// Runs the scenario under `base_dir` on Walden log stores, printing each step.
pub(crate) async fn run(base_dir: &Path) -> Result<Report, String> {
    run_with(base_dir, &WaldenLogs).await
}

/// Runs the scenario under `base_dir` with log stores from `stores`, printing each step.
pub(crate) async fn run_with<S: LogStores>(base_dir: &Path, stores: &S) -> Result<Report, String> {
    say(format!("three nodes on the {} log store", stores.name()));
    let mut cluster = Cluster::new(base_dir, stores)?;
    let result = scenario(&mut cluster).await;
    // Shut down whatever is still running, also after a failed step (whose error comes first).
    let mut stopped = Ok(());
    for id in NODES {
        if cluster.router.get(id).is_some() {
            stopped = stopped.and(cluster.stop(id).await);
        }
    }
    let mut report = result?;
    stopped?;
    for id in NODES {
        let mut store = stores.open(&cluster.log_dir(id))?;
        let state = store
            .get_log_state()
            .await
            .map_err(|e| format!("node {id}: {e}"))?;
        say(format!(
            "node {id}: reopened {} log: purged through {}, last {}",
            stores.name(),
            show(state.last_purged_log_id),
            show(state.last_log_id)
        ));
        report
            .logs
            .insert(id, (state.last_purged_log_id, state.last_log_id));
    }
    Ok(report)
}

async fn scenario<S: LogStores>(cluster: &mut Cluster<'_, S>) -> Result<Report, String> {
    let mut committed = BTreeMap::new();
    for id in NODES {
        cluster.start(id).await?;
    }
    let members: BTreeMap<NodeId, BasicNode> = NODES
        .iter()
        .map(|&id| (id, BasicNode::new(format!("node-{id}"))))
        .collect();
    cluster
        .raft(1)?
        .initialize(members)
        .await
        .map_err(|e| e.to_string())?;
    let first = cluster.leader(&NODES).await?;
    say(format!("initialized {NODES:?}; node {first} leads"));
    for i in 0..5 {
        cluster
            .write(first, &format!("k{i}"), &format!("v{i}"), &mut committed)
            .await?;
    }
    say(format!("node {first} committed k0..k4"));

    // The leader, cut off, takes a write it can never commit.
    cluster.router.isolate(first);
    let logged = cluster.metrics(first)?.last_log_index.unwrap_or(0);
    let orphan_index = logged + 1;
    let orphan_write = cluster
        .raft(first)?
        .client_write_ff(Request::set(ORPHAN_KEY, "from-the-isolated-leader"))
        .await
        .map_err(|e| e.to_string())?;
    let isolated = cluster.raft(first)?;
    until("the isolated leader appends the orphan", || {
        (isolated.metrics().borrow().last_log_index >= Some(orphan_index)).then_some(())
    })
    .await?;
    let orphan_logged_while_isolated = cluster.log_holds_orphan(first).await?;
    say(format!(
        "node {first} isolated; it logged an uncommitted write at index {orphan_index}"
    ));

    let others: Vec<NodeId> = NODES.iter().copied().filter(|&id| id != first).collect();
    let second = cluster.leader(&others).await?;
    say(format!("nodes {others:?} elected node {second}"));
    for i in 5..10 {
        cluster
            .write(second, &format!("k{i}"), &format!("v{i}"), &mut committed)
            .await?;
    }
    cluster
        .write(second, "k0", "v0-rewritten", &mut committed)
        .await?;
    say(format!("node {second} committed k5..k9 and rewrote k0"));

    // The old leader rejoins: its uncommitted entry is overwritten by the new leader's.
    cluster.router.heal(first);
    cluster.caught_up(first, second).await?;
    let orphan_outcome = match tokio::time::timeout(STEP_TIMEOUT, orphan_write).await {
        Ok(Ok(Ok(response))) => format!("acknowledged at {}", response.log_id),
        Ok(Ok(Err(error))) => format!("refused: {error}"),
        Ok(Err(_)) => "dropped unanswered".to_string(),
        Err(_) => "no answer in time".to_string(),
    };
    let orphan_logged_after_rejoin = cluster.log_holds_orphan(first).await?;
    let orphan_slot_after_rejoin = cluster.log_id_at(first, orphan_index).await?;
    say(format!(
        "node {first} rejoined; its index {orphan_index} now holds {} (the orphan is gone); \
         its client was {orphan_outcome}",
        show(orphan_slot_after_rejoin)
    ));

    for id in NODES {
        let snapshot = cluster.snapshot_and_purge(id).await?;
        say(format!(
            "node {id}: snapshot at {snapshot}, log purged through it"
        ));
    }

    // A restart from disk, while the leader moves on past what it can replicate from its log.
    let restarted = first;
    cluster.stop(restarted).await?;
    say(format!("node {restarted} stopped"));
    for i in 10..15 {
        cluster
            .write(second, &format!("k{i}"), &format!("v{i}"), &mut committed)
            .await?;
    }
    let snapshot = cluster.snapshot_and_purge(second).await?;
    say(format!(
        "node {second} committed k10..k14, snapshot at {snapshot}, purged through it"
    ));
    let machine = cluster.start(restarted).await?;
    let reloaded = machine.snapshot_last_log_id();
    let applied_at_restart = machine.last_applied();
    say(format!(
        "node {restarted} restarted from its directory: reloaded snapshot {}",
        show(reloaded)
    ));
    cluster.caught_up(restarted, second).await?;
    say(format!(
        "node {restarted} caught up; its snapshot now {}",
        show(machine.snapshot_last_log_id())
    ));

    let (maps, applied) = cluster.converged(second).await?;
    say(format!(
        "all {} state machines equal: {} keys, applied through {}",
        maps.len(),
        committed.len(),
        show(applied.get(&second).copied().flatten())
    ));
    let snapshots = NODES
        .iter()
        .map(|&id| Ok((id, cluster.machine(id)?.snapshot_last_log_id())))
        .collect::<Result<_, String>>()?;
    Ok(Report {
        first_leader: first,
        second_leader: second,
        orphan_index,
        orphan_logged_while_isolated,
        orphan_logged_after_rejoin,
        orphan_slot_after_rejoin,
        orphan_outcome,
        committed,
        maps,
        applied,
        restarted,
        reloaded,
        applied_at_restart,
        snapshots,
        logs: BTreeMap::new(),
    })
}

/// The running cluster: the network, each node's state machine and log reader.
struct Cluster<'s, S: LogStores> {
    base: PathBuf,
    stores: &'s S,
    config: Arc<Config>,
    router: Router,
    machines: BTreeMap<NodeId, KvStateMachine>,
    readers: BTreeMap<
        NodeId,
        <S::Store as RaftLogStorage<crate::support::types::TypeConfig>>::LogReader,
    >,
}

impl<'s, S: LogStores> Cluster<'s, S> {
    fn new(base: &Path, stores: &'s S) -> Result<Cluster<'s, S>, String> {
        Ok(Cluster {
            base: base.to_path_buf(),
            stores,
            config: config()?,
            router: Router::new(),
            machines: BTreeMap::new(),
            readers: BTreeMap::new(),
        })
    }

    fn log_dir(&self, id: NodeId) -> PathBuf {
        self.base.join(format!("node-{id}")).join("log")
    }

    /// Opens node `id`'s log store and state machine from its directory and starts it.
    async fn start(&mut self, id: NodeId) -> Result<KvStateMachine, String> {
        let mut log = self.stores.open(&self.log_dir(id))?;
        let sm_dir = self.base.join(format!("node-{id}")).join("sm");
        let machine = KvStateMachine::open(&sm_dir)
            .map_err(|e| format!("node {id}: opening {}: {e}", sm_dir.display()))?;
        self.readers.insert(id, log.get_log_reader().await);
        let network = self.router.network(id);
        let raft = Raft::new(id, Arc::clone(&self.config), network, log, machine.clone())
            .await
            .map_err(|e| format!("node {id}: {e}"))?;
        self.router.add(id, raft);
        self.machines.insert(id, machine.clone());
        Ok(machine)
    }

    /// Shuts node `id` down and takes it off the network; its stores are released.
    async fn stop(&mut self, id: NodeId) -> Result<(), String> {
        let raft = self
            .router
            .remove(id)
            .ok_or(format!("node {id} is not running"))?;
        raft.shutdown()
            .await
            .map_err(|e| format!("node {id}: shutdown: {e}"))?;
        self.readers.remove(&id);
        self.machines.remove(&id);
        Ok(())
    }

    fn raft(&self, id: NodeId) -> Result<Raft, String> {
        self.router
            .get(id)
            .ok_or(format!("node {id} is not running"))
    }

    fn metrics(&self, id: NodeId) -> Result<RaftMetrics<NodeId, BasicNode>, String> {
        Ok(self.raft(id)?.metrics().borrow().clone())
    }

    fn machine(&self, id: NodeId) -> Result<&KvStateMachine, String> {
        self.machines
            .get(&id)
            .ok_or(format!("node {id} is not running"))
    }

    /// Waits until one of `among` says it leads, and returns it.
    async fn leader(&self, among: &[NodeId]) -> Result<NodeId, String> {
        let rafts: Vec<(NodeId, Raft)> = among
            .iter()
            .map(|&id| Ok((id, self.raft(id)?)))
            .collect::<Result<_, String>>()?;
        until(&format!("a leader among {among:?}"), || {
            rafts.iter().find_map(|(id, raft)| {
                let metrics = raft.metrics().borrow().clone();
                (metrics.state == ServerState::Leader && metrics.current_leader == Some(*id))
                    .then_some(*id)
            })
        })
        .await
    }

    /// Writes `key = value` through `leader`; once acknowledged, records it in `committed`.
    async fn write(
        &self,
        leader: NodeId,
        key: &str,
        value: &str,
        committed: &mut BTreeMap<String, String>,
    ) -> Result<LogId, String> {
        let response = self
            .raft(leader)?
            .client_write(Request::set(key, value))
            .await
            .map_err(|e| format!("writing {key} through node {leader}: {e}"))?;
        committed.insert(key.to_string(), value.to_string());
        Ok(response.log_id)
    }

    /// Waits until `id` has applied everything `leader` has.
    async fn caught_up(&self, id: NodeId, leader: NodeId) -> Result<(), String> {
        let target = self.machine(leader)?.last_applied();
        let machine = self.machine(id)?;
        until(&format!("node {id} applies through {target:?}"), || {
            (machine.last_applied() >= target).then_some(())
        })
        .await
    }

    /// Builds a snapshot on `id` and purges its log through it; returns the snapshot's log id.
    async fn snapshot_and_purge(&self, id: NodeId) -> Result<LogId, String> {
        let raft = self.raft(id)?;
        let applied = self
            .metrics(id)?
            .last_applied
            .ok_or(format!("node {id} applied nothing"))?;
        raft.trigger().snapshot().await.map_err(|e| e.to_string())?;
        let metrics = raft
            .wait(Some(STEP_TIMEOUT))
            .metrics(
                |m| m.snapshot >= Some(applied),
                format!("node {id} snapshots {applied}"),
            )
            .await
            .map_err(|e| e.to_string())?;
        let snapshot = metrics
            .snapshot
            .ok_or(format!("node {id} has no snapshot"))?;
        raft.trigger()
            .purge_log(snapshot.index)
            .await
            .map_err(|e| e.to_string())?;
        raft.wait(Some(STEP_TIMEOUT))
            .metrics(
                |m| m.purged >= Some(snapshot),
                format!("node {id} purges {snapshot}"),
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(snapshot)
    }

    /// Whether any entry in `id`'s log (what is left of it) is the orphan write.
    async fn log_holds_orphan(&mut self, id: NodeId) -> Result<bool, String> {
        let reader = self
            .readers
            .get_mut(&id)
            .ok_or(format!("node {id} is not running"))?;
        let entries = reader
            .try_get_log_entries(..)
            .await
            .map_err(|e| e.to_string())?;
        Ok(entries.iter().any(|entry| {
            matches!(&entry.payload, EntryPayload::Normal(Request::Set { key, .. }) if key == ORPHAN_KEY)
        }))
    }

    /// The log id of the entry at `index` in `id`'s log, if it holds one.
    async fn log_id_at(&mut self, id: NodeId, index: u64) -> Result<Option<LogId>, String> {
        let reader = self
            .readers
            .get_mut(&id)
            .ok_or(format!("node {id} is not running"))?;
        let entries = reader
            .try_get_log_entries(index..=index)
            .await
            .map_err(|e| e.to_string())?;
        Ok(entries.first().map(|entry| entry.log_id))
    }

    /// Waits until every node has applied what `leader` has and all maps are equal; returns
    /// the maps and last applied ids.
    #[allow(clippy::type_complexity)]
    async fn converged(
        &self,
        leader: NodeId,
    ) -> Result<
        (
            BTreeMap<NodeId, BTreeMap<String, String>>,
            BTreeMap<NodeId, Option<LogId>>,
        ),
        String,
    > {
        let target = self.machine(leader)?.last_applied();
        until("all state machines equal", || {
            let maps: BTreeMap<_, _> = self.machines.iter().map(|(&id, m)| (id, m.map())).collect();
            let applied: BTreeMap<_, _> = self
                .machines
                .iter()
                .map(|(&id, m)| (id, m.last_applied()))
                .collect();
            let first = maps.values().next()?;
            (maps.len() == NODES.len()
                && applied.values().all(|&a| a == target)
                && maps.values().all(|map| map == first))
            .then_some((maps, applied))
        })
        .await
    }
}

/// Polls `check` until it gives a value, for at most [`STEP_TIMEOUT`].
async fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> Result<T, String> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "timed out after {STEP_TIMEOUT:?} waiting until {what}"
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `id` for output: `T<term>-N<node>-<index>`, or `none`.
fn show(id: Option<LogId>) -> String {
    id.map_or_else(|| "none".to_string(), |id| id.to_string())
}

/// Prints one step of the scenario.
fn say(line: String) {
    println!("kv-cluster: {line}");
}

//! [`Router`]: the cluster's in-process network. It holds every running node's [`Raft`] handle
//! by id, and each node's [`RaftNetworkFactory`] ([`Router::network`]) delivers its RPCs by
//! calling the target's `Raft` directly.
//!
//! Invariants: an RPC is delivered only if the target is registered and neither the sender nor
//! the target is isolated; otherwise it fails with [`Unreachable`], which openraft retries after
//! its backoff. Isolation is by node, both directions, and lasts until [`Router::heal`]. A node
//! being restarted is [`Router::remove`]d (its peers see it unreachable) and [`Router::add`]ed
//! back with its new handle. An error the target returns comes back as a remote error, as a real
//! transport would carry it.

use crate::support::types::{NodeId, Raft, TypeConfig};
use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long a sender waits before retrying an unreachable node: short, so that a healed or
/// restarted node catches up quickly in tests.
const RETRY_AFTER: Duration = Duration::from_millis(50);

/// The in-process network; clones share it.
#[derive(Clone, Default)]
pub(crate) struct Router {
    inner: Arc<Mutex<Nodes>>,
}

#[derive(Default)]
struct Nodes {
    running: BTreeMap<NodeId, Raft>,
    isolated: BTreeSet<NodeId>,
}

impl Router {
    /// An empty network.
    pub(crate) fn new() -> Router {
        Router::default()
    }

    /// Registers (or replaces) node `id`'s handle: RPCs to it reach `raft` from now on.
    pub(crate) fn add(&self, id: NodeId, raft: Raft) {
        self.nodes().running.insert(id, raft);
    }

    /// Unregisters node `id` and returns its handle: RPCs to it fail as unreachable.
    pub(crate) fn remove(&self, id: NodeId) -> Option<Raft> {
        self.nodes().running.remove(&id)
    }

    /// Node `id`'s handle, if registered.
    pub(crate) fn get(&self, id: NodeId) -> Option<Raft> {
        self.nodes().running.get(&id).cloned()
    }

    /// Cuts node `id` off: its RPCs to others and theirs to it fail until [`Router::heal`].
    pub(crate) fn isolate(&self, id: NodeId) {
        self.nodes().isolated.insert(id);
    }

    /// Ends node `id`'s isolation.
    pub(crate) fn heal(&self, id: NodeId) {
        self.nodes().isolated.remove(&id);
    }

    /// The network factory node `id` is given: its connections send as `id`.
    pub(crate) fn network(&self, id: NodeId) -> NodeNetwork {
        NodeNetwork {
            router: self.clone(),
            from: id,
        }
    }

    /// The target's handle if an RPC from `from` to `to` gets through now.
    fn route(&self, from: NodeId, to: NodeId) -> Result<Raft, Unreachable> {
        self.open(from, to)?;
        match self.nodes().running.get(&to) {
            Some(raft) => Ok(raft.clone()),
            None => Err(unreachable(from, to, "not running")),
        }
    }

    /// Whether neither end of `from` -> `to` is isolated now.
    fn open(&self, from: NodeId, to: NodeId) -> Result<(), Unreachable> {
        let nodes = self.nodes();
        if nodes.isolated.contains(&from) || nodes.isolated.contains(&to) {
            return Err(unreachable(from, to, "isolated"));
        }
        Ok(())
    }

    fn nodes(&self) -> MutexGuard<'_, Nodes> {
        self.inner
            .lock()
            .expect("a router user panicked holding its lock")
    }
}

/// The error of an RPC from `from` to `to` that does not get through, and `why`.
fn unreachable(from: NodeId, to: NodeId, why: &str) -> Unreachable {
    let error = io::Error::new(
        io::ErrorKind::ConnectionRefused,
        format!("{from} -> {to}: {why}"),
    );
    Unreachable::new(&error)
}

/// One node's network factory.
pub(crate) struct NodeNetwork {
    router: Router,
    from: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for NodeNetwork {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Connection {
        Connection {
            router: self.router.clone(),
            from: self.from,
            to: target,
        }
    }
}

/// A connection from one node to another; every RPC is routed afresh, so isolation and
/// restarts take effect at the next RPC.
pub(crate) struct Connection {
    router: Router,
    from: NodeId,
    to: NodeId,
}

/// The RPC error type of the cluster for a target error `E`.
type RpcError<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

impl Connection {
    fn remote<E: std::error::Error>(&self, error: RaftError<NodeId, E>) -> RpcError<E> {
        RPCError::RemoteError(RemoteError::new(self.to, error))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        let target = self.router.route(self.from, self.to)?;
        let response = target
            .append_entries(rpc)
            .await
            .map_err(|e| self.remote(e))?;
        // The answer comes back only if the way back is still open.
        self.router.open(self.to, self.from)?;
        Ok(response)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        let target = self.router.route(self.from, self.to)?;
        let response = target
            .install_snapshot(rpc)
            .await
            .map_err(|e| self.remote(e))?;
        // The answer comes back only if the way back is still open.
        self.router.open(self.to, self.from)?;
        Ok(response)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcError> {
        let target = self.router.route(self.from, self.to)?;
        let response = target.vote(rpc).await.map_err(|e| self.remote(e))?;
        // The answer comes back only if the way back is still open.
        self.router.open(self.to, self.from)?;
        Ok(response)
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(RETRY_AFTER))
    }
}

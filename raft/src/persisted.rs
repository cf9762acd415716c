//! [`Persisted`]: what the store keeps in the Walden log's metadata slot (`Wal::set_metadata`):
//! the vote, the last purged log id, and the committed log id as of the last write, as JSON.
//!
//! Invariants:
//! - Written, durably, before the call that changes it returns: `save_vote` before it returns,
//!   `purge` before any segment is removed, so no checkpoint can lose the vote or let the log
//!   start after an entry that was not recorded as purged.
//! - An empty slot is a new store: no vote, nothing purged.
//! - A `format` newer than this build's is refused.

use crate::error::Error;
use openraft::{LogId, NodeId, Vote};
use serde::{Deserialize, Serialize};

/// The layout version of the JSON below.
const FORMAT: u32 = 1;

/// See the module documentation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Persisted<NID: NodeId> {
    format: u32,
    pub(crate) vote: Option<Vote<NID>>,
    pub(crate) committed: Option<LogId<NID>>,
    pub(crate) last_purged: Option<LogId<NID>>,
}

impl<NID: NodeId> Default for Persisted<NID> {
    fn default() -> Self {
        Persisted {
            format: FORMAT,
            vote: None,
            committed: None,
            last_purged: None,
        }
    }
}

impl<NID: NodeId> Persisted<NID> {
    /// Decodes the metadata slot's bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Persisted<NID>, Error> {
        if bytes.is_empty() {
            return Ok(Persisted::default());
        }
        let persisted: Persisted<NID> =
            serde_json::from_slice(bytes).map_err(|err| Error::Metadata {
                reason: err.to_string(),
            })?;
        if persisted.format > FORMAT {
            return Err(Error::Metadata {
                reason: format!(
                    "format {} is newer than this build's {FORMAT}: open it with a newer \
                     walden-raft",
                    persisted.format
                ),
            });
        }
        Ok(persisted)
    }

    /// The slot's bytes.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(self).map_err(|err| Error::Encode {
            reason: err.to_string(),
        })
    }
}

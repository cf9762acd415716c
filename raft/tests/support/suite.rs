//! [`run_suite`]: openraft's own storage test suite (`openraft::testing::Suite`) on a log store
//! opened by [`LogStores`] together with [`KvStateMachine`], case by case, so that a failure names
//! its case and a run can be narrowed to some cases.
//!
//! Every case gets a fresh temporary directory holding `log/` and `sm/`, removed when the case
//! ends, and a runtime of its own (as `Suite::test_all` does), so call this from a plain
//! `#[test]`, not from inside a runtime. The case list is `Suite::test_store`'s, in its order.

use crate::support::kv::KvStateMachine;
use crate::support::stores::LogStores;
use crate::support::types::{StorageError, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{AnyError, StorageIOError};
use std::future::Future;

/// Builds each case's stores with `S`.
struct Builder<S>(S);

impl<S: LogStores + Default> StoreBuilder<TypeConfig, S::Store, KvStateMachine, tempfile::TempDir>
    for Builder<S>
{
    async fn build(&self) -> Result<(tempfile::TempDir, S::Store, KvStateMachine), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
        let log = self
            .0
            .open(&dir.path().join("log"))
            .map_err(|e| StorageIOError::write(AnyError::error(e)))?;
        let machine =
            KvStateMachine::open(dir.path().join("sm")).map_err(|e| StorageIOError::write(&e))?;
        Ok((dir, log, machine))
    }
}

/// The suite's type for stores from `S`.
type SuiteOf<S> =
    Suite<TypeConfig, <S as LogStores>::Store, KvStateMachine, Builder<S>, tempfile::TempDir>;

/// Runs `case` on fresh stores from `builder`, on a runtime of its own.
fn run_case<S, F, Fu>(builder: &Builder<S>, name: &str, case: F) -> Result<(), String>
where
    S: LogStores + Default,
    F: FnOnce(S::Store, KvStateMachine) -> Fu,
    Fu: Future<Output = Result<(), StorageError>>,
{
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime
        .block_on(async {
            let (_dir, log, machine) = builder.build().await?;
            case(log, machine).await
        })
        .map_err(|e| format!("{name}: {e}"))
}

/// Runs every case of the suite whose name `wanted` accepts on stores from `S`; stops at the
/// first case that fails (a failed assertion in a case panics). Returns how many cases ran.
pub(crate) fn run_suite<S: LogStores + Default>(
    wanted: impl Fn(&str) -> bool,
) -> Result<usize, String> {
    let builder = Builder(S::default());
    let mut ran = 0;
    macro_rules! cases {
        ($($case:ident),* $(,)?) => {$(
            if wanted(stringify!($case)) {
                run_case(&builder, stringify!($case), SuiteOf::<S>::$case)?;
                ran += 1;
            }
        )*};
    }
    cases!(
        last_membership_in_log_initial,
        last_membership_in_log,
        last_membership_in_log_multi_step,
        get_membership_initial,
        get_membership_from_log_and_empty_sm,
        get_membership_from_empty_log_and_sm,
        get_membership_from_log_le_sm_last_applied,
        get_membership_from_log_gt_sm_last_applied_1,
        get_membership_from_log_gt_sm_last_applied_2,
        get_initial_state_without_init,
        get_initial_state_membership_from_log_and_sm,
        get_initial_state_with_state,
        get_initial_state_last_log_gt_sm,
        get_initial_state_last_log_lt_sm,
        get_initial_state_log_ids,
        get_initial_state_re_apply_committed,
        save_vote,
        get_log_entries,
        limited_get_log_entries,
        try_get_log_entry,
        initial_logs,
        get_log_state,
        get_log_id,
        last_id_in_log,
        last_applied_state,
        purge_logs_upto_0,
        purge_logs_upto_5,
        purge_logs_upto_20,
        delete_logs_since_11,
        delete_logs_since_0,
        append_to_log,
        snapshot_meta,
        apply_single,
        apply_multiple,
    );
    if wanted("transfer_snapshot") {
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        runtime
            .block_on(SuiteOf::<S>::transfer_snapshot(&builder))
            .map_err(|e| format!("transfer_snapshot: {e}"))?;
        ran += 1;
    }
    Ok(ran)
}

//! Batched access counting.
//!
//! Every search marks the memories it returns as accessed. Doing that inline
//! would put a write transaction on every search's critical path and, on a
//! busy engine, one commit per hook call. Instead accesses are gathered in
//! memory and written per project in one transaction shortly afterwards.
//! Access counts are statistics, not acknowledged writes: a crash can lose
//! the last seconds of them, never a memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cm_store::{Access, Store};

use crate::project::Project;

/// How long accesses wait to be written together. Each flush is a write
/// transaction beside the searches: at half a second, searches back to back
/// (150 a second, ~1,000 rows a flush) were two to five times slower next to
/// each one (hybrid p99 at 100k memories 33-38 ms, against 14-15 with no
/// accesses recorded and 14.7-15.1 at five seconds; docs/benchmarks.md). A
/// person's prompts come seconds apart: five seconds makes no count late.
const FLUSH_DELAY: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Pending {
    by_project: HashMap<Project, (Store, HashMap<i64, Access>)>,
    flush_scheduled: bool,
}

/// Accesses not yet written, per project.
#[derive(Debug, Default, Clone)]
pub(crate) struct AccessLog {
    pending: Arc<Mutex<Pending>>,
}

impl AccessLog {
    /// Notes that `ids` were just returned from `project`, and schedules a
    /// write if none is pending.
    pub(crate) fn record(&self, project: &Project, store: &Store, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        let now = cm_store::now_ms();
        let schedule = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let (_, counts) =
                pending.by_project.entry(project.clone()).or_insert_with(|| (store.clone(), HashMap::new()));
            for &id in ids {
                let a = counts.entry(id).or_insert(Access { id, count: 0, last_ms: now });
                a.count += 1;
                a.last_ms = now;
            }
            !std::mem::replace(&mut pending.flush_scheduled, true)
        };
        if schedule && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let log = self.clone();
            runtime.spawn(async move {
                tokio::time::sleep(FLUSH_DELAY).await;
                log.flush().await;
            });
        }
    }

    /// Writes everything gathered so far.
    pub(crate) async fn flush(&self) {
        let batch = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.flush_scheduled = false;
            std::mem::take(&mut pending.by_project)
        };
        for (project, (store, counts)) in batch {
            let accesses: Vec<Access> = counts.into_values().collect();
            if let Err(e) = store.record_accesses(&accesses).await {
                tracing::warn!(project = %project.root().display(), error = %e, "recording memory accesses failed");
            }
        }
    }
}

//! The batched writer: takes everything the pipeline queued and writes it in one transaction
//! every [`crate::FLUSH_EVERY`]. A failed write is logged, counted and retried with backoff;
//! it never blocks checks and is never shown as a target outage. While the database is away,
//! raw results beyond [`MAX_PENDING_RESULTS`] are dropped oldest first (monitor states and
//! status changes are always kept), so memory stays bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use pharos_domain::{CheckResult, MonitorId, MonitorState};
use pharos_store::{Batch, ComponentChange, Store};
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::world::StatusChangeRecord;

/// How often old rollups are pruned.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Most raw results held while the database is unreachable.
pub const MAX_PENDING_RESULTS: usize = 200_000;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Queue {
    results: VecDeque<CheckResult>,
    states: HashMap<MonitorId, MonitorState>,
    changes: Vec<ComponentChange>,
    dropped: u64,
}

impl Queue {
    /// Drops the oldest raw results beyond [`MAX_PENDING_RESULTS`], counting them.
    fn cap_results(&mut self) {
        let excess = self.results.len().saturating_sub(MAX_PENDING_RESULTS);
        if excess > 0 {
            self.results.drain(..excess);
            self.dropped += excess as u64;
        }
    }
}

/// What is waiting to be written, shared by the pipeline (which adds) and the writer (which
/// takes).
#[derive(Clone, Default)]
pub struct Pending(Arc<Mutex<Queue>>);

impl Pending {
    pub fn new() -> Pending {
        Pending::default()
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock leaves plain data behind; keep using it.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(
        &self,
        results: impl Iterator<Item = CheckResult>,
        states: Vec<(MonitorId, MonitorState)>,
        changes: Vec<StatusChangeRecord>,
    ) {
        let mut q = self.lock();
        q.results.extend(results);
        q.cap_results();
        q.states.extend(states);
        q.changes.extend(changes.into_iter().map(to_store_change));
    }

    pub fn add_changes(&self, changes: Vec<StatusChangeRecord>) {
        self.add(std::iter::empty(), Vec::new(), changes);
    }

    fn take(&self) -> (Batch, u64) {
        let mut q = self.lock();
        let batch = Batch {
            results: q.results.drain(..).collect(),
            monitor_states: q.states.drain().collect(),
            component_changes: std::mem::take(&mut q.changes),
        };
        (batch, std::mem::take(&mut q.dropped))
    }

    /// Puts a batch that failed to write back in front of anything queued since.
    fn put_back(&self, batch: Batch) {
        let mut q = self.lock();
        let newer_results = std::mem::take(&mut q.results);
        q.results = batch.results.into();
        q.results.extend(newer_results);
        q.cap_results();
        for (id, state) in batch.monitor_states {
            // A newer state queued since wins.
            q.states.entry(id).or_insert(state);
        }
        let newer_changes = std::mem::take(&mut q.changes);
        q.changes = batch.component_changes;
        q.changes.extend(newer_changes);
    }

    fn is_empty(&self) -> bool {
        let q = self.lock();
        q.results.is_empty() && q.states.is_empty() && q.changes.is_empty()
    }
}

fn to_store_change(c: StatusChangeRecord) -> ComponentChange {
    ComponentChange {
        component_id: c.component_id,
        from: c.from,
        to: c.to,
        at: c.at,
    }
}

/// Writes pending batches until stopped, then makes one last attempt.
pub async fn run(
    store: Store,
    pending: Pending,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
    pipeline_done: tokio::sync::oneshot::Receiver<()>,
) {
    let mut backoff = crate::FLUSH_EVERY;
    let mut next_prune = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => break,
        }
        if tokio::time::Instant::now() >= next_prune {
            next_prune += PRUNE_EVERY;
            match store.prune(chrono::Utc::now()).await {
                Ok(report) => tracing::debug!(?report, "old rollups pruned"),
                Err(err) => tracing::warn!(error = %err, "pruning old rollups failed; will retry"),
            }
        }
        backoff = if write_once(&store, &pending, &metrics).await {
            crate::FLUSH_EVERY
        } else {
            (backoff * 2).min(MAX_BACKOFF)
        };
    }
    // The pipeline drains on the same stop signal; wait for it to hand over the rest.
    let _ = tokio::time::timeout(Duration::from_secs(2), pipeline_done).await;
    if !pending.is_empty() {
        write_once(&store, &pending, &metrics).await;
    }
}

async fn write_once(store: &Store, pending: &Pending, metrics: &Metrics) -> bool {
    let (batch, dropped) = pending.take();
    if dropped > 0 {
        tracing::warn!(dropped, "database unavailable for long: oldest raw check results were dropped (states and status changes are kept)");
    }
    if batch.results.is_empty()
        && batch.monitor_states.is_empty()
        && batch.component_changes.is_empty()
    {
        return true;
    }
    let started = std::time::Instant::now();
    match store.write_batch(&batch).await {
        Ok(()) => {
            metrics.record_batch(started.elapsed());
            true
        }
        Err(err) => {
            metrics.record_store_error();
            tracing::error!(error = %err, results = batch.results.len(), "writing check results failed; will retry");
            pending.put_back(batch);
            false
        }
    }
}

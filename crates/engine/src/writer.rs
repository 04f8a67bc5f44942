//! The batched writer: takes everything the pipeline queued and writes it in one transaction
//! every [`crate::FLUSH_EVERY`]. A failed write is logged, counted and retried with backoff;
//! it never blocks checks and is never shown as a target outage. While the database is away,
//! raw results beyond [`MAX_PENDING_RESULTS`] are dropped oldest first (monitor states and
//! status changes are always kept), so memory stays bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use pharos_domain::{CheckResult, MonitorId, MonitorState};
use pharos_store::{Batch, Store};
use tokio::sync::watch;

use crate::metrics::Metrics;

/// How often old rollups are pruned.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Most raw results held while the database is unreachable.
pub const MAX_PENDING_RESULTS: usize = 200_000;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What waits to be written. Raw results and monitor states are held apart from the rest of
/// the batch so that the oldest results can be dropped cheaply and a monitor's newer state
/// replaces its older one (memory stays bounded while the database is away).
#[derive(Default)]
struct Queue {
    results: VecDeque<CheckResult>,
    states: HashMap<MonitorId, MonitorState>,
    /// Everything else, in the order it was queued.
    rest: Batch,
    dropped: u64,
    /// Sequence number of the last thing queued; a batch carries everything up to it.
    queued_seq: u64,
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
#[derive(Clone)]
pub struct Pending {
    queue: Arc<Mutex<Queue>>,
    committed: Arc<watch::Sender<u64>>,
    /// Bumped after each commit that stored notifications, to wake the dispatcher.
    outbox_committed: Arc<watch::Sender<u64>>,
    /// Wakes the writer early, for writes someone is waiting on.
    urgent: Arc<tokio::sync::Notify>,
}

impl Pending {
    pub fn new() -> Pending {
        Pending {
            queue: Arc::default(),
            committed: Arc::new(watch::channel(0).0),
            outbox_committed: Arc::new(watch::channel(0).0),
            urgent: Arc::default(),
        }
    }

    /// Asks the writer to write now rather than at its next tick.
    pub fn write_soon(&self) {
        self.urgent.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock leaves plain data behind; keep using it.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes after every commit that stored notifications.
    pub fn outbox_committed(&self) -> watch::Receiver<u64> {
        self.outbox_committed.subscribe()
    }

    /// Watches the sequence number of the last write committed.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Queues one step's batch (results, states, status changes, the desk's writes and the
    /// notifications they cause) so that it lands in one transaction with whatever is queued
    /// with it. Returns its sequence number: once [`Pending::committed`] reaches it, it is
    /// stored.
    pub fn add(&self, mut batch: Batch) -> u64 {
        let mut q = self.lock();
        q.results.extend(batch.results.drain(..));
        q.cap_results();
        q.states.extend(batch.monitor_states.drain(..));
        q.rest.append(batch);
        q.queued_seq += 1;
        q.queued_seq
    }

    fn take(&self) -> (Batch, u64, u64) {
        let mut q = self.lock();
        let mut batch = std::mem::take(&mut q.rest);
        batch.results = q.results.drain(..).collect();
        batch.monitor_states = q.states.drain().collect();
        (batch, std::mem::take(&mut q.dropped), q.queued_seq)
    }

    fn mark_committed(&self, seq: u64) {
        self.committed.send_if_modified(|c| {
            let advanced = seq > *c;
            *c = (*c).max(seq);
            advanced
        });
    }

    /// Puts a batch that failed to write back in front of anything queued since.
    fn put_back(&self, mut batch: Batch) {
        let mut q = self.lock();
        let newer_results = std::mem::take(&mut q.results);
        q.results = batch.results.drain(..).collect();
        q.results.extend(newer_results);
        q.cap_results();
        for (id, state) in batch.monitor_states.drain(..) {
            // A newer state queued since wins.
            q.states.entry(id).or_insert(state);
        }
        let newer = std::mem::replace(&mut q.rest, batch);
        q.rest.append(newer);
    }

    fn is_empty(&self) -> bool {
        let q = self.lock();
        q.results.is_empty() && q.states.is_empty() && q.rest.is_empty()
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
            // A failing database keeps its backoff; only a healthy one is hurried.
            _ = pending.urgent.notified(), if backoff == crate::FLUSH_EVERY => {}
            _ = stop.changed() => break,
        }
        if tokio::time::Instant::now() >= next_prune {
            next_prune += PRUNE_EVERY;
            match store.prune(crate::clock::now()).await {
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
    let (batch, dropped, seq) = pending.take();
    if dropped > 0 {
        tracing::warn!(dropped, "database unavailable for long: oldest raw check results were dropped (states and status changes are kept)");
    }
    if batch.is_empty() {
        pending.mark_committed(seq);
        return true;
    }
    let started = std::time::Instant::now();
    let has_outbox = !batch.outbox.is_empty();
    match store.write_batch(&batch).await {
        Ok(()) => {
            metrics.record_batch(started.elapsed());
            pending.mark_committed(seq);
            if has_outbox {
                pending.outbox_committed.send_modify(|n| *n += 1);
            }
            true
        }
        Err(err) if err.is_fenced() => {
            // A deposed leader of several nodes: the node stops this engine at its next
            // renewal, and the new leader checks again; the batch is kept only so the
            // shutdown's last attempt is refused the same way.
            tracing::warn!(error = %err, results = batch.results.len(), "batch not written: this node no longer leads");
            pending.put_back(batch);
            false
        }
        Err(err) => {
            metrics.record_store_error();
            tracing::error!(error = %err, results = batch.results.len(), "writing check results failed; will retry");
            pending.put_back(batch);
            false
        }
    }
}

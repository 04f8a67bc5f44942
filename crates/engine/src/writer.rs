//! The batched writer: takes everything the pipeline queued and writes it in one transaction
//! every [`crate::FLUSH_EVERY`]. A failed write is logged, counted and retried with backoff;
//! it never blocks checks and is never shown as a target outage. While the database is away,
//! raw results beyond [`MAX_PENDING_RESULTS`] are dropped oldest first (monitor states and
//! status changes are always kept), so memory stays bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use pharos_domain::{CheckResult, MonitorId, MonitorState};
use pharos_store::{
    Batch, ComponentChange, IncidentEventRecord, IncidentRecord, OutboxRecord, OverrideChange,
    Store, SubscriberChange,
};
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
    /// Latest record per incident id, in first-queued order.
    incidents: Vec<IncidentRecord>,
    events: Vec<IncidentEventRecord>,
    overrides: Vec<OverrideChange>,
    outbox: Vec<OutboxRecord>,
    subscribers: Vec<SubscriberChange>,
    dropped: u64,
    /// Sequence number of the last thing queued; a batch carries everything up to it.
    queued_seq: u64,
}

/// Incident-desk writes to queue with a batch.
#[derive(Debug, Default)]
pub struct DeskWrites {
    /// Incidents and maintenances to upsert.
    pub incidents: Vec<IncidentRecord>,
    /// Timeline entries to append.
    pub events: Vec<IncidentEventRecord>,
    /// Overrides to set or clear.
    pub overrides: Vec<OverrideChange>,
    /// Component status changes the desk caused.
    pub changes: Vec<StatusChangeRecord>,
    /// Notifications the changes cause, stored in the same transaction.
    pub outbox: Vec<OutboxRecord>,
    /// Public subscribers to upsert or remove (with their confirmation e-mails in `outbox`).
    pub subscribers: Vec<SubscriberChange>,
}

impl DeskWrites {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.incidents.is_empty()
            && self.events.is_empty()
            && self.overrides.is_empty()
            && self.changes.is_empty()
            && self.outbox.is_empty()
            && self.subscribers.is_empty()
    }
}

fn upsert_incidents(into: &mut Vec<IncidentRecord>, records: Vec<IncidentRecord>) {
    for r in records {
        match into.iter_mut().find(|x| x.id == r.id) {
            Some(slot) => *slot = r,
            None => into.push(r),
        }
    }
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

    /// Queues results, states, status changes and the desk's writes (with the notifications
    /// they cause) together, so they land in one transaction. Returns their sequence number:
    /// once [`Pending::committed`] reaches it, they are stored.
    pub fn add(
        &self,
        results: impl Iterator<Item = CheckResult>,
        states: Vec<(MonitorId, MonitorState)>,
        changes: Vec<StatusChangeRecord>,
        writes: DeskWrites,
    ) -> u64 {
        let mut q = self.lock();
        q.results.extend(results);
        q.cap_results();
        q.states.extend(states);
        q.changes.extend(changes.into_iter().map(to_store_change));
        upsert_incidents(&mut q.incidents, writes.incidents);
        q.events.extend(writes.events);
        q.overrides.extend(writes.overrides);
        q.changes
            .extend(writes.changes.into_iter().map(to_store_change));
        q.outbox.extend(writes.outbox);
        q.subscribers.extend(writes.subscribers);
        q.queued_seq += 1;
        q.queued_seq
    }

    fn take(&self) -> (Batch, u64, u64) {
        let mut q = self.lock();
        let batch = Batch {
            results: q.results.drain(..).collect(),
            monitor_states: q.states.drain().collect(),
            component_changes: std::mem::take(&mut q.changes),
            incidents: std::mem::take(&mut q.incidents),
            incident_events: std::mem::take(&mut q.events),
            overrides: std::mem::take(&mut q.overrides),
            outbox: std::mem::take(&mut q.outbox),
            subscribers: std::mem::take(&mut q.subscribers),
        };
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
        // Incident documents: a newer version queued since wins; events and overrides keep
        // their order, older first.
        let newer_incidents = std::mem::take(&mut q.incidents);
        q.incidents = batch.incidents;
        upsert_incidents(&mut q.incidents, newer_incidents);
        let newer_events = std::mem::take(&mut q.events);
        q.events = batch.incident_events;
        q.events.extend(newer_events);
        let newer_overrides = std::mem::take(&mut q.overrides);
        q.overrides = batch.overrides;
        q.overrides.extend(newer_overrides);
        let newer_outbox = std::mem::take(&mut q.outbox);
        q.outbox = batch.outbox;
        q.outbox.extend(newer_outbox);
        let newer_subscribers = std::mem::take(&mut q.subscribers);
        q.subscribers = batch.subscribers;
        q.subscribers.extend(newer_subscribers);
    }

    fn is_empty(&self) -> bool {
        let q = self.lock();
        q.results.is_empty()
            && q.states.is_empty()
            && q.changes.is_empty()
            && q.incidents.is_empty()
            && q.events.is_empty()
            && q.overrides.is_empty()
            && q.outbox.is_empty()
            && q.subscribers.is_empty()
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
        Err(err) => {
            metrics.record_store_error();
            tracing::error!(error = %err, results = batch.results.len(), "writing check results failed; will retry");
            pending.put_back(batch);
            false
        }
    }
}

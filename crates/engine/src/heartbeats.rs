//! Heartbeat monitors at run time: one task per monitor holds its
//! [`HeartbeatTracker`], takes the pings the web layer hands over through [`Heartbeats`], and
//! watches the clock for a missed deadline. Each verdict becomes a [`CheckResult`] on the same
//! channel as probe results, so heartbeats open incidents and notify exactly as checks do.
//!
//! After a restart a heartbeat's clock starts again: a silent job gets one full period (or
//! scheduled run) plus grace before it is down. A monitor that was down stays down until its
//! next success ping, because its stored state is restored and nothing is reported before then.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pharos_domain::heartbeat::{HeartbeatSpec, HeartbeatTracker, Ping, Verdict};
use pharos_domain::{CheckResult, MonitorId, MonitorSpec};
use tokio::sync::{mpsc, oneshot, watch};

use crate::stored::{Input, NotStored, Receipt};

use crate::metrics::Metrics;

/// Pings waiting for one monitor's task; a job pings rarely, so a few are plenty.
const INBOX: usize = 16;
/// Longest sleep between looks at the clock, so a wall-clock jump is noticed within a minute.
const LONGEST_SLEEP: Duration = Duration::from_secs(60);

/// A ping with the marker its task answers once the ping's result is queued for writing.
pub(crate) type PingIn = (Ping, oneshot::Sender<u64>);

/// Where pings go: each heartbeat monitor's token and its task's inbox.
#[derive(Debug, Clone)]
pub struct Heartbeats {
    inboxes: Arc<HashMap<String, (MonitorId, mpsc::Sender<PingIn>)>>,
    committed: watch::Receiver<u64>,
}

/// Why a ping was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PingError {
    /// No heartbeat monitor has this token.
    #[error("no heartbeat monitor has this token")]
    UnknownToken,
    /// Pharos is stopping, or the ping could not be stored in time; the caller should send
    /// it again.
    #[error(transparent)]
    NotStored(#[from] NotStored),
}

impl Heartbeats {
    /// Hands a ping to the monitor whose token it names and returns that monitor's id once
    /// what the ping did is stored, so an acknowledged ping survives the node that took it.
    pub async fn ping(&self, token: &str, ping: Ping) -> Result<MonitorId, PingError> {
        let (id, inbox) = self.inboxes.get(token).ok_or(PingError::UnknownToken)?;
        let (marker, answer) = oneshot::channel();
        inbox
            .send((ping, marker))
            .await
            .map_err(|_| NotStored::Stopping)?;
        Receipt::new(answer, self.committed.clone())
            .stored()
            .await?;
        Ok(id.clone())
    }
}

/// What one heartbeat task runs with: its monitor, its settings and its inbox.
pub(crate) type HeartbeatTask = (Arc<MonitorSpec>, HeartbeatSpec, mpsc::Receiver<PingIn>);

/// The tasks to start: one per heartbeat monitor in `specs`, with the registry that feeds
/// them; a ping is answered once `committed` reaches the write that carries it.
pub(crate) fn prepare(
    specs: &[Arc<MonitorSpec>],
    committed: watch::Receiver<u64>,
) -> (Heartbeats, Vec<HeartbeatTask>) {
    let mut inboxes = HashMap::new();
    let mut tasks = Vec::new();
    for spec in specs {
        if let pharos_domain::MonitorKind::Heartbeat(hb) = &spec.kind {
            let (tx, rx) = mpsc::channel(INBOX);
            inboxes.insert(hb.token.clone(), (spec.id.clone(), tx));
            tasks.push((spec.clone(), hb.clone(), rx));
        }
    }
    (
        Heartbeats {
            inboxes: Arc::new(inboxes),
            committed,
        },
        tasks,
    )
}

/// Runs one heartbeat monitor until `stop`.
pub(crate) async fn run(
    spec: Arc<MonitorSpec>,
    heartbeat: HeartbeatSpec,
    mut pings: mpsc::Receiver<PingIn>,
    results: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
    gate: crate::self_check::Gate,
    mut stop: watch::Receiver<bool>,
) {
    let mut tracker = HeartbeatTracker::new(heartbeat, crate::clock::now());
    loop {
        let wait = tracker.deadline().map(|d| {
            (d - crate::clock::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(LONGEST_SLEEP)
        });
        let mut marker = None;
        let verdict = tokio::select! {
            ping = pings.recv() => match ping {
                Some((ping, m)) => {
                    marker = Some(m);
                    tracker.on_ping(&ping)
                }
                None => return,
            },
            _ = tokio::time::sleep(wait.unwrap_or(LONGEST_SLEEP)), if wait.is_some() => {
                tracker.on_clock(crate::clock::now())
            }
            _ = stop.changed() => return,
        };
        if let Some(verdict) = verdict {
            let result = result_of(&spec, verdict);
            metrics.record_check(
                spec.id.as_str(),
                spec.type_name(),
                result.outcome,
                result.started_at.timestamp_millis() as f64 / 1000.0,
                Duration::ZERO,
            );
            // A silent job is no news while Pharos is cut off: its pings could not arrive.
            if gate.admits(&result) && results.send(Input::Result(result)).await.is_err() {
                return;
            }
        }
        // Behind the ping's result, so its answer names the write that stores it.
        if let Some(m) = marker {
            if results.send(Input::Marker(m)).await.is_err() {
                return;
            }
        }
    }
}

/// A verdict as a check result of `spec`.
fn result_of(spec: &MonitorSpec, verdict: Verdict) -> CheckResult {
    CheckResult {
        monitor_id: spec.id.clone(),
        started_at: verdict.at,
        duration_ms: 0,
        outcome: verdict.outcome,
        status_code: None,
        error: verdict.reason,
        timings: None,
        location: pharos_domain::LocationId::local(),
    }
}

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
use tokio::sync::{mpsc, watch};

use crate::metrics::Metrics;

/// Pings waiting for one monitor's task; a job pings rarely, so a few are plenty.
const INBOX: usize = 16;
/// Longest sleep between looks at the clock, so a wall-clock jump is noticed within a minute.
const LONGEST_SLEEP: Duration = Duration::from_secs(60);

/// Where pings go: each heartbeat monitor's token and its task's inbox.
#[derive(Debug, Clone, Default)]
pub struct Heartbeats {
    inboxes: Arc<HashMap<String, (MonitorId, mpsc::Sender<Ping>)>>,
}

/// Why a ping was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PingError {
    /// No heartbeat monitor has this token.
    #[error("no heartbeat monitor has this token")]
    UnknownToken,
    /// Pharos is stopping.
    #[error("Pharos is shutting down")]
    Stopping,
}

impl Heartbeats {
    /// Hands a ping to the monitor whose token it names; returns that monitor's id.
    pub async fn ping(&self, token: &str, ping: Ping) -> Result<MonitorId, PingError> {
        let (id, inbox) = self.inboxes.get(token).ok_or(PingError::UnknownToken)?;
        inbox.send(ping).await.map_err(|_| PingError::Stopping)?;
        Ok(id.clone())
    }
}

/// What one heartbeat task runs with: its monitor, its settings and its inbox.
pub(crate) type HeartbeatTask = (Arc<MonitorSpec>, HeartbeatSpec, mpsc::Receiver<Ping>);

/// The tasks to start: one per heartbeat monitor in `specs`, with the registry that feeds
/// them.
pub(crate) fn prepare(specs: &[Arc<MonitorSpec>]) -> (Heartbeats, Vec<HeartbeatTask>) {
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
        },
        tasks,
    )
}

/// Runs one heartbeat monitor until `stop`.
pub(crate) async fn run(
    spec: Arc<MonitorSpec>,
    heartbeat: HeartbeatSpec,
    mut pings: mpsc::Receiver<Ping>,
    results: mpsc::Sender<CheckResult>,
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
        let verdict = tokio::select! {
            ping = pings.recv() => match ping {
                Some(ping) => tracker.on_ping(&ping),
                None => return,
            },
            _ = tokio::time::sleep(wait.unwrap_or(LONGEST_SLEEP)), if wait.is_some() => {
                tracker.on_clock(crate::clock::now())
            }
            _ = stop.changed() => return,
        };
        let Some(verdict) = verdict else { continue };
        let result = result_of(&spec, verdict);
        metrics.record_check(
            spec.id.as_str(),
            spec.type_name(),
            result.outcome,
            result.started_at.timestamp_millis() as f64 / 1000.0,
            Duration::ZERO,
        );
        // A silent job is no news while Pharos is cut off: its pings could not arrive.
        if gate.admits(&result) && results.send(result).await.is_err() {
            return;
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

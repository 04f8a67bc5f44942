//! The self-check: when Pharos itself loses the network, every target looks down at once.
//! The `[self_check]` targets are things that answer whenever Pharos's own network works (the
//! gateway, a resolver); when all of them fail in the same round, Pharos says so (a WARN in
//! the log, `GET /api/v1/self-check`) and its failed checks are not counted against the
//! targets until a round passes again. Passing checks always count: a recovery is never held
//! back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pharos_domain::monitor::SelfCheck;
use pharos_domain::{CheckOutcome, CheckResult};
use pharos_probe::Prober;
use serde::Serialize;
use tokio::sync::watch;

/// What the self-check last saw, for the admin API.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SelfCheckStatus {
    /// Whether a `[self_check]` is configured at all.
    pub configured: bool,
    /// False while every target fails: Pharos is cut off and failed checks do not count.
    pub online: bool,
    /// When `online` last changed (or the first round, if it never did).
    pub since: Option<DateTime<Utc>>,
    /// When the last round ran.
    pub checked_at: Option<DateTime<Utc>>,
    /// Each target's last result.
    pub targets: Vec<TargetStatus>,
    /// Failed checks not counted because Pharos was offline, since start-up.
    pub suppressed_failures: u64,
}

/// One self-check target's last result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetStatus {
    /// The target as written in the configuration.
    pub target: String,
    /// Whether it answered as its conditions expect.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
}

/// The monitor tasks' view of the self-check: whether a failed result may count.
#[derive(Clone)]
pub(crate) struct Gate {
    status: watch::Receiver<SelfCheckStatus>,
    suppressed: Arc<AtomicU64>,
}

impl Gate {
    /// A gate that never holds anything back (no `[self_check]`).
    pub(crate) fn open() -> (Gate, watch::Sender<SelfCheckStatus>) {
        let (tx, rx) = watch::channel(SelfCheckStatus {
            online: true,
            ..SelfCheckStatus::default()
        });
        (
            Gate {
                status: rx,
                suppressed: Arc::new(AtomicU64::new(0)),
            },
            tx,
        )
    }

    /// Whether `result` may be counted: everything may, except a failure while Pharos is
    /// offline (which is counted as suppressed instead).
    pub(crate) fn admits(&self, result: &CheckResult) -> bool {
        if result.outcome != CheckOutcome::Down || self.status.borrow().online {
            return true;
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(monitor = %result.monitor_id, error = result.error.as_deref().unwrap_or(""), "failed check not counted: Pharos is offline");
        false
    }

    /// The current status, with the suppressed count filled in.
    pub(crate) fn status(&self) -> SelfCheckStatus {
        let mut status = self.status.borrow().clone();
        status.suppressed_failures = self.suppressed.load(Ordering::Relaxed);
        status
    }
}

/// Runs a round every `interval` until `stop`: checks every target at once and updates the
/// status the gate reads.
pub(crate) async fn run(
    spec: SelfCheck,
    prober: Arc<Prober>,
    status: watch::Sender<SelfCheckStatus>,
    mut stop: watch::Receiver<bool>,
) {
    status.send_modify(|s| s.configured = true);
    let mut rounds = tokio::time::interval(spec.interval);
    rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = rounds.tick() => {}
            _ = stop.changed() => return,
        }
        let at = crate::clock::now();
        let checks = spec.targets.iter().map(|(target, monitor)| {
            let prober = prober.clone();
            async move {
                let observation = prober.check(monitor).await;
                let result = CheckResult::judge(monitor, &observation, at);
                TargetStatus {
                    target: target.clone(),
                    ok: result.outcome != CheckOutcome::Down,
                    error: result.error,
                }
            }
        });
        let targets = tokio::select! {
            t = futures_util::future::join_all(checks) => t,
            _ = stop.changed() => return,
        };
        let online = targets.iter().any(|t| t.ok);
        let was = status.borrow().clone();
        if was.checked_at.is_some() && was.online != online || was.checked_at.is_none() && !online {
            if online {
                tracing::info!(
                    offline_for = %pharos_domain::duration::format_duration(
                        (at - was.since.unwrap_or(at)).to_std().unwrap_or_default()
                    ),
                    "Pharos's network is back: a self-check target answers; failed checks count again"
                );
            } else {
                let why: Vec<String> = targets
                    .iter()
                    .map(|t| format!("{}: {}", t.target, t.error.as_deref().unwrap_or("failed")))
                    .collect();
                tracing::warn!(
                    targets = %why.join("; "),
                    "Pharos has lost its own network: no self-check target answers. Failed checks are not counted against their targets until one does"
                );
            }
        }
        status.send_modify(|s| {
            if s.checked_at.is_none() || s.online != online {
                s.since = Some(at);
            }
            s.online = online;
            s.checked_at = Some(at);
            s.targets = targets;
        });
    }
}

//! One check of one monitor, as the server and every probe run it: probe the target within
//! the timeout, judge the observation, and retry a failure `quiet.retries` times before it
//! counts. The loops around it (the server's scheduler in `lib.rs`, a probe's in
//! `pharos probe`) only decide when to call it and where the result goes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use pharos_domain::prometheus::Trend;
use pharos_domain::{CheckOutcome, CheckResult, MonitorKind, MonitorSpec};
use pharos_probe::Prober;
use tokio::sync::watch;
use tokio::time::Instant;

/// When a monitor's checks are due: first at `base + first`, then every interval on its
/// `phase` (see [`crate::schedule`]).
#[derive(Debug, Clone, Copy)]
pub struct Due {
    /// The clock's origin, shared by every monitor of one scheduler.
    pub base: Instant,
    /// The first check, after `base`.
    pub first: Duration,
    /// Where in its interval the monitor's checks fall.
    pub phase: Duration,
}

/// Runs `spec`'s checks when they are due until `stop` fires, handing each result to
/// `deliver` with how late it started and how long it took; stops when `deliver` answers
/// `false`. A slow or hung target only ever delays its own monitor, and never past its
/// timeout.
pub async fn run_checks<F, Fut>(
    spec: Arc<MonitorSpec>,
    prober: Arc<Prober>,
    due_at: Due,
    mut stop: watch::Receiver<bool>,
    mut deliver: F,
) where
    F: FnMut(CheckResult, Duration, Duration) -> Fut,
    Fut: Future<Output = bool>,
{
    let Due { base, first, phase } = due_at;
    let mut due = first;
    // A prometheus monitor's recent values, for its forecast.
    let mut trend = Trend::default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(base + due) => {}
            _ = stop.changed() => return,
        }
        let started = Instant::now();
        let late = started.saturating_duration_since(base + due);
        let Some(result) = check_with_retries(&spec, &prober, &mut trend, &mut stop).await else {
            return;
        };
        if !deliver(result, late, started.elapsed()).await {
            return;
        }
        due = crate::schedule::next_due(due, base.elapsed(), spec.interval, phase);
    }
}

/// Checks `spec` once, with its retries; `trend` is the monitor's own (a prometheus
/// monitor's recent values, for its forecast). `None` when `stop` fires first.
pub async fn check_with_retries(
    spec: &MonitorSpec,
    prober: &Prober,
    trend: &mut Trend,
    stop: &mut watch::Receiver<bool>,
) -> Option<CheckResult> {
    // Belt and braces: the probe honours the timeout itself; this bounds any bug there.
    let hard_limit = spec.timeout + Duration::from_secs(1);
    let mut started_at = crate::clock::now();
    let mut attempts = 1;
    loop {
        let observation = tokio::select! {
            o = tokio::time::timeout(hard_limit, prober.check(spec)) => o.unwrap_or_else(|_| {
                pharos_domain::Observation::failed(
                    format!("timed out after {}", pharos_domain::duration::format_duration(spec.timeout)),
                    spec.timeout,
                )
            }),
            _ = stop.changed() => return None,
        };
        let mut result = match &spec.kind {
            MonitorKind::Prometheus(p) => {
                pharos_domain::prometheus::judge_scrape(spec, p, trend, &observation, started_at)
            }
            _ => CheckResult::judge(spec, &observation, started_at),
        };
        if result.outcome != CheckOutcome::Down || attempts > spec.quiet.retries {
            if attempts > 1 && result.outcome == CheckOutcome::Down {
                let note = format!(
                    " ({attempts} attempts, {} apart)",
                    pharos_domain::duration::format_duration(spec.quiet.retry_interval)
                );
                result.error.get_or_insert_with(String::new).push_str(&note);
            }
            return Some(result);
        }
        // A failure counts only once its retries have failed too; a passing retry makes the
        // check pass, so a blip never reaches the thresholds.
        tracing::debug!(monitor = %spec.id, attempt = attempts, error = result.error.as_deref().unwrap_or(""), "check failed; retrying");
        attempts += 1;
        tokio::select! {
            _ = tokio::time::sleep(spec.quiet.retry_interval) => {}
            _ = stop.changed() => return None,
        }
        started_at = crate::clock::now();
    }
}

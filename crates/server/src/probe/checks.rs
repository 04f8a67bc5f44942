//! The checks a probe runs: one task per assigned monitor, started, kept, restarted or
//! stopped as the assignment changes, each running the server's own per-monitor loop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pharos_domain::{MonitorId, MonitorKind, MonitorSpec};
use pharos_engine::schedule;
use pharos_probe::Prober;
use rand::RngExt as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::buffer::Buffer;

/// How an assignment changed the running checks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Monitors now running.
    pub(crate) running: usize,
    /// Started for the first time.
    pub(crate) started: usize,
    /// Restarted because their definition changed.
    pub(crate) restarted: usize,
    /// Stopped because they are no longer assigned.
    pub(crate) stopped: usize,
    /// Assigned but not run here (heartbeats are pinged, never probed).
    pub(crate) skipped: usize,
}

struct Running {
    spec: Arc<MonitorSpec>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The running check tasks.
pub(crate) struct Checks {
    prober: Arc<Prober>,
    sink: Arc<Buffer>,
    base: Instant,
    running: HashMap<MonitorId, Running>,
}

impl Checks {
    /// No checks yet; results will go to `sink`.
    pub(crate) fn new(prober: Arc<Prober>, sink: Arc<Buffer>) -> Checks {
        Checks {
            prober,
            sink,
            base: Instant::now(),
            running: HashMap::new(),
        }
    }

    /// Runs exactly `monitors`: a monitor whose definition is unchanged keeps its task (and
    /// its schedule), a changed one is restarted, one no longer listed is stopped.
    pub(crate) fn apply(&mut self, monitors: Vec<MonitorSpec>) -> Changes {
        let mut changes = Changes::default();
        let mut wanted: HashMap<MonitorId, MonitorSpec> = HashMap::new();
        for spec in monitors {
            if matches!(spec.kind, MonitorKind::Heartbeat(_)) {
                changes.skipped += 1;
                continue;
            }
            wanted.insert(spec.id.clone(), spec);
        }
        let gone: Vec<MonitorId> = self
            .running
            .keys()
            .filter(|id| !wanted.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(old) = self.running.remove(&id) {
                stop(old);
                changes.stopped += 1;
            }
        }
        for (id, spec) in wanted {
            match self.running.get(&id) {
                Some(old) if *old.spec == spec => continue,
                Some(_) => {
                    if let Some(old) = self.running.remove(&id) {
                        stop(old);
                    }
                    changes.restarted += 1;
                }
                None => changes.started += 1,
            }
            let running = self.start(spec);
            self.running.insert(id, running);
        }
        changes.running = self.running.len();
        changes
    }

    fn start(&self, spec: MonitorSpec) -> Running {
        let spec = Arc::new(spec);
        let (jitter, phase_frac): (f64, f64) = {
            let mut rng = rand::rng();
            (rng.random(), rng.random())
        };
        let phase = spec.interval.mul_f64(phase_frac);
        // From now, not from `base`: a monitor that arrives later still checks soon.
        let first = self.base.elapsed() + schedule::first_delay(spec.interval, jitter);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run_monitor(
            spec.clone(),
            self.prober.clone(),
            self.sink.clone(),
            self.base,
            first,
            phase,
            stop_rx,
        ));
        Running { spec, stop, task }
    }

    /// Stops every check; a check in flight is abandoned.
    pub(crate) async fn stop_all(&mut self) {
        let tasks: Vec<JoinHandle<()>> = self
            .running
            .drain()
            .map(|(_, r)| {
                let _ = r.stop.send(true);
                r.task
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }
}

fn stop(running: Running) {
    let _ = running.stop.send(true);
    // The task ends at its next await point; nothing waits for it here.
    drop(running.task);
}

/// One monitor's checks on a probe: the server's own loop (`pharos_engine::checking`), each
/// result kept in the probe's buffer.
async fn run_monitor(
    spec: Arc<MonitorSpec>,
    prober: Arc<Prober>,
    results: Arc<Buffer>,
    base: Instant,
    first: Duration,
    phase: Duration,
    stop: watch::Receiver<bool>,
) {
    let due = pharos_engine::checking::Due { base, first, phase };
    let id = spec.id.clone();
    pharos_engine::checking::run_checks(spec, prober, due, stop, |result, _, _| {
        tracing::debug!(monitor = %id, outcome = result.outcome.as_str(), "check finished");
        results.push(result);
        std::future::ready(true)
    })
    .await;
}

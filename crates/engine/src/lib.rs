//! The running system behind a handle: the scheduler that keeps every monitor on its
//! interval, the pipeline that judges results and keeps the live [`StatusView`], and the
//! writer that records results in batches. Knows nothing of HTTP.
//!
//! Checks never wait for the database: results flow scheduler → pipeline (in memory) →
//! writer (batched, retried). The view is published from memory, so the page stays current
//! even while the database is slow or down.

pub mod catalog;
pub mod metrics;
pub mod schedule;
pub mod view;
pub mod world;
mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use pharos_domain::{CheckResult, MonitorSpec};
use pharos_probe::Prober;
use pharos_store::{ComponentRecord, MonitorRecord, Store};
use rand::RngExt as _;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use catalog::ComponentDef;
pub use metrics::Metrics;
pub use view::{ComponentView, MonitorView, PageInfo, StatusView};
use world::{ComponentHistory, World};
use writer::Pending;

/// What the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The page's identity.
    pub page: PageInfo,
    /// Configured components, in file order.
    pub components: Vec<ComponentDef>,
    /// Configured monitors, in file order.
    pub monitors: Vec<MonitorSpec>,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The component list is inconsistent.
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    /// Storage failed during start-up.
    #[error("storage: {0}")]
    Store(#[from] pharos_store::StoreError),
    /// The prober could not be built.
    #[error("probe: {0}")]
    Probe(#[from] pharos_probe::ProbeError),
}

/// How often pending results are handed to the writer, and the view republished if changed.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// How often the view is rebuilt even without changes (uptime bars move with time).
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// A running engine.
pub struct EngineHandle {
    view: watch::Receiver<Arc<StatusView>>,
    metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl EngineHandle {
    /// Subscribes to the live view; a new value is published whenever something visible
    /// changes (and at least every [`REFRESH_EVERY`]).
    pub fn subscribe(&self) -> watch::Receiver<Arc<StatusView>> {
        self.view.clone()
    }

    /// The current view.
    pub fn view(&self) -> Arc<StatusView> {
        self.view.borrow().clone()
    }

    /// The engine's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Stops scheduling, lets the pipeline and writer drain, and waits up to `grace` for
    /// in-flight writes to finish.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "engine tasks did not finish in time; aborting them"
            );
            self.tasks.abort_all();
        }
    }
}

/// Starts the engine: reconciles the configuration into storage, restores what was recorded,
/// and starts every monitor.
pub async fn start(config: EngineConfig, store: Store) -> Result<EngineHandle, EngineError> {
    let prober = Arc::new(Prober::new()?);
    let now = Utc::now();
    let catalog = catalog::build(&config.components)?;

    let component_records: Vec<ComponentRecord> = catalog
        .iter()
        .enumerate()
        .map(|(i, e)| ComponentRecord {
            id: e.id.clone(),
            name: e.name.clone(),
            description: e.description.clone(),
            group_id: e.group_id.clone(),
            is_group: e.is_group,
            position: u32::try_from(i).unwrap_or(u32::MAX),
        })
        .collect();
    let monitor_records: Vec<MonitorRecord> = config
        .monitors
        .iter()
        .map(|m| MonitorRecord {
            id: m.id.clone(),
            type_name: m.type_name().to_owned(),
            definition_json: m.definition_json(),
            components: m.components.clone(),
        })
        .collect();
    let report = store
        .reconcile(&component_records, &monitor_records, now)
        .await?;
    tracing::debug!(?report, "configuration reconciled into storage");

    let window_start = now - ChronoDuration::days(i64::from(world::UPTIME_DAYS) + 1);
    let mut timelines = store.status_timeline(window_start).await?;
    let histories: HashMap<_, _> = store
        .components()
        .await?
        .into_iter()
        .map(|c| {
            let timeline = timelines.remove(&c.id).unwrap_or_default();
            let h = ComponentHistory {
                status: c.status,
                created_at: c.created_at,
                updated_at: c.updated_at,
                timeline,
            };
            (c.id, h)
        })
        .collect();
    let states: HashMap<_, _> = store.monitor_states().await?.into_iter().collect();
    let specs: Vec<Arc<MonitorSpec>> = config.monitors.into_iter().map(Arc::new).collect();
    let mut world = World::new(config.page, catalog, specs.clone(), histories, states, now);

    let pending = Pending::new();
    let changes = world.rederive_all(now);
    if !changes.is_empty() {
        tracing::info!(
            count = changes.len(),
            "component statuses re-derived from monitors"
        );
        pending.add_changes(changes);
    }

    let metrics = Arc::new(Metrics::new());
    for m in &specs {
        if let Some(s) = world.monitor_state(&m.id) {
            metrics.set_health(m.id.as_str(), s.health);
        }
    }
    let (view_tx, view_rx) = watch::channel(Arc::new(world.view(now)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (result_tx, result_rx) = mpsc::channel::<CheckResult>(16_384);

    let mut tasks = JoinSet::new();
    let base = Instant::now();
    for spec in specs {
        let (jitter, phase_frac): (f64, f64) = {
            let mut rng = rand::rng();
            (rng.random(), rng.random())
        };
        let phase = spec.interval.mul_f64(phase_frac);
        let first = schedule::first_delay(spec.interval, jitter);
        tasks.spawn(run_monitor(
            spec,
            prober.clone(),
            result_tx.clone(),
            metrics.clone(),
            base,
            first,
            phase,
            stop_rx.clone(),
        ));
    }
    drop(result_tx);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    tasks.spawn(run_pipeline(
        world,
        result_rx,
        view_tx,
        pending.clone(),
        metrics.clone(),
        stop_rx.clone(),
        done_tx,
    ));
    tasks.spawn(writer::run(
        store,
        pending,
        metrics.clone(),
        stop_rx,
        done_rx,
    ));
    Ok(EngineHandle {
        view: view_rx,
        metrics,
        stop: stop_tx,
        tasks,
    })
}

/// One monitor's loop: wait for the due time, check, judge, hand the result on. A slow or
/// hung target only ever delays its own monitor, and never past its timeout.
#[allow(clippy::too_many_arguments)]
async fn run_monitor(
    spec: Arc<MonitorSpec>,
    prober: Arc<Prober>,
    results: mpsc::Sender<CheckResult>,
    metrics: Arc<Metrics>,
    base: Instant,
    first: Duration,
    phase: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut due = first;
    // Belt and braces: the probe honours the timeout itself; this bounds any bug there.
    let hard_limit = spec.timeout + Duration::from_secs(1);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(base + due) => {}
            _ = stop.changed() => return,
        }
        let started = Instant::now();
        metrics.record_start_delay(started.saturating_duration_since(base + due));
        let started_at = Utc::now();
        let observation = tokio::select! {
            o = tokio::time::timeout(hard_limit, prober.check(&spec)) => o.unwrap_or_else(|_| {
                pharos_domain::Observation::failed(
                    format!("timed out after {}", pharos_domain::duration::format_duration(spec.timeout)),
                    spec.timeout,
                )
            }),
            _ = stop.changed() => return,
        };
        let result = CheckResult::judge(&spec, &observation, started_at);
        metrics.record_check(
            spec.id.as_str(),
            spec.type_name(),
            result.outcome,
            unix_seconds(started_at),
            started.elapsed(),
        );
        if results.send(result).await.is_err() {
            return;
        }
        due = schedule::next_due(due, base.elapsed(), spec.interval, phase);
    }
}

fn unix_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The pipeline: applies results to the live world, queues what must be written, and
/// publishes the view when something visible changed.
async fn run_pipeline(
    mut world: World,
    mut results: mpsc::Receiver<CheckResult>,
    view: watch::Sender<Arc<StatusView>>,
    pending: Pending,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
    done: tokio::sync::oneshot::Sender<()>,
) {
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    let mut refresh = tokio::time::interval(REFRESH_EVERY);
    let mut batch = Vec::with_capacity(1024);
    let mut dirty = false;
    loop {
        tokio::select! {
            n = results.recv_many(&mut batch, 1024) => {
                if n == 0 {
                    break;
                }
                dirty |= apply_all(&mut world, &mut batch, &pending, &metrics);
            }
            _ = flush.tick() => {
                if dirty {
                    view.send_replace(Arc::new(world.view(Utc::now())));
                    dirty = false;
                }
            }
            _ = refresh.tick() => {
                let now = Utc::now();
                world.trim(now);
                view.send_replace(Arc::new(world.view(now)));
                dirty = false;
            }
            _ = stop.changed() => break,
        }
    }
    // Take whatever already arrived, so a clean shutdown records it.
    while let Ok(r) = results.try_recv() {
        batch.push(r);
    }
    if apply_all(&mut world, &mut batch, &pending, &metrics) || dirty {
        view.send_replace(Arc::new(world.view(Utc::now())));
    }
    let _ = done.send(());
}

fn apply_all(
    world: &mut World,
    batch: &mut Vec<CheckResult>,
    pending: &Pending,
    metrics: &Metrics,
) -> bool {
    let mut changed = false;
    let mut states = Vec::with_capacity(batch.len());
    let mut changes = Vec::new();
    for result in batch.iter() {
        let applied = world.apply(result);
        if let Some(t) = applied.transition {
            // A new monitor's first success is routine (10,000 of them at start-up would
            // bury the log); every other change is worth a line.
            if t.from == pharos_domain::Health::Unknown && t.to == pharos_domain::Health::Up {
                tracing::debug!(monitor = %result.monitor_id, "monitor confirmed up");
            } else {
                tracing::info!(
                    monitor = %result.monitor_id,
                    from = t.from.as_str(),
                    to = t.to.as_str(),
                    error = result.error.as_deref().unwrap_or(""),
                    "monitor health changed"
                );
            }
            metrics.set_health(result.monitor_id.as_str(), t.to);
            changed = true;
        }
        for c in &applied.component_changes {
            tracing::info!(component = %c.component_id, from = %c.from, to = %c.to, "component status changed");
        }
        changes.extend(applied.component_changes);
        if let Some(s) = world.monitor_state(&result.monitor_id) {
            states.push((result.monitor_id.clone(), s.clone()));
        }
    }
    pending.add(batch.drain(..), states, changes);
    changed
}

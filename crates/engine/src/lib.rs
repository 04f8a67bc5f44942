//! The running system behind a handle: the scheduler that keeps every monitor on its
//! interval, the pipeline that judges results and keeps the live [`StatusView`], and the
//! writer that records results in batches. Knows nothing of HTTP.
//!
//! Checks never wait for the database: results flow scheduler → pipeline (in memory) →
//! writer (batched, retried). The view is published from memory, so the page stays current
//! even while the database is slow or down.

pub mod audit;
pub mod catalog;
pub mod changes;
pub mod checking;
pub mod clock;
pub mod control;
pub mod desk;
pub mod dispatch;
pub mod heartbeats;
pub mod locations;
pub mod metrics;
pub mod notices;
pub mod people;
pub mod recent;
pub mod schedule;
pub mod self_check;
pub mod stored;
pub mod subscribers;
pub mod view;
pub mod world;
mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use pharos_domain::{CheckResult, MonitorKind, MonitorSpec};
use pharos_probe::Prober;
use pharos_store::{ComponentRecord, MonitorRecord, Store};
use rand::RngExt as _;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use catalog::ComponentDef;
pub use changes::ChangeSettings;
use control::Command;
pub use control::{CommandError, EngineControl, RetryError};
pub use desk::postmortem::{Publication, StoredPostmortem};
use desk::Desk;
pub use desk::{
    AlertListing, AlertOutcome, ComponentOverride, DeskError, IncidentPatch, IncidentRules,
    MaintenanceDef, MaintenancePatch, NewIncident, NewMaintenance, NewMaintenanceUpdate, NewUpdate,
    OverrideRequest,
};
pub use metrics::Metrics;
use notices::Notices;
pub use pharos_store::{DeliveryState, OutboxRow};
pub use subscribers::{
    Accepted, NewSubscriber, Subscribed, Subscriber, SubscriberError, SubscriberKind,
    SubscriberState,
};
pub use view::{Branding, ComponentView, MonitorView, PageInfo, StatusView};
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
    /// What automation does on a confirmed outage.
    pub incidents: IncidentRules,
    /// Maintenance windows declared in the configuration.
    pub maintenances: Vec<MaintenanceDef>,
    /// Responders' channels (`[[notifiers]]`).
    pub notifiers: Vec<pharos_notify::Notifier>,
    /// The outgoing mail server (`[smtp]`); without one, the page offers no e-mail
    /// subscriptions.
    pub smtp: Option<pharos_notify::email::SmtpSettings>,
    /// The `[self_check]`, if configured: while all its targets fail, failed checks do not
    /// count.
    pub self_check: Option<pharos_domain::monitor::SelfCheck>,
    /// How ingested alerts find their components (`[alerts]`).
    pub alert_routing: pharos_domain::alert::AlertRouting,
    /// What changes are listed with incidents, and the release-regression check (`[changes]`).
    pub changes: ChangeSettings,
    /// Where the public's webhook subscribers may be sent (`[subscriptions]`): public
    /// addresses only, unless the operator allows more.
    pub webhooks: pharos_notify::guard::WebhookRules,
    /// Where probes check from besides the server itself (`[[locations]]`).
    pub locations: Vec<pharos_domain::location::LocationDef>,
    /// The key the console seals TOTP secrets under (`[console] secret_key_file` or
    /// `PHAROS_SECRET_KEY`); without one the second factor cannot be set up or checked.
    pub seal_key: Option<people::SealKey>,
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
    /// The client for subscribers' webhooks could not be built.
    #[error("{0}")]
    Webhooks(#[from] pharos_notify::guard::GuardError),
}

/// How often pending results are handed to the writer, and the view republished if changed.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// How often the view is rebuilt even without changes (uptime bars move with time).
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// How often the incident clock runs (auto-resolve, maintenance windows, override expiry).
pub const TICK_EVERY: Duration = Duration::from_secs(1);

/// A running engine.
pub struct EngineHandle {
    view: watch::Receiver<Arc<StatusView>>,
    metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    control: EngineControl,
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

    /// A clonable handle for responders' commands (the admin API).
    pub fn control(&self) -> EngineControl {
        self.control.clone()
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
/// and starts every monitor. `config.page.email_subscriptions` is set from `config.smtp`.
pub async fn start(mut config: EngineConfig, store: Store) -> Result<EngineHandle, EngineError> {
    let prober = Arc::new(Prober::new()?);
    // One guard for subscribers' webhooks: the dispatcher sends through it and subscribing
    // checks with it, so both apply the same rules.
    let webhooks = pharos_notify::guard::WebhookGuard::new(&config.webhooks)?;
    let now = crate::clock::now();
    let catalog = catalog::build(&config.components)?;
    config.page.email_subscriptions = config.smtp.is_some();
    let groups: HashMap<_, _> = catalog
        .iter()
        .filter_map(|e| e.group_id.clone().map(|g| (e.id.clone(), g)))
        .collect();

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
    // The database's key: it signs subscribers' links and keys the fingerprints of monitors'
    // secrets, so a stored definition changes with a secret without holding it.
    let database_key = store.signing_key().await?;
    let fingerprints = pharos_domain::fingerprint::FingerprintKey::derive(&database_key);
    let monitor_records: Vec<MonitorRecord> = config
        .monitors
        .iter()
        .map(|m| MonitorRecord {
            id: m.id.clone(),
            type_name: m.type_name().to_owned(),
            definition_json: m.definition_json(&fingerprints),
            components: m.components.clone(),
        })
        .collect();
    let report = store
        .reconcile(&component_records, &monitor_records, now)
        .await?;
    log_coverage(&report, &component_records, &monitor_records);

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
    let mut world = World::new(
        config.page.clone(),
        catalog,
        specs.clone(),
        histories,
        states,
        now,
    );
    world.name_locations(
        config
            .locations
            .iter()
            .map(|l| (l.id.clone(), l.name.clone())),
    );

    let (incidents, maintenances) = load_incidents(&store).await?;
    // Each location's own state is not stored: a monitor that was failing somewhere short
    // of its quorum when Pharos stopped starts as failing at a place not yet known, so the
    // incident it is in ends when every place passes again, and its components keep showing
    // the regional status meanwhile. Assumed before the desk is restored, so that what the
    // restore re-derives (alerts, overrides, maintenance) already counts it.
    let failing: Vec<pharos_domain::MonitorId> = incidents
        .iter()
        .filter(|i| i.status.is_unresolved())
        .flat_map(|i| {
            i.monitors
                .iter()
                .filter(|(_, f)| **f)
                .map(|(m, _)| m.clone())
        })
        .collect();
    for m in &failing {
        world.assume_regional(m);
    }
    let overrides = load_overrides(&store).await?;
    let held_alerts = load_held_alerts(&store).await?;
    let mut desk = Desk::new(
        config.incidents,
        Box::new(random_id),
        now.timestamp_micros(),
    );
    let stored = desk::StoredDesk {
        incidents,
        maintenances,
        overrides,
        held_alerts,
    };
    desk.restore(&mut world, stored, now);
    let suspects = if config.changes.degrade && config.changes.regression.is_some() {
        changes::unrecovered_suspects(&store, now).await?
    } else {
        Vec::new()
    };
    desk.restore_regressions(&mut world, &suspects, now);
    desk.reconcile_config(&mut world, &config.maintenances, now);

    let pending = Pending::new();
    let changes = world.rederive_all(now);
    if !changes.is_empty() {
        tracing::info!(
            count = changes.len(),
            "component statuses re-derived from monitors"
        );
    }
    let notices = Notices::new(config.page.clone(), config.notifiers.clone(), groups, now);
    let tokens = subscribers::Tokens::new(database_key);
    let subscriber_records = store
        .subscribers(&pharos_store::SubscriberFilter {
            states: vec![SubscriberState::Pending, SubscriberState::Active],
            component: None,
        })
        .await?;
    let subscribers = subscribers::Subscribers::new(
        config.page.clone(),
        config.smtp.is_some(),
        subscriber_records,
    );
    let mut live = Live {
        world,
        desk,
        alert_routing: config.alert_routing.clone(),
        notices,
        subscribers,
        auditing: None,
        audit_out: Vec::new(),
        recent: Arc::new(recent::RecentChecks::default()),
    };

    let recent = live.recent.clone();
    let metrics = Arc::new(Metrics::new());
    live.queue(&pending, &metrics, Vec::new(), Vec::new(), changes);
    for m in &specs {
        if let Some(s) = live.world.monitor_state(&m.id) {
            metrics.set_health(m.id.as_str(), s.health);
        }
    }
    let (view_tx, view_rx) = watch::channel(Arc::new(build_view(&live.world, &mut live.desk, now)));
    let (command_tx, command_rx) = mpsc::channel::<Command>(256);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (result_tx, result_rx) = mpsc::channel::<stored::Input>(16_384);

    let mut tasks = JoinSet::new();
    let (gate, self_check_status) = self_check::Gate::open();
    if let Some(spec) = config.self_check.take() {
        tasks.spawn(self_check::run(
            spec,
            prober.clone(),
            self_check_status,
            stop_rx.clone(),
        ));
    }
    let (heartbeats, heartbeat_tasks) = heartbeats::prepare(&specs, pending.committed());
    let change_context = Arc::new(changes::ChangeContext::new(config.changes.clone(), &specs));
    for (spec, heartbeat, pings) in heartbeat_tasks {
        tasks.spawn(heartbeats::run(
            spec,
            heartbeat,
            pings,
            result_tx.clone(),
            metrics.clone(),
            gate.clone(),
            stop_rx.clone(),
        ));
    }
    let base = Instant::now();
    // Heartbeats are pinged, not probed; monitors checked only from elsewhere are run by
    // the probes of their locations.
    let registry = Arc::new(locations::Registry::new(
        &config.locations,
        &specs,
        result_tx.clone(),
        pending.committed(),
    ));
    let probed = specs.into_iter().filter(|s| {
        !matches!(s.kind, MonitorKind::Heartbeat(_))
            && s.placement.includes(&pharos_domain::LocationId::local())
    });
    for spec in probed {
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
            gate.clone(),
            base,
            first,
            phase,
            stop_rx.clone(),
        ));
    }
    // The registry holds a sender for the probes' results, so the channel stays open while
    // the engine runs even when no monitor is checked here.
    drop(result_tx);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let committed = pending.committed();
    let email_subscriptions = config.smtp.is_some();
    let seal_key = config.seal_key.take().map(Arc::new);
    tasks.spawn(dispatch::run(
        store.clone(),
        dispatch::Channels {
            notifiers: config.notifiers,
            smtp: config.smtp,
            tokens: tokens.clone(),
            webhooks: webhooks.clone(),
        },
        metrics.clone(),
        pending.outbox_committed(),
        stop_rx.clone(),
    ));
    tasks.spawn(changes::watch(
        change_context.clone(),
        store.clone(),
        command_tx.clone(),
        stop_rx.clone(),
    ));
    tasks.spawn(run_pipeline(
        live,
        registry.clone(),
        result_rx,
        command_rx,
        view_tx,
        pending.clone(),
        metrics.clone(),
        stop_rx.clone(),
        done_tx,
    ));
    tasks.spawn(writer::run(
        store.clone(),
        pending,
        metrics.clone(),
        stop_rx,
        done_rx,
    ));
    Ok(EngineHandle {
        view: view_rx.clone(),
        metrics,
        stop: stop_tx,
        tasks,
        control: EngineControl {
            commands: command_tx,
            committed,
            view: view_rx.clone(),
            store,
            tokens,
            webhooks,
            email_subscriptions,
            heartbeats,
            self_check: gate,
            changes: change_context,
            locations: registry,
            recent,
            audit: None,
            seal_key,
        },
    })
}

/// Says at start-up what reconciling changed and what nothing watches, so a monitor removed
/// from the file, or a component left without one, is never silent: each monitor archived
/// because it left the configuration and each component no monitor drives is a warning; the
/// counts of what was added and changed are informational.
fn log_coverage(
    report: &pharos_store::ReconcileReport,
    components: &[ComponentRecord],
    monitors: &[MonitorRecord],
) {
    let count = |list: &[String], kind: &str| {
        list.iter()
            .filter(|e| e.strip_prefix(kind).is_some_and(|r| r.starts_with(':')))
            .count()
    };
    if !report.is_empty() {
        tracing::info!(
            components_added = count(&report.added, "component"),
            components_changed = count(&report.changed, "component"),
            components_archived = count(&report.archived, "component"),
            monitors_added = count(&report.added, "monitor"),
            monitors_changed = count(&report.changed, "monitor"),
            monitors_archived = count(&report.archived, "monitor"),
            "configuration reconciled into storage"
        );
    }
    for id in report
        .archived
        .iter()
        .filter_map(|e| e.strip_prefix("monitor:"))
    {
        tracing::warn!(
            monitor = id,
            "monitor `{id}` is no longer in the configuration: archived, its history is kept \
             (declare it again to bring it back); GET /api/v1/coverage lists it"
        );
    }
    let driven: std::collections::HashSet<_> =
        monitors.iter().flat_map(|m| m.components.iter()).collect();
    for c in components
        .iter()
        .filter(|c| !c.is_group && !driven.contains(&c.id))
    {
        tracing::warn!(
            component = %c.id,
            "component `{}` is not driven by any monitor; nothing will notice if it goes down",
            c.id
        );
    }
}

/// A new incident, update or timeline id: 12 random characters of `[a-z0-9]`, like
/// Statuspage's.
fn random_id() -> pharos_domain::IncidentId {
    let s = random_string(12);
    // Twelve characters from the accepted alphabet: always a valid id.
    pharos_domain::IncidentId::new(s).unwrap_or_else(|| unreachable!("generated ids are valid"))
}

/// `len` random characters of `[a-z0-9]`: the random part of every id Pharos makes.
pub fn random_string(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

async fn load_incidents(
    store: &Store,
) -> Result<
    (
        Vec<pharos_domain::Incident>,
        Vec<pharos_domain::Maintenance>,
    ),
    EngineError,
> {
    let mut incidents = Vec::new();
    let mut maintenances = Vec::new();
    for r in store.incidents().await? {
        let parsed = match r.kind {
            pharos_store::IncidentKind::Incident => {
                serde_json::from_str(&r.doc).map(|i| incidents.push(i))
            }
            pharos_store::IncidentKind::Maintenance => {
                serde_json::from_str(&r.doc).map(|m| maintenances.push(m))
            }
        };
        if let Err(error) = parsed {
            tracing::error!(incident = %r.id, %error, "a stored incident could not be read; it is left out");
        }
    }
    Ok((incidents, maintenances))
}

async fn load_held_alerts(
    store: &Store,
) -> Result<Vec<(String, pharos_domain::alert::AttachedAlert)>, EngineError> {
    Ok(store
        .held_alerts()
        .await?
        .into_iter()
        .filter_map(|r| match serde_json::from_str(&r.doc) {
            Ok(a) => Some((r.key, a)),
            Err(error) => {
                tracing::error!(alert = %r.key, %error, "a stored alert could not be read; it is left out");
                None
            }
        })
        .collect())
}

async fn load_overrides(store: &Store) -> Result<Vec<desk::ComponentOverride>, EngineError> {
    Ok(store
        .overrides()
        .await?
        .into_iter()
        .filter_map(|r| match serde_json::from_str(&r.doc) {
            Ok(o) => Some(o),
            Err(error) => {
                tracing::error!(component = %r.component_id, %error, "a stored override could not be read; it is left out");
                None
            }
        })
        .collect())
}

/// The view of the world plus the desk's incidents and maintenances.
fn build_view(world: &World, desk: &mut Desk, now: DateTime<Utc>) -> StatusView {
    let mut view = world.view(now);
    let (incidents, maintenances) = desk.lists();
    let latest = incidents
        .iter()
        .filter(|i| i.public)
        .map(|i| i.updated_at)
        .chain(maintenances.iter().map(|m| m.updated_at))
        .max();
    if let Some(latest) = latest {
        view.updated_at = view.updated_at.max(latest);
    }
    view.incidents = incidents;
    view.maintenances = maintenances;
    view
}

/// One monitor's checks on the server: each result is counted in the metrics and, unless
/// the self-check holds failures back, handed to the pipeline.
#[allow(clippy::too_many_arguments)]
async fn run_monitor(
    spec: Arc<MonitorSpec>,
    prober: Arc<Prober>,
    results: mpsc::Sender<stored::Input>,
    metrics: Arc<Metrics>,
    gate: self_check::Gate,
    base: Instant,
    first: Duration,
    phase: Duration,
    stop: watch::Receiver<bool>,
) {
    let due = checking::Due { base, first, phase };
    let (id, type_name) = (spec.id.clone(), spec.type_name());
    checking::run_checks(spec, prober, due, stop, |result, late, took| {
        metrics.record_start_delay(late);
        metrics.record_check(
            id.as_str(),
            type_name,
            result.outcome,
            unix_seconds(result.started_at),
            took,
        );
        let admitted = gate.admits(&result);
        let results = results.clone();
        async move { !admitted || results.send(stored::Input::Result(result)).await.is_ok() }
    })
    .await;
}

fn unix_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The pipeline: applies results and commands to the live world and desk, queues what must be
/// written, and publishes the view when something visible changed. An incident change is
/// published at once; check results at most every [`FLUSH_EVERY`].
#[allow(clippy::too_many_arguments)]
async fn run_pipeline(
    mut live: Live,
    registry: Arc<locations::Registry>,
    mut results: mpsc::Receiver<stored::Input>,
    mut commands: mpsc::Receiver<Command>,
    view: watch::Sender<Arc<StatusView>>,
    pending: Pending,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
    done: tokio::sync::oneshot::Sender<()>,
) {
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    let mut refresh = tokio::time::interval(REFRESH_EVERY);
    let mut tick = tokio::time::interval(TICK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut inputs = Vec::with_capacity(1024);
    let mut batch = Vec::with_capacity(1024);
    let mut dirty = false;
    let mut results_open = true;
    let mut last_tick = crate::clock::now();
    let publish = |live: &mut Live| {
        view.send_replace(Arc::new(build_view(
            &live.world,
            &mut live.desk,
            crate::clock::now(),
        )));
    };
    loop {
        tokio::select! {
            n = results.recv_many(&mut inputs, 1024), if results_open => {
                if n == 0 {
                    // Every monitor task is gone (or none was configured): the pipeline
                    // still serves commands and the clock until told to stop.
                    results_open = false;
                    continue;
                }
                let markers = stored::split(&mut inputs, &mut batch);
                let (changed, seq) = apply_all(&mut live, &mut batch, &pending, &metrics);
                stored::answer(markers, seq, &pending);
                dirty |= changed;
                if live.desk.changed() {
                    publish(&mut live);
                    dirty = false;
                }
            }
            Some(command) = commands.recv() => {
                if command.apply(&mut live, &pending, &metrics, &publish) {
                    publish(&mut live);
                    dirty = false;
                }
            }
            _ = tick.tick() => {
                let now = crate::clock::now();
                if watch_locations(&mut live, &registry, last_tick, now, &pending, &metrics) {
                    dirty = true;
                }
                last_tick = now;
                live.desk.tick(&mut live.world, crate::clock::now());
                if live.desk.changed() {
                    live.queue(&pending, &metrics, Vec::new(), Vec::new(), Vec::new());
                    publish(&mut live);
                    dirty = false;
                }
            }
            _ = flush.tick() => {
                if dirty {
                    publish(&mut live);
                    dirty = false;
                }
            }
            _ = refresh.tick() => {
                live.world.trim(crate::clock::now());
                publish(&mut live);
                dirty = false;
            }
            _ = stop.changed() => break,
        }
    }
    // Take whatever already arrived, so a clean shutdown records it.
    while let Ok(input) = results.try_recv() {
        inputs.push(input);
    }
    let markers = stored::split(&mut inputs, &mut batch);
    let (changed, seq) = apply_all(&mut live, &mut batch, &pending, &metrics);
    stored::answer(markers, seq, &pending);
    if changed || dirty {
        publish(&mut live);
    }
    let _ = done.send(());
}

/// Everything live, owned by the pipeline task.
pub(crate) struct Live {
    pub(crate) world: World,
    pub(crate) desk: Desk,
    pub(crate) alert_routing: pharos_domain::alert::AlertRouting,
    pub(crate) notices: Notices,
    pub(crate) subscribers: subscribers::Subscribers,
    /// The command being applied on someone's behalf, if any.
    pub(crate) auditing: Option<audit::Auditing>,
    /// Audit entries of changes made since the last queueing, written with them.
    pub(crate) audit_out: Vec<pharos_store::AuditRecord>,
    /// Each monitor's last checks, for the console's sparklines.
    pub(crate) recent: Arc<recent::RecentChecks>,
}

impl Live {
    /// Queues one step's results, states and status changes together with the desk's and the
    /// subscribers' writes and the notifications they cause, so all of it lands in one
    /// transaction. Returns the sequence number that tells when it is committed.
    pub(crate) fn queue(
        &mut self,
        pending: &Pending,
        metrics: &Metrics,
        results: Vec<CheckResult>,
        states: Vec<(pharos_domain::MonitorId, pharos_domain::MonitorState)>,
        changes: Vec<pharos_domain::ComponentTransition>,
    ) -> u64 {
        for d in self.desk.take_publish_delays() {
            metrics.record_time_to_publish(d);
        }
        let desk_writes = self.desk.take_writes();
        let mut batch = pharos_store::Batch {
            results,
            monitor_states: states,
            component_changes: changes,
            ..pharos_store::Batch::default()
        };
        batch.append(desk_writes);
        let outbox = self.notices.outbox(
            &self.world,
            &mut self.desk,
            &self.subscribers,
            &batch.component_changes,
            crate::clock::now(),
        );
        batch.outbox.extend(outbox);
        batch.audit.append(&mut self.audit_out);
        let (subscribers, confirmations) = self.subscribers.take_writes();
        batch.subscribers.extend(subscribers);
        batch.outbox.extend(confirmations);
        let has_outbox = !batch.outbox.is_empty();
        let seq = pending.add(batch);
        if has_outbox {
            pending.write_soon();
        }
        seq
    }
}

/// Applies `batch` and queues it for writing; says whether anything visible changed, and
/// the write that carries it.
fn apply_all(
    live: &mut Live,
    batch: &mut Vec<CheckResult>,
    pending: &Pending,
    metrics: &Metrics,
) -> (bool, u64) {
    let mut changed = false;
    live.recent.record(batch);
    let mut states = Vec::with_capacity(batch.len());
    let mut changes = Vec::new();
    for result in batch.iter() {
        let applied = live.world.apply(result);
        if let Some(health) = live
            .world
            .location_health(&result.monitor_id, &result.location)
        {
            metrics.record_location_check(
                result.monitor_id.as_str(),
                result.location.as_str(),
                result.outcome,
                Duration::from_millis(result.duration_ms),
                health,
            );
        }
        changed |= absorb(
            live,
            &result.monitor_id,
            applied,
            result.error.as_deref(),
            metrics,
            &mut states,
            &mut changes,
        );
    }
    let seq = live.queue(pending, metrics, std::mem::take(batch), states, changes);
    (changed, seq)
}

/// Hands what one step did to a monitor to the desk, logs it, and collects its state and
/// component changes for writing. Returns whether anything visible changed.
fn absorb(
    live: &mut Live,
    monitor: &pharos_domain::MonitorId,
    applied: world::Applied,
    error: Option<&str>,
    metrics: &Metrics,
    states: &mut Vec<(pharos_domain::MonitorId, pharos_domain::MonitorState)>,
    changes: &mut Vec<pharos_domain::ComponentTransition>,
) -> bool {
    let Live { world, desk, .. } = live;
    let mut changed = false;
    if let Some(t) = applied.transition {
        // A new monitor's first success is routine (10,000 of them at start-up would
        // bury the log); every other change is worth a line.
        if t.from == pharos_domain::Health::Unknown && t.to == pharos_domain::Health::Up {
            tracing::debug!(%monitor, "monitor confirmed up");
        } else {
            tracing::info!(
                %monitor,
                from = t.from.as_str(),
                to = t.to.as_str(),
                error = error.unwrap_or(""),
                "monitor health changed"
            );
        }
        metrics.set_health(monitor.as_str(), t.to);
        changed = true;
    }
    if let Some(r) = &applied.reach {
        let words = r.verdict.where_words(|l| world.location_name(l));
        tracing::info!(%monitor, from = ?r.from, to = ?r.to, "where the monitor fails changed: {words}");
    }
    for c in &applied.component_changes {
        tracing::info!(component = %c.component_id, from = %c.from, to = %c.to, "component status changed");
        changed = true;
    }
    changed |= applied.votes_changed;
    if applied.transition.is_some() || applied.flap.is_some() || applied.reach.is_some() {
        desk.on_result(world, monitor, &applied, crate::clock::now());
        changed = true;
    }
    changes.extend(applied.component_changes);
    if let Some(s) = world.monitor_state(monitor) {
        states.push((monitor.clone(), s.clone()));
    }
    changed
}

/// Turns the votes of locations whose probes went offline unknown (and back when they
/// return), and of single monitors whose results from a location grew stale.
fn watch_locations(
    live: &mut Live,
    registry: &locations::Registry,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
    pending: &Pending,
    metrics: &Metrics,
) -> bool {
    let mut stepped = Vec::new();
    let mut news = false;
    for change in registry.online_changes() {
        let (location, name) = (&change.location, &change.name);
        if change.online {
            tracing::info!(%location, "location `{name}` is online: its probes are heard from");
        } else {
            tracing::warn!(%location, "probe offline: nothing heard from location `{name}`; its checks count as unknown (never as down) until it returns");
        }
        stepped.extend(live.world.set_location_online(location, change.online, now));
        // The first contact after start is no news; coming back after being offline is.
        if !change.online || change.was_offline {
            live.notices.probe_news(
                pharos_notify::LocationContext {
                    id: location.to_string(),
                    name: name.clone(),
                    last_seen_at: change.last_seen_at,
                    monitors: change.monitors,
                },
                change.online,
                now,
            );
            news = true;
        }
    }
    stepped.extend(live.world.expire_votes(last, now));
    if stepped.is_empty() {
        if news {
            live.queue(pending, metrics, Vec::new(), Vec::new(), Vec::new());
        }
        return false;
    }
    let mut changed = false;
    let mut states = Vec::new();
    let mut changes = Vec::new();
    for (monitor, applied) in stepped {
        changed |= absorb(
            live,
            &monitor,
            applied,
            None,
            metrics,
            &mut states,
            &mut changes,
        );
    }
    live.queue(pending, metrics, Vec::new(), states, changes);
    changed
}

/// Helpers the engine's unit tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::{DateTime, Duration as ChronoDuration, Utc};
    use pharos_domain::{
        ComponentId, ComponentStatus, HttpSpec, MonitorId, MonitorKind, MonitorSpec,
    };

    /// `secs` seconds into a fixed day, so tests read in small numbers.
    pub(crate) fn t(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + ChronoDuration::days(20_000) + ChronoDuration::seconds(secs)
    }

    /// An http monitor `id` driving `components`, down after `failure_threshold` failures and
    /// up after one success.
    pub(crate) fn spec(
        id: &str,
        components: &[&str],
        on_failure: ComponentStatus,
        failure_threshold: u32,
    ) -> Arc<MonitorSpec> {
        Arc::new(MonitorSpec {
            id: MonitorId::new(id).unwrap(),
            kind: MonitorKind::Http(HttpSpec::get("http://127.0.0.1:1/")),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            failure_threshold,
            success_threshold: 1,
            conditions: vec![],
            degraded_conditions: vec![],
            components: components
                .iter()
                .map(|c| ComponentId::new(*c).unwrap())
                .collect(),
            on_failure,
            depends_on: Vec::new(),
            quiet: pharos_domain::QuietRules::default(),
            placement: pharos_domain::location::Placement::default(),
        })
    }
}

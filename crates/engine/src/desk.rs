//! The incident desk: every incident, maintenance window and component override, and every
//! rule that moves them — automation driven by monitor transitions and the clock, and the
//! commands responders send through the admin API. Pure like [`World`]: `now` and ids are
//! passed in, nothing here does I/O. It runs inside the pipeline task, so automation and
//! people never race: every change to an incident is applied in one order.
//!
//! Automation follows three rules:
//! - A monitor confirmed down joins the open incident that already covers one of its
//!   components (or it), else opens one, published at once with `auto_publish`.
//! - When every monitor in an incident has recovered it moves to `monitoring`; after
//!   `auto_resolve_after` of continuous health it is `resolved`. A new failure meanwhile puts
//!   it back to `investigating`.
//! - Once a person posts an update, automation only records events in the timeline: it never
//!   changes that incident's status or posts to it again.
//!
//! Privacy: an incident is public only by an explicit act — declared without `public: false`,
//! opened by automation under `auto_publish`, or published by a person afterwards (PATCH
//! `public: true`, or `public: true` on an update). Posting an update, a monitor or alert
//! joining, recovery, auto-resolve and postmortems never publish one. While an incident is
//! private, the component statuses people ask for on it are held in
//! [`Incident::pending_components`] instead of being shown: they take effect when it is
//! published (if it is still open), and are dropped when it resolves. Monitors, alerts and the
//! release-regression watcher drive components as always.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_domain::incident::{
    self, check_body, check_name, AffectedChange, PublicUpdate, TimelineEntry, TimelineKind,
};
use pharos_domain::{
    Actor, ComponentId, ComponentStatus, Health, Impact, Incident, IncidentId, IncidentStatus,
    Maintenance, MaintenanceStatus, MonitorId, RuleError, Severity,
};
use pharos_store::{
    IncidentEventRecord, IncidentKind, IncidentRecord, OverrideChange, OverrideRecord,
};
use serde::{Deserialize, Serialize};

use pharos_notify::EventKind;

use crate::world::{Flap, StatusChangeRecord, World};
use crate::writer::DeskWrites;

mod alerts;
pub use alerts::{AlertListing, AlertOutcome};
pub mod postmortem;
mod regression;

/// What automation does when checks confirm an outage (`[incidents]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentRules {
    /// A confirmed failure opens an incident.
    pub auto_open: bool,
    /// An incident automation opens is public at once.
    pub auto_publish: bool,
    /// Healthy this long while `monitoring` → resolved.
    pub auto_resolve_after: Duration,
}

impl Default for IncidentRules {
    fn default() -> Self {
        IncidentRules {
            auto_open: true,
            auto_publish: true,
            auto_resolve_after: Duration::from_secs(600),
        }
    }
}

/// A maintenance window declared in the configuration (`[[maintenances]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceDef {
    /// The configuration's id for it, used to find it again on the next start.
    pub config_id: String,
    /// Title.
    pub name: String,
    /// Markdown body of its first update.
    pub body: String,
    /// Components under maintenance during the window.
    pub components: Vec<ComponentId>,
    /// Start.
    pub scheduled_for: DateTime<Utc>,
    /// End.
    pub scheduled_until: DateTime<Utc>,
    /// Start by itself.
    pub auto_start: bool,
    /// Complete by itself.
    pub auto_complete: bool,
}

/// A component status set by a person (or by an incident update), shown instead of what the
/// monitors say until it expires or is cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentOverride {
    /// Which component.
    pub component_id: ComponentId,
    /// The status shown.
    pub status: ComponentStatus,
    /// When it lapses by itself; `None` lasts until cleared.
    pub until: Option<DateTime<Utc>>,
    /// The incident whose update set it; cleared when that incident resolves.
    pub incident_id: Option<IncidentId>,
    /// Who set it.
    pub actor: Actor,
    /// When.
    pub set_at: DateTime<Utc>,
    /// Why, in the setter's words.
    pub reason: Option<String>,
}

/// `POST /api/v1/incidents`: a person declares an incident. Strings are checked here so
/// every refusal names its field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewIncident {
    /// Title.
    pub name: String,
    /// Initial status (default `investigating`).
    pub status: Option<String>,
    /// Markdown body of the first update.
    pub body: String,
    /// Component id → status to show while the incident is open.
    pub components: BTreeMap<String, String>,
    /// Impact override.
    pub impact: Option<String>,
    /// Severity, `S1`..`S4`.
    pub severity: Option<String>,
    /// Whether it shows on the public page (default true).
    pub public: Option<bool>,
}

/// `POST /api/v1/incidents/{id}/updates`: a public update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUpdate {
    /// New status (default: unchanged).
    pub status: Option<String>,
    /// Markdown body.
    pub body: String,
    /// Component id → status.
    pub components: BTreeMap<String, String>,
    /// `Some(true)` publishes a private incident with this update (a person's explicit act);
    /// `Some(false)` is refused on a published one. `None` leaves the visibility alone:
    /// posting an update never publishes.
    pub public: Option<bool>,
}

/// `PATCH /api/v1/incidents/{id}`. For the `Option<Option<_>>` fields, `None` keeps the value
/// and `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentPatch {
    /// New title.
    pub name: Option<String>,
    /// Severity.
    pub severity: Option<Option<String>>,
    /// Impact override.
    pub impact: Option<Option<String>>,
    /// Role → person (or `None` to clear the role).
    pub roles: BTreeMap<String, Option<String>>,
    /// Publish a private incident.
    pub public: Option<bool>,
}

/// `POST /api/v1/maintenances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMaintenance {
    /// Title.
    pub name: String,
    /// Markdown body of the first update.
    pub body: String,
    /// Component ids.
    pub components: Vec<String>,
    /// Start.
    pub scheduled_for: DateTime<Utc>,
    /// End.
    pub scheduled_until: DateTime<Utc>,
    /// Start by itself (default true).
    pub auto_start: Option<bool>,
    /// Complete by itself (default true).
    pub auto_complete: Option<bool>,
}

/// `POST /api/v1/maintenances/{id}/updates`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMaintenanceUpdate {
    /// New status (default: unchanged).
    pub status: Option<String>,
    /// Markdown body.
    pub body: String,
}

/// `PUT /api/v1/components/{id}/override`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideRequest {
    /// Status to show.
    pub status: String,
    /// When it lapses; `None` until cleared.
    pub until: Option<DateTime<Utc>>,
    /// Why.
    pub reason: Option<String>,
}

/// Why the desk refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeskError {
    /// The incident, maintenance or component does not exist.
    #[error("no {what} with id {id:?}")]
    NotFound {
        /// `incident`, `maintenance` or `component`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The request breaks a rule; nothing was changed.
    #[error(transparent)]
    Rule(#[from] RuleError),
}

fn not_found(what: &'static str, id: impl Into<String>) -> DeskError {
    DeskError::NotFound {
        what,
        id: id.into(),
    }
}

/// Makes new ids.
pub type IdSource = Box<dyn FnMut() -> IncidentId + Send>;

/// What a notice is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An incident.
    Incident(IncidentId),
    /// A maintenance.
    Maintenance(IncidentId),
}

/// Who hears of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The responders' notifiers, and subscribers when the subject is public.
    Everyone,
    /// The responders' notifiers only: news of an incident while it is private.
    Responders,
    /// Subscribers only: a private incident was just published; responders heard of it all
    /// along.
    Public,
}

/// Something to notify about: the subject's state is read when notices are taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What happened.
    pub kind: EventKind,
    /// To what.
    pub subject: Subject,
    /// Who hears of it.
    pub reach: Reach,
}

/// Every incident and every maintenance, shared with the published view.
pub type Lists = (Arc<[Incident]>, Arc<[Maintenance]>);

/// The book of incidents, maintenances and overrides, with what is waiting to be written.
pub struct Desk {
    rules: IncidentRules,
    incidents: Vec<Incident>,
    incident_index: HashMap<IncidentId, usize>,
    maintenances: Vec<Maintenance>,
    maintenance_index: HashMap<IncidentId, usize>,
    overrides: BTreeMap<ComponentId, ComponentOverride>,
    ids: IdSource,
    next_seq: i64,
    dirty_incidents: BTreeSet<IncidentId>,
    dirty_maintenances: BTreeSet<IncidentId>,
    writes: DeskWrites,
    published: Option<Lists>,
    /// Newly published incidents' time from first failure to the page, for the metrics.
    publish_delays: Vec<Duration>,
    /// What to notify about, in order; the subject's state is read when they are taken.
    notices: Vec<Notice>,
    /// Alerts held outside any incident (in memory only: senders repeat them).
    loose_alerts: BTreeMap<String, pharos_domain::alert::AttachedAlert>,
}

impl Desk {
    /// An empty desk. `first_seq` orders timeline entries; it must exceed every stored one
    /// (the engine uses the start time in microseconds).
    pub fn new(rules: IncidentRules, ids: IdSource, first_seq: i64) -> Desk {
        Desk {
            rules,
            incidents: Vec::new(),
            incident_index: HashMap::new(),
            maintenances: Vec::new(),
            maintenance_index: HashMap::new(),
            overrides: BTreeMap::new(),
            ids,
            next_seq: first_seq,
            dirty_incidents: BTreeSet::new(),
            dirty_maintenances: BTreeSet::new(),
            writes: DeskWrites::default(),
            published: None,
            publish_delays: Vec::new(),
            notices: Vec::new(),
            loose_alerts: BTreeMap::new(),
        }
    }

    /// Takes what happened since the last call, for notifications.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Restores what storage remembers, and puts active maintenance windows and overrides back
    /// into `world`. Call before [`World::rederive_all`].
    pub fn restore(
        &mut self,
        world: &mut World,
        incidents: Vec<Incident>,
        maintenances: Vec<Maintenance>,
        overrides: Vec<ComponentOverride>,
        now: DateTime<Utc>,
    ) {
        for i in incidents {
            self.incident_index
                .insert(i.id.clone(), self.incidents.len());
            self.incidents.push(i);
        }
        self.restore_alerts(world, now);
        for m in maintenances {
            if m.status.is_active() {
                for c in &m.components {
                    self.record_change(world.set_maintenance(c, true, now));
                }
            }
            self.maintenance_index
                .insert(m.id.clone(), self.maintenances.len());
            self.maintenances.push(m);
        }
        for o in overrides {
            self.record_change(world.set_override(&o.component_id, Some(o.status), now));
            self.overrides.insert(o.component_id.clone(), o);
        }
        self.published = None;
    }

    /// Brings the configuration's `[[maintenances]]` into the book: new ones are created,
    /// ones not yet started take the configuration's current fields, started ones are left
    /// alone.
    pub fn reconcile_config(
        &mut self,
        world: &mut World,
        defs: &[MaintenanceDef],
        now: DateTime<Utc>,
    ) {
        for def in defs {
            let existing = self
                .maintenances
                .iter()
                .position(|m| m.config_id.as_deref() == Some(def.config_id.as_str()));
            match existing {
                Some(mi) => {
                    let m = &mut self.maintenances[mi];
                    if m.status != MaintenanceStatus::Scheduled {
                        continue;
                    }
                    let before = m.clone();
                    m.name.clone_from(&def.name);
                    m.components.clone_from(&def.components);
                    m.scheduled_for = def.scheduled_for;
                    m.scheduled_until = def.scheduled_until;
                    m.auto_start = def.auto_start;
                    m.auto_complete = def.auto_complete;
                    if *m != before {
                        m.updated_at = now;
                        let id = m.id.clone();
                        self.touch_maintenance(&id);
                    }
                }
                None => {
                    let id = self.insert_maintenance(
                        Some(def.config_id.clone()),
                        def.name.clone(),
                        def.body.clone(),
                        def.components.clone(),
                        def.scheduled_for,
                        def.scheduled_until,
                        def.auto_start,
                        def.auto_complete,
                        Actor::Automation,
                        now,
                    );
                    tracing::info!(maintenance = %id, config_id = %def.config_id, "maintenance from the configuration scheduled");
                }
            }
        }
        self.tick(world, now);
    }

    /// Every incident and maintenance, as last published; rebuilt only after a change.
    pub fn lists(&mut self) -> Lists {
        self.published
            .get_or_insert_with(|| {
                (
                    Arc::from(self.incidents.clone()),
                    Arc::from(self.maintenances.clone()),
                )
            })
            .clone()
    }

    /// Whether anything changed since the lists were last taken.
    pub fn changed(&self) -> bool {
        self.published.is_none()
    }

    /// Every incident, oldest first, as they stand now (reading them publishes nothing).
    pub fn incidents(&self) -> &[Incident] {
        &self.incidents
    }

    /// One incident.
    pub fn incident(&self, id: &IncidentId) -> Option<&Incident> {
        self.incident_index.get(id).map(|&i| &self.incidents[i])
    }

    /// One maintenance.
    pub fn maintenance(&self, id: &IncidentId) -> Option<&Maintenance> {
        self.maintenance_index
            .get(id)
            .map(|&i| &self.maintenances[i])
    }

    /// Current overrides, by component.
    pub fn overrides(&self) -> &BTreeMap<ComponentId, ComponentOverride> {
        &self.overrides
    }

    /// Takes what must be written, as store records.
    pub fn take_writes(&mut self) -> DeskWrites {
        let mut writes = std::mem::take(&mut self.writes);
        for id in std::mem::take(&mut self.dirty_incidents) {
            if let Some(i) = self.incident(&id) {
                writes.incidents.push(IncidentRecord {
                    id: i.id.to_string(),
                    kind: IncidentKind::Incident,
                    status: i.status.as_str().to_owned(),
                    created_at: i.created_at,
                    updated_at: i.updated_at,
                    doc: to_doc(i),
                });
            }
        }
        for id in std::mem::take(&mut self.dirty_maintenances) {
            if let Some(m) = self.maintenance(&id) {
                writes.incidents.push(IncidentRecord {
                    id: m.id.to_string(),
                    kind: IncidentKind::Maintenance,
                    status: m.status.as_str().to_owned(),
                    created_at: m.created_at,
                    updated_at: m.updated_at,
                    doc: to_doc(m),
                });
            }
        }
        writes
    }

    /// Takes the time-to-publication of incidents published since the last call.
    pub fn take_publish_delays(&mut self) -> Vec<Duration> {
        std::mem::take(&mut self.publish_delays)
    }

    // ---- automation -------------------------------------------------------------------

    /// Reacts to a monitor's confirmed health change. `changes` are the component status
    /// changes the same result caused.
    pub fn on_transition(
        &mut self,
        world: &mut World,
        monitor: &MonitorId,
        from: Health,
        to: Health,
        changes: &[StatusChangeRecord],
        now: DateTime<Utc>,
    ) {
        if to == Health::Down {
            self.on_down(world, monitor, changes, now);
        } else if from == Health::Down {
            self.on_recovered(world, monitor, changes, now);
        } else {
            self.note_component_changes(changes, now);
        }
    }

    fn on_down(
        &mut self,
        world: &mut World,
        monitor: &MonitorId,
        changes: &[StatusChangeRecord],
        now: DateTime<Utc>,
    ) {
        let Some(spec) = world.monitor_spec(monitor).cloned() else {
            return;
        };
        let state = world.monitor_state(monitor).cloned().unwrap_or_default();
        let at = state.since.unwrap_or(now);
        let first_failure = world.failing_since(monitor).unwrap_or(at);
        let error = state.last_error.clone().unwrap_or_default();
        let (in_maintenance, live): (Vec<ComponentId>, Vec<ComponentId>) = spec
            .components
            .iter()
            .cloned()
            .partition(|c| world.in_maintenance(c));
        if !in_maintenance.is_empty() {
            let windows: Vec<IncidentId> = self
                .maintenances
                .iter()
                .filter(|m| {
                    m.status.is_active() && m.components.iter().any(|c| in_maintenance.contains(c))
                })
                .map(|m| m.id.clone())
                .collect();
            for w in windows {
                self.event(
                    &w,
                    at,
                    now,
                    Actor::Automation,
                    TimelineKind::MonitorDownInMaintenance {
                        monitor_id: monitor.clone(),
                        error: error.clone(),
                    },
                );
            }
        }
        if live.is_empty() {
            return;
        }
        let down_event = TimelineKind::MonitorDown {
            monitor_id: monitor.clone(),
            error: error.clone(),
            first_failure_at: first_failure,
        };
        let names = component_names(world, &live);
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let failures = state.down_streak.max(1);
        let message =
            incident::opening_message(spec.on_failure, &name_refs, failures, error.trim());

        let joined = self.incidents.iter().rposition(|i| {
            i.status.is_unresolved()
                && (i.monitors.contains_key(monitor)
                    || live.iter().any(|c| i.components.contains_key(c)))
        });
        if let Some(ii) = joined {
            let id = self.incidents[ii].id.clone();
            self.event(&id, at, now, Actor::Automation, down_event);
            let inc = &mut self.incidents[ii];
            let new_components: Vec<ComponentId> = live
                .iter()
                .filter(|c| !inc.components.contains_key(*c))
                .cloned()
                .collect();
            inc.monitors.insert(monitor.clone(), true);
            inc.healthy_since = None;
            let affected = affected_from(world, &live, changes);
            for a in &affected {
                inc.note_component(a.component_id.clone(), a.new_status);
            }
            inc.updated_at = now;
            let (human_owned, status) = (inc.human_owned, inc.status);
            // A flapping monitor's changes go on the timeline only; its one update was
            // posted when it started to flap.
            if !human_owned && !world.is_flapping(monitor) {
                if status == IncidentStatus::Monitoring {
                    let body = format!("The problem has returned. {message}");
                    self.post(ii, IncidentStatus::Investigating, body, affected, now);
                } else if !new_components.is_empty() {
                    self.post(ii, status, message, affected, now);
                }
            }
            self.note_component_changes(changes, now);
            self.touch_incident(&id);
            return;
        }
        // A monitor it depends on is down: this failure is that outage's consequence, not
        // news. It goes on the dependency's open incident (which then also waits for this
        // monitor's recovery), and opens nothing of its own.
        let parents_down: Vec<&MonitorId> = spec
            .depends_on
            .iter()
            .filter(|p| {
                world
                    .monitor_state(p)
                    .is_some_and(|s| s.health == Health::Down)
            })
            .collect();
        if !parents_down.is_empty() {
            let parent_incident = self.incidents.iter().rposition(|i| {
                i.status.is_unresolved() && parents_down.iter().any(|p| i.monitors.contains_key(*p))
            });
            if let Some(ii) = parent_incident {
                let id = self.incidents[ii].id.clone();
                self.event(&id, at, now, Actor::Automation, down_event);
                let inc = &mut self.incidents[ii];
                inc.monitors.insert(monitor.clone(), true);
                inc.healthy_since = None;
                inc.updated_at = now;
                self.touch_incident(&id);
            }
            self.note_component_changes(changes, now);
            tracing::info!(
                %monitor,
                depends_on = ?parents_down.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                "monitor down while a monitor it depends on is down: no incident of its own"
            );
            return;
        }
        if !self.rules.auto_open {
            return;
        }
        let ii = self.open_automated(
            incident::opening_name(spec.on_failure, &name_refs),
            first_failure,
            Some(first_failure),
            now,
        );
        self.incidents[ii].monitors.insert(monitor.clone(), true);
        let id = self.incidents[ii].id.clone();
        self.event(&id, at, now, Actor::Automation, down_event);
        let affected = affected_from(world, &live, changes);
        for a in &affected {
            self.incidents[ii].note_component(a.component_id.clone(), a.new_status);
        }
        self.post(ii, IncidentStatus::Investigating, message, affected, now);
        if self.rules.auto_publish {
            self.publish(ii, Actor::Automation, now);
        }
        tracing::info!(incident = %id, monitor = %monitor, public = self.rules.auto_publish, "incident opened by a confirmed failure");
    }

    fn on_recovered(
        &mut self,
        world: &mut World,
        monitor: &MonitorId,
        changes: &[StatusChangeRecord],
        now: DateTime<Utc>,
    ) {
        let at = world
            .monitor_state(monitor)
            .and_then(|s| s.since)
            .unwrap_or(now);
        let open: Vec<usize> = (0..self.incidents.len())
            .filter(|&i| {
                let inc = &self.incidents[i];
                inc.status.is_unresolved() && inc.monitors.get(monitor) == Some(&true)
            })
            .collect();
        for ii in open {
            let id = self.incidents[ii].id.clone();
            self.event(
                &id,
                at,
                now,
                Actor::Automation,
                TimelineKind::MonitorUp {
                    monitor_id: monitor.clone(),
                },
            );
            let inc = &mut self.incidents[ii];
            inc.monitors.insert(monitor.clone(), false);
            let components: Vec<ComponentId> = inc.components.keys().cloned().collect();
            let affected = affected_from(world, &components, changes);
            for a in &affected {
                inc.components.insert(a.component_id.clone(), a.new_status);
            }
            inc.updated_at = now;
            if world.is_flapping(monitor) {
                // Not a recovery yet: it has come back before. `on_flap` posts once it
                // has been stable for a whole window.
            } else if inc.all_clear() {
                inc.healthy_since = Some(now);
                if !inc.human_owned
                    && matches!(
                        inc.status,
                        IncidentStatus::Investigating | IncidentStatus::Identified
                    )
                {
                    let names = component_names(world, &components);
                    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    let body = format!(
                        "Checks of {} are passing again. We are monitoring the recovery.",
                        incident::join_names(&name_refs)
                    );
                    self.post(ii, IncidentStatus::Monitoring, body, affected, now);
                }
            }
            self.touch_incident(&id);
        }
        self.note_component_changes(changes, now);
    }

    /// Reacts to a monitor starting or stopping to flap. Starting posts one update to its open
    /// incident (and so one notification), however often it changes afterwards; stopping
    /// posts the recovery, or that it is still failing.
    pub fn on_flap(
        &mut self,
        world: &mut World,
        monitor: &MonitorId,
        flap: Flap,
        changes: &[StatusChangeRecord],
        now: DateTime<Utc>,
    ) {
        let Some(spec) = world.monitor_spec(monitor).cloned() else {
            return;
        };
        let window = pharos_domain::duration::format_duration(spec.quiet.flap_window);
        let health = world.monitor_state(monitor).map(|s| s.health);
        let open: Vec<usize> = (0..self.incidents.len())
            .filter(|&i| {
                let inc = &self.incidents[i];
                inc.status.is_unresolved() && inc.monitors.contains_key(monitor)
            })
            .collect();
        for ii in open {
            let id = self.incidents[ii].id.clone();
            let components: Vec<ComponentId> =
                self.incidents[ii].components.keys().cloned().collect();
            let names = component_names(world, &components);
            let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let names = incident::join_names(&name_refs);
            let affected = affected_from(world, &components, changes);
            let inc = &mut self.incidents[ii];
            for a in &affected {
                inc.components.insert(a.component_id.clone(), a.new_status);
            }
            inc.updated_at = now;
            let (human_owned, status) = (inc.human_owned, inc.status);
            match flap {
                Flap::Started { changes: n } => {
                    inc.healthy_since = None;
                    tracing::info!(incident = %id, %monitor, changes = n, "monitor is flapping");
                    if !human_owned {
                        let body = format!(
                            "Checks of {names} are flapping: they changed state {n} times within {window}. \
                             The status stays as it is, with no further updates, until they have been \
                             stable for {window}."
                        );
                        let status = if status == IncidentStatus::Monitoring {
                            IncidentStatus::Investigating
                        } else {
                            status
                        };
                        self.post(ii, status, body, affected, now);
                    }
                }
                Flap::Ended => {
                    tracing::info!(incident = %id, %monitor, "monitor stopped flapping");
                    let all_up = inc.all_clear();
                    if health != Some(Health::Down) && all_up {
                        inc.healthy_since = Some(now);
                        if !human_owned
                            && matches!(
                                status,
                                IncidentStatus::Investigating | IncidentStatus::Identified
                            )
                        {
                            let body = format!(
                                "Checks of {names} have been stable and passing for {window}. \
                                 We are monitoring the recovery."
                            );
                            self.post(ii, IncidentStatus::Monitoring, body, affected, now);
                        }
                    } else if !human_owned && health == Some(Health::Down) {
                        let body =
                            format!("Checks of {names} have stopped flapping and are failing.");
                        self.post(ii, status, body, affected, now);
                    }
                }
            }
            self.touch_incident(&id);
        }
        self.note_component_changes(changes, now);
    }

    /// Records component status changes in the timelines of open incidents that cover them.
    pub fn note_component_changes(&mut self, changes: &[StatusChangeRecord], now: DateTime<Utc>) {
        for ch in changes {
            let open: Vec<IncidentId> = self
                .incidents
                .iter()
                .filter(|i| i.status.is_unresolved() && i.components.contains_key(&ch.component_id))
                .map(|i| i.id.clone())
                .collect();
            for id in open {
                self.event(
                    &id,
                    ch.at,
                    now,
                    Actor::Automation,
                    TimelineKind::ComponentStatus {
                        component_id: ch.component_id.clone(),
                        from: ch.from,
                        to: ch.to,
                    },
                );
                if let Some(&ii) = self.incident_index.get(&id) {
                    self.incidents[ii].note_component(ch.component_id.clone(), ch.to);
                    self.touch_incident(&id);
                }
            }
        }
    }

    /// Runs the clock: auto-resolve, the maintenance windows, and expiring overrides.
    pub fn tick(&mut self, world: &mut World, now: DateTime<Utc>) {
        let quiet = chrono::Duration::from_std(self.rules.auto_resolve_after)
            .unwrap_or(chrono::Duration::MAX);
        let due: Vec<usize> = (0..self.incidents.len())
            .filter(|&i| {
                let inc = &self.incidents[i];
                inc.status == IncidentStatus::Monitoring
                    && !inc.human_owned
                    && inc.all_clear()
                    && inc.healthy_since.is_some_and(|h| now - h >= quiet)
            })
            .collect();
        for ii in due {
            let body = format!(
                "This incident has been resolved: every check has passed for {}.",
                pharos_domain::duration::format_duration(self.rules.auto_resolve_after)
            );
            self.post(ii, IncidentStatus::Resolved, body, Vec::new(), now);
            let id = self.incidents[ii].id.clone();
            self.clear_incident_overrides(world, &id, now);
            tracing::info!(incident = %id, "incident resolved after a quiet period");
        }

        let moves: Vec<(usize, MaintenanceStatus)> = self
            .maintenances
            .iter()
            .enumerate()
            .filter_map(|(i, m)| incident::maintenance_due(m, now).map(|to| (i, to)))
            .collect();
        for (mi, to) in moves {
            let body = match to {
                MaintenanceStatus::InProgress => {
                    "Scheduled maintenance is currently in progress. We will provide updates as necessary."
                }
                _ => "The scheduled maintenance has been completed.",
            };
            self.move_maintenance(world, mi, to, body.to_owned(), Actor::Automation, now);
        }

        let expired: Vec<ComponentId> = self
            .overrides
            .values()
            .filter(|o| o.until.is_some_and(|u| u <= now))
            .map(|o| o.component_id.clone())
            .collect();
        for c in expired {
            self.remove_override(world, &c, now);
            tracing::info!(component = %c, "component status override expired");
        }
    }

    // ---- people -----------------------------------------------------------------------

    /// Declares an incident. Every field is checked before anything changes.
    pub fn create_incident(
        &mut self,
        world: &mut World,
        req: NewIncident,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<IncidentId, DeskError> {
        check_name("name", &req.name)?;
        check_body("body", &req.body)?;
        let status = match &req.status {
            Some(s) => incident::parse_incident_status("status", s)?,
            None => IncidentStatus::Investigating,
        };
        let components = parse_component_statuses(world, &req.components)?;
        let impact = req.impact.as_deref().map(parse_impact).transpose()?;
        let severity = req.severity.as_deref().map(parse_severity).transpose()?;

        let id = (self.ids)();
        let incident = Incident {
            id: id.clone(),
            name: req.name.trim().to_owned(),
            status,
            impact_override: impact,
            computed_impact: Impact::None,
            severity,
            components: BTreeMap::new(),
            pending_components: BTreeMap::new(),
            monitors: BTreeMap::new(),
            public: false,
            automated: false,
            human_owned: true,
            roles: BTreeMap::new(),
            created_at: now,
            updated_at: now,
            started_at: now,
            monitoring_at: None,
            resolved_at: None,
            first_failure_at: None,
            published_at: None,
            healthy_since: None,
            alerts: Default::default(),
            updates: Vec::new(),
        };
        let ii = self.insert_incident(incident);
        let opened = TimelineKind::Opened {
            name: self.incidents[ii].name.clone(),
        };
        self.event(&id, now, now, actor.clone(), opened);
        if severity.is_some() {
            self.event(
                &id,
                now,
                now,
                actor.clone(),
                TimelineKind::SeverityChanged {
                    from: None,
                    to: severity,
                },
            );
        }
        let public = req.public.unwrap_or(true);
        let affected = if public {
            self.apply_components(world, ii, &components, &actor, now)
        } else {
            self.hold_components(world, ii, &components)
        };
        self.post_as(ii, status, req.body, affected, actor.clone(), now);
        if status == IncidentStatus::Resolved {
            self.clear_incident_overrides(world, &id, now);
        }
        if public {
            self.publish(ii, actor, now);
        }
        Ok(id)
    }

    /// Posts a public update. The incident is human-owned from now on. It stays private if it
    /// was, unless the update asks to publish it; a private incident's component statuses are
    /// held until then.
    pub fn post_update(
        &mut self,
        world: &mut World,
        id: &IncidentId,
        req: NewUpdate,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let &ii = self
            .incident_index
            .get(id)
            .ok_or_else(|| not_found("incident", id.as_str()))?;
        check_body("body", &req.body)?;
        if req.body.trim().is_empty() && req.status.is_none() && req.components.is_empty() {
            return Err(RuleError::invalid(
                "body",
                "an update needs a body, a status or components",
            )
            .into());
        }
        let status = match &req.status {
            Some(s) => incident::parse_incident_status("status", s)?,
            None if self.incidents[ii].status == IncidentStatus::Postmortem => {
                IncidentStatus::Resolved
            }
            None => self.incidents[ii].status,
        };
        let components = parse_component_statuses(world, &req.components)?;
        let was_public = self.incidents[ii].public;
        if req.public == Some(false) && was_public {
            return Err(
                RuleError::invalid("public", "a published incident cannot be unpublished").into(),
            );
        }

        self.incidents[ii].human_owned = true;
        let affected = if status.is_unresolved() && was_public {
            self.apply_components(world, ii, &components, &actor, now)
        } else if status.is_unresolved() {
            self.hold_components(world, ii, &components)
        } else {
            // Resolving: the components go back to what their monitors say; a status asked
            // for in the same update is recorded, not pinned.
            let mut affected = Vec::new();
            for (c, new) in &components {
                let old = world.component_status(c).unwrap_or(*new);
                affected.push(AffectedChange {
                    component_id: c.clone(),
                    old_status: old,
                    new_status: *new,
                });
                self.incidents[ii].note_component(c.clone(), *new);
            }
            affected
        };
        self.post_as(ii, status, req.body, affected, actor.clone(), now);
        if !status.is_unresolved() {
            self.clear_incident_overrides(world, id, now);
        }
        if req.public == Some(true) {
            self.publish_by_person(world, ii, actor, now);
        }
        Ok(())
    }

    /// Adds a private note to the timeline.
    pub fn add_note(
        &mut self,
        id: &IncidentId,
        body: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let exists =
            self.incident_index.contains_key(id) || self.maintenance_index.contains_key(id);
        if !exists {
            return Err(not_found("incident", id.as_str()));
        }
        if body.trim().is_empty() {
            return Err(RuleError::invalid("body", "must not be empty").into());
        }
        check_body("body", &body)?;
        self.event(id, now, now, actor, TimelineKind::Note { body });
        Ok(())
    }

    /// Changes name, severity, impact, roles or visibility. Publishing a private incident
    /// shows the component statuses held for it, if it is still open.
    pub fn patch_incident(
        &mut self,
        world: &mut World,
        id: &IncidentId,
        patch: IncidentPatch,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let &ii = self
            .incident_index
            .get(id)
            .ok_or_else(|| not_found("incident", id.as_str()))?;
        if let Some(name) = &patch.name {
            check_name("name", name)?;
        }
        let severity = match &patch.severity {
            Some(Some(s)) => Some(Some(parse_severity(s)?)),
            Some(None) => Some(None),
            None => None,
        };
        let impact = match &patch.impact {
            Some(Some(s)) => Some(Some(parse_impact(s)?)),
            Some(None) => Some(None),
            None => None,
        };
        for (role, person) in &patch.roles {
            let ok = !role.is_empty()
                && role.len() <= 32
                && role
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-');
            if !ok {
                return Err(RuleError::invalid(
                    format!("roles.{role}"),
                    "a role name is 1-32 lowercase letters, '-' or '_'",
                )
                .into());
            }
            if let Some(p) = person {
                if p.trim().is_empty() || p.chars().count() > 64 {
                    return Err(RuleError::invalid(
                        format!("roles.{role}"),
                        "a person is named by 1-64 characters",
                    )
                    .into());
                }
            }
        }
        if patch.public == Some(false) && self.incidents[ii].public {
            return Err(
                RuleError::invalid("public", "a published incident cannot be unpublished").into(),
            );
        }

        let mut events = Vec::new();
        let inc = &mut self.incidents[ii];
        if let Some(name) = patch.name {
            let name = name.trim().to_owned();
            if name != inc.name {
                events.push(TimelineKind::Renamed {
                    from: std::mem::replace(&mut inc.name, name.clone()),
                    to: name,
                });
            }
        }
        if let Some(s) = severity {
            if s != inc.severity {
                events.push(TimelineKind::SeverityChanged {
                    from: inc.severity,
                    to: s,
                });
                inc.severity = s;
            }
        }
        if let Some(i) = impact {
            if i != inc.impact_override {
                let from = inc.impact();
                inc.impact_override = i;
                events.push(TimelineKind::ImpactChanged {
                    from,
                    to: inc.impact(),
                });
            }
        }
        for (role, person) in patch.roles {
            let person = person.map(|p| p.trim().to_owned());
            let current = inc.roles.get(&role).cloned();
            if current == person {
                continue;
            }
            match &person {
                Some(p) => inc.roles.insert(role.clone(), p.clone()),
                None => inc.roles.remove(&role),
            };
            events.push(TimelineKind::RoleAssigned { role, person });
        }
        if !events.is_empty() {
            inc.updated_at = now;
        }
        for e in events {
            self.event(id, now, now, actor.clone(), e);
        }
        if patch.public == Some(true) {
            self.publish_by_person(world, ii, actor, now);
        }
        self.touch_incident(id);
        Ok(())
    }

    /// Schedules a maintenance window.
    pub fn create_maintenance(
        &mut self,
        world: &mut World,
        req: NewMaintenance,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<IncidentId, DeskError> {
        check_name("name", &req.name)?;
        check_body("body", &req.body)?;
        if req.components.is_empty() {
            return Err(
                RuleError::invalid("components", "must name at least one component").into(),
            );
        }
        let mut components = Vec::new();
        for (i, c) in req.components.iter().enumerate() {
            let field = format!("components[{i}]");
            let id = leaf_component(world, &field, c)?;
            if !components.contains(&id) {
                components.push(id);
            }
        }
        incident::check_window(req.scheduled_for, req.scheduled_until)?;
        if req.scheduled_until <= now {
            return Err(RuleError::invalid("scheduled_until", "is in the past").into());
        }
        let id = self.insert_maintenance(
            None,
            req.name.trim().to_owned(),
            req.body,
            components,
            req.scheduled_for,
            req.scheduled_until,
            req.auto_start.unwrap_or(true),
            req.auto_complete.unwrap_or(true),
            actor,
            now,
        );
        self.tick(world, now);
        Ok(id)
    }

    /// Posts an update to a maintenance, moving its status forward.
    pub fn update_maintenance(
        &mut self,
        world: &mut World,
        id: &IncidentId,
        req: NewMaintenanceUpdate,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let &mi = self
            .maintenance_index
            .get(id)
            .ok_or_else(|| not_found("maintenance", id.as_str()))?;
        check_body("body", &req.body)?;
        let from = self.maintenances[mi].status;
        let to = match &req.status {
            Some(s) => incident::parse_maintenance_status("status", s)?,
            None => from,
        };
        incident::check_maintenance_transition(from, to)?;
        if to == from && req.body.trim().is_empty() {
            return Err(
                RuleError::invalid("body", "an update needs a body or a new status").into(),
            );
        }
        self.move_maintenance(world, mi, to, req.body, actor, now);
        Ok(())
    }

    /// Shows `status` for a component regardless of its monitors.
    pub fn set_override(
        &mut self,
        world: &mut World,
        component: &str,
        req: OverrideRequest,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let cid = ComponentId::new(component).map_err(|_| not_found("component", component))?;
        match world.component(&cid) {
            None => return Err(not_found("component", component)),
            Some((_, true)) => {
                return Err(RuleError::invalid(
                    "component",
                    "is a group; set the status of its components",
                )
                .into())
            }
            Some(_) => {}
        }
        let status = ComponentStatus::parse(&req.status).ok_or_else(|| {
            RuleError::invalid(
                "status",
                format!("unknown component status {:?}; expected operational, degraded_performance, partial_outage, major_outage or under_maintenance", req.status),
            )
        })?;
        if req.until.is_some_and(|u| u <= now) {
            return Err(RuleError::invalid("until", "is in the past").into());
        }
        if let Some(r) = &req.reason {
            check_body("reason", r)?;
        }
        let o = ComponentOverride {
            component_id: cid.clone(),
            status,
            until: req.until,
            incident_id: None,
            actor,
            set_at: now,
            reason: req.reason,
        };
        self.put_override(world, o, now);
        Ok(())
    }

    /// Clears a component's override; its monitors decide again.
    pub fn clear_override(
        &mut self,
        world: &mut World,
        component: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let cid = ComponentId::new(component).map_err(|_| not_found("component", component))?;
        if world.component(&cid).is_none() {
            return Err(not_found("component", component));
        }
        self.remove_override(world, &cid, now);
        Ok(())
    }

    // ---- internals --------------------------------------------------------------------

    /// Opens an incident automation declares: investigating, not public yet, with its
    /// `opened` entry on the timeline. The caller adds what opened it (monitor, alert or
    /// change), its components, its first update, and publishes it.
    fn open_automated(
        &mut self,
        name: String,
        started_at: DateTime<Utc>,
        first_failure_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> usize {
        let id = (self.ids)();
        let ii = self.insert_incident(Incident {
            id: id.clone(),
            name: name.clone(),
            status: IncidentStatus::Investigating,
            impact_override: None,
            computed_impact: Impact::None,
            severity: None,
            components: BTreeMap::new(),
            pending_components: BTreeMap::new(),
            monitors: BTreeMap::new(),
            public: false,
            automated: true,
            human_owned: false,
            roles: BTreeMap::new(),
            created_at: now,
            updated_at: now,
            started_at,
            monitoring_at: None,
            resolved_at: None,
            first_failure_at,
            published_at: None,
            healthy_since: None,
            alerts: BTreeMap::new(),
            updates: Vec::new(),
        });
        self.event(
            &id,
            now,
            now,
            Actor::Automation,
            TimelineKind::Opened { name },
        );
        ii
    }

    fn insert_incident(&mut self, incident: Incident) -> usize {
        let ii = self.incidents.len();
        let id = incident.id.clone();
        self.incident_index.insert(id.clone(), ii);
        self.incidents.push(incident);
        self.touch_incident(&id);
        ii
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_maintenance(
        &mut self,
        config_id: Option<String>,
        name: String,
        body: String,
        components: Vec<ComponentId>,
        scheduled_for: DateTime<Utc>,
        scheduled_until: DateTime<Utc>,
        auto_start: bool,
        auto_complete: bool,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> IncidentId {
        let id = (self.ids)();
        let update = PublicUpdate {
            id: (self.ids)(),
            status: MaintenanceStatus::Scheduled,
            body: body.clone(),
            created_at: now,
            actor: actor.clone(),
            affected: Vec::new(),
        };
        let m = Maintenance {
            id: id.clone(),
            config_id,
            name: name.clone(),
            status: MaintenanceStatus::Scheduled,
            components,
            scheduled_for,
            scheduled_until,
            auto_start,
            auto_complete,
            created_at: now,
            updated_at: now,
            started_at: None,
            completed_at: None,
            updates: vec![update.clone()],
        };
        self.maintenance_index
            .insert(id.clone(), self.maintenances.len());
        self.maintenances.push(m);
        self.touch_maintenance(&id);
        self.notices.push(Notice {
            kind: EventKind::MaintenanceScheduled,
            subject: Subject::Maintenance(id.clone()),
            reach: Reach::Everyone,
        });
        self.event(&id, now, now, actor.clone(), TimelineKind::Opened { name });
        self.event(
            &id,
            now,
            now,
            actor,
            TimelineKind::PublicUpdate {
                update_id: update.id,
                status: MaintenanceStatus::Scheduled.as_str().to_owned(),
                body,
            },
        );
        id
    }

    fn move_maintenance(
        &mut self,
        world: &mut World,
        mi: usize,
        to: MaintenanceStatus,
        body: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) {
        let from = self.maintenances[mi].status;
        let id = self.maintenances[mi].id.clone();
        let components = self.maintenances[mi].components.clone();
        let kind = match to {
            MaintenanceStatus::InProgress if from == MaintenanceStatus::Scheduled => {
                EventKind::MaintenanceStarted
            }
            MaintenanceStatus::Completed => EventKind::MaintenanceCompleted,
            _ => EventKind::MaintenanceUpdated,
        };
        self.notices.push(Notice {
            kind,
            subject: Subject::Maintenance(id.clone()),
            reach: Reach::Everyone,
        });
        let mut affected = Vec::new();
        if from.is_active() != to.is_active() {
            for c in &components {
                let old = world
                    .component_status(c)
                    .unwrap_or(ComponentStatus::Operational);
                let change = world.set_maintenance(c, to.is_active(), now);
                let new = world.component_status(c).unwrap_or(old);
                affected.push(AffectedChange {
                    component_id: c.clone(),
                    old_status: old,
                    new_status: new,
                });
                self.record_change(change);
            }
        }
        let update = PublicUpdate {
            id: (self.ids)(),
            status: to,
            body: body.clone(),
            created_at: now,
            actor: actor.clone(),
            affected,
        };
        let m = &mut self.maintenances[mi];
        if to == MaintenanceStatus::InProgress && m.started_at.is_none() {
            m.started_at = Some(now);
        }
        if to == MaintenanceStatus::Completed {
            m.completed_at = Some(now);
        }
        m.status = to;
        m.updated_at = now;
        m.updates.push(update.clone());
        self.touch_maintenance(&id);
        self.event(
            &id,
            now,
            now,
            actor,
            TimelineKind::PublicUpdate {
                update_id: update.id,
                status: to.as_str().to_owned(),
                body,
            },
        );
        tracing::info!(maintenance = %id, from = from.as_str(), to = to.as_str(), "maintenance status changed");
        if from.is_active() && !to.is_active() {
            // Monitors that went down during the window and are still down are an outage now.
            let down: Vec<MonitorId> = world
                .monitors()
                .filter(|(spec, state)| {
                    state.health == Health::Down
                        && spec.components.iter().any(|c| components.contains(c))
                })
                .map(|(spec, _)| spec.id.clone())
                .collect();
            for m in down {
                self.on_down(world, &m, &[], now);
            }
        }
    }

    /// Posts an automation update to incident `ii`.
    fn post(
        &mut self,
        ii: usize,
        status: IncidentStatus,
        body: String,
        affected: Vec<AffectedChange>,
        now: DateTime<Utc>,
    ) {
        self.post_as(ii, status, body, affected, Actor::Automation, now);
    }

    fn post_as(
        &mut self,
        ii: usize,
        status: IncidentStatus,
        body: String,
        affected: Vec<AffectedChange>,
        actor: Actor,
        now: DateTime<Utc>,
    ) {
        let update_id = (self.ids)();
        let inc = &mut self.incidents[ii];
        let from = inc.status;
        let kind = if inc.updates.is_empty() {
            EventKind::IncidentOpened
        } else if from.is_unresolved() && !status.is_unresolved() {
            EventKind::IncidentResolved
        } else {
            EventKind::IncidentUpdated
        };
        // News of a private incident is for the responders; subscribers hear of it, as it
        // stands then, when it is published.
        let reach = if inc.public {
            Reach::Everyone
        } else {
            Reach::Responders
        };
        self.notices.push(Notice {
            kind,
            subject: Subject::Incident(inc.id.clone()),
            reach,
        });
        if status == IncidentStatus::Monitoring && from != IncidentStatus::Monitoring {
            inc.monitoring_at = Some(now);
        }
        if !status.is_unresolved() && from.is_unresolved() {
            inc.resolved_at = Some(now);
        }
        if !status.is_unresolved() {
            // Held statuses are for an open incident: resolved, there is nothing to show.
            inc.pending_components.clear();
        }
        if status.is_unresolved() {
            inc.resolved_at = None;
        }
        inc.status = status;
        inc.updated_at = now;
        inc.updates.push(PublicUpdate {
            id: update_id.clone(),
            status,
            body: body.clone(),
            created_at: now,
            actor: actor.clone(),
            affected,
        });
        let id = inc.id.clone();
        self.touch_incident(&id);
        self.event(
            &id,
            now,
            now,
            actor,
            TimelineKind::PublicUpdate {
                update_id,
                status: status.as_str().to_owned(),
                body,
            },
        );
    }

    /// Puts incident `ii` on the public page. Subscribers hear of it once, as it stands when
    /// the notices are taken: the opening notice still waiting to be sent (an incident opened
    /// and published at once) now reaches them too, or else a new one reaches them alone.
    fn publish(&mut self, ii: usize, actor: Actor, now: DateTime<Utc>) {
        let inc = &mut self.incidents[ii];
        if inc.public {
            return;
        }
        inc.public = true;
        inc.published_at = Some(now);
        inc.updated_at = now;
        if let Some(d) = inc.time_to_publish().and_then(|d| d.to_std().ok()) {
            self.publish_delays.push(d);
        }
        let id = inc.id.clone();
        let subject = Subject::Incident(id.clone());
        let waiting = self.notices.iter_mut().find(|n| {
            n.subject == subject
                && n.kind == EventKind::IncidentOpened
                && n.reach == Reach::Responders
        });
        match waiting {
            Some(n) => n.reach = Reach::Everyone,
            None => self.notices.push(Notice {
                kind: EventKind::IncidentOpened,
                subject,
                reach: Reach::Public,
            }),
        }
        self.touch_incident(&id);
        self.event(&id, now, now, actor, TimelineKind::Published);
    }

    /// A person publishes incident `ii`: it goes on the public page, and the component
    /// statuses held while it was private take effect if it is still open.
    fn publish_by_person(
        &mut self,
        world: &mut World,
        ii: usize,
        actor: Actor,
        now: DateTime<Utc>,
    ) {
        if self.incidents[ii].public {
            return;
        }
        let held: Vec<(ComponentId, ComponentStatus)> =
            std::mem::take(&mut self.incidents[ii].pending_components)
                .into_iter()
                .collect();
        self.publish(ii, actor.clone(), now);
        if self.incidents[ii].status.is_unresolved() && !held.is_empty() {
            self.apply_components(world, ii, &held, &actor, now);
        }
    }

    /// Holds the requested component statuses of private incident `ii` until it is
    /// published: recorded on the incident (and in the update's affected components), not
    /// shown.
    fn hold_components(
        &mut self,
        world: &World,
        ii: usize,
        components: &[(ComponentId, ComponentStatus)],
    ) -> Vec<AffectedChange> {
        let inc = &mut self.incidents[ii];
        components
            .iter()
            .map(|(c, status)| {
                let old = world.component_status(c).unwrap_or(*status);
                inc.pending_components.insert(c.clone(), *status);
                inc.note_component(c.clone(), *status);
                AffectedChange {
                    component_id: c.clone(),
                    old_status: old,
                    new_status: *status,
                }
            })
            .collect()
    }

    /// Pins the requested component statuses as overrides owned by incident `ii`.
    fn apply_components(
        &mut self,
        world: &mut World,
        ii: usize,
        components: &[(ComponentId, ComponentStatus)],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Vec<AffectedChange> {
        let id = self.incidents[ii].id.clone();
        let mut affected = Vec::new();
        for (c, status) in components {
            let old = world.component_status(c).unwrap_or(*status);
            self.put_override(
                world,
                ComponentOverride {
                    component_id: c.clone(),
                    status: *status,
                    until: None,
                    incident_id: Some(id.clone()),
                    actor: actor.clone(),
                    set_at: now,
                    reason: None,
                },
                now,
            );
            self.incidents[ii].note_component(c.clone(), *status);
            affected.push(AffectedChange {
                component_id: c.clone(),
                old_status: old,
                new_status: *status,
            });
        }
        affected
    }

    fn put_override(&mut self, world: &mut World, o: ComponentOverride, now: DateTime<Utc>) {
        let change = world.set_override(&o.component_id, Some(o.status), now);
        self.writes
            .overrides
            .push(OverrideChange::Set(OverrideRecord {
                component_id: o.component_id.clone(),
                status: o.status,
                until: o.until,
                set_at: o.set_at,
                doc: to_doc(&o),
            }));
        self.overrides.insert(o.component_id.clone(), o);
        if let Some(ch) = change {
            self.note_component_changes(std::slice::from_ref(&ch), now);
            self.record_change(Some(ch));
        }
    }

    fn remove_override(&mut self, world: &mut World, c: &ComponentId, now: DateTime<Utc>) {
        if self.overrides.remove(c).is_none() {
            return;
        }
        self.writes.overrides.push(OverrideChange::Clear(c.clone()));
        if let Some(ch) = world.set_override(c, None, now) {
            self.note_component_changes(std::slice::from_ref(&ch), now);
            self.record_change(Some(ch));
        }
    }

    fn clear_incident_overrides(&mut self, world: &mut World, id: &IncidentId, now: DateTime<Utc>) {
        let owned: Vec<ComponentId> = self
            .overrides
            .values()
            .filter(|o| o.incident_id.as_ref() == Some(id))
            .map(|o| o.component_id.clone())
            .collect();
        for c in owned {
            self.remove_override(world, &c, now);
        }
        self.release_alerts(world, id, now);
    }

    fn record_change(&mut self, change: Option<StatusChangeRecord>) {
        if let Some(c) = change {
            self.writes.changes.push(c);
            self.published = None;
        }
    }

    fn touch_incident(&mut self, id: &IncidentId) {
        self.dirty_incidents.insert(id.clone());
        self.published = None;
    }

    fn touch_maintenance(&mut self, id: &IncidentId) {
        self.dirty_maintenances.insert(id.clone());
        self.published = None;
    }

    fn event(
        &mut self,
        incident: &IncidentId,
        occurred_at: DateTime<Utc>,
        now: DateTime<Utc>,
        actor: Actor,
        kind: TimelineKind,
    ) {
        let entry = TimelineEntry {
            id: (self.ids)(),
            incident_id: incident.clone(),
            occurred_at,
            recorded_at: now,
            actor,
            kind,
        };
        self.next_seq += 1;
        self.writes.events.push(IncidentEventRecord {
            id: entry.id.to_string(),
            incident_id: incident.to_string(),
            seq: self.next_seq,
            occurred_at,
            recorded_at: now,
            kind: entry.kind_name().to_owned(),
            doc: to_doc(&entry),
        });
    }
}

/// The component changes among `components`, or "unchanged" entries for those the result did
/// not move, with their current status.
/// The display names of `components` (the id where a component is unknown), for messages.
fn component_names(world: &World, components: &[ComponentId]) -> Vec<String> {
    components
        .iter()
        .map(|c| {
            world
                .component(c)
                .map_or_else(|| c.to_string(), |(n, _)| n.to_owned())
        })
        .collect()
}

fn affected_from(
    world: &World,
    components: &[ComponentId],
    changes: &[StatusChangeRecord],
) -> Vec<AffectedChange> {
    components
        .iter()
        .map(|c| match changes.iter().find(|ch| &ch.component_id == c) {
            Some(ch) => AffectedChange {
                component_id: c.clone(),
                old_status: ch.from,
                new_status: ch.to,
            },
            None => {
                let s = world
                    .component_status(c)
                    .unwrap_or(ComponentStatus::Operational);
                AffectedChange {
                    component_id: c.clone(),
                    old_status: s,
                    new_status: s,
                }
            }
        })
        .collect()
}

fn leaf_component(world: &World, field: &str, id: &str) -> Result<ComponentId, RuleError> {
    let unknown = || RuleError::invalid(field, format!("unknown component {id:?}"));
    let cid = ComponentId::new(id).map_err(|_| unknown())?;
    match world.component(&cid) {
        None => Err(unknown()),
        Some((_, true)) => Err(RuleError::invalid(
            field,
            format!("{id:?} is a group; name its components"),
        )),
        Some(_) => Ok(cid),
    }
}

fn parse_component_statuses(
    world: &World,
    requested: &BTreeMap<String, String>,
) -> Result<Vec<(ComponentId, ComponentStatus)>, RuleError> {
    requested
        .iter()
        .map(|(id, status)| {
            let field = format!("components.{id}");
            let cid = leaf_component(world, &field, id)?;
            let st = ComponentStatus::parse(status).ok_or_else(|| {
                RuleError::invalid(
                    &field,
                    format!("unknown component status {status:?}; expected operational, degraded_performance, partial_outage, major_outage or under_maintenance"),
                )
            })?;
            Ok((cid, st))
        })
        .collect()
}

fn parse_impact(s: &str) -> Result<Impact, RuleError> {
    Impact::parse(s).ok_or_else(|| {
        RuleError::invalid(
            "impact",
            format!("unknown impact {s:?}; expected none, minor, major or critical"),
        )
    })
}

fn parse_severity(s: &str) -> Result<Severity, RuleError> {
    Severity::parse(s).ok_or_else(|| {
        RuleError::invalid(
            "severity",
            format!("unknown severity {s:?}; expected S1, S2, S3 or S4"),
        )
    })
}

fn to_doc(value: &impl Serialize) -> String {
    // Plain structs with string keys: serializing cannot fail; an empty object would be
    // caught by the load path, which skips documents it cannot read.
    serde_json::to_string(value).unwrap_or_else(|error| {
        tracing::error!(%error, "serializing an incident document failed");
        "{}".to_owned()
    })
}

#[cfg(test)]
#[path = "desk_tests.rs"]
mod tests;

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
//!
//! This module is the coordinator: the book itself (incidents and maintenances each in a
//! [`ledger::Ledger`], overrides, what waits to be written and notified) and the steps every
//! concern shares (posting an update, publishing, holding and applying component statuses,
//! timeline events). Each concern has its own module: `automation` (check results and the
//! quiet-period resolve), `commands` (people's incident commands), `maintenance`,
//! `overrides`, `alerts`, `regression` and `postmortem`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_domain::incident::{
    AffectedChange, PublicUpdate, TimelineEntry, TimelineKind, UpdateStep,
};
use pharos_domain::{
    Actor, ComponentId, ComponentStatus, ComponentTransition, Incident, IncidentId, IncidentStatus,
    Maintenance, RuleError,
};
use pharos_store::{Batch, IncidentEventRecord};

use pharos_notify::EventKind;

use crate::world::World;

mod alerts;
mod automation;
mod commands;
mod ledger;
mod maintenance;
mod overrides;
use alerts::HeldAlerts;
pub use alerts::{AlertListing, AlertOutcome};
pub use commands::{IncidentPatch, NewIncident, NewUpdate};
use ledger::{to_doc, Keyed, Ledger};
pub use maintenance::{MaintenanceDef, MaintenancePatch, NewMaintenance, NewMaintenanceUpdate};
pub use overrides::{ComponentOverride, OverrideRequest};
use regression::ActiveRegressions;
pub mod postmortem;
mod regression;

/// What automation does when checks confirm an outage: the `[incidents]` table, with its
/// defaults in [`IncidentRules::default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentRules {
    /// A confirmed failure opens an incident (default true).
    pub auto_open: bool,
    /// An incident automation opens is public at once (default true); without `auto_open` it
    /// has no effect.
    pub auto_publish: bool,
    /// Healthy this long while `monitoring` → resolved (default 10 minutes; 1s to 30d).
    pub auto_resolve_after: Duration,
    /// A failure confirmed this soon after automation opened an incident joins it, even on
    /// other components: failures that begin together are one outage (default 60 s; zero
    /// never groups; at most 1h).
    pub group_window: Duration,
}

impl Default for IncidentRules {
    fn default() -> Self {
        IncidentRules {
            auto_open: true,
            auto_publish: true,
            auto_resolve_after: Duration::from_secs(600),
            group_window: Duration::from_secs(60),
        }
    }
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

/// What storage remembers of the desk, read at start-up.
#[derive(Debug, Default)]
pub struct StoredDesk {
    /// Every incident, oldest first.
    pub incidents: Vec<Incident>,
    /// Every maintenance, oldest first.
    pub maintenances: Vec<Maintenance>,
    /// The overrides set.
    pub overrides: Vec<ComponentOverride>,
    /// Alerts held outside any incident, by dedup key.
    pub held_alerts: Vec<(String, pharos_domain::alert::AttachedAlert)>,
}

/// Every incident and every maintenance, shared with the published view.
pub type Lists = (Arc<[Incident]>, Arc<[Maintenance]>);

/// The book of incidents, maintenances and overrides, with what is waiting to be written.
pub struct Desk {
    rules: IncidentRules,
    incidents: Ledger<Incident>,
    maintenances: Ledger<Maintenance>,
    overrides: BTreeMap<ComponentId, ComponentOverride>,
    ids: IdSource,
    next_seq: i64,
    writes: Batch,
    published: Option<Lists>,
    /// Newly published incidents' time from first failure to the page, for the metrics.
    publish_delays: Vec<Duration>,
    /// What to notify about, in order; the subject's state is read when they are taken.
    notices: Vec<Notice>,
    /// Alerts held outside any incident.
    held_alerts: HeldAlerts,
    /// Suspect changes whose release regression their components show.
    regressions: ActiveRegressions,
}

impl Desk {
    /// An empty desk. `first_seq` orders timeline entries; it must exceed every stored one
    /// (the engine uses the start time in microseconds).
    pub fn new(rules: IncidentRules, ids: IdSource, first_seq: i64) -> Desk {
        Desk {
            rules,
            incidents: Ledger::default(),
            maintenances: Ledger::default(),
            overrides: BTreeMap::new(),
            ids,
            next_seq: first_seq,
            writes: Batch::default(),
            published: None,
            publish_delays: Vec::new(),
            notices: Vec::new(),
            held_alerts: HeldAlerts::default(),
            regressions: ActiveRegressions::default(),
        }
    }

    /// Takes what happened since the last call, for notifications.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Restores what storage remembers, and puts active maintenance windows, firing alerts and
    /// overrides back into `world`. Call before [`World::rederive_all`].
    pub fn restore(&mut self, world: &mut World, stored: StoredDesk, now: DateTime<Utc>) {
        let StoredDesk {
            incidents,
            maintenances,
            overrides,
            held_alerts,
        } = stored;
        for i in incidents {
            self.incidents.restore(i);
        }
        for (key, alert) in held_alerts {
            self.held_alerts.restore(key, alert);
        }
        self.restore_alerts(world, now);
        for m in maintenances {
            if m.status.is_active() {
                for c in &m.components {
                    self.record_change(world.set_maintenance(c, true, now));
                }
            }
            self.maintenances.restore(m);
        }
        for o in overrides {
            self.record_change(world.set_override(&o.component_id, Some(o.status), now));
            self.overrides.insert(o.component_id.clone(), o);
        }
        self.published = None;
    }

    /// Every incident and maintenance, as last published; rebuilt only after a change.
    pub fn lists(&mut self) -> Lists {
        self.published
            .get_or_insert_with(|| {
                (
                    Arc::from(self.incidents.to_vec()),
                    Arc::from(self.maintenances.to_vec()),
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
        self.incidents.get(id)
    }

    /// One maintenance.
    pub fn maintenance(&self, id: &IncidentId) -> Option<&Maintenance> {
        self.maintenances.get(id)
    }

    /// Current overrides, by component.
    pub fn overrides(&self) -> &BTreeMap<ComponentId, ComponentOverride> {
        &self.overrides
    }

    /// Takes what must be written, as store records.
    pub fn take_writes(&mut self) -> Batch {
        let mut writes = std::mem::take(&mut self.writes);
        let incidents = self
            .incidents
            .take_changed()
            .into_iter()
            .map(Keyed::to_record);
        writes.incidents.extend(incidents);
        let maintenances = self
            .maintenances
            .take_changed()
            .into_iter()
            .map(Keyed::to_record);
        writes.incidents.extend(maintenances);
        writes.held_alerts.extend(self.held_alerts.take_changes());
        writes
    }

    /// Takes the time-to-publication of incidents published since the last call.
    pub fn take_publish_delays(&mut self) -> Vec<Duration> {
        std::mem::take(&mut self.publish_delays)
    }

    /// Runs the clock: auto-resolve, the maintenance windows, and expiring overrides.
    pub fn tick(&mut self, world: &mut World, now: DateTime<Utc>) {
        self.resolve_quiet_incidents(world, now);
        self.run_maintenance_clock(world, now);
        self.expire_overrides(world, now);
        self.expire_regressions(world, now);
    }

    // ---- shared by automation and people ------------------------------------------------

    fn insert_incident(&mut self, incident: Incident) -> usize {
        let ii = self.incidents.insert(incident);
        self.published = None;
        ii
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

    /// A failure (a monitor's or an alert's) joined incident `ii`: posts what automation has
    /// to say about it, if anything ([`Incident::status_after_failure`]); `message` describes
    /// the failure, and a reopened incident says the problem has returned.
    fn post_failure(
        &mut self,
        ii: usize,
        new_components: bool,
        flapping: bool,
        message: String,
        affected: Vec<AffectedChange>,
        now: DateTime<Utc>,
    ) {
        let inc = &self.incidents[ii];
        let Some(status) = inc.status_after_failure(new_components, flapping) else {
            return;
        };
        let body = if inc.status == IncidentStatus::Monitoring {
            format!("The problem has returned. {message}")
        } else {
            message
        };
        self.post(ii, status, body, affected, now);
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
        let step = inc.record_update(PublicUpdate {
            id: update_id.clone(),
            status,
            body: body.clone(),
            created_at: now,
            actor: actor.clone(),
            affected,
        });
        let kind = match step {
            UpdateStep::Opened => EventKind::IncidentOpened,
            UpdateStep::Resolved => EventKind::IncidentResolved,
            UpdateStep::Updated => EventKind::IncidentUpdated,
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

    fn record_change(&mut self, change: Option<ComponentTransition>) {
        if let Some(c) = change {
            self.writes.component_changes.push(c);
            self.published = None;
        }
    }

    fn touch_incident(&mut self, id: &IncidentId) {
        self.incidents.touch(id);
        self.published = None;
    }

    fn touch_maintenance(&mut self, id: &IncidentId) {
        self.maintenances.touch(id);
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
        self.writes.incident_events.push(IncidentEventRecord {
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
    changes: &[ComponentTransition],
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

/// `id` if it names a configured component that is not a group; else a refusal naming
/// `field`.
fn leaf_component(world: &World, field: &str, id: &ComponentId) -> Result<(), RuleError> {
    match world.component(id) {
        None => Err(RuleError::invalid(
            field,
            format!("unknown component {:?}", id.as_str()),
        )),
        Some((_, true)) => Err(RuleError::invalid(
            field,
            format!("{:?} is a group; name its components", id.as_str()),
        )),
        Some(_) => Ok(()),
    }
}

/// The requested component statuses, once each component is known and not a group.
fn check_component_statuses(
    world: &World,
    requested: &BTreeMap<ComponentId, ComponentStatus>,
) -> Result<Vec<(ComponentId, ComponentStatus)>, RuleError> {
    requested
        .iter()
        .map(|(id, status)| {
            leaf_component(world, &format!("components.{id}"), id)?;
            Ok((id.clone(), *status))
        })
        .collect()
}

#[cfg(test)]
#[path = "desk_tests.rs"]
mod tests;

//! Alerts from other systems at the desk. A firing alert counts like a monitor confirmed
//! down: its components show the status it asks for, it joins the open incident that covers
//! one of them, else opens one under the same `[incidents]` rules as checks. Repeats of a
//! firing alert (Alertmanager re-sends its whole group) are counted, not re-announced. When it
//! resolves it leaves its incident, which moves to `monitoring` once every monitor and alert
//! in it is clear, and resolves after the quiet period like any automated incident.
//! Resolving an incident releases the alerts still firing in it: the next notification about
//! one is news again, as with PagerDuty.
//!
//! Alerts that open no incident (info severity, `auto_open = false`, no matching component)
//! are kept in memory only, for `GET /api/v1/alerts`; alerts in incidents are stored with
//! them, and put back on their components at start-up.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use pharos_domain::alert::{Alert, AlertAction, AttachedAlert, Routed};
use pharos_domain::incident::{self, TimelineKind};
use pharos_domain::{Actor, ComponentId, Impact, IncidentId, IncidentStatus};
use pharos_store::{HeldAlertChange, HeldAlertRecord};
use serde::Serialize;

use super::{affected_from, component_names, to_doc, Desk};
use crate::world::World;

/// What one alert did, for the sender's answer and the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertOutcome {
    /// The alert's dedup key.
    pub key: String,
    /// `opened` (a new incident), `attached` (joined an open one), `repeated` (already
    /// firing: counted), `acknowledged`, `resolved`, `recorded` (kept without an incident),
    /// or `unknown` (a resolve or acknowledge for an alert Pharos does not hold).
    pub result: &'static str,
    /// The incident it is in, if any.
    pub incident_id: Option<IncidentId>,
    /// The components it was routed to.
    pub components: Vec<ComponentId>,
    /// Why it went there: `route 1`, `label component=api`, or why it went nowhere.
    pub routing: String,
}

/// An alert Pharos holds, wherever it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertListing {
    /// Its dedup key.
    pub key: String,
    /// The incident it is in, if any.
    pub incident_id: Option<IncidentId>,
    /// The alert.
    #[serde(flatten)]
    pub alert: AttachedAlert,
}

impl Desk {
    /// Applies one alert from another system, routed by the caller.
    pub fn on_alert(
        &mut self,
        world: &mut World,
        alert: &Alert,
        routed: &Routed,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> AlertOutcome {
        let outcome = |result, incident_id, components: Vec<ComponentId>| AlertOutcome {
            key: alert.key.clone(),
            result,
            incident_id,
            components,
            routing: routed.reason.clone(),
        };
        let holder = self.incidents.iter().rposition(|i| {
            i.status.is_unresolved() && i.alerts.get(&alert.key).is_some_and(|a| a.firing)
        });
        match alert.action {
            AlertAction::Firing => {
                if let Some(ii) = holder {
                    let inc = &mut self.incidents[ii];
                    let id = inc.id.clone();
                    if let Some(held) = inc.alerts.get_mut(&alert.key) {
                        held.last_seen_at = now;
                        held.notifications = held.notifications.saturating_add(1);
                        held.summary.clone_from(&alert.summary);
                    }
                    self.touch_incident(&id);
                    let components = self.incidents[ii].alerts[&alert.key].components.clone();
                    return outcome("repeated", Some(id), components);
                }
                if let Some(held) = self.held_alerts.get_mut(&alert.key) {
                    if held.firing {
                        held.last_seen_at = now;
                        held.notifications = held.notifications.saturating_add(1);
                        return outcome("repeated", None, held.components.clone());
                    }
                }
                self.alert_fired(world, alert, routed, now)
            }
            AlertAction::Acknowledged => match holder {
                Some(ii) => {
                    let id = self.incidents[ii].id.clone();
                    let at = now;
                    if let Some(held) = self.incidents[ii].alerts.get_mut(&alert.key) {
                        held.acknowledged = true;
                        held.last_seen_at = now;
                    }
                    self.event(
                        &id,
                        at,
                        now,
                        actor.clone(),
                        TimelineKind::AlertAcknowledged {
                            key: alert.key.clone(),
                        },
                    );
                    self.touch_incident(&id);
                    let components = self.incidents[ii].alerts[&alert.key].components.clone();
                    outcome("acknowledged", Some(id), components)
                }
                None => match self.held_alerts.get_mut(&alert.key) {
                    Some(held) => {
                        held.acknowledged = true;
                        outcome("acknowledged", None, held.components.clone())
                    }
                    None => outcome("unknown", None, Vec::new()),
                },
            },
            AlertAction::Resolved => match holder {
                Some(ii) => {
                    let components = self.incidents[ii].alerts[&alert.key].components.clone();
                    let id = self.incidents[ii].id.clone();
                    self.alert_resolved(world, ii, alert, now);
                    outcome("resolved", Some(id), components)
                }
                None => match self.held_alerts.remove(&alert.key) {
                    Some(held) => {
                        for c in &held.components {
                            let change = world.set_alert(c, &alert.key, None, now);
                            self.record_change(change);
                        }
                        outcome("resolved", None, held.components)
                    }
                    None => outcome("unknown", None, Vec::new()),
                },
            },
        }
    }

    /// Every alert Pharos holds: those in open incidents, then those kept without one.
    pub fn alerts(&self) -> Vec<AlertListing> {
        let in_incidents = self
            .incidents
            .iter()
            .filter(|i| i.status.is_unresolved())
            .flat_map(|i| {
                i.alerts.iter().map(|(k, a)| AlertListing {
                    key: k.clone(),
                    incident_id: Some(i.id.clone()),
                    alert: a.clone(),
                })
            });
        let loose = self.held_alerts.iter().map(|(k, a)| AlertListing {
            key: k.clone(),
            incident_id: None,
            alert: a.clone(),
        });
        in_incidents.chain(loose).collect()
    }

    /// Puts the firing alerts of open incidents, and those held outside incidents, back on
    /// their components (at start-up).
    pub(super) fn restore_alerts(&mut self, world: &mut World, now: DateTime<Utc>) {
        let firing: Vec<(String, ComponentId, Option<pharos_domain::ComponentStatus>)> = self
            .incidents
            .iter()
            .filter(|i| i.status.is_unresolved())
            .flat_map(|i| i.alerts.iter())
            .chain(self.held_alerts.iter())
            .filter(|(_, a)| a.firing)
            .flat_map(|(k, a)| {
                a.components
                    .iter()
                    .map(|c| (k.clone(), c.clone(), a.status))
            })
            .collect();
        for (key, c, status) in firing {
            if status.is_some() {
                let change = world.set_alert(&c, &key, status, now);
                self.record_change(change);
            }
        }
    }

    /// Releases the alerts still firing in a resolved incident: they leave its components,
    /// and their next notification is news again.
    pub(super) fn release_alerts(
        &mut self,
        world: &mut World,
        id: &IncidentId,
        now: DateTime<Utc>,
    ) {
        let Some(ii) = self.incidents.position(id) else {
            return;
        };
        let mut released = Vec::new();
        for (key, a) in self.incidents[ii].alerts.iter_mut() {
            if a.firing {
                a.firing = false;
                released.extend(a.components.iter().map(|c| (key.clone(), c.clone())));
            }
        }
        if released.is_empty() {
            return;
        }
        for (key, c) in released {
            let change = world.set_alert(&c, &key, None, now);
            self.record_change(change);
        }
        self.touch_incident(id);
    }

    fn alert_fired(
        &mut self,
        world: &mut World,
        alert: &Alert,
        routed: &Routed,
        now: DateTime<Utc>,
    ) -> AlertOutcome {
        let started = alert.starts_at.filter(|t| *t <= now).unwrap_or(now);
        let components: Vec<ComponentId> = routed
            .components
            .iter()
            .filter(|c| world.component(c).is_some_and(|(_, is_group)| !is_group))
            .cloned()
            .collect();
        let held = AttachedAlert {
            source: alert.source,
            name: alert.name().to_owned(),
            summary: alert.summary.clone(),
            severity: alert.severity,
            components: components.clone(),
            status: routed.status,
            firing: true,
            acknowledged: false,
            first_seen_at: started,
            last_seen_at: now,
            notifications: 1,
            url: alert.url.clone(),
        };
        let mut changes = Vec::new();
        if routed.status.is_some() {
            for c in &components {
                if let Some(ch) = world.set_alert(c, &alert.key, routed.status, now) {
                    changes.push(ch.clone());
                    self.record_change(Some(ch));
                }
            }
        }
        let live: Vec<ComponentId> = components
            .iter()
            .filter(|c| !world.in_maintenance(c))
            .cloned()
            .collect();
        let outcome = |result, incident_id| AlertOutcome {
            key: alert.key.clone(),
            result,
            incident_id,
            components: components.clone(),
            routing: routed.reason.clone(),
        };
        let fired = TimelineKind::AlertFiring {
            key: alert.key.clone(),
            source: alert.source,
            name: held.name.clone(),
            summary: alert.summary.clone(),
            severity: alert.severity,
        };
        let names = component_names(world, &live);
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let status = routed
            .status
            .unwrap_or(pharos_domain::ComponentStatus::DegradedPerformance);
        let message = alert_message(status, &name_refs, alert);

        let joined = self.incidents.iter().rposition(|i| {
            i.status.is_unresolved() && live.iter().any(|c| i.components.contains_key(c))
        });
        if let Some(ii) = joined {
            let id = self.incidents[ii].id.clone();
            self.event(&id, started, now, Actor::Automation, fired);
            let affected = affected_from(world, &live, &changes);
            let inc = &mut self.incidents[ii];
            inc.alerts.insert(alert.key.clone(), held);
            inc.failing(now);
            let new_components = live.iter().any(|c| !inc.components.contains_key(c));
            // An alert recorded without an outage says nothing publicly.
            if routed.status.is_some() {
                for a in &affected {
                    inc.note_component(a.component_id.clone(), a.new_status);
                }
                self.post_failure(ii, new_components, false, message, affected, now);
            }
            self.note_component_changes(&changes, now);
            self.touch_incident(&id);
            tracing::info!(incident = %id, alert = %alert.key, "alert joined an open incident");
            return outcome("attached", Some(id));
        }
        if !self.rules.auto_open || routed.status.is_none() || live.is_empty() {
            self.held_alerts.insert(alert.key.clone(), held);
            self.note_component_changes(&changes, now);
            return outcome("recorded", None);
        }
        let ii = self.open_automated(
            incident::opening_name(status, &name_refs),
            started,
            Some(started),
            None,
            now,
        );
        self.incidents[ii].alerts.insert(alert.key.clone(), held);
        let id = self.incidents[ii].id.clone();
        self.event(&id, started, now, Actor::Automation, fired);
        let affected = affected_from(world, &live, &changes);
        for a in &affected {
            self.incidents[ii].note_component(a.component_id.clone(), a.new_status);
        }
        self.post(ii, IncidentStatus::Investigating, message, affected, now);
        if self.rules.auto_publish {
            self.publish(ii, Actor::Automation, now);
        }
        tracing::info!(incident = %id, alert = %alert.key, public = self.rules.auto_publish, "incident opened by an alert");
        outcome("opened", Some(id))
    }

    fn alert_resolved(&mut self, world: &mut World, ii: usize, alert: &Alert, now: DateTime<Utc>) {
        let id = self.incidents[ii].id.clone();
        let ended = alert.ends_at.filter(|t| *t <= now).unwrap_or(now);
        self.event(
            &id,
            ended,
            now,
            Actor::Automation,
            TimelineKind::AlertResolved {
                key: alert.key.clone(),
            },
        );
        let Some(held) = self.incidents[ii].alerts.get_mut(&alert.key) else {
            return;
        };
        held.firing = false;
        held.last_seen_at = now;
        let (name, source, components) = (held.name.clone(), held.source, held.components.clone());
        let mut changes = Vec::new();
        for c in &components {
            if let Some(ch) = world.set_alert(c, &alert.key, None, now) {
                changes.push(ch.clone());
                self.record_change(Some(ch));
            }
        }
        let incident_components: Vec<ComponentId> =
            self.incidents[ii].components.keys().cloned().collect();
        let affected = affected_from(world, &incident_components, &changes);
        let inc = &mut self.incidents[ii];
        for a in &affected {
            inc.components.insert(a.component_id.clone(), a.new_status);
        }
        if inc.cleared(now) {
            let body = format!(
                "The {} alert {name} has resolved. We are monitoring the recovery.",
                source.label()
            );
            self.post(ii, IncidentStatus::Monitoring, body, affected, now);
        }
        self.note_component_changes(&changes, now);
        self.touch_incident(&id);
    }
}

/// "We are investigating a major outage of API: Alertmanager alert HighErrorRate: 5xx rate
/// above 5% for 5 minutes".
fn alert_message(
    status: pharos_domain::ComponentStatus,
    component_names: &[&str],
    alert: &Alert,
) -> String {
    let what = Impact::outage_words(status);
    let names = incident::join_names(component_names);
    let name = alert.name();
    if name == alert.summary {
        format!(
            "We are investigating a {what} of {names}: {} alert: {}",
            alert.source.label(),
            alert.summary
        )
    } else {
        format!(
            "We are investigating a {what} of {names}: {} alert {name}: {}",
            alert.source.label(),
            alert.summary
        )
    }
}

/// Alerts held outside any incident, by dedup key, with the keys changed since the last write
/// (they are stored, so a restart keeps them on their components and their resolve finds them).
#[derive(Debug, Default)]
pub(super) struct HeldAlerts {
    alerts: BTreeMap<String, AttachedAlert>,
    changed: BTreeSet<String>,
}

impl HeldAlerts {
    /// Puts back an alert storage holds (not rewritten).
    pub(super) fn restore(&mut self, key: String, alert: AttachedAlert) {
        self.alerts.insert(key, alert);
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut AttachedAlert> {
        let alert = self.alerts.get_mut(key)?;
        self.changed.insert(key.to_owned());
        Some(alert)
    }

    fn insert(&mut self, key: String, alert: AttachedAlert) {
        self.changed.insert(key.clone());
        self.alerts.insert(key, alert);
    }

    fn remove(&mut self, key: &str) -> Option<AttachedAlert> {
        let alert = self.alerts.remove(key)?;
        self.changed.insert(key.to_owned());
        Some(alert)
    }

    /// Every held alert, by key.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&String, &AttachedAlert)> {
        self.alerts.iter()
    }

    /// What to write since the last call: each changed key held now, or let go of.
    pub(super) fn take_changes(&mut self) -> Vec<HeldAlertChange> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|key| match self.alerts.get(&key) {
                Some(alert) => HeldAlertChange::Upsert(HeldAlertRecord {
                    updated_at: alert.last_seen_at,
                    doc: to_doc(alert),
                    key,
                }),
                None => HeldAlertChange::Remove(key),
            })
            .collect()
    }
}

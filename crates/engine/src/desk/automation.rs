//! Automation at the desk: what a monitor's confirmed health change does to incidents. A
//! monitor confirmed down joins the open incident that covers one of its components (or
//! opens one, published with `auto_publish`); when every monitor of an incident recovers it
//! moves to `monitoring`, and after `auto_resolve_after` of quiet it resolves; flapping is
//! noted. Once a person has posted to an incident, automation only records events on it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pharos_domain::incident::{self, FlapEnd, TimelineKind};
use pharos_domain::{
    Actor, ComponentId, ComponentStatus, ComponentTransition, Health, Impact, Incident, IncidentId,
    IncidentStatus, MonitorId,
};

use super::{affected_from, component_names, Desk};
use crate::world::{Applied, FailureReach, Flap, ReachChange, World};

impl Desk {
    /// Reacts to what one check result changed: its monitor's confirmed health change and the
    /// start or end of its flapping. This is the one way a check result enters the desk.
    pub fn on_result(
        &mut self,
        world: &mut World,
        monitor: &MonitorId,
        applied: &Applied,
        now: DateTime<Utc>,
    ) {
        // A result may be timed by another task's clock a moment after the pipeline's: what
        // it causes is never dated before it.
        let now = applied.transition.map_or(now, |t| now.max(t.at));
        if let Some(reach) = &applied.reach {
            // Checked from several locations: where it fails is the news.
            self.on_reach(world, monitor, reach, &applied.component_changes, now);
        } else if applied.transition.is_some() && world.is_checked_from_several(monitor) {
            // Slower or faster at the quorum, failing nowhere new: the status only.
            self.note_component_changes(&applied.component_changes, now);
        } else if let Some(t) = applied.transition {
            self.on_transition(
                world,
                monitor,
                t.from,
                t.to,
                &applied.component_changes,
                now,
            );
        }
        if let Some(flap) = applied.flap {
            // The transition (if any) already put the component changes on the timeline.
            let changes: &[_] = if applied.transition.is_some() {
                &[]
            } else {
                &applied.component_changes
            };
            self.on_flap(world, monitor, flap, changes, now);
        }
    }

    /// Reacts to a monitor's confirmed health change. `changes` are the component status
    /// changes the same result caused.
    pub fn on_transition(
        &mut self,
        world: &mut World,
        monitor: &MonitorId,
        from: Health,
        to: Health,
        changes: &[ComponentTransition],
        now: DateTime<Utc>,
    ) {
        if to == Health::Down {
            self.on_down(world, monitor, changes, None, now);
        } else if from == Health::Down {
            self.on_recovered(world, monitor, changes, now);
        } else {
            self.note_component_changes(changes, now);
        }
    }

    /// A monitor failing where it did not: opens, spreads, narrows, moves or ends the
    /// incident that says where (SPEC §7). A regional failure opens an incident at the
    /// monitor's `on_regional_failure` status; one that reaches the quorum becomes the
    /// monitor's outage in the same incident.
    pub fn on_reach(
        &mut self,
        world: &mut World,
        monitor: &MonitorId,
        reach: &ReachChange,
        changes: &[ComponentTransition],
        now: DateTime<Utc>,
    ) {
        let Some(spec) = world.monitor_spec(monitor).cloned() else {
            return;
        };
        let words = reach.verdict.where_words(|l| world.location_name(l));
        let failing_here = |d: &Desk| {
            d.incidents
                .iter()
                .any(|i| i.status.is_unresolved() && i.monitors.get(monitor) == Some(&true))
        };
        match (reach.from, reach.to) {
            (_, FailureReach::Clear) => self.on_recovered(world, monitor, changes, now),
            (FailureReach::Clear, to) => {
                let status = if to == FailureReach::Down {
                    spec.on_failure
                } else {
                    spec.placement.on_regional_failure
                };
                self.on_down(world, monitor, changes, Some((status, words)), now);
            }
            (_, to) if failing_here(self) => {
                let names = component_names(world, &spec.components);
                let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let names = incident::join_names(&name_refs);
                let body = match (reach.from, to) {
                    (FailureReach::Regional, FailureReach::Down) => {
                        format!("The problem with {names} has spread: {words}.")
                    }
                    (FailureReach::Down, _) => {
                        format!("The problem with {names} is now regional: {words}.")
                    }
                    _ => format!("The problem with {names} has moved: {words}."),
                };
                self.on_moved(world, monitor, body, changes, now);
            }
            (_, to) => {
                let status = if to == FailureReach::Down {
                    spec.on_failure
                } else {
                    spec.placement.on_regional_failure
                };
                self.on_down(world, monitor, changes, Some((status, words)), now);
            }
        }
    }

    /// The open incidents `monitor` fails in, by position.
    fn failing_in(&self, monitor: &MonitorId) -> Vec<usize> {
        (0..self.incidents.len())
            .filter(|&i| {
                let inc = &self.incidents[i];
                inc.status.is_unresolved() && inc.monitors.get(monitor) == Some(&true)
            })
            .collect()
    }

    /// Posts `body` to each open incident the monitor fails in, with the components it
    /// changed (while automation owns it; a person's incident gets the components only).
    fn on_moved(
        &mut self,
        world: &mut World,
        monitor: &MonitorId,
        body: String,
        changes: &[ComponentTransition],
        now: DateTime<Utc>,
    ) {
        let open = self.failing_in(monitor);
        for ii in open {
            let id = self.incidents[ii].id.clone();
            let components: Vec<ComponentId> =
                self.incidents[ii].components.keys().cloned().collect();
            let affected = affected_from(world, &components, changes);
            let inc = &mut self.incidents[ii];
            for a in &affected {
                inc.note_component(a.component_id.clone(), a.new_status);
            }
            if inc.automation_owns() && !world.is_flapping(monitor) {
                let status = inc.status;
                self.post(ii, status, body.clone(), affected, now);
            }
            self.touch_incident(&id);
        }
        self.note_component_changes(changes, now);
    }

    /// A monitor confirmed failing. `regional` is the status it asks for and where, for a
    /// monitor checked from several locations (its `on_failure` at the quorum, its
    /// `on_regional_failure` short of it); `None` for one checked by the server alone.
    pub(super) fn on_down(
        &mut self,
        world: &mut World,
        monitor: &MonitorId,
        changes: &[ComponentTransition],
        regional: Option<(ComponentStatus, String)>,
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
        let status = regional.as_ref().map_or(spec.on_failure, |(s, _)| *s);
        let message = match &regional {
            None => incident::opening_message(status, &name_refs, failures, error.trim()),
            Some((_, words)) => incident::regional_message(status, &name_refs, words, error.trim()),
        };

        let covering = self
            .incidents
            .iter()
            .rposition(|i| i.covers_failure(monitor, &live));
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
        if covering.is_none() && !parents_down.is_empty() {
            let parent_incident = self.incidents.iter().rposition(|i| {
                i.status.is_unresolved() && parents_down.iter().any(|p| i.monitors.contains_key(*p))
            });
            if let Some(ii) = parent_incident {
                let id = self.incidents[ii].id.clone();
                self.event(&id, at, now, Actor::Automation, down_event);
                self.incidents[ii].monitor_down(monitor.clone(), now);
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
        // Failures that begin together belong together: within the group window of an
        // incident automation opened, another component's failure joins it.
        let group_window = self.rules.group_window;
        let joined = covering.or_else(|| {
            self.incidents
                .iter()
                .rposition(|i| i.groups_failure_at(now, group_window))
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
            inc.monitor_down(monitor.clone(), now);
            let affected = affected_from(world, &live, changes);
            for a in &affected {
                inc.note_component(a.component_id.clone(), a.new_status);
            }
            let flapping = world.is_flapping(monitor);
            self.post_failure(
                ii,
                !new_components.is_empty(),
                flapping,
                message,
                affected,
                now,
            );
            self.note_component_changes(changes, now);
            self.touch_incident(&id);
            return;
        }
        if !self.rules.auto_open {
            return;
        }
        let ii = self.open_automated(
            incident::opening_name(status, &name_refs),
            first_failure,
            Some(first_failure),
            Some((at, down_event)),
            now,
        );
        self.incidents[ii].monitors.insert(monitor.clone(), true);
        let id = self.incidents[ii].id.clone();
        let affected = affected_from(world, &live, changes);
        for a in &affected {
            self.incidents[ii].note_component(a.component_id.clone(), a.new_status);
        }
        // The component change that came with the failure is an entry of its own, as it is
        // when a failure joins an open incident.
        self.note_component_changes(changes, now);
        self.post(ii, IncidentStatus::Investigating, message, affected, now);
        if self.rules.auto_publish {
            self.publish(ii, Actor::Automation, now);
        }
        tracing::info!(incident = %id, monitor = %monitor, public = self.rules.auto_publish, "incident opened by a confirmed failure");
    }

    pub(super) fn on_recovered(
        &mut self,
        world: &mut World,
        monitor: &MonitorId,
        changes: &[ComponentTransition],
        now: DateTime<Utc>,
    ) {
        let at = world
            .monitor_state(monitor)
            .and_then(|s| s.since)
            .unwrap_or(now);
        let open = self.failing_in(monitor);
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
            let components: Vec<ComponentId> = inc.components.keys().cloned().collect();
            let affected = affected_from(world, &components, changes);
            for a in &affected {
                inc.components.insert(a.component_id.clone(), a.new_status);
            }
            // A flapping monitor coming back is no recovery yet: `on_flap` posts once it has
            // been stable for a whole window.
            if inc.monitor_up(monitor.clone(), world.is_flapping(monitor), now) {
                let names = component_names(world, &components);
                let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let body = format!(
                    "Checks of {} are passing again. We are monitoring the recovery.",
                    incident::join_names(&name_refs)
                );
                self.post(ii, IncidentStatus::Monitoring, body, affected, now);
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
        changes: &[ComponentTransition],
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
            match flap {
                Flap::Started { changes: n } => {
                    tracing::info!(incident = %id, %monitor, changes = n, "monitor is flapping");
                    if let Some(status) = inc.flap_started(now) {
                        let body = format!(
                            "Checks of {names} are flapping: they changed state {n} times within {window}. \
                             The status stays as it is, with no further updates, until they have been \
                             stable for {window}."
                        );
                        self.post(ii, status, body, affected, now);
                    }
                }
                Flap::Ended => {
                    tracing::info!(incident = %id, %monitor, "monitor stopped flapping");
                    match inc.flap_ended(health == Some(Health::Down), now) {
                        FlapEnd::Recovering => {
                            let body = format!(
                                "Checks of {names} have been stable and passing for {window}. \
                                 We are monitoring the recovery."
                            );
                            self.post(ii, IncidentStatus::Monitoring, body, affected, now);
                        }
                        FlapEnd::StillFailing(status) => {
                            let body =
                                format!("Checks of {names} have stopped flapping and are failing.");
                            self.post(ii, status, body, affected, now);
                        }
                        FlapEnd::Quiet => {}
                    }
                }
            }
            self.touch_incident(&id);
        }
        self.note_component_changes(changes, now);
    }

    /// Records component status changes in the timelines of open incidents that cover them.
    pub fn note_component_changes(&mut self, changes: &[ComponentTransition], now: DateTime<Utc>) {
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
                if let Some(ii) = self.incidents.position(&id) {
                    self.incidents[ii].note_component(ch.component_id.clone(), ch.to);
                    self.touch_incident(&id);
                }
            }
        }
    }

    /// Opens an incident automation declares: investigating, not public yet, with `cause` (the
    /// entry of what opened it, when there is one) and then its `opened` entry on the
    /// timeline. The caller adds its components, its first update, and publishes it.
    pub(super) fn open_automated(
        &mut self,
        name: String,
        started_at: DateTime<Utc>,
        first_failure_at: Option<DateTime<Utc>>,
        cause: Option<(DateTime<Utc>, TimelineKind)>,
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
            acknowledged: None,
            updates: Vec::new(),
        });
        // What opened it comes first on the timeline (callers never date a cause after
        // `now`: `on_result` clamps the desk's clock to the result's).
        if let Some((at, kind)) = cause {
            self.event(&id, at, now, Actor::Automation, kind);
        }
        self.event(
            &id,
            now,
            now,
            Actor::Automation,
            TimelineKind::Opened { name },
        );
        ii
    }

    /// Resolves automated incidents that have been `monitoring` with every check passing for
    /// `auto_resolve_after`.
    pub(super) fn resolve_quiet_incidents(&mut self, world: &mut World, now: DateTime<Utc>) {
        let quiet = self.rules.auto_resolve_after;
        let due: Vec<usize> = (0..self.incidents.len())
            .filter(|&i| self.incidents[i].quiet_enough_to_resolve(now, quiet))
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
    }
}

//! Release regressions at the desk: what happens when the regression watcher
//! (`crate::changes`) judges a change suspect, and when its component recovers.
//!
//! - Suspect: when `degrade` is on and the component is `operational` (never over a worse
//!   status, a maintenance window or a person's override), the component is held at
//!   `degraded_performance` by an override tagged as a regression's. An open incident covering
//!   the component gets a private note naming the change and, while automation owns it, a
//!   public update; without one, `[incidents] auto_open` opens "Degraded performance of X",
//!   published with `auto_publish`, its body naming the change by kind and version (the
//!   change's details go in a private note). With `degrade` off, only an open incident's
//!   timeline hears of it.
//! - A check confirming its component down while the override holds: the override is lifted at
//!   the next clock tick ([`Desk::regression_tick`]), so the outage shows, not the softer
//!   degradation; the incident carries on as any outage's.
//! - Recovered (a whole later window shows no regression): the override is lifted; the
//!   incident that owned it gets a note and, while automation owns it and none of its monitors
//!   is down, moves to `monitoring`, to resolve after `auto_resolve_after` like any other.
//!   A person resolving the incident lifts the override too (it belongs to the incident).

use chrono::{DateTime, Utc};
use pharos_domain::change::WindowStats;
use pharos_domain::incident::{AffectedChange, TimelineKind};
use pharos_domain::{
    Actor, Change, ComponentId, ComponentStatus, Health, IncidentStatus, Regression,
};

use super::{ComponentOverride, Desk};
use crate::world::World;

/// Every regression override's reason starts with this.
const REASON_PREFIX: &str = "Release regression";

/// Whether automation set `o` for a release regression.
fn is_regression_override(o: &ComponentOverride) -> bool {
    o.actor == Actor::Automation
        && o.reason
            .as_deref()
            .is_some_and(|r| r.starts_with(REASON_PREFIX))
}

/// The private note naming a suspect change with all its details.
fn suspect_note(change: &Change, regression: &Regression) -> String {
    let mut note = format!(
        "Suspect change {}: {} to {} ({}), started {} UTC",
        change.id,
        change.label(),
        change.component,
        change.summary,
        change.started_at.format("%Y-%m-%d %H:%M:%S"),
    );
    if let Some(a) = &change.author {
        note.push_str(&format!(" by {a}"));
    }
    if let Some(c) = &change.commit {
        note.push_str(&format!(", commit {c}"));
    }
    if let Some(u) = &change.url {
        note.push_str(&format!(", {u}"));
    }
    note.push_str(&format!(". {}.", regression.summary));
    note
}

impl Desk {
    /// The watcher judged `change` suspect: see the module documentation.
    pub(crate) fn on_regression(
        &mut self,
        world: &mut World,
        change: &Change,
        regression: &Regression,
        degrade: bool,
        now: DateTime<Utc>,
    ) {
        let c = &change.component;
        let Some((name, false)) = world.component(c).map(|(n, g)| (n.to_owned(), g)) else {
            return;
        };
        let note = suspect_note(change, regression);
        let public = format!(
            "We are investigating degraded performance of {name}: {}.",
            regression.summary
        );
        let others_override = self
            .overrides
            .get(c)
            .is_some_and(|o| !is_regression_override(o));
        let may_degrade = degrade
            && !others_override
            && world.component_status(c) == Some(ComponentStatus::Operational);
        let open = self
            .incidents
            .iter()
            .rposition(|i| i.status.is_unresolved() && i.components.contains_key(c));
        match open {
            Some(ii) => {
                let id = self.incidents[ii].id.clone();
                self.event(
                    &id,
                    now,
                    now,
                    Actor::Automation,
                    TimelineKind::Note { body: note },
                );
                let affected = if may_degrade {
                    self.degrade_for(world, Some(ii), c, regression, now)
                } else {
                    Vec::new()
                };
                let inc = &self.incidents[ii];
                if !inc.human_owned {
                    let status = inc.status;
                    self.post(ii, status, public, affected, now);
                }
                self.touch_incident(&id);
                tracing::info!(incident = %id, change = %change.id, "suspect change named in the open incident");
            }
            None if may_degrade && self.rules.auto_open => {
                let ii = self.open_automated(
                    format!("Degraded performance of {name}"),
                    change.started_at.min(now),
                    None,
                    None,
                    now,
                );
                let id = self.incidents[ii].id.clone();
                self.event(
                    &id,
                    now,
                    now,
                    Actor::Automation,
                    TimelineKind::Note { body: note },
                );
                let affected = self.degrade_for(world, Some(ii), c, regression, now);
                self.post(ii, IncidentStatus::Investigating, public, affected, now);
                if self.rules.auto_publish {
                    self.publish(ii, Actor::Automation, now);
                }
                tracing::info!(incident = %id, change = %change.id, "incident opened for a suspect change");
            }
            None if may_degrade => {
                self.degrade_for(world, None, c, regression, now);
                tracing::info!(component = %c, change = %change.id, "component degraded by a suspect change");
            }
            None => {}
        }
    }

    /// Holds `c` at `degraded_performance` for a regression, owned by incident `ii` if any.
    fn degrade_for(
        &mut self,
        world: &mut World,
        ii: Option<usize>,
        c: &ComponentId,
        regression: &Regression,
        now: DateTime<Utc>,
    ) -> Vec<AffectedChange> {
        let old = world
            .component_status(c)
            .unwrap_or(ComponentStatus::Operational);
        let status = ComponentStatus::DegradedPerformance;
        let o = ComponentOverride {
            component_id: c.clone(),
            status,
            until: None,
            incident_id: ii.map(|ii| self.incidents[ii].id.clone()),
            actor: Actor::Automation,
            set_at: now,
            reason: Some(format!("{REASON_PREFIX}: {}", regression.summary)),
        };
        self.put_override(world, o, now);
        if let Some(ii) = ii {
            self.incidents[ii].note_component(c.clone(), status);
        }
        vec![AffectedChange {
            component_id: c.clone(),
            old_status: old,
            new_status: status,
        }]
    }

    /// The component of suspect `change` shows no regression any more: see the module
    /// documentation. `recent` is the window that showed it.
    pub(crate) fn on_regression_recovered(
        &mut self,
        world: &mut World,
        change: &Change,
        regression: &Regression,
        recent: &WindowStats,
        now: DateTime<Utc>,
    ) {
        let c = &change.component;
        let Some(o) = self
            .overrides
            .get(c)
            .filter(|o| is_regression_override(o))
            .cloned()
        else {
            return;
        };
        self.remove_override(world, c, now);
        let name = world
            .component(c)
            .map_or_else(|| c.to_string(), |(n, _)| n.to_owned());
        let new_status = world
            .component_status(c)
            .unwrap_or(ComponentStatus::Operational);
        tracing::info!(component = %c, change = %change.id, "release regression over: component no longer held degraded");
        let Some(ii) = o
            .incident_id
            .as_ref()
            .and_then(|id| self.incidents.position(id))
        else {
            return;
        };
        if !self.incidents[ii].status.is_unresolved() {
            return;
        }
        let id = self.incidents[ii].id.clone();
        let was = regression.before.map_or(0, |b| b.p95_ms);
        let window = pharos_domain::duration::format_duration(std::time::Duration::from_secs(
            regression.window_seconds,
        ));
        let note = format!(
            "{name} has recovered from the regression after {} ({}): p95 {} ms over the last {window}, {was} ms before the change.",
            change.label(),
            change.id,
            recent.p95_ms,
        );
        self.event(
            &id,
            now,
            now,
            Actor::Automation,
            TimelineKind::Note { body: note },
        );
        let inc = &mut self.incidents[ii];
        let monitors_up = inc.monitors.values().all(|down| !down);
        if !inc.human_owned
            && monitors_up
            && matches!(
                inc.status,
                IncidentStatus::Investigating | IncidentStatus::Identified
            )
        {
            inc.healthy_since = Some(now);
            let affected = vec![AffectedChange {
                component_id: c.clone(),
                old_status: ComponentStatus::DegradedPerformance,
                new_status,
            }];
            let body =
                format!("Performance of {name} is back to normal. We are monitoring the recovery.");
            self.post(ii, IncidentStatus::Monitoring, body, affected, now);
        }
        self.touch_incident(&id);
    }

    /// Lifts every regression override whose component a monitor has confirmed down, so the
    /// outage shows instead of the degradation. Runs with the clock.
    pub(crate) fn regression_tick(&mut self, world: &mut World, now: DateTime<Utc>) {
        let outages: Vec<ComponentId> = self
            .overrides
            .values()
            .filter(|o| is_regression_override(o))
            .map(|o| o.component_id.clone())
            .filter(|c| {
                world.monitors().any(|(spec, state)| {
                    spec.components.contains(c) && state.health == Health::Down
                })
            })
            .collect();
        for c in outages {
            self.remove_override(world, &c, now);
            tracing::info!(component = %c, "a monitor is down: the regression's degraded status gives way to the outage");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use pharos_domain::change::{RegressionState, WindowStats};
    use pharos_domain::{CheckOutcome, CheckResult, IncidentId, MonitorId};

    use super::*;
    use crate::catalog::{build, ComponentDef};
    use crate::desk::{IdSource, IncidentRules, NewUpdate};
    use crate::test_support::{spec, t};
    use crate::view::PageInfo;

    fn rig(auto_open: bool) -> (World, Desk) {
        let defs = [ComponentDef {
            id: ComponentId::new("api").unwrap(),
            name: "API".into(),
            description: None,
            group: None,
        }];
        let page = PageInfo {
            id: "p".into(),
            name: "P".into(),
            url: "http://x".into(),
            time_zone: chrono_tz::UTC,
            email_subscriptions: false,
            branding: Default::default(),
        };
        let monitors = vec![spec(
            "api-health",
            &["api"],
            ComponentStatus::MajorOutage,
            2,
        )];
        let mut world = World::new(
            page,
            build(&defs).unwrap(),
            monitors,
            HashMap::new(),
            HashMap::new(),
            t(0),
        );
        let mut n = 0u32;
        let ids: IdSource = Box::new(move || {
            n += 1;
            IncidentId::new(format!("id{n}")).unwrap()
        });
        let rules = IncidentRules {
            auto_open,
            auto_publish: true,
            auto_resolve_after: Duration::from_secs(60),
            group_window: Duration::from_secs(60),
        };
        let mut desk = Desk::new(rules, ids, 0);
        check(&mut world, &mut desk, CheckOutcome::Up, 1);
        (world, desk)
    }

    fn check(world: &mut World, desk: &mut Desk, outcome: CheckOutcome, at: i64) {
        let r = CheckResult {
            monitor_id: MonitorId::new("api-health").unwrap(),
            started_at: t(at),
            duration_ms: 5,
            outcome,
            status_code: None,
            error: (outcome == CheckOutcome::Down).then(|| "timed out".to_owned()),
            timings: None,
        };
        let applied = world.apply(&r);
        if let Some(tr) = applied.transition {
            desk.on_transition(
                world,
                &r.monitor_id,
                tr.from,
                tr.to,
                &applied.component_changes,
                t(at),
            );
        }
    }

    fn change() -> Change {
        Change {
            id: "chg_abc".into(),
            component: ComponentId::new("api").unwrap(),
            kind: "deploy".into(),
            summary: "Deploy api 1.4.2".into(),
            version: Some("1.4.2".into()),
            commit: None,
            environment: None,
            author: Some("alice".into()),
            url: None,
            started_at: t(10),
            finished_at: None,
            external_id: None,
            supersedes: None,
            source: "api".into(),
            recorded_at: t(10),
            recorded_by: "ci".into(),
        }
    }

    fn suspect() -> Regression {
        Regression {
            state: RegressionState::Suspect,
            suspect: true,
            summary: "p95 latency 3.1× higher since deploy 1.4.2 at 05:33 UTC (310 ms, was 100 ms)"
                .into(),
            monitors: vec![MonitorId::new("api-health").unwrap()],
            before: Some(WindowStats {
                samples: 20,
                failures: 0,
                p50_ms: 90,
                p95_ms: 100,
            }),
            after: Some(WindowStats {
                samples: 20,
                failures: 0,
                p50_ms: 300,
                p95_ms: 310,
            }),
            window_seconds: 900,
            evaluated_at: t(920),
            recovered_at: None,
        }
    }

    fn api() -> ComponentId {
        ComponentId::new("api").unwrap()
    }

    fn notes(desk: &mut Desk) -> Vec<String> {
        desk.take_writes()
            .incident_events
            .iter()
            .filter(|e| e.kind == "note")
            .map(|e| e.doc.clone())
            .collect()
    }

    #[test]
    fn a_suspect_change_opens_an_incident_degrades_and_recovers() {
        let (mut world, mut desk) = rig(true);
        desk.on_regression(&mut world, &change(), &suspect(), true, t(920));
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::DegradedPerformance)
        );
        let inc = desk.incidents()[0].clone();
        assert_eq!(inc.name, "Degraded performance of API");
        assert!(inc.public && inc.automated && !inc.human_owned);
        assert_eq!(inc.started_at, t(10));
        assert_eq!(inc.components[&api()], ComponentStatus::DegradedPerformance);
        assert!(
            inc.updates[0].body.contains("since deploy 1.4.2"),
            "{}",
            inc.updates[0].body
        );
        assert!(
            !inc.updates[0].body.contains("chg_abc"),
            "the public body names no record id"
        );
        let notes = notes(&mut desk);
        assert!(
            notes
                .iter()
                .any(|n| n.contains("chg_abc") && n.contains("by alice")),
            "{notes:?}"
        );

        let recent = WindowStats {
            samples: 20,
            failures: 0,
            p50_ms: 95,
            p95_ms: 104,
        };
        desk.on_regression_recovered(&mut world, &change(), &suspect(), &recent, t(1900));
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::Operational)
        );
        let inc = desk.incident(&inc.id).unwrap().clone();
        assert_eq!(inc.status, IncidentStatus::Monitoring);
        desk.tick(&mut world, t(1961));
        assert_eq!(
            desk.incident(&inc.id).unwrap().status,
            IncidentStatus::Resolved
        );
        assert!(desk.overrides().is_empty());
    }

    #[test]
    fn an_outage_takes_over_from_the_degradation() {
        let (mut world, mut desk) = rig(true);
        desk.on_regression(&mut world, &change(), &suspect(), true, t(920));
        check(&mut world, &mut desk, CheckOutcome::Down, 930);
        check(&mut world, &mut desk, CheckOutcome::Down, 931);
        // The override still holds until the clock runs.
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::DegradedPerformance)
        );
        desk.regression_tick(&mut world, t(932));
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::MajorOutage)
        );
        let inc = &desk.incidents()[0];
        assert_eq!(
            desk.incidents().len(),
            1,
            "the outage joined the open incident"
        );
        assert_eq!(
            inc.monitors.get(&MonitorId::new("api-health").unwrap()),
            Some(&true)
        );
        assert_eq!(inc.components[&api()], ComponentStatus::MajorOutage);
    }

    #[test]
    fn people_and_worse_statuses_are_respected() {
        // An incident a person owns gets a note, no public update, and a worse status stays.
        let (mut world, mut desk) = rig(true);
        check(&mut world, &mut desk, CheckOutcome::Down, 2);
        check(&mut world, &mut desk, CheckOutcome::Down, 3);
        let id = desk.incidents()[0].id.clone();
        let update = NewUpdate {
            status: Some(IncidentStatus::Identified),
            body: "On it.".into(),
            ..NewUpdate::default()
        };
        desk.post_update(&mut world, &id, update, Actor::Person("alice".into()), t(4))
            .unwrap();
        let updates = desk.incident(&id).unwrap().updates.len();
        let _ = notes(&mut desk);
        desk.on_regression(&mut world, &change(), &suspect(), true, t(920));
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::MajorOutage)
        );
        assert_eq!(desk.incident(&id).unwrap().updates.len(), updates);
        assert_eq!(notes(&mut desk).len(), 1);
        assert!(desk.overrides().is_empty());

        // With `degrade` off and no incident, nothing changes but the verdict on the change.
        let (mut world, mut desk) = rig(true);
        desk.on_regression(&mut world, &change(), &suspect(), false, t(920));
        assert!(desk.incidents().is_empty());
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::Operational)
        );

        // Without auto_open, the component is degraded with no incident, and recovers.
        let (mut world, mut desk) = rig(false);
        desk.on_regression(&mut world, &change(), &suspect(), true, t(920));
        assert!(desk.incidents().is_empty());
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::DegradedPerformance)
        );
        let recent = WindowStats {
            samples: 20,
            failures: 0,
            p50_ms: 95,
            p95_ms: 104,
        };
        desk.on_regression_recovered(&mut world, &change(), &suspect(), &recent, t(1900));
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::Operational)
        );
    }
}

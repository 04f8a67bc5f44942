//! Release regressions at the desk: what happens when the regression watcher
//! (`crate::changes`) judges a change suspect, and when its component recovers.
//!
//! - Suspect, with `degrade` on: the change asks its component to show
//!   `degraded_performance`, a status contribution that counts like a monitor's
//!   ([`World::set_regression`]): the worst of them wins, so an outage shows over it, and a
//!   maintenance window or a person's override beats it. When that makes the component
//!   degraded, an open incident covering it gets a private note naming the change and, while
//!   automation owns it, a public update; without one, `[incidents] auto_open` opens
//!   "Degraded performance of X", published with `auto_publish`, its body naming the change by
//!   kind and version (the change's details go in a private note). Otherwise (degrade off, or
//!   the component shows something else) only an open incident's timeline hears of it.
//! - Recovered (a whole later window shows no regression): the contribution ends; the open
//!   incident covering the component gets a note and, while automation owns it and none of its
//!   monitors is down, moves to `monitoring`, to resolve after `auto_resolve_after` like any
//!   other.
//! - The watcher stops watching a suspect change [`RECOVERY_HORIZON`] after it; its
//!   contribution ends then too, so no component stays degraded for a change nobody watches.
//! - Nothing of this is stored apart from the verdict beside the change: after a restart the
//!   suspect, unrecovered verdicts put their contributions back ([`Desk::restore_regressions`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pharos_domain::change::WindowStats;
use pharos_domain::incident::{AffectedChange, TimelineKind};
use pharos_domain::{
    Actor, Change, ComponentId, ComponentStatus, ComponentTransition, IncidentStatus, Regression,
};

use super::{ComponentOverride, Desk};
use crate::changes::RECOVERY_HORIZON;
use crate::world::World;

/// Every regression override's reason started with this, before regressions became status
/// contributions: such overrides found in storage are lifted at start-up.
const LEGACY_REASON_PREFIX: &str = "Release regression";

/// Whether automation set `o` for a release regression (before regressions became status
/// contributions).
pub(super) fn is_legacy_regression_override(o: &ComponentOverride) -> bool {
    o.actor == Actor::Automation
        && o.reason
            .as_deref()
            .is_some_and(|r| r.starts_with(LEGACY_REASON_PREFIX))
}

/// The suspect changes whose regression the components show, by change id.
#[derive(Debug, Default)]
pub(super) struct ActiveRegressions(BTreeMap<String, ActiveRegression>);

/// One suspect change's contribution.
#[derive(Debug, Clone)]
struct ActiveRegression {
    component: ComponentId,
    /// When the change started: the contribution ends [`RECOVERY_HORIZON`] after it.
    change_started_at: DateTime<Utc>,
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

fn horizon() -> chrono::Duration {
    chrono::Duration::from_std(RECOVERY_HORIZON).unwrap_or(chrono::Duration::MAX)
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
        // The degradation is news only when the component shows it.
        let shown = if degrade {
            self.degrade(world, change, now)
        } else {
            None
        };
        let affected: Vec<AffectedChange> = shown
            .iter()
            .map(|t| AffectedChange {
                component_id: t.component_id.clone(),
                old_status: t.from,
                new_status: t.to,
            })
            .collect();
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
                self.note_component_changes(shown.as_slice(), now);
                let inc = &self.incidents[ii];
                if inc.automation_owns() {
                    let status = inc.status;
                    self.post(ii, status, public, affected, now);
                }
                self.touch_incident(&id);
                tracing::info!(incident = %id, change = %change.id, "suspect change named in the open incident");
            }
            None if !affected.is_empty() && self.rules.auto_open => {
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
                for a in &affected {
                    self.incidents[ii].note_component(a.component_id.clone(), a.new_status);
                }
                // The degradation is an entry of its own, as an outage's is.
                self.note_component_changes(shown.as_slice(), now);
                self.post(ii, IncidentStatus::Investigating, public, affected, now);
                if self.rules.auto_publish {
                    self.publish(ii, Actor::Automation, now);
                }
                tracing::info!(incident = %id, change = %change.id, "incident opened for a suspect change");
            }
            None if !affected.is_empty() => {
                tracing::info!(component = %c, change = %change.id, "component degraded by a suspect change");
            }
            None => {}
        }
    }

    /// Adds suspect `change`'s contribution to its component; returns the change it made to
    /// what the component shows (none when something worse, a maintenance window or an
    /// override holds it).
    fn degrade(
        &mut self,
        world: &mut World,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Option<ComponentTransition> {
        let c = &change.component;
        self.regressions.0.insert(
            change.id.clone(),
            ActiveRegression {
                component: c.clone(),
                change_started_at: change.started_at,
            },
        );
        let shown = world.set_regression(
            c,
            &change.id,
            Some(ComponentStatus::DegradedPerformance),
            now,
        );
        self.record_change(shown.clone());
        shown
    }

    /// Ends suspect change `change_id`'s contribution, if it has one; returns whether it had.
    fn end_regression(&mut self, world: &mut World, change_id: &str, now: DateTime<Utc>) -> bool {
        let Some(active) = self.regressions.0.remove(change_id) else {
            return false;
        };
        let shown = world.set_regression(&active.component, change_id, None, now);
        self.note_component_changes(shown.as_slice(), now);
        self.record_change(shown);
        true
    }

    /// Puts back the contributions of suspect changes that have not recovered (read from
    /// storage at start-up), without notes or updates: they were made when it was judged.
    pub fn restore_regressions(
        &mut self,
        world: &mut World,
        suspects: &[Change],
        now: DateTime<Utc>,
    ) {
        for change in suspects {
            if change.started_at + horizon() < now {
                continue;
            }
            self.degrade(world, change, now);
        }
        // Regressions were overrides before they were contributions.
        let legacy: Vec<ComponentId> = self
            .overrides
            .values()
            .filter(|o| is_legacy_regression_override(o))
            .map(|o| o.component_id.clone())
            .collect();
        for c in legacy {
            self.remove_override(world, &c, now);
        }
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
        let old = world.component_status(c);
        if !self.end_regression(world, &change.id, now) {
            return;
        }
        let name = world
            .component(c)
            .map_or_else(|| c.to_string(), |(n, _)| n.to_owned());
        let new_status = world
            .component_status(c)
            .unwrap_or(ComponentStatus::Operational);
        tracing::info!(component = %c, change = %change.id, "release regression over: the change no longer degrades its component");
        let Some(ii) = self
            .incidents
            .iter()
            .rposition(|i| i.status.is_unresolved() && i.components.contains_key(c))
        else {
            return;
        };
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
        if self.incidents[ii].regression_over(now) {
            let affected = vec![AffectedChange {
                component_id: c.clone(),
                old_status: old.unwrap_or(ComponentStatus::DegradedPerformance),
                new_status,
            }];
            let body =
                format!("Performance of {name} is back to normal. We are monitoring the recovery.");
            self.post(ii, IncidentStatus::Monitoring, body, affected, now);
        }
        self.touch_incident(&id);
    }

    /// Ends the contributions of suspect changes the watcher no longer watches. Runs with the
    /// clock.
    pub(super) fn expire_regressions(&mut self, world: &mut World, now: DateTime<Utc>) {
        let stale: Vec<String> = self
            .regressions
            .0
            .iter()
            .filter(|(_, r)| r.change_started_at + horizon() < now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            self.end_regression(world, &id, now);
            tracing::info!(change = %id, "suspect change no longer watched: it no longer degrades its component");
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
            location: pharos_domain::LocationId::local(),
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
    fn an_outage_shows_over_the_degradation_and_gives_way_to_it_again() {
        let (mut world, mut desk) = rig(true);
        desk.on_regression(&mut world, &change(), &suspect(), true, t(920));
        check(&mut world, &mut desk, CheckOutcome::Down, 930);
        check(&mut world, &mut desk, CheckOutcome::Down, 931);
        // The regression counts like a monitor: the worse status shows at once.
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

        // The outage ends; the change still slows the component down.
        check(&mut world, &mut desk, CheckOutcome::Up, 940);
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::DegradedPerformance)
        );
        desk.on_regression_recovered(&mut world, &change(), &suspect(), &recovered(), t(1900));
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::Operational)
        );
        assert!(desk.overrides().is_empty(), "a regression is no override");
    }

    #[test]
    fn maintenance_and_people_beat_the_regression() {
        // A person's override shows over it; clearing the override shows it again.
        let (mut world, mut desk) = rig(false);
        let operational = crate::desk::OverrideRequest {
            status: ComponentStatus::Operational,
            until: None,
            reason: None,
        };
        desk.set_override(
            &mut world,
            "api",
            operational,
            Actor::Person("bob".into()),
            t(900),
        )
        .unwrap();
        desk.on_regression(&mut world, &change(), &suspect(), true, t(920));
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::Operational)
        );
        desk.clear_override(&mut world, "api", t(930)).unwrap();
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::DegradedPerformance)
        );

        // A maintenance window shows over it.
        world.set_maintenance(&api(), true, t(940));
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::UnderMaintenance)
        );
        world.set_maintenance(&api(), false, t(950));
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::DegradedPerformance)
        );
    }

    #[test]
    fn the_degradation_ends_when_nobody_watches_the_change_any_more() {
        let (mut world, mut desk) = rig(false);
        desk.on_regression(&mut world, &change(), &suspect(), true, t(920));
        let horizon = RECOVERY_HORIZON.as_secs() as i64;
        desk.tick(&mut world, t(horizon));
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::DegradedPerformance)
        );
        desk.tick(&mut world, t(10 + horizon + 1));
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::Operational)
        );
    }

    #[test]
    fn a_restart_puts_the_regression_back_and_lifts_an_old_style_override() {
        let (mut world, mut desk) = rig(true);
        desk.restore(
            &mut world,
            crate::desk::StoredDesk {
                overrides: vec![ComponentOverride {
                    component_id: api(),
                    status: ComponentStatus::DegradedPerformance,
                    until: None,
                    incident_id: None,
                    actor: Actor::Automation,
                    set_at: t(900),
                    reason: Some("Release regression: p95 latency 4.0× higher".into()),
                }],
                ..Default::default()
            },
            t(1000),
        );
        desk.restore_regressions(&mut world, &[change()], t(1000));
        assert!(
            desk.overrides().is_empty(),
            "the old-style override is lifted"
        );
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::DegradedPerformance)
        );
        assert!(desk.incidents().is_empty(), "nothing is announced again");
        desk.on_regression_recovered(&mut world, &change(), &suspect(), &recovered(), t(1900));
        assert_eq!(
            world.component_status(&api()),
            Some(ComponentStatus::Operational)
        );
    }

    fn recovered() -> WindowStats {
        WindowStats {
            samples: 20,
            failures: 0,
            p50_ms: 95,
            p95_ms: 104,
        }
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

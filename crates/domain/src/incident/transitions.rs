//! How incidents and maintenance windows move: the rules of their life, kept with their data.
//!
//! The desk decides *when* something happened (a monitor failed, recovered, started to
//! flap, a person posted); these methods say what that does to the record and which status
//! automation should post, if any. Automation speaks on an incident only until a person takes
//! it over ([`Incident::hand_over`]); from then on it records, and never posts.

use chrono::{DateTime, Utc};

use super::{Incident, IncidentStatus, Maintenance, MaintenanceStatus, PublicUpdate};
use crate::MonitorId;

/// What a public update did to an incident's course, for whoever hears of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateStep {
    /// Its first update: the incident is news.
    Opened,
    /// It moved an open incident to resolved (or to its postmortem).
    Resolved,
    /// Anything else, a reopening included.
    Updated,
}

/// What automation says when a flapping monitor settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlapEnd {
    /// Nothing to post (a person owns it, or it settled while other checks still fail).
    Quiet,
    /// Stable and passing: move to `monitoring`.
    Recovering,
    /// Stable and failing: say so, keeping the status.
    StillFailing(IncidentStatus),
}

impl Incident {
    /// Whether automation may still post to it and change its status: until a person takes it
    /// over.
    pub fn automation_owns(&self) -> bool {
        !self.human_owned
    }

    /// A person posted to it or changed its status: from now on automation only records.
    pub fn hand_over(&mut self) {
        self.human_owned = true;
    }

    /// Whether automation may move it to `monitoring` now that its checks pass: it owns the
    /// incident, and it is still being investigated (or identified).
    pub fn automation_may_monitor(&self) -> bool {
        self.automation_owns()
            && matches!(
                self.status,
                IncidentStatus::Investigating | IncidentStatus::Identified
            )
    }

    /// Records `update`, moving the incident to its status: `monitoring_at` when it enters
    /// monitoring, `resolved_at` when it resolves (cleared again when it reopens), and the
    /// statuses held while private dropped once it is resolved (nothing is left to show).
    pub fn record_update(&mut self, update: PublicUpdate<IncidentStatus>) -> UpdateStep {
        let (from, to, now) = (self.status, update.status, update.created_at);
        let step = if self.updates.is_empty() {
            UpdateStep::Opened
        } else if from.is_unresolved() && !to.is_unresolved() {
            UpdateStep::Resolved
        } else {
            UpdateStep::Updated
        };
        if to == IncidentStatus::Monitoring && from != IncidentStatus::Monitoring {
            self.monitoring_at = Some(now);
        }
        if to.is_unresolved() {
            self.resolved_at = None;
        } else {
            if from.is_unresolved() {
                self.resolved_at = Some(now);
            }
            self.pending_components.clear();
        }
        self.status = to;
        self.updated_at = now;
        self.updates.push(update);
        step
    }

    /// Something of this incident (a monitor or an alert, joining or already in it) fails at
    /// `now`: the incident is not healthy any more.
    pub fn failing(&mut self, now: DateTime<Utc>) {
        self.healthy_since = None;
        self.updated_at = now;
    }

    /// A monitor of this incident (joining or already in it) is confirmed down at `now`.
    pub fn monitor_down(&mut self, monitor: MonitorId, now: DateTime<Utc>) {
        self.monitors.insert(monitor, true);
        self.failing(now);
    }

    /// Something of this incident (a monitor or an alert) is healthy again at `now`. Returns
    /// whether automation should move it to `monitoring`: everything that joined it is clear
    /// (it is then healthy since `now`), and automation may.
    pub fn cleared(&mut self, now: DateTime<Utc>) -> bool {
        self.updated_at = now;
        if !self.all_clear() {
            return false;
        }
        self.healthy_since = Some(now);
        self.automation_may_monitor()
    }

    /// The status automation posts after a failure joined the incident, or `None` to post
    /// nothing: back to `investigating` when it was `monitoring` (the problem returned), the
    /// same status when the failure reached new components, nothing while a person owns it or
    /// the failing monitor flaps (its one update was posted when it started to flap).
    pub fn status_after_failure(
        &self,
        new_components: bool,
        flapping: bool,
    ) -> Option<IncidentStatus> {
        if !self.automation_owns() || flapping {
            None
        } else if self.status == IncidentStatus::Monitoring {
            Some(IncidentStatus::Investigating)
        } else if new_components {
            Some(self.status)
        } else {
            None
        }
    }

    /// A monitor of this incident passes again at `now`. Returns whether automation should
    /// move it to `monitoring`: everything that joined it is clear, the monitor is not
    /// flapping (coming back is then no recovery yet), and automation may.
    pub fn monitor_up(&mut self, monitor: MonitorId, flapping: bool, now: DateTime<Utc>) -> bool {
        self.monitors.insert(monitor, false);
        self.updated_at = now;
        !flapping && self.cleared(now)
    }

    /// A monitor of this incident started to flap at `now`: not healthy, and the status
    /// automation posts once (back to `investigating` from `monitoring`), or `None` while a
    /// person owns it.
    pub fn flap_started(&mut self, now: DateTime<Utc>) -> Option<IncidentStatus> {
        self.healthy_since = None;
        self.updated_at = now;
        if !self.automation_owns() {
            return None;
        }
        Some(match self.status {
            IncidentStatus::Monitoring => IncidentStatus::Investigating,
            s => s,
        })
    }

    /// A monitor of this incident stopped flapping at `now`, down or not.
    pub fn flap_ended(&mut self, monitor_down: bool, now: DateTime<Utc>) -> FlapEnd {
        self.updated_at = now;
        if !monitor_down && self.all_clear() {
            self.healthy_since = Some(now);
            if self.automation_may_monitor() {
                FlapEnd::Recovering
            } else {
                FlapEnd::Quiet
            }
        } else if monitor_down && self.automation_owns() {
            FlapEnd::StillFailing(self.status)
        } else {
            FlapEnd::Quiet
        }
    }

    /// A release regression on one of its components is over at `now`. Returns whether
    /// automation should move it to `monitoring`: no monitor of it is down and automation may.
    /// (Its alerts do not hold a regression's recovery back: they have their own course.)
    pub fn regression_over(&mut self, now: DateTime<Utc>) -> bool {
        let monitors_up = self.monitors.values().all(|down| !down);
        if !(monitors_up && self.automation_may_monitor()) {
            return false;
        }
        self.healthy_since = Some(now);
        true
    }

    /// Whether automation resolves it at `now`: it is `monitoring`, automation owns it,
    /// everything is clear and has been for `quiet`.
    pub fn quiet_enough_to_resolve(&self, now: DateTime<Utc>, quiet: std::time::Duration) -> bool {
        let quiet = chrono::Duration::from_std(quiet).unwrap_or(chrono::Duration::MAX);
        self.status == IncidentStatus::Monitoring
            && self.automation_owns()
            && self.all_clear()
            && self.healthy_since.is_some_and(|h| now - h >= quiet)
    }
}

/// What a status change did to a maintenance window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceStep {
    /// Scheduled → in progress: the work began.
    Started,
    /// It completed.
    Completed,
    /// Anything else.
    Updated,
}

impl Maintenance {
    /// Records `update`, moving the window to its status: `started_at` the first time it is in
    /// progress, `completed_at` when it completes. (Whether the move is allowed is
    /// [`super::check_maintenance_transition`]'s question, asked before.)
    pub fn record_update(&mut self, update: PublicUpdate<MaintenanceStatus>) -> MaintenanceStep {
        let (from, to, now) = (self.status, update.status, update.created_at);
        let step = match to {
            MaintenanceStatus::InProgress if from == MaintenanceStatus::Scheduled => {
                MaintenanceStep::Started
            }
            MaintenanceStatus::Completed => MaintenanceStep::Completed,
            _ => MaintenanceStep::Updated,
        };
        if to == MaintenanceStatus::InProgress && self.started_at.is_none() {
            self.started_at = Some(now);
        }
        if to == MaintenanceStatus::Completed {
            self.completed_at = Some(now);
        }
        self.status = to;
        self.updated_at = now;
        self.updates.push(update);
        step
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::incident::{Actor, Impact, IncidentId};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn monitor(id: &str) -> MonitorId {
        MonitorId::new(id).unwrap()
    }

    /// An incident automation opened at 0 s, in `status`, with monitor `a` down and `b` up.
    fn incident(status: IncidentStatus, human_owned: bool) -> Incident {
        Incident {
            id: IncidentId::new("inc1").unwrap(),
            name: "Major outage of API".into(),
            status,
            impact_override: None,
            computed_impact: Impact::None,
            severity: None,
            components: BTreeMap::new(),
            pending_components: BTreeMap::new(),
            monitors: [(monitor("a"), true), (monitor("b"), false)].into(),
            public: true,
            automated: true,
            human_owned,
            roles: BTreeMap::new(),
            created_at: at(0),
            updated_at: at(0),
            started_at: at(0),
            monitoring_at: None,
            resolved_at: None,
            first_failure_at: Some(at(0)),
            published_at: Some(at(0)),
            healthy_since: None,
            updates: Vec::new(),
            alerts: BTreeMap::new(),
            acknowledged: None,
        }
    }

    fn update<S>(status: S, secs: i64) -> PublicUpdate<S> {
        PublicUpdate {
            id: IncidentId::new(format!("u{secs}")).unwrap(),
            status,
            body: String::new(),
            created_at: at(secs),
            actor: Actor::Automation,
            affected: Vec::new(),
        }
    }

    use IncidentStatus::{Identified, Investigating, Monitoring, Postmortem, Resolved};

    #[test]
    fn an_update_moves_the_incident_and_its_dates() {
        // (statuses posted in turn) → (step of the last, monitoring_at, resolved_at) in seconds
        type Row = (
            &'static [IncidentStatus],
            UpdateStep,
            Option<i64>,
            Option<i64>,
        );
        let rows: &[Row] = &[
            (&[Investigating], UpdateStep::Opened, None, None),
            (&[Resolved], UpdateStep::Opened, None, Some(1)),
            (
                &[Investigating, Identified],
                UpdateStep::Updated,
                None,
                None,
            ),
            (
                &[Investigating, Monitoring],
                UpdateStep::Updated,
                Some(2),
                None,
            ),
            // Monitoring again keeps the first time it entered.
            (
                &[Investigating, Monitoring, Monitoring],
                UpdateStep::Updated,
                Some(2),
                None,
            ),
            (
                &[Investigating, Monitoring, Investigating, Monitoring],
                UpdateStep::Updated,
                Some(4),
                None,
            ),
            (
                &[Investigating, Resolved],
                UpdateStep::Resolved,
                None,
                Some(2),
            ),
            (
                &[Investigating, Monitoring, Resolved],
                UpdateStep::Resolved,
                Some(2),
                Some(3),
            ),
            // Reopened: no longer resolved.
            (
                &[Investigating, Resolved, Investigating],
                UpdateStep::Updated,
                None,
                None,
            ),
            // A postmortem after resolving keeps the resolution time.
            (
                &[Investigating, Resolved, Postmortem],
                UpdateStep::Updated,
                None,
                Some(2),
            ),
            (
                &[Investigating, Postmortem],
                UpdateStep::Resolved,
                None,
                Some(2),
            ),
        ];
        for (statuses, step, monitoring, resolved) in rows {
            let mut inc = incident(Investigating, false);
            inc.pending_components.insert(
                crate::ComponentId::new("api").unwrap(),
                crate::ComponentStatus::MajorOutage,
            );
            let mut last = None;
            for (i, s) in statuses.iter().enumerate() {
                last = Some(inc.record_update(update(*s, i as i64 + 1)));
            }
            let n = statuses.len() as i64;
            assert_eq!(last, Some(*step), "{statuses:?}");
            assert_eq!(inc.status, statuses[statuses.len() - 1], "{statuses:?}");
            assert_eq!(inc.updated_at, at(n), "{statuses:?}");
            assert_eq!(inc.monitoring_at, monitoring.map(at), "{statuses:?}");
            assert_eq!(inc.resolved_at, resolved.map(at), "{statuses:?}");
            assert_eq!(
                inc.pending_components.is_empty(),
                statuses.iter().any(|s| !s.is_unresolved()),
                "held statuses go when it resolves: {statuses:?}"
            );
            assert_eq!(inc.updates.len(), statuses.len());
        }
    }

    #[test]
    fn automation_speaks_after_a_failure_only_while_it_owns_the_incident() {
        // (status, person owns it, new components, flapping) → status automation posts
        type Row = (IncidentStatus, bool, bool, bool, Option<IncidentStatus>);
        let rows: &[Row] = &[
            (Investigating, false, false, false, None),
            (Investigating, false, true, false, Some(Investigating)),
            (Identified, false, true, false, Some(Identified)),
            // The problem returned while monitoring: reopened to investigating.
            (Monitoring, false, false, false, Some(Investigating)),
            (Monitoring, false, true, false, Some(Investigating)),
            // A flapping monitor's update was posted when it started to flap.
            (Monitoring, false, true, true, None),
            (Investigating, false, true, true, None),
            // A person owns it: automation records, never posts.
            (Monitoring, true, true, false, None),
            (Investigating, true, true, false, None),
        ];
        for &(status, human, new_components, flapping, expected) in rows {
            let mut inc = incident(status, human);
            inc.healthy_since = Some(at(1));
            inc.monitor_down(monitor("b"), at(5));
            assert_eq!(inc.monitors.get(&monitor("b")), Some(&true));
            assert_eq!(inc.healthy_since, None, "a failure ends the quiet");
            assert_eq!(inc.updated_at, at(5));
            assert_eq!(
                inc.status_after_failure(new_components, flapping),
                expected,
                "{status:?} human={human} new={new_components} flapping={flapping}"
            );
        }
    }

    #[test]
    fn a_recovery_moves_to_monitoring_once_everything_is_clear() {
        // (status, person owns it, another monitor still down, alert firing, flapping)
        //   → (automation moves it to monitoring, healthy since the recovery)
        type Row = (IncidentStatus, bool, bool, bool, bool, bool, bool);
        let rows: &[Row] = &[
            (Investigating, false, false, false, false, true, true),
            (Identified, false, false, false, false, true, true),
            // Already monitoring, or a person owns it: clear, but nothing to post.
            (Monitoring, false, false, false, false, false, true),
            (Investigating, true, false, false, false, false, true),
            // Something else still fails: not clear.
            (Investigating, false, true, false, false, false, false),
            (Investigating, false, false, true, false, false, false),
            // Flapping: coming back is no recovery yet.
            (Investigating, false, false, false, true, false, false),
        ];
        for &(status, human, other_down, alert, flapping, monitoring, healthy) in rows {
            let mut inc = incident(status, human);
            if other_down {
                inc.monitors.insert(monitor("b"), true);
            }
            if alert {
                inc.alerts.insert("k".into(), firing_alert());
            }
            let moved = inc.monitor_up(monitor("a"), flapping, at(9));
            let case = format!("{status:?} human={human} other_down={other_down} alert={alert} flapping={flapping}");
            assert_eq!(moved, monitoring, "{case}");
            assert_eq!(inc.healthy_since, healthy.then(|| at(9)), "{case}");
            assert_eq!(inc.monitors.get(&monitor("a")), Some(&false), "{case}");
        }
    }

    #[test]
    fn flapping_posts_once_when_it_starts_and_once_when_it_settles() {
        // Started: (status, person owns it) → status posted
        for (status, human, expected) in [
            (Investigating, false, Some(Investigating)),
            (Identified, false, Some(Identified)),
            (Monitoring, false, Some(Investigating)),
            (Monitoring, true, None),
        ] {
            let mut inc = incident(status, human);
            inc.healthy_since = Some(at(1));
            assert_eq!(inc.flap_started(at(3)), expected, "{status:?} {human}");
            assert_eq!(inc.healthy_since, None);
        }
        // Ended: (status, person owns it, monitor down, other monitor down) → what is posted
        for (status, human, down, other_down, expected) in [
            (Investigating, false, false, false, FlapEnd::Recovering),
            (Monitoring, false, false, false, FlapEnd::Quiet),
            (Investigating, true, false, false, FlapEnd::Quiet),
            (Investigating, false, false, true, FlapEnd::Quiet),
            (
                Identified,
                false,
                true,
                false,
                FlapEnd::StillFailing(Identified),
            ),
            (Investigating, true, true, false, FlapEnd::Quiet),
        ] {
            let mut inc = incident(status, human);
            inc.monitors.insert(monitor("a"), down);
            inc.monitors.insert(monitor("b"), other_down);
            let end = inc.flap_ended(down, at(4));
            assert_eq!(
                end, expected,
                "{status:?} human={human} down={down} other={other_down}"
            );
            let clear = !down && !other_down;
            assert_eq!(inc.healthy_since, clear.then(|| at(4)));
        }
    }

    #[test]
    fn automation_resolves_after_a_quiet_period_it_owns() {
        let quiet = std::time::Duration::from_secs(300);
        // (status, person owns it, healthy since, now) → resolves
        let rows = [
            (Monitoring, false, Some(0), 300, true),
            (Monitoring, false, Some(0), 299, false),
            (Monitoring, false, None, 10_000, false),
            (Monitoring, true, Some(0), 10_000, false),
            (Investigating, false, Some(0), 10_000, false),
            (Resolved, false, Some(0), 10_000, false),
        ];
        for (status, human, healthy, now, expected) in rows {
            let mut inc = incident(status, human);
            inc.monitors.insert(monitor("a"), false);
            inc.healthy_since = healthy.map(at);
            assert_eq!(
                inc.quiet_enough_to_resolve(at(now), quiet),
                expected,
                "{status:?} human={human} healthy={healthy:?} now={now}"
            );
        }
        // Something that fails again holds it open.
        let mut inc = incident(Monitoring, false);
        inc.healthy_since = Some(at(0));
        assert!(
            !inc.quiet_enough_to_resolve(at(10_000), quiet),
            "monitor a is down"
        );
    }

    #[test]
    fn a_regression_that_ends_moves_to_monitoring_unless_a_monitor_is_down() {
        for (status, human, down, expected) in [
            (Investigating, false, false, true),
            (Identified, false, false, true),
            (Investigating, false, true, false),
            (Investigating, true, false, false),
            (Monitoring, false, false, false),
        ] {
            let mut inc = incident(status, human);
            inc.monitors.insert(monitor("a"), down);
            assert_eq!(
                inc.regression_over(at(7)),
                expected,
                "{status:?} {human} {down}"
            );
            assert_eq!(inc.healthy_since, expected.then(|| at(7)));
        }
    }

    #[test]
    fn a_person_takes_over_for_good() {
        let mut inc = incident(Investigating, false);
        assert!(inc.automation_owns());
        inc.hand_over();
        assert!(!inc.automation_owns());
        assert!(!inc.automation_may_monitor());
    }

    #[test]
    fn a_maintenance_moves_forward_with_its_dates() {
        use MaintenanceStatus::{Completed, InProgress, Scheduled, Verifying};
        // (statuses posted in turn) → (step of the last, started_at, completed_at)
        type Row = (
            &'static [MaintenanceStatus],
            MaintenanceStep,
            Option<i64>,
            Option<i64>,
        );
        let rows: &[Row] = &[
            (&[InProgress], MaintenanceStep::Started, Some(1), None),
            (
                &[InProgress, Verifying],
                MaintenanceStep::Updated,
                Some(1),
                None,
            ),
            (
                &[InProgress, InProgress],
                MaintenanceStep::Updated,
                Some(1),
                None,
            ),
            (
                &[InProgress, Completed],
                MaintenanceStep::Completed,
                Some(1),
                Some(2),
            ),
            // Completed before it started (cancelled): never started.
            (&[Completed], MaintenanceStep::Completed, None, Some(1)),
            (&[Scheduled], MaintenanceStep::Updated, None, None),
        ];
        for (statuses, step, started, completed) in rows {
            let mut m = maintenance();
            let mut last = None;
            for (i, s) in statuses.iter().enumerate() {
                last = Some(m.record_update(update(*s, i as i64 + 1)));
            }
            assert_eq!(last, Some(*step), "{statuses:?}");
            assert_eq!(m.started_at, started.map(at), "{statuses:?}");
            assert_eq!(m.completed_at, completed.map(at), "{statuses:?}");
            assert_eq!(m.status, statuses[statuses.len() - 1]);
        }
    }

    fn maintenance() -> Maintenance {
        Maintenance {
            id: IncidentId::new("m1").unwrap(),
            config_id: None,
            name: "Upgrade".into(),
            status: MaintenanceStatus::Scheduled,
            components: Vec::new(),
            scheduled_for: at(0),
            scheduled_until: at(3600),
            auto_start: true,
            auto_complete: true,
            created_at: at(0),
            updated_at: at(0),
            started_at: None,
            completed_at: None,
            updates: Vec::new(),
        }
    }

    fn firing_alert() -> crate::alert::AttachedAlert {
        serde_json::from_value(serde_json::json!({
            "source": "alertmanager",
            "name": "HighErrorRate",
            "summary": "errors",
            "severity": "critical",
            "components": ["api"],
            "status": "major_outage",
            "firing": true,
            "first_seen_at": "2023-11-14T22:13:20Z",
            "last_seen_at": "2023-11-14T22:13:20Z",
            "notifications": 1,
        }))
        .unwrap()
    }
}

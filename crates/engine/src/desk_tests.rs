//! Table tests of the incident desk: automation, people, maintenance, overrides.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as ChronoDuration;
use pharos_domain::incident::TimelineEntry;
use pharos_domain::{
    CheckOutcome, CheckResult, ComponentId, ComponentStatus, Impact, IncidentId, IncidentStatus,
    MaintenanceStatus, MonitorId, MonitorSpec, Severity,
};

use super::*;
use crate::catalog::{build, ComponentDef};
use crate::test_support::t;
use crate::view::PageInfo;
use crate::world::World;

fn cid(s: &str) -> ComponentId {
    ComponentId::new(s).unwrap()
}

/// A component status as a request asks for it.
fn asked(component: &str, status: &str) -> (ComponentId, ComponentStatus) {
    (cid(component), ComponentStatus::parse(status).unwrap())
}

/// Monitors here are down after three failures.
fn spec(id: &str, components: &[&str], on_failure: ComponentStatus) -> Arc<MonitorSpec> {
    crate::test_support::spec(id, components, on_failure, 3)
}

struct Rig {
    world: World,
    desk: Desk,
}

fn rig(rules: IncidentRules) -> Rig {
    rig_with(
        rules,
        vec![
            spec("api-health", &["api"], ComponentStatus::MajorOutage),
            spec("api-latency", &["api"], ComponentStatus::PartialOutage),
            spec("db-port", &["db"], ComponentStatus::MajorOutage),
        ],
    )
}

fn rig_with(rules: IncidentRules, monitors: Vec<Arc<MonitorSpec>>) -> Rig {
    let defs = [
        ComponentDef {
            id: ComponentId::new("api").unwrap(),
            name: "API".into(),
            description: None,
            group: Some("Core".into()),
        },
        ComponentDef {
            id: ComponentId::new("db").unwrap(),
            name: "Database".into(),
            description: None,
            group: None,
        },
    ];
    let page = PageInfo {
        id: "p".into(),
        name: "P".into(),
        url: "http://x".into(),
        time_zone: chrono_tz::UTC,
        email_subscriptions: false,
        branding: Default::default(),
    };
    let world = World::new(
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
    Rig {
        world,
        desk: Desk::new(rules, ids, 0),
    }
}

fn rules() -> IncidentRules {
    IncidentRules {
        auto_open: true,
        auto_publish: true,
        auto_resolve_after: Duration::from_secs(600),
        group_window: Duration::from_secs(60),
    }
}

impl Rig {
    fn check(&mut self, monitor: &str, outcome: CheckOutcome, at: i64) {
        let r = CheckResult {
            monitor_id: MonitorId::new(monitor).unwrap(),
            started_at: t(at),
            duration_ms: 5,
            outcome,
            status_code: None,
            error: (outcome == CheckOutcome::Down).then(|| "connection refused".to_owned()),
            timings: None,
            location: pharos_domain::LocationId::local(),
        };
        let applied = self.world.apply(&r);
        self.desk
            .on_result(&mut self.world, &r.monitor_id, &applied, t(at));
    }

    fn fail(&mut self, monitor: &str, from: i64) {
        for i in 0..3 {
            self.check(monitor, CheckOutcome::Down, from + i);
        }
    }

    fn incidents(&mut self) -> Vec<Incident> {
        self.desk.lists().0.to_vec()
    }

    fn status(&self, c: &str) -> ComponentStatus {
        self.world
            .component_status(&ComponentId::new(c).unwrap())
            .unwrap()
    }

    fn events(&mut self) -> Vec<TimelineEntry> {
        self.desk
            .take_writes()
            .incident_events
            .iter()
            .map(|e| serde_json::from_str(&e.doc).unwrap())
            .collect()
    }
}

fn kinds(events: &[TimelineEntry]) -> Vec<&'static str> {
    events.iter().map(TimelineEntry::kind_name).collect()
}

#[test]
fn a_confirmed_failure_opens_and_publishes_an_incident_at_once() {
    let mut r = rig(rules());
    r.check("api-health", CheckOutcome::Up, 0);
    r.fail("api-health", 10);
    let incidents = r.incidents();
    assert_eq!(incidents.len(), 1);
    let i = &incidents[0];
    assert_eq!(i.name, "Major outage of API");
    assert_eq!(i.status, IncidentStatus::Investigating);
    assert!(i.public && i.automated && !i.human_owned);
    assert_eq!(i.impact(), Impact::Critical);
    assert_eq!(
        i.updates[0].body,
        "We are investigating a major outage of API: 3 consecutive checks failed: connection refused"
    );
    assert_eq!(
        i.updates[0].affected[0].old_status,
        ComponentStatus::Operational
    );
    assert_eq!(
        i.updates[0].affected[0].new_status,
        ComponentStatus::MajorOutage
    );
    assert_eq!(i.first_failure_at, Some(t(10)));
    assert_eq!(i.started_at, t(10));
    assert_eq!(i.published_at, Some(t(12)));
    assert_eq!(i.time_to_publish(), Some(ChronoDuration::seconds(2)));
    assert_eq!(r.desk.take_publish_delays(), vec![Duration::from_secs(2)]);
    let writes = r.desk.take_writes();
    assert_eq!(writes.incidents.len(), 1);
    let events: Vec<TimelineEntry> = writes
        .incident_events
        .iter()
        .map(|e| serde_json::from_str(&e.doc).unwrap())
        .collect();
    // The failure that caused it comes first, then the opening, the component change it
    // brought (an entry of its own) and the first update; never the opening before its cause.
    assert_eq!(
        kinds(&events),
        [
            "monitor_down",
            "opened",
            "component_status",
            "public_update",
            "published"
        ]
    );
    assert!(events
        .windows(2)
        .all(|w| w[0].occurred_at <= w[1].occurred_at));
}

#[test]
fn an_incident_never_opens_before_the_failure_that_caused_it() {
    // A heartbeat's verdict is timed by its own task; the pipeline's clock may read a
    // moment earlier when it applies it.
    let mut r = rig(rules());
    r.check("api-health", CheckOutcome::Down, 0);
    r.check("api-health", CheckOutcome::Down, 1);
    let late = t(2) + ChronoDuration::microseconds(100);
    let result = CheckResult {
        monitor_id: MonitorId::new("api-health").unwrap(),
        started_at: late,
        duration_ms: 0,
        outcome: CheckOutcome::Down,
        status_code: None,
        error: Some("no ping".to_owned()),
        timings: None,
        location: pharos_domain::LocationId::local(),
    };
    let applied = r.world.apply(&result);
    r.desk
        .on_result(&mut r.world, &result.monitor_id, &applied, t(2));
    let mut events = r.events();
    // The timeline as every surface reads it: by time, then in the order recorded.
    events.sort_by_key(|e| e.occurred_at);
    assert_eq!(
        kinds(&events)[..2],
        ["monitor_down", "opened"],
        "{events:?}"
    );
    assert_eq!(events[1].occurred_at, late);
}

#[test]
fn monitors_failing_on_the_same_component_join_one_incident() {
    let mut r = rig(rules());
    r.fail("api-health", 0);
    r.fail("api-latency", 5);
    assert_eq!(r.incidents().len(), 1);
    assert_eq!(r.incidents()[0].monitors.len(), 2);
    // Another component, well after the first incident opened: its own incident.
    r.fail("db-port", 100);
    let incidents = r.incidents();
    assert_eq!(incidents.len(), 2);
    assert_eq!(incidents[1].name, "Major outage of Database");
}

#[test]
fn failures_that_begin_together_join_one_incident() {
    // A service and the job that syncs it fail together: one incident, not two.
    let mut r = rig(rules());
    r.fail("api-health", 0);
    r.fail("db-port", 1);
    let incidents = r.incidents();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let i = &incidents[0];
    assert_eq!(i.monitors.len(), 2);
    let components: Vec<&str> = i.components.keys().map(|c| c.as_str()).collect();
    assert_eq!(components, ["api", "db"]);
    assert_eq!(
        i.updates.last().unwrap().body,
        "We are investigating a major outage of Database: 3 consecutive checks failed: connection refused"
    );
    // The window is counted from the incident's opening (t = 2): at 62 s it still joins,
    // after it a failure is news of its own.
    let mut r = rig(rules());
    r.fail("api-health", 0);
    r.fail("db-port", 60);
    assert_eq!(r.incidents().len(), 1);
    let mut r = rig(rules());
    r.fail("api-health", 0);
    r.fail("db-port", 61);
    assert_eq!(r.incidents().len(), 2);
    // A zero window never groups.
    let mut r = rig(IncidentRules {
        group_window: Duration::ZERO,
        ..rules()
    });
    r.fail("api-health", 0);
    r.fail("db-port", 1);
    assert_eq!(r.incidents().len(), 2);
}

#[test]
fn recovery_monitors_then_resolves_after_a_quiet_period() {
    let mut r = rig(rules());
    r.fail("api-health", 0);
    r.check("api-health", CheckOutcome::Up, 100);
    let i = r.incidents()[0].clone();
    assert_eq!(i.status, IncidentStatus::Monitoring);
    assert_eq!(i.monitoring_at, Some(t(100)));
    assert_eq!(r.status("api"), ComponentStatus::Operational);
    assert_eq!(
        i.updates.last().unwrap().body,
        "Checks of API are passing again. We are monitoring the recovery."
    );

    r.desk.tick(&mut r.world, t(100 + 599));
    assert_eq!(r.incidents()[0].status, IncidentStatus::Monitoring);
    r.desk.tick(&mut r.world, t(100 + 600));
    let i = r.incidents()[0].clone();
    assert_eq!(i.status, IncidentStatus::Resolved);
    assert_eq!(i.resolved_at, Some(t(700)));
    assert_eq!(i.updates.len(), 3);
}

#[test]
fn a_failure_while_a_dependency_is_down_opens_nothing_new() {
    let mut api = (*spec("api-health", &["api"], ComponentStatus::MajorOutage)).clone();
    api.depends_on = vec![MonitorId::new("db-port").unwrap()];
    let db = spec("db-port", &["db"], ComponentStatus::MajorOutage);
    let mut r = rig_with(rules(), vec![Arc::new(api), db]);

    // The database goes down: one incident. The API fails because of it: no second one; its
    // failure is on the database's timeline, and the API still shows its real status.
    r.fail("db-port", 0);
    r.fail("api-health", 10);
    let incidents = r.incidents();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let i = &incidents[0];
    assert!(i
        .monitors
        .contains_key(&MonitorId::new("api-health").unwrap()));
    // No public update for it: the database's is the story.
    assert_eq!(
        kinds(&r.events()),
        [
            "monitor_down",
            "opened",
            "component_status",
            "public_update",
            "published",
            "monitor_down"
        ]
    );
    assert_eq!(r.status("api"), ComponentStatus::MajorOutage);

    // The database recovers first: the incident waits for the API too.
    r.check("db-port", CheckOutcome::Up, 20);
    assert_eq!(r.incidents()[0].status, IncidentStatus::Investigating);
    r.check("api-health", CheckOutcome::Up, 21);
    assert_eq!(r.incidents()[0].status, IncidentStatus::Monitoring);

    // Resolved, the API fails on its own while the database is up: that is news.
    r.desk.tick(&mut r.world, t(21 + 600));
    r.fail("api-health", 700);
    let incidents = r.incidents();
    assert_eq!(incidents.len(), 2, "{incidents:?}");
    assert!(incidents
        .iter()
        .any(|i| i.status == IncidentStatus::Investigating));
}

#[test]
fn a_new_failure_while_monitoring_reopens_the_same_incident() {
    let mut r = rig(rules());
    r.fail("api-health", 0);
    r.check("api-health", CheckOutcome::Up, 100);
    r.fail("api-health", 200);
    let incidents = r.incidents();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].status, IncidentStatus::Investigating);
    assert!(incidents[0]
        .updates
        .last()
        .unwrap()
        .body
        .starts_with("The problem has returned."));
    // The quiet period starts over.
    r.check("api-health", CheckOutcome::Up, 300);
    r.desk.tick(&mut r.world, t(300 + 599));
    assert_eq!(r.incidents()[0].status, IncidentStatus::Monitoring);
}

#[test]
fn automation_never_overwrites_a_person() {
    let mut r = rig(rules());
    r.fail("api-health", 0);
    let id = r.incidents()[0].id.clone();
    r.desk
        .post_update(
            &mut r.world,
            &id,
            NewUpdate {
                status: Some(IncidentStatus::Identified),
                body: "A bad deploy; rolling back.".into(),
                ..NewUpdate::default()
            },
            Actor::Person("alice".into()),
            t(50),
        )
        .unwrap();
    r.events();
    r.check("api-health", CheckOutcome::Up, 100);
    r.desk.tick(&mut r.world, t(10_000));
    let i = r.incidents()[0].clone();
    assert_eq!(i.status, IncidentStatus::Identified);
    assert_eq!(i.updates.len(), 2);
    assert_eq!(i.updates[1].body, "A bad deploy; rolling back.");
    // The recovery is still on the timeline for responders.
    assert!(kinds(&r.events()).contains(&"monitor_up"));
}

#[test]
fn rules_switch_automation_off_or_keep_it_private() {
    let mut r = rig(IncidentRules {
        auto_open: false,
        ..rules()
    });
    r.fail("api-health", 0);
    assert!(r.incidents().is_empty());
    assert_eq!(r.status("api"), ComponentStatus::MajorOutage);

    let mut r = rig(IncidentRules {
        auto_publish: false,
        ..rules()
    });
    r.fail("api-health", 0);
    let i = r.incidents()[0].clone();
    assert!(!i.public);
    assert_eq!(i.published_at, None);
    assert!(r.desk.take_publish_delays().is_empty());
}

#[test]
fn bad_requests_change_nothing_and_name_their_field() {
    let mut r = rig(rules());
    let attempt = |r: &mut Rig, req: NewIncident| {
        r.desk
            .create_incident(&mut r.world, req, Actor::Person("a".into()), t(0))
            .unwrap_err()
    };
    let base = NewIncident {
        name: "Trouble".into(),
        body: "Looking".into(),
        ..NewIncident::default()
    };
    let field = |e: DeskError| match e {
        DeskError::Rule(r) => r.field().to_owned(),
        other => panic!("{other:?}"),
    };
    // A status, impact, severity or component status that does not exist never reaches the
    // desk: the edge refuses it naming the field (`web/src/admin/incidents.rs` tests).
    let e = attempt(
        &mut r,
        NewIncident {
            status: Some(IncidentStatus::Postmortem),
            ..base.clone()
        },
    );
    assert_eq!(field(e), "status", "postmortem is set by publishing one");
    let e = attempt(
        &mut r,
        NewIncident {
            components: BTreeMap::from([asked("nope", "major_outage")]),
            ..base.clone()
        },
    );
    assert_eq!(field(e), "components.nope");
    let e = attempt(
        &mut r,
        NewIncident {
            components: BTreeMap::from([asked("core", "major_outage")]),
            ..base.clone()
        },
    );
    assert_eq!(field(e), "components.core", "a group is refused");
    let e = attempt(
        &mut r,
        NewIncident {
            name: " ".into(),
            ..base.clone()
        },
    );
    assert_eq!(field(e), "name");
    let e = attempt(
        &mut r,
        NewIncident {
            body: "x".repeat(25_001),
            ..base
        },
    );
    assert_eq!(field(e), "body");
    assert!(r.incidents().is_empty());
    assert!(r.desk.take_writes().is_empty());
    assert_eq!(r.status("api"), ComponentStatus::Operational);
}

#[test]
fn a_persons_incident_pins_component_statuses_until_resolved() {
    let mut r = rig(rules());
    let id = r
        .desk
        .create_incident(
            &mut r.world,
            NewIncident {
                name: "Slow API".into(),
                body: "We see slow responses.".into(),
                components: BTreeMap::from([asked("api", "degraded_performance")]),
                severity: Some(Severity::S2),
                ..NewIncident::default()
            },
            Actor::Person("alice".into()),
            t(0),
        )
        .unwrap();
    assert_eq!(r.status("api"), ComponentStatus::DegradedPerformance);
    let i = r.desk.incident(&id).unwrap().clone();
    assert_eq!(i.impact(), Impact::Minor);
    assert_eq!(i.severity, Some(Severity::S2));
    assert!(i.public && i.human_owned);
    r.desk
        .post_update(
            &mut r.world,
            &id,
            NewUpdate {
                status: Some(IncidentStatus::Resolved),
                body: "Fixed.".into(),
                ..NewUpdate::default()
            },
            Actor::Person("bob".into()),
            t(60),
        )
        .unwrap();
    assert_eq!(r.status("api"), ComponentStatus::Operational);
    let i = r.desk.incident(&id).unwrap();
    assert_eq!(i.resolved_at, Some(t(60)));
    // The impact it reached stays on record.
    assert_eq!(i.impact(), Impact::Minor);
    assert!(r.desk.overrides().is_empty());
}

#[test]
fn severity_changes_are_recorded_with_who_when_from_to() {
    let mut r = rig(rules());
    r.fail("api-health", 0);
    let id = r.incidents()[0].id.clone();
    r.events();
    r.desk
        .patch_incident(
            &mut r.world,
            &id,
            IncidentPatch {
                severity: Some(Some(Severity::S1)),
                roles: BTreeMap::from([("commander".into(), Some("alice".into()))]),
                ..IncidentPatch::default()
            },
            Actor::Person("alice".into()),
            t(30),
        )
        .unwrap();
    let events = r.events();
    assert_eq!(kinds(&events), ["severity_changed", "role_assigned"]);
    assert_eq!(events[0].actor, Actor::Person("alice".into()));
    assert_eq!(events[0].occurred_at, t(30));
    assert_eq!(
        events[0].kind,
        pharos_domain::incident::TimelineKind::SeverityChanged {
            from: None,
            to: Some(Severity::S1)
        }
    );
    // Automation kept the status: severity is not a status edit.
    assert!(!r.incidents()[0].human_owned);
}

#[test]
fn maintenance_runs_on_its_clock_and_holds_back_incidents() {
    let mut r = rig(rules());
    r.check("db-port", CheckOutcome::Up, 0);
    let id = r
        .desk
        .create_maintenance(
            &mut r.world,
            NewMaintenance {
                name: "DB upgrade".into(),
                body: "Upgrading.".into(),
                components: vec![cid("db")],
                scheduled_for: t(100),
                scheduled_until: t(200),
                auto_start: None,
                auto_complete: None,
            },
            Actor::Person("alice".into()),
            t(0),
        )
        .unwrap();
    assert_eq!(
        r.desk.maintenance(&id).unwrap().status,
        MaintenanceStatus::Scheduled
    );
    r.desk.tick(&mut r.world, t(100));
    assert_eq!(
        r.desk.maintenance(&id).unwrap().status,
        MaintenanceStatus::InProgress
    );
    assert_eq!(r.status("db"), ComponentStatus::UnderMaintenance);
    r.events();

    r.fail("db-port", 110);
    assert!(r.incidents().is_empty(), "no incident during maintenance");
    assert_eq!(r.status("db"), ComponentStatus::UnderMaintenance);
    assert!(kinds(&r.events()).contains(&"monitor_down_in_maintenance"));

    // The window ends with the database still down: now it is an outage.
    r.desk.tick(&mut r.world, t(200));
    let m = r.desk.maintenance(&id).unwrap();
    assert_eq!(m.status, MaintenanceStatus::Completed);
    assert_eq!(m.updates.len(), 3);
    assert_eq!(r.status("db"), ComponentStatus::MajorOutage);
    assert_eq!(r.incidents().len(), 1);
}

/// A rig whose one monitor, `app` on `db`, is checked from `local` and `eu-fr` (quorum 2,
/// down at a place at its first failure there): failing at one place is regional.
fn placed_rig() -> Rig {
    let mut app =
        (*crate::test_support::spec("app", &["db"], ComponentStatus::MajorOutage, 1)).clone();
    app.placement = pharos_domain::location::Placement {
        locations: vec![
            pharos_domain::LocationId::local(),
            pharos_domain::LocationId::new("eu-fr").unwrap(),
        ],
        quorum: pharos_domain::location::Quorum::new(2, None).unwrap(),
        on_regional_failure: ComponentStatus::PartialOutage,
    };
    let mut r = rig_with(rules(), vec![Arc::new(app)]);
    r.world.name_locations([(
        pharos_domain::LocationId::new("eu-fr").unwrap(),
        "Europe (France)".to_owned(),
    )]);
    r
}

impl Rig {
    /// One result of `app` from `location`.
    fn check_from(&mut self, location: &str, outcome: CheckOutcome, at: i64) {
        let r = CheckResult {
            monitor_id: MonitorId::new("app").unwrap(),
            started_at: t(at),
            duration_ms: 5,
            outcome,
            status_code: None,
            error: (outcome == CheckOutcome::Down).then(|| "connection refused".to_owned()),
            timings: None,
            location: pharos_domain::LocationId::new(location).unwrap(),
        };
        let applied = self.world.apply(&r);
        self.desk
            .on_result(&mut self.world, &r.monitor_id, &applied, t(at));
    }
}

#[test]
fn a_regional_failure_during_maintenance_opens_its_incident_when_the_window_ends() {
    let mut r = placed_rig();
    r.check_from("local", CheckOutcome::Up, 0);
    r.check_from("eu-fr", CheckOutcome::Up, 0);
    let id = r
        .desk
        .create_maintenance(
            &mut r.world,
            NewMaintenance {
                name: "DB upgrade".into(),
                body: "Upgrading.".into(),
                components: vec![cid("db")],
                scheduled_for: t(100),
                scheduled_until: t(200),
                auto_start: None,
                auto_complete: None,
            },
            Actor::Person("alice".into()),
            t(0),
        )
        .unwrap();
    r.desk.tick(&mut r.world, t(100));
    r.events();

    // Europe fails during the window: recorded on the window, no incident, the component
    // under maintenance.
    r.check_from("local", CheckOutcome::Up, 110);
    r.check_from("eu-fr", CheckOutcome::Down, 110);
    assert!(r.incidents().is_empty(), "no incident during maintenance");
    assert_eq!(r.status("db"), ComponentStatus::UnderMaintenance);
    assert!(kinds(&r.events()).contains(&"monitor_down_in_maintenance"));
    // Still failing there as the window nears its end (fresh results, no news).
    r.check_from("local", CheckOutcome::Up, 190);
    r.check_from("eu-fr", CheckOutcome::Down, 190);
    assert!(r.incidents().is_empty());

    // The window ends with Europe still failing: the regional incident opens now, saying
    // where, as if the failure had begun at this moment.
    r.desk.tick(&mut r.world, t(200));
    assert_eq!(
        r.desk.maintenance(&id).unwrap().status,
        MaintenanceStatus::Completed
    );
    assert_eq!(r.status("db"), ComponentStatus::PartialOutage);
    let incidents = r.incidents();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let inc = &incidents[0];
    assert_eq!(inc.name, "Partial outage of Database");
    assert_eq!(inc.status, IncidentStatus::Investigating);
    assert!(inc.public);
    assert_eq!(
        inc.components.get(&cid("db")),
        Some(&ComponentStatus::PartialOutage)
    );
    assert_eq!(
        inc.monitors.get(&MonitorId::new("app").unwrap()),
        Some(&true)
    );
    assert_eq!(inc.updates.len(), 1, "{:?}", inc.updates);
    let body = &inc.updates[0].body;
    assert!(
        body.starts_with(
            "We are investigating a partial outage of Database: failing from Europe (France); \
             Local sees it up."
        ),
        "{body}"
    );

    // Europe passes again: the incident is monitored, as any regional failure's would be.
    r.check_from("eu-fr", CheckOutcome::Up, 210);
    assert_eq!(r.status("db"), ComponentStatus::Operational);
    assert_eq!(r.incidents()[0].status, IncidentStatus::Monitoring);
}

#[test]
fn a_regional_failure_over_before_the_window_ends_opens_nothing() {
    let mut r = placed_rig();
    r.check_from("local", CheckOutcome::Up, 0);
    r.check_from("eu-fr", CheckOutcome::Up, 0);
    r.desk
        .create_maintenance(
            &mut r.world,
            NewMaintenance {
                name: "DB upgrade".into(),
                body: "Upgrading.".into(),
                components: vec![cid("db")],
                scheduled_for: t(100),
                scheduled_until: t(200),
                auto_start: None,
                auto_complete: None,
            },
            Actor::Person("alice".into()),
            t(0),
        )
        .unwrap();
    r.desk.tick(&mut r.world, t(100));
    r.check_from("eu-fr", CheckOutcome::Down, 110);
    r.check_from("local", CheckOutcome::Up, 190);
    r.check_from("eu-fr", CheckOutcome::Up, 190);
    r.desk.tick(&mut r.world, t(200));
    assert!(r.incidents().is_empty(), "{:?}", r.incidents());
    assert_eq!(r.status("db"), ComponentStatus::Operational);
}

#[test]
fn maintenance_refuses_bad_windows_and_backward_moves() {
    let mut r = rig(rules());
    let req = NewMaintenance {
        name: "x".into(),
        body: String::new(),
        components: vec![cid("db")],
        scheduled_for: t(100),
        scheduled_until: t(50),
        auto_start: None,
        auto_complete: None,
    };
    let field = |e: DeskError| match e {
        DeskError::Rule(r) => r.field().to_owned(),
        other => panic!("{other:?}"),
    };
    let e = r
        .desk
        .create_maintenance(&mut r.world, req.clone(), Actor::Automation, t(0))
        .unwrap_err();
    assert_eq!(field(e), "scheduled_until");
    let e = r
        .desk
        .create_maintenance(
            &mut r.world,
            NewMaintenance {
                components: vec![cid("core")],
                scheduled_until: t(200),
                ..req.clone()
            },
            Actor::Automation,
            t(0),
        )
        .unwrap_err();
    assert_eq!(field(e), "components[0]", "a group is refused");
    let id = r
        .desk
        .create_maintenance(
            &mut r.world,
            NewMaintenance {
                scheduled_until: t(200),
                auto_start: Some(false),
                ..req
            },
            Actor::Automation,
            t(0),
        )
        .unwrap();
    r.desk.tick(&mut r.world, t(150));
    assert_eq!(
        r.desk.maintenance(&id).unwrap().status,
        MaintenanceStatus::Scheduled,
        "auto_start off"
    );
    let upd = |s: &str| NewMaintenanceUpdate {
        status: MaintenanceStatus::parse(s),
        body: "b".into(),
    };
    r.desk
        .update_maintenance(
            &mut r.world,
            &id,
            upd("verifying"),
            Actor::Automation,
            t(160),
        )
        .unwrap();
    assert_eq!(r.status("db"), ComponentStatus::UnderMaintenance);
    let e = r
        .desk
        .update_maintenance(
            &mut r.world,
            &id,
            upd("scheduled"),
            Actor::Automation,
            t(161),
        )
        .unwrap_err();
    assert_eq!(field(e), "status");
    // An incident status ("resolved") never reaches the desk: the edge refuses it by name
    // (`web/src/admin/maintenances.rs` tests).
}

#[test]
fn overrides_expire_and_clear() {
    let mut r = rig(rules());
    r.desk
        .set_override(
            &mut r.world,
            "api",
            OverrideRequest {
                status: ComponentStatus::PartialOutage,
                until: Some(t(60)),
                reason: Some("known issue".into()),
            },
            Actor::Person("a".into()),
            t(0),
        )
        .unwrap();
    assert_eq!(r.status("api"), ComponentStatus::PartialOutage);
    r.desk.tick(&mut r.world, t(59));
    assert_eq!(r.status("api"), ComponentStatus::PartialOutage);
    r.desk.tick(&mut r.world, t(60));
    assert_eq!(r.status("api"), ComponentStatus::Operational);

    let past = r.desk.set_override(
        &mut r.world,
        "api",
        OverrideRequest {
            status: ComponentStatus::MajorOutage,
            until: Some(t(10)),
            reason: None,
        },
        Actor::Automation,
        t(100),
    );
    assert!(matches!(past, Err(DeskError::Rule(e)) if e.field() == "until"));
    assert!(matches!(
        r.desk.clear_override(&mut r.world, "nope", t(100)),
        Err(DeskError::NotFound { .. })
    ));
}

#[test]
fn making_notifications_leaves_the_change_to_be_published_at_once() {
    let mut r = rig(rules());
    let page = PageInfo {
        id: "p".into(),
        name: "P".into(),
        url: "http://x".into(),
        time_zone: chrono_tz::UTC,
        email_subscriptions: false,
        branding: Default::default(),
    };
    let ops = pharos_notify::Notifier {
        id: "ops".into(),
        channel: pharos_notify::Channel::Webhook {
            url: "http://127.0.0.1:1/hook".into(),
            secret: None,
        },
        route: pharos_notify::Route::default(),
        timeout: Duration::from_secs(1),
        concurrency: 1,
    };
    let mut notices = crate::notices::Notices::new(page.clone(), vec![ops], HashMap::new(), t(0));
    let subscribers = crate::subscribers::Subscribers::new(page, false, Vec::new());
    r.fail("api-health", 0);
    assert!(r.desk.changed());
    let rows = notices.outbox(&r.world, &mut r.desk, &subscribers, &[], t(3));
    assert_eq!(rows.len(), 1, "one incident_opened row for the notifier");
    // The pipeline publishes at once only while the desk still reads as changed.
    assert!(r.desk.changed());
}

#[test]
fn a_flapping_monitor_yields_one_incident_and_one_update_for_all_its_flapping() {
    let mut r = rig(rules());
    let mut at = 0;
    // Ten rounds of three failures then one pass, a check a second: down and up twenty
    // times in 40 seconds.
    for _ in 0..10 {
        r.fail("api-health", at);
        r.check("api-health", CheckOutcome::Up, at + 3);
        at += 4;
    }
    let incidents = r.incidents();
    assert_eq!(incidents.len(), 1, "one incident for the whole episode");
    let bodies: Vec<&str> = incidents[0]
        .updates
        .iter()
        .map(|u| u.body.as_str())
        .collect();
    // Opened, monitoring, returned, monitoring, then one flapping update: not twenty.
    assert_eq!(bodies.len(), 5, "{bodies:#?}");
    assert!(
        bodies[2].starts_with("The problem has returned."),
        "{}",
        bodies[2]
    );
    assert!(
        bodies[4].starts_with("Checks of API are flapping: they changed state 5 times within 30m."),
        "{}",
        bodies[4]
    );
    assert_eq!(incidents[0].status, IncidentStatus::Investigating);
    // The component is held at the failure status, not toggled with every change.
    assert_eq!(r.status("api"), ComponentStatus::MajorOutage);
    assert!(r.world.is_flapping(&MonitorId::new("api-health").unwrap()));

    // Passing checks for a whole window end the flapping: one recovery update, then the
    // usual quiet period resolves it.
    for i in 0..=30 {
        r.check("api-health", CheckOutcome::Up, at + i * 60);
    }
    at += 30 * 60;
    assert!(!r.world.is_flapping(&MonitorId::new("api-health").unwrap()));
    assert_eq!(r.status("api"), ComponentStatus::Operational);
    let incidents = r.incidents();
    let last = incidents[0].updates.last().unwrap();
    assert_eq!(incidents[0].status, IncidentStatus::Monitoring);
    assert!(
        last.body
            .starts_with("Checks of API have been stable and passing for 30m."),
        "{}",
        last.body
    );
    assert_eq!(incidents[0].updates.len(), 6);
    r.desk.tick(&mut r.world, t(at + 601));
    assert_eq!(r.incidents()[0].status, IncidentStatus::Resolved);
}

#[test]
fn flap_detection_can_be_turned_off() {
    let mut api = (*spec("api-health", &["api"], ComponentStatus::MajorOutage)).clone();
    api.quiet.flap_threshold = 0;
    let mut r = rig_with(rules(), vec![Arc::new(api)]);
    for round in 0..5 {
        r.fail("api-health", round * 4);
        r.check("api-health", CheckOutcome::Up, round * 4 + 3);
    }
    // Every change is reported: opened, then monitoring / returned / monitoring / …
    assert_eq!(r.incidents()[0].updates.len(), 10);
    assert_eq!(r.status("api"), ComponentStatus::Operational);
}

fn declare(r: &mut Rig, components: &[(&str, &str)], public: bool, at: i64) -> IncidentId {
    r.desk
        .create_incident(
            &mut r.world,
            NewIncident {
                name: "Checking payments".into(),
                body: "Looking into it.".into(),
                components: components.iter().map(|(c, s)| asked(c, s)).collect(),
                public: Some(public),
                ..NewIncident::default()
            },
            Actor::Person("alice".into()),
            t(at),
        )
        .unwrap()
}

fn update(r: &mut Rig, id: &IncidentId, req: NewUpdate, at: i64) -> Result<(), DeskError> {
    r.desk
        .post_update(&mut r.world, id, req, Actor::Person("bob".into()), t(at))
}

fn reaches(r: &mut Rig) -> Vec<(EventKind, Reach)> {
    r.desk
        .take_notices()
        .into_iter()
        .map(|n| (n.kind, n.reach))
        .collect()
}

#[test]
fn a_private_incident_stays_private_through_updates_and_resolution() {
    let mut r = rig(rules());
    let id = declare(&mut r, &[("api", "major_outage")], false, 0);
    let i = r.desk.incident(&id).unwrap().clone();
    assert!(!i.public && i.published_at.is_none());
    // Its component status is held, not shown: no status change, no override.
    assert_eq!(r.status("api"), ComponentStatus::Operational);
    assert!(r.desk.overrides().is_empty());
    assert_eq!(
        i.pending_components,
        BTreeMap::from([(
            ComponentId::new("api").unwrap(),
            ComponentStatus::MajorOutage
        )])
    );
    // Responders see what was asked for.
    assert_eq!(
        i.updates[0].affected[0].new_status,
        ComponentStatus::MajorOutage
    );
    assert_eq!(i.impact(), Impact::Critical);
    assert!(r.desk.take_writes().component_changes.is_empty());
    assert_eq!(
        reaches(&mut r),
        [(EventKind::IncidentOpened, Reach::Responders)]
    );

    // An update never publishes it; its statuses are held too, the latest winning.
    let req = NewUpdate {
        status: Some(IncidentStatus::Identified),
        body: "Found it.".into(),
        components: BTreeMap::from([
            asked("api", "partial_outage"),
            asked("db", "degraded_performance"),
        ]),
        ..NewUpdate::default()
    };
    update(&mut r, &id, req, 10).unwrap();
    // `public: false` on a private incident is no change.
    let req = NewUpdate {
        body: "Still private.".into(),
        public: Some(false),
        ..NewUpdate::default()
    };
    update(&mut r, &id, req, 15).unwrap();
    let i = r.desk.incident(&id).unwrap().clone();
    assert!(!i.public && i.human_owned);
    assert_eq!(
        (r.status("api"), r.status("db")),
        (ComponentStatus::Operational, ComponentStatus::Operational)
    );
    assert_eq!(i.pending_components.len(), 2);
    assert_eq!(
        i.pending_components[&ComponentId::new("api").unwrap()],
        ComponentStatus::PartialOutage
    );
    assert!(r.desk.take_writes().component_changes.is_empty());
    assert_eq!(
        reaches(&mut r),
        [
            (EventKind::IncidentUpdated, Reach::Responders),
            (EventKind::IncidentUpdated, Reach::Responders)
        ]
    );

    // A monitor failing on its component joins it and drives the component as always; the
    // incident stays private through the failure and the recovery.
    r.fail("api-health", 20);
    assert_eq!(r.status("api"), ComponentStatus::MajorOutage);
    for at in 30..32 {
        r.check("api-health", CheckOutcome::Up, at);
    }
    assert_eq!(r.status("api"), ComponentStatus::Operational);
    r.desk.tick(&mut r.world, t(10_000));
    let i = r.desk.incident(&id).unwrap().clone();
    assert!(!i.public);
    assert_eq!(i.monitors.len(), 1);

    // Resolved, it is still private, and nothing is held any more.
    let req = NewUpdate {
        status: Some(IncidentStatus::Resolved),
        body: "Fixed.".into(),
        ..NewUpdate::default()
    };
    update(&mut r, &id, req, 40).unwrap();
    let i = r.desk.incident(&id).unwrap().clone();
    assert!(!i.public && i.published_at.is_none());
    assert_eq!(i.status, IncidentStatus::Resolved);
    assert!(i.pending_components.is_empty());
    assert!(r.events().iter().all(|e| e.kind_name() != "published"));
    assert!(reaches(&mut r)
        .iter()
        .all(|(_, reach)| *reach == Reach::Responders));
    // Publishing it now shows it as resolved, with no component change.
    r.desk
        .patch_incident(
            &mut r.world,
            &id,
            IncidentPatch {
                public: Some(true),
                ..IncidentPatch::default()
            },
            Actor::Person("alice".into()),
            t(50),
        )
        .unwrap();
    assert!(r.desk.incident(&id).unwrap().public);
    assert_eq!(r.status("api"), ComponentStatus::Operational);
    assert!(r.desk.take_writes().component_changes.is_empty());
    assert_eq!(
        reaches(&mut r),
        [(EventKind::IncidentOpened, Reach::Public)]
    );
}

#[test]
fn automation_never_publishes_what_it_opened_privately() {
    let mut r = rig(IncidentRules {
        auto_publish: false,
        ..rules()
    });
    r.fail("api-health", 0);
    let id = r.incidents()[0].id.clone();
    assert_eq!(
        reaches(&mut r),
        [(EventKind::IncidentOpened, Reach::Responders)]
    );
    r.check("api-health", CheckOutcome::Up, 10);
    assert_eq!(r.incidents()[0].status, IncidentStatus::Monitoring);
    r.fail("api-health", 20);
    r.check("api-health", CheckOutcome::Up, 30);
    r.desk.tick(&mut r.world, t(30 + 601));
    let i = r.desk.incident(&id).unwrap().clone();
    assert_eq!(i.status, IncidentStatus::Resolved, "auto-resolved");
    assert!(!i.public && i.published_at.is_none());
    assert!(reaches(&mut r)
        .iter()
        .all(|(_, reach)| *reach == Reach::Responders));
}

#[test]
fn publishing_shows_the_held_statuses_and_tells_subscribers_once() {
    let mut r = rig(rules());
    let id = declare(&mut r, &[("api", "partial_outage")], false, 0);
    r.desk.take_writes();
    reaches(&mut r);
    r.desk
        .patch_incident(
            &mut r.world,
            &id,
            IncidentPatch {
                public: Some(true),
                ..IncidentPatch::default()
            },
            Actor::Person("alice".into()),
            t(10),
        )
        .unwrap();
    let i = r.desk.incident(&id).unwrap().clone();
    assert!(i.public && i.pending_components.is_empty());
    assert_eq!(i.published_at, Some(t(10)));
    assert_eq!(r.status("api"), ComponentStatus::PartialOutage);
    assert_eq!(
        r.desk.overrides()[&ComponentId::new("api").unwrap()].incident_id,
        Some(id.clone())
    );
    let writes = r.desk.take_writes();
    assert_eq!(
        writes.component_changes.len(),
        1,
        "one component_update for the public"
    );
    let kinds: Vec<&str> = writes
        .incident_events
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds, ["published", "component_status"]);
    // Subscribers hear of it once; the responders heard of it when it was declared.
    assert_eq!(
        reaches(&mut r),
        [(EventKind::IncidentOpened, Reach::Public)]
    );

    // Publishing with an update: the update is the responders' news, the publication the
    // subscribers'.
    let other = declare(&mut r, &[("db", "major_outage")], false, 20);
    reaches(&mut r);
    let req = NewUpdate {
        status: Some(IncidentStatus::Identified),
        body: "Found it; telling everyone.".into(),
        public: Some(true),
        ..NewUpdate::default()
    };
    update(&mut r, &other, req, 30).unwrap();
    assert!(r.desk.incident(&other).unwrap().public);
    assert_eq!(r.status("db"), ComponentStatus::MajorOutage);
    assert_eq!(
        reaches(&mut r),
        [
            (EventKind::IncidentUpdated, Reach::Responders),
            (EventKind::IncidentOpened, Reach::Public)
        ]
    );

    // Declared public, or opened and published by automation: one notice for everyone.
    declare(&mut r, &[], true, 40);
    assert_eq!(
        reaches(&mut r),
        [(EventKind::IncidentOpened, Reach::Everyone)]
    );
    r.fail("db-port", 50);
    let heard = reaches(&mut r);
    assert!(
        heard.iter().all(|(_, reach)| *reach == Reach::Everyone),
        "{heard:?}"
    );
}

#[test]
fn a_published_incident_cannot_be_unpublished() {
    let mut r = rig(rules());
    let id = declare(&mut r, &[("api", "degraded_performance")], true, 0);
    r.desk.take_writes();
    let req = NewUpdate {
        body: "Hide this.".into(),
        components: BTreeMap::from([asked("api", "major_outage")]),
        public: Some(false),
        ..NewUpdate::default()
    };
    let e = update(&mut r, &id, req, 10).unwrap_err();
    assert!(
        matches!(e, DeskError::Rule(ref rule) if rule.field() == "public"),
        "{e:?}"
    );
    assert!(r.desk.take_writes().is_empty(), "nothing changed");
    assert_eq!(r.status("api"), ComponentStatus::DegradedPerformance);
    let e = r
        .desk
        .patch_incident(
            &mut r.world,
            &id,
            IncidentPatch {
                public: Some(false),
                ..IncidentPatch::default()
            },
            Actor::Person("alice".into()),
            t(10),
        )
        .unwrap_err();
    assert!(
        matches!(e, DeskError::Rule(ref rule) if rule.field() == "public"),
        "{e:?}"
    );
}

#[test]
fn subscribers_get_no_row_for_a_private_incident_until_it_is_published() {
    let mut r = rig(rules());
    let page = PageInfo {
        id: "p".into(),
        name: "P".into(),
        url: "http://x".into(),
        time_zone: chrono_tz::UTC,
        email_subscriptions: false,
        branding: Default::default(),
    };
    let ops = pharos_notify::Notifier {
        id: "ops".into(),
        channel: pharos_notify::Channel::Webhook {
            url: "http://127.0.0.1:1/hook".into(),
            secret: None,
        },
        route: pharos_notify::Route {
            events: pharos_notify::EventKind::ALL.to_vec(),
            ..pharos_notify::Route::default()
        },
        timeout: Duration::from_secs(1),
        concurrency: 1,
    };
    let hook = pharos_store::SubscriberRecord {
        id: "sub1".into(),
        kind: crate::subscribers::SubscriberKind::Webhook,
        address: "https://hooks.example.com/status".into(),
        components: Vec::new(),
        created_at: t(0),
        confirmed_at: Some(t(0)),
        unsubscribed_at: None,
        doc: "{}".into(),
    };
    let mut notices = crate::notices::Notices::new(page.clone(), vec![ops], HashMap::new(), t(0));
    let subscribers = crate::subscribers::Subscribers::new(page, false, vec![hook]);
    let mut step = |r: &mut Rig| {
        let writes = r.desk.take_writes();
        let rows = notices.outbox(
            &r.world,
            &mut r.desk,
            &subscribers,
            &writes.component_changes,
            t(1),
        );
        let to = |prefix: &str| -> Vec<String> {
            rows.iter()
                .filter(|row| row.destination.starts_with(prefix))
                .map(|row| row.event_kind.clone())
                .collect()
        };
        (to("notifier:"), to("subscriber:"))
    };

    let id = declare(&mut r, &[("api", "major_outage")], false, 0);
    assert_eq!(step(&mut r), (vec!["incident_opened".to_owned()], vec![]));
    let req = NewUpdate {
        body: "Worse.".into(),
        components: BTreeMap::from([asked("db", "partial_outage")]),
        ..NewUpdate::default()
    };
    update(&mut r, &id, req, 10).unwrap();
    assert_eq!(step(&mut r), (vec!["incident_updated".to_owned()], vec![]));
    r.desk
        .patch_incident(
            &mut r.world,
            &id,
            IncidentPatch {
                public: Some(true),
                ..IncidentPatch::default()
            },
            Actor::Person("alice".into()),
            t(20),
        )
        .unwrap();
    // Published: the subscriber hears of the incident once and of both components' new
    // statuses; the responders hear of the component changes (their route asks for them).
    let (ops_rows, sub_rows) = step(&mut r);
    assert_eq!(ops_rows, ["component_status", "component_status"]);
    assert_eq!(
        sub_rows,
        ["incident_opened", "component_status", "component_status"]
    );
}

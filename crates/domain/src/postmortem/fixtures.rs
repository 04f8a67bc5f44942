//! Fixtures shared by the postmortem tests and by `similar`'s: incidents built through serde,
//! timeline entries, and seed 002's outage.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{draft, parse_edits, ActionInput, EditsInput, Postmortem, PostmortemEdits, Sources};
use crate::change::{Change, ChangeEntry, RelatedChange, Relation};
use crate::incident::{
    Actor, Incident, IncidentId, IncidentStatus, PublicUpdate, TimelineEntry, TimelineKind,
};
use crate::{ComponentId, ComponentStatus};

/// An RFC 3339 instant, e.g. `2026-03-04T16:25:00Z`.
pub(crate) fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// An incident (or entry, or update) id.
pub(crate) fn id(s: &str) -> IncidentId {
    IncidentId::new(s).unwrap()
}

/// A component id.
pub(crate) fn cid(s: &str) -> ComponentId {
    ComponentId::new(s).unwrap()
}

/// A resolved incident on `components`, built through serde so fields added to
/// `Incident` later (with defaults) need no change here.
pub(crate) fn incident(
    iid: &str,
    name: &str,
    started: &str,
    created: &str,
    resolved: Option<&str>,
    components: &[(&str, &str)],
) -> Incident {
    let components: serde_json::Map<String, serde_json::Value> = components
        .iter()
        .map(|(c, s)| ((*c).to_owned(), serde_json::Value::from(*s)))
        .collect();
    serde_json::from_value(serde_json::json!({
        "id": iid,
        "name": name,
        "status": if resolved.is_some() { "resolved" } else { "investigating" },
        "impact_override": null,
        "computed_impact": "critical",
        "severity": null,
        "components": components,
        "monitors": {},
        "public": true,
        "automated": true,
        "human_owned": false,
        "roles": {},
        "created_at": created,
        "updated_at": created,
        "started_at": started,
        "monitoring_at": null,
        "resolved_at": resolved,
        "first_failure_at": started,
        "published_at": created,
        "healthy_since": null,
        "updates": [],
    }))
    .unwrap()
}

/// Timeline entry `e<n>` of `inc1`, recorded when it occurred.
pub(crate) fn entry(n: u32, at: &str, actor: Actor, kind: TimelineKind) -> TimelineEntry {
    TimelineEntry {
        id: id(&format!("e{n}")),
        incident_id: id("inc1"),
        occurred_at: t(at),
        recorded_at: t(at),
        actor,
        kind,
    }
}

/// A public update (`u<n>`) as timeline entry `e<n>`.
pub(crate) fn update(n: u32, at: &str, actor: Actor, status: &str, body: &str) -> TimelineEntry {
    entry(
        n,
        at,
        actor,
        TimelineKind::PublicUpdate {
            update_id: id(&format!("u{n}")),
            status: status.to_owned(),
            body: body.to_owned(),
        },
    )
}

/// A responder.
pub(crate) fn alice() -> Actor {
    Actor::Person("alice".into())
}

/// Seed 002's shape, in UTC: failing at 09:25, declared and public at 09:27, alice on it
/// at 09:31, monitoring at 10:39, resolved at 10:53. The timeline is given out of order.
pub(crate) fn outage() -> (Incident, Vec<TimelineEntry>) {
    let mut inc = incident(
        "inc1",
        "Major outage of API",
        "2026-03-04T16:25:00Z",
        "2026-03-04T16:27:00Z",
        Some("2026-03-04T17:53:00Z"),
        &[("api", "operational")],
    );
    inc.updates.push(PublicUpdate {
        id: id("u1"),
        status: IncidentStatus::Investigating,
        body: "We are investigating a major outage of API".into(),
        created_at: t("2026-03-04T16:27:00Z"),
        actor: Actor::Automation,
        affected: vec![crate::incident::AffectedChange {
            component_id: cid("api"),
            old_status: ComponentStatus::Operational,
            new_status: ComponentStatus::MajorOutage,
        }],
    });
    let timeline = vec![
        update(5, "2026-03-04T17:53:00Z", alice(), "resolved", "All good."),
        entry(
            1,
            "2026-03-04T16:27:00Z",
            Actor::Automation,
            TimelineKind::Opened {
                name: "Major outage of API".into(),
            },
        ),
        entry(
            2,
            "2026-03-04T16:27:00Z",
            Actor::Automation,
            TimelineKind::MonitorDown {
                monitor_id: crate::MonitorId::new("api-health").unwrap(),
                error: "HTTP 503".into(),
                first_failure_at: t("2026-03-04T16:25:00Z"),
            },
        ),
        update(
            3,
            "2026-03-04T16:27:00Z",
            Actor::Automation,
            "investigating",
            "We are investigating\na major outage of API",
        ),
        entry(
            4,
            "2026-03-04T16:31:00Z",
            alice(),
            TimelineKind::Note {
                body: "Paged the database on-call.".into(),
            },
        ),
        update(
            6,
            "2026-03-04T17:39:00Z",
            alice(),
            "monitoring",
            "Rolled back; watching.",
        ),
    ];
    (inc, timeline)
}

/// Component display names: `api` is "API".
pub(crate) fn names() -> BTreeMap<ComponentId, String> {
    BTreeMap::from([(cid("api"), "API".to_owned())])
}

/// The draft of `inc` with no changes, built at 2026-03-05 00:00 UTC.
pub(crate) fn build(
    inc: &Incident,
    timeline: &[TimelineEntry],
    edits: &PostmortemEdits,
    tz: Tz,
) -> Postmortem {
    build_with_changes(inc, timeline, &[], edits, tz)
}

/// The draft of `inc` with `changes`, built at 2026-03-05 00:00 UTC.
pub(crate) fn build_with_changes(
    inc: &Incident,
    timeline: &[TimelineEntry],
    changes: &[RelatedChange],
    edits: &PostmortemEdits,
    tz: Tz,
) -> Postmortem {
    let names = names();
    draft(
        &Sources {
            incident: inc,
            timeline,
            changes,
            edits,
            component_names: &names,
        },
        tz,
        t("2026-03-05T00:00:00Z"),
    )
}

/// Edits that complete a postmortem: root cause, remediation and one owned, dated action.
pub(crate) fn complete_edits() -> PostmortemEdits {
    parse_edits(
        EditsInput {
            root_cause: Some("A connection leak.".into()),
            remediation: Some("Restarted the pool.".into()),
            actions: vec![ActionInput {
                description: "Alert on open connections".into(),
                owner: Some("alice".into()),
                due: chrono::NaiveDate::from_ymd_opt(2026, 4, 30),
                ..ActionInput::default()
            }],
            ..EditsInput::default()
        },
        &PostmortemEdits::default(),
    )
    .unwrap()
}

/// A deploy of `component` (summary "Auth update") started and recorded at `at` by `ci`, with
/// no version, author or link.
pub(crate) fn change(id: &str, component: &str, at: &str) -> Change {
    Change {
        id: id.to_owned(),
        component: cid(component),
        kind: "deploy".into(),
        summary: "Auth update".into(),
        version: None,
        commit: None,
        environment: None,
        author: None,
        url: None,
        started_at: t(at),
        finished_at: None,
        external_id: None,
        supersedes: None,
        source: "api".into(),
        recorded_at: t(at),
        recorded_by: "ci".into(),
    }
}

/// `change`, to the component of an incident that started at `started_at`, corrected by
/// `superseded_by` if given.
pub(crate) fn related(
    change: Change,
    started_at: DateTime<Utc>,
    superseded_by: Option<&str>,
) -> RelatedChange {
    RelatedChange {
        before_incident: change.started_at <= started_at,
        entry: ChangeEntry {
            change,
            superseded_by: superseded_by.map(str::to_owned),
            regression: None,
        },
        relation: Relation::SameComponent,
    }
}

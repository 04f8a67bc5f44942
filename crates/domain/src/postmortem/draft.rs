//! The draft: everything Pharos can say about an incident from what it recorded (the
//! timeline in time order, the services impacted, the detection metrics, the changes before
//! it, a derived description), joined with the human part from the edits.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::words::{excerpt, format_span, stamp, until};
use super::{
    ChangeLine, Detection, Line, Metric, Postmortem, PostmortemEdits, ServiceImpact, Span, Text,
};
use crate::change::RelatedChange;
use crate::incident::{Actor, Impact, Incident, IncidentStatus, TimelineEntry, TimelineKind};
use crate::{ComponentId, ComponentStatus};

/// Everything a draft is built from.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The incident.
    pub incident: &'a Incident,
    /// Its timeline, any order.
    pub timeline: &'a [TimelineEntry],
    /// Changes to its components and to what they depend on, from the look-back window
    /// before its start to its end (the engine's `incident_changes`), any order.
    pub changes: &'a [RelatedChange],
    /// The saved human part.
    pub edits: &'a PostmortemEdits,
    /// Component id → display name.
    pub component_names: &'a BTreeMap<ComponentId, String>,
}

/// Builds the postmortem of `src.incident`, every local time in `tz`.
pub fn draft(src: &Sources<'_>, tz: Tz, now: DateTime<Utc>) -> Postmortem {
    let inc = src.incident;
    let name_of = |c: &ComponentId| {
        src.component_names
            .get(c)
            .cloned()
            .unwrap_or_else(|| c.to_string())
    };
    let mut entries: Vec<&TimelineEntry> = src.timeline.iter().collect();
    entries.sort_by_key(|e| e.occurred_at);

    let services = services_impacted(inc, &entries, &name_of);
    let detection = detection(inc, &entries);
    let total_duration = inc.time_to_resolve().map(Span::of);
    let changes = change_lines(src.changes, inc, tz, &name_of);
    let timeline = timeline(inc, &entries, &changes, tz, &name_of);

    let derived_type = match inc.impact() {
        Impact::Critical => "Outage",
        Impact::Major => "Partial outage",
        Impact::Minor => "Degradation",
        Impact::None => "No customer impact recorded",
    };
    let event_type = match &src.edits.event_type {
        Some(t) => Text {
            text: t.clone(),
            edited: true,
        },
        None => Text {
            text: derived_type.to_owned(),
            edited: false,
        },
    };
    let (description, anonymous_description) = match &src.edits.description {
        Some(t) => (
            Text {
                text: t.clone(),
                edited: true,
            },
            None,
        ),
        None => {
            let named = derived_description(inc, &services, &detection, &detection.source, tz);
            let anonymous =
                derived_description(inc, &services, &detection, &detection.anonymous_source, tz);
            (
                Text {
                    text: named.clone(),
                    edited: false,
                },
                (anonymous != named).then_some(anonymous),
            )
        }
    };
    Postmortem {
        incident_id: inc.id.clone(),
        title: inc.name.clone(),
        incident_status: inc.status,
        severity: inc.severity,
        impact: inc.impact(),
        time_zone: tz.name().to_owned(),
        tz,
        description,
        anonymous_description,
        event_type,
        services_impacted: services,
        services_note: src.edits.services_impacted.clone(),
        started_at: inc.started_at,
        resolved_at: inc.resolved_at,
        total_duration,
        detection,
        timeline,
        changes,
        root_cause: src.edits.root_cause.clone(),
        remediation: src.edits.remediation.clone(),
        actions: src.edits.actions.clone(),
        similar_incidents: Vec::new(),
        generated_at: now,
    }
}

/// Every component the incident touched, with the worst status seen, worst first (then by
/// name).
fn services_impacted(
    inc: &Incident,
    entries: &[&TimelineEntry],
    name_of: &dyn Fn(&ComponentId) -> String,
) -> Vec<ServiceImpact> {
    fn see(
        worst: &mut BTreeMap<ComponentId, ComponentStatus>,
        c: &ComponentId,
        s: ComponentStatus,
    ) {
        let slot = worst.entry(c.clone()).or_insert(s);
        *slot = slot.worst(s);
    }
    let mut worst: BTreeMap<ComponentId, ComponentStatus> = BTreeMap::new();
    for (c, s) in &inc.components {
        see(&mut worst, c, *s);
    }
    for u in &inc.updates {
        for a in &u.affected {
            see(&mut worst, &a.component_id, a.new_status);
        }
    }
    for e in entries {
        if let TimelineKind::ComponentStatus {
            component_id, to, ..
        } = &e.kind
        {
            if worst.contains_key(component_id) {
                see(&mut worst, component_id, *to);
            }
        }
    }
    let mut out: Vec<ServiceImpact> = worst
        .into_iter()
        .map(|(c, s)| ServiceImpact {
            name: name_of(&c),
            component_id: c,
            worst_status: s,
        })
        .collect();
    out.sort_by(|a, b| {
        b.worst_status
            .severity()
            .cmp(&a.worst_status.severity())
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

/// The metric measured from `start` to `at`.
fn metric(start: DateTime<Utc>, at: DateTime<Utc>) -> Metric {
    Metric {
        at,
        span: Span::of(at - start),
    }
}

/// What noticed the incident and how long each step of the response took.
fn detection(inc: &Incident, entries: &[&TimelineEntry]) -> Detection {
    let start = inc.started_at;
    let first_down = entries.iter().find_map(|e| match &e.kind {
        TimelineKind::MonitorDown { monitor_id, .. } => Some(monitor_id.to_string()),
        _ => None,
    });
    let opener = entries.iter().find_map(|e| match (&e.kind, &e.actor) {
        (TimelineKind::Opened { .. }, Actor::Person(p)) => Some(p.clone()),
        _ => None,
    });
    let (source, by_check) = match (first_down, &opener) {
        (_, Some(person)) => (format!("{person} (declared by hand)"), false),
        (Some(m), None) => (format!("the {m} check"), true),
        (None, None) if inc.automated => ("Pharos automation".to_owned(), true),
        (None, None) => ("a person (declared by hand)".to_owned(), false),
    };
    let anonymous_source = if opener.is_some() {
        "a responder (declared by hand)".to_owned()
    } else {
        source.clone()
    };
    let acknowledged = entries
        .iter()
        .find(|e| e.actor.is_person() && e.occurred_at >= inc.created_at)
        .map(|e| e.occurred_at);
    let mitigated = entries
        .iter()
        .find(|e| match &e.kind {
            TimelineKind::PublicUpdate { status, .. } => status == "monitoring",
            TimelineKind::StatusChanged { to, .. } => to == "monitoring",
            _ => false,
        })
        .map(|e| e.occurred_at)
        .or(inc.monitoring_at);
    Detection {
        source,
        anonymous_source,
        by_check,
        time_to_detect: metric(start, inc.created_at),
        time_to_acknowledge: acknowledged.map(|at| metric(start, at)),
        time_to_first_public_update: inc.published_at.map(|at| metric(start, at)),
        time_to_mitigate: mitigated.map(|at| metric(start, at)),
        time_to_resolve: inc.resolved_at.map(|at| metric(start, at)),
    }
}

/// The changes, oldest first, each with its time in `tz` and how long before the start it
/// came.
fn change_lines(
    changes: &[RelatedChange],
    inc: &Incident,
    tz: Tz,
    name_of: &dyn Fn(&ComponentId) -> String,
) -> Vec<ChangeLine> {
    let mut sorted: Vec<&RelatedChange> = changes.iter().collect();
    sorted.sort_by(|a, b| {
        let (a, b) = (&a.entry.change, &b.entry.change);
        a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id))
    });
    sorted
        .into_iter()
        .map(|r| {
            let c = &r.entry.change;
            ChangeLine {
                id: c.id.clone(),
                component_id: c.component.clone(),
                component: name_of(&c.component),
                kind: c.kind.clone(),
                summary: c.summary.clone(),
                version: c.version.clone(),
                author: c.author.clone(),
                url: c.url.clone(),
                started_at: c.started_at,
                local: stamp(c.started_at, tz).0,
                before_start: (c.started_at <= inc.started_at)
                    .then(|| Span::of(inc.started_at - c.started_at)),
                superseded_by: r.entry.superseded_by.clone(),
                why: r.relation.explain(),
                regression: r
                    .entry
                    .regression
                    .as_ref()
                    .filter(|g| g.suspect)
                    .map(|g| g.summary.clone()),
            }
        })
        .collect()
}

/// The timeline: the recorded entries, the changes and the first failing check, in time
/// order, each with its time in `tz`.
fn timeline(
    inc: &Incident,
    entries: &[&TimelineEntry],
    changes: &[ChangeLine],
    tz: Tz,
    name_of: &dyn Fn(&ComponentId) -> String,
) -> Vec<Line> {
    let line = |at: DateTime<Utc>, actor: Actor, kind: &str, text: String, private: bool| {
        let (local, utc) = stamp(at, tz);
        Line {
            at,
            local,
            utc,
            actor,
            kind: kind.to_owned(),
            text,
            private,
            public_text: None,
            anonymous_text: None,
        }
    };
    let mut lines = Vec::with_capacity(entries.len() + changes.len() + 1);
    for c in changes {
        let mut public = format!("Change to {}: {} — {}", c.component, c.kind, c.summary);
        if let Some(v) = &c.version {
            let _ = write!(public, " (version {v})");
        }
        let mut text = public.clone();
        if let Some(a) = &c.author {
            let _ = write!(text, ", by {a}");
        }
        if let Some(s) = &c.superseded_by {
            let _ = write!(text, " [corrected by {s}]");
            public.push_str(" [record corrected later]");
        }
        let mut l = line(c.started_at, Actor::Automation, "change", text, false);
        l.public_text = Some(public);
        lines.push(l);
    }
    let first_failure = entries
        .iter()
        .filter_map(|e| match &e.kind {
            TimelineKind::MonitorDown {
                monitor_id,
                first_failure_at,
                ..
            } => Some((*first_failure_at, monitor_id)),
            _ => None,
        })
        .min_by_key(|(at, _)| *at);
    match first_failure {
        Some((at, m)) => lines.push(line(
            at,
            Actor::Automation,
            "first_failure",
            format!("First failing check of {m}"),
            false,
        )),
        None if inc.started_at < inc.created_at => lines.push(line(
            inc.started_at,
            Actor::Automation,
            "first_failure",
            "The trouble started".to_owned(),
            false,
        )),
        None => {}
    }
    for e in entries {
        let (text, private) = entry_text(e, name_of, true);
        let (anonymous, _) = entry_text(e, name_of, false);
        let mut l = line(e.occurred_at, e.actor.clone(), e.kind_name(), text, private);
        if anonymous != l.text {
            l.anonymous_text = Some(anonymous);
        }
        lines.push(l);
    }
    // Stable: entries at one instant keep the order they were recorded in.
    lines.sort_by_key(|l| l.at);
    lines
}

/// One line saying what a timeline entry records, naming who did it (the responders'
/// console shows an incident's timeline with these).
pub fn timeline_line(e: &TimelineEntry, name_of: &dyn Fn(&ComponentId) -> String) -> String {
    entry_text(e, name_of, true).0
}

/// Who did it, as a timeline line names them.
fn who(actor: &Actor) -> String {
    match actor {
        Actor::Automation => "Pharos".to_owned(),
        Actor::Person(p) => p.clone(),
    }
}

/// One line for a timeline entry, and whether it is private. `named`: whether the line may
/// name the person who did it (else it says what happened without who; Pharos itself is
/// always named).
fn entry_text(
    e: &TimelineEntry,
    name_of: &dyn Fn(&ComponentId) -> String,
    named: bool,
) -> (String, bool) {
    let hidden = e.actor.is_person() && !named;
    // " by alice", or nothing when the person is not named.
    let by = if hidden {
        String::new()
    } else {
        format!(" by {}", who(&e.actor))
    };
    let status_label =
        |s: &str| IncidentStatus::parse(s).map_or(s.to_owned(), |st| st.label().to_owned());
    let text = match &e.kind {
        TimelineKind::Opened { name } if hidden => {
            format!("A responder declared the incident: {name}")
        }
        TimelineKind::Opened { name } if e.actor.is_person() => {
            format!("{} declared the incident: {name}", who(&e.actor))
        }
        TimelineKind::Opened { name } => format!("Pharos opened the incident: {name}"),
        TimelineKind::PublicUpdate { status, .. } if status == "postmortem" => {
            format!("Postmortem published{by}")
        }
        TimelineKind::PublicUpdate { status, body, .. } => {
            let body = excerpt(body);
            if body.is_empty() {
                format!("{}: public update{by}", status_label(status))
            } else {
                format!("{}: public update{by}: {body}", status_label(status))
            }
        }
        TimelineKind::Note { body } => {
            // Never published: always named.
            return (
                format!("Private note by {}: {}", who(&e.actor), excerpt(body)),
                true,
            );
        }
        TimelineKind::Published => "The incident appeared on the public status page".to_owned(),
        TimelineKind::MonitorDown {
            monitor_id, error, ..
        } => {
            let error = excerpt(error);
            if error.is_empty() {
                format!("Check {monitor_id} confirmed down")
            } else {
                format!("Check {monitor_id} confirmed down: {error}")
            }
        }
        TimelineKind::MonitorUp { monitor_id } => format!("Check {monitor_id} passing again"),
        TimelineKind::MonitorDownInMaintenance { monitor_id, error } => {
            format!(
                "Check {monitor_id} failed during maintenance: {}",
                excerpt(error)
            )
        }
        TimelineKind::ComponentStatus {
            component_id,
            from,
            to,
        } => format!(
            "{}: {} → {}",
            name_of(component_id),
            from.label().to_lowercase(),
            to.label().to_lowercase()
        ),
        TimelineKind::StatusChanged { from, to } => {
            format!(
                "Status changed from {} to {}",
                status_label(from),
                status_label(to)
            )
        }
        TimelineKind::SeverityChanged { from, to } => match (from, to) {
            (_, None) => format!("Severity cleared{by}"),
            (None, Some(s)) => format!("Severity set to {}{by}", s.as_str()),
            (Some(f), Some(s)) => {
                format!("Severity changed from {} to {}{by}", f.as_str(), s.as_str())
            }
        },
        TimelineKind::ImpactChanged { from, to } => {
            format!(
                "Impact changed from {} to {}{by}",
                from.as_str(),
                to.as_str()
            )
        }
        TimelineKind::Renamed { from, to } => format!("Renamed from “{from}” to “{to}”{by}"),
        TimelineKind::Acknowledged if hidden => "A responder acknowledged the incident".to_owned(),
        TimelineKind::Acknowledged => format!("{} acknowledged the incident", who(&e.actor)),
        TimelineKind::RoleAssigned { role, person } => match person {
            // The person given the role is a responder too.
            Some(_) if !named => format!("The {role} role was assigned"),
            Some(p) => format!("{p} is the {role} (set{by})"),
            None => format!("The {role} role was cleared{by}"),
        },
        // Kinds added later (alerts, …) read from their recorded fields.
        #[allow(unreachable_patterns)]
        _ => generic_text(e, &by),
    };
    (text, false)
}

/// A line for a timeline kind this module has no words for: its name and its main fields,
/// and who did it when a person did and may be named (`by`: " by alice" or empty).
fn generic_text(e: &TimelineEntry, by: &str) -> String {
    let mut text = e.kind_name().replace('_', " ");
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&e.kind) {
        let detail: Vec<String> = ["name", "summary", "key", "body"]
            .iter()
            .filter_map(|k| fields.get(*k).and_then(|v| v.as_str()))
            .filter(|v| !v.is_empty())
            .map(excerpt)
            .collect();
        if !detail.is_empty() {
            let _ = write!(text, ": {}", detail.join(" — "));
        }
    }
    if e.actor.is_person() && !by.is_empty() {
        let _ = write!(text, " ({})", by.trim_start());
    }
    text
}

/// The drafted description; `source` is what detected it, named or not (see [`Detection`]).
fn derived_description(
    inc: &Incident,
    services: &[ServiceImpact],
    detection: &Detection,
    source: &str,
    tz: Tz,
) -> String {
    let mut out = format!("{}.", inc.name.trim_end_matches('.'));
    if !services.is_empty() {
        let list: Vec<String> = services
            .iter()
            .map(|s| format!("{} ({})", s.name, s.worst_status.label().to_lowercase()))
            .collect();
        let _ = write!(out, " Affected: {}.", list.join(", "));
    }
    let start = stamp(inc.started_at, tz).0;
    match inc.resolved_at {
        Some(end) => {
            let _ = write!(
                out,
                " It lasted {}, from {start} to {}.",
                format_span(end - inc.started_at),
                until(inc.started_at, end, tz)
            );
        }
        None => {
            let _ = write!(out, " It started {start} and is not resolved yet.");
        }
    }
    if detection.by_check {
        let _ = write!(out, " It was detected by {source}.");
    } else {
        let _ = write!(
            out,
            " It was declared by {}.",
            source.trim_end_matches(" (declared by hand)")
        );
    }
    if let Some(p) = &detection.time_to_first_public_update {
        let _ = write!(
            out,
            " The public status page showed it {} after it started.",
            p.span.text
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postmortem::fixtures::*;
    use crate::postmortem::*;

    #[test]
    fn the_timeline_is_in_time_order_in_one_zone_with_utc_beside() {
        let (inc, timeline) = outage();
        let pm = build(
            &inc,
            &timeline,
            &PostmortemEdits::default(),
            chrono_tz::America::Denver,
        );
        let at: Vec<DateTime<Utc>> = pm.timeline.iter().map(|l| l.at).collect();
        let mut sorted = at.clone();
        sorted.sort();
        assert_eq!(at, sorted);
        let kinds: Vec<&str> = pm.timeline.iter().map(|l| l.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "first_failure",
                "opened",
                "monitor_down",
                "public_update",
                "note",
                "public_update",
                "public_update"
            ],
            "entries at one instant keep their recorded order"
        );
        let first = &pm.timeline[0];
        assert_eq!(first.local, "2026-03-04 09:25 MST");
        assert_eq!(first.utc, "16:25 UTC");
        assert_eq!(first.text, "First failing check of api-health");
        assert_eq!(
            pm.timeline[3].text,
            "Investigating: public update by Pharos: We are investigating a major outage of API",
            "bodies are on one line"
        );
        assert!(pm.timeline[4].private);
        let md = render_markdown(&pm, Audience::Internal);
        assert!(
            md.contains("## Timeline (times in America/Denver, UTC beside each time)"),
            "{md}"
        );
        assert!(
            md.contains("- 2026-03-04 09:25 MST (16:25 UTC) — First failing check of api-health"),
            "{md}"
        );
        assert_eq!(
            md.matches("America/Denver").count(),
            1,
            "the zone is named once: {md}"
        );
    }

    #[test]
    fn durations_and_detection_metrics_are_computed_from_the_start() {
        assert_eq!(format_span(Duration::seconds(45)), "45s");
        assert_eq!(format_span(Duration::minutes(28)), "28m");
        assert_eq!(format_span(Duration::minutes(88)), "1h 28m");
        assert_eq!(format_span(Duration::minutes(60)), "1h 0m");
        assert_eq!(format_span(Duration::minutes(2 * 1440 + 61)), "2d 1h 1m");
        assert_eq!(format_span(Duration::seconds(-5)), "0s");

        let (inc, timeline) = outage();
        let pm = build(&inc, &timeline, &PostmortemEdits::default(), chrono_tz::UTC);
        assert_eq!(
            pm.total_duration,
            Some(Span {
                seconds: 88 * 60,
                text: "1h 28m".into()
            })
        );
        let d = &pm.detection;
        assert_eq!(d.source, "the api-health check");
        assert!(d.by_check);
        assert_eq!(d.time_to_detect.span.text, "2m");
        assert_eq!(
            d.time_to_acknowledge.as_ref().unwrap().span.text,
            "6m",
            "alice's note"
        );
        assert_eq!(
            d.time_to_first_public_update.as_ref().unwrap().span.text,
            "2m"
        );
        assert_eq!(d.time_to_mitigate.as_ref().unwrap().span.text, "1h 14m");
        assert_eq!(d.time_to_resolve.as_ref().unwrap().span.text, "1h 28m");
        assert_eq!(pm.event_type.text, "Outage");
        assert!(!pm.event_type.edited);
        assert_eq!(
            pm.services_impacted,
            vec![ServiceImpact {
                component_id: cid("api"),
                name: "API".into(),
                worst_status: ComponentStatus::MajorOutage
            }],
            "the worst status seen, not the last"
        );
        assert!(
            pm.description.text.contains("It lasted 1h 28m"),
            "{}",
            pm.description.text
        );

        // Nobody acknowledged, never in monitoring, never public: each is said, not guessed.
        let mut quiet = inc.clone();
        quiet.published_at = None;
        let automation_only: Vec<TimelineEntry> = timeline
            .iter()
            .filter(|e| !e.actor.is_person())
            .cloned()
            .collect();
        let pm = build(
            &quiet,
            &automation_only,
            &PostmortemEdits::default(),
            chrono_tz::UTC,
        );
        assert_eq!(pm.detection.time_to_acknowledge, None);
        assert_eq!(pm.detection.time_to_mitigate, None);
        assert_eq!(pm.detection.time_to_first_public_update, None);
        let md = render_markdown(&pm, Audience::Internal);
        assert!(
            md.contains("- Time to acknowledge: not acknowledged by a person"),
            "{md}"
        );
        assert!(
            md.contains("- Time to mitigate: never in monitoring"),
            "{md}"
        );
    }

    #[test]
    fn a_person_declaring_it_is_the_detection_and_the_acknowledgement() {
        let inc = incident(
            "inc1",
            "Calendar sync removed",
            "2026-07-10T20:34:00Z",
            "2026-07-10T20:34:00Z",
            Some("2026-07-10T23:05:00Z"),
            &[],
        );
        let timeline = vec![entry(
            1,
            "2026-07-10T20:34:00Z",
            alice(),
            TimelineKind::Opened {
                name: "Calendar sync removed".into(),
            },
        )];
        let pm = build(
            &inc,
            &timeline,
            &PostmortemEdits::default(),
            chrono_tz::America::Chicago,
        );
        assert_eq!(pm.detection.source, "alice (declared by hand)");
        assert!(!pm.detection.by_check);
        assert_eq!(
            pm.detection
                .time_to_acknowledge
                .as_ref()
                .unwrap()
                .span
                .seconds,
            0
        );
        assert_eq!(
            pm.timeline[0].text,
            "alice declared the incident: Calendar sync removed"
        );
        let gaps: Vec<String> = missing(&pm).into_iter().map(|m| m.section).collect();
        assert!(gaps.contains(&"services_impacted".to_owned()), "{gaps:?}");
    }

    #[test]
    fn changes_before_the_start_are_listed_and_on_the_timeline() {
        let (inc, timeline) = outage();
        use crate::change::Change;
        let deploy = |id_: &str, at: &str, supersedes: Option<&str>| Change {
            version: Some("1.4.2".into()),
            author: Some("ci".into()),
            supersedes: supersedes.map(str::to_owned),
            ..change(id_, "api", at)
        };
        let related = |change: Change, superseded_by: Option<&str>| {
            related(change, inc.started_at, superseded_by)
        };
        let changes = vec![
            related(deploy("chg_b", "2026-03-04T16:00:00Z", Some("chg_a")), None),
            related(deploy("chg_a", "2026-03-03T16:00:00Z", None), Some("chg_b")),
        ];
        let pm = build_with_changes(
            &inc,
            &timeline,
            &changes,
            &PostmortemEdits::default(),
            chrono_tz::UTC,
        );
        let ids: Vec<&str> = pm.changes.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["chg_a", "chg_b"], "oldest first");
        assert_eq!(pm.changes[0].superseded_by.as_deref(), Some("chg_b"));
        assert_eq!(pm.changes[1].before_start.as_ref().unwrap().text, "25m");
        assert_eq!(pm.timeline[1].kind, "change");
        assert_eq!(
            pm.timeline[1].text,
            "Change to API: deploy — Auth update (version 1.4.2), by ci"
        );
        let md = render_markdown(
            &pm,
            Audience::Public {
                show_responders: false,
            },
        );
        assert!(
            md.contains("- 2026-03-04 16:00 UTC — API deploy: Auth update (version 1.4.2); 25m before the start"),
            "{md}"
        );
        assert_eq!(pm.changes[0].why, "a change to the incident's component");
        // The published text names no record ids and no authors; responders see both.
        assert!(!md.contains("chg_") && !md.contains("by ci"), "{md}");
        assert!(md.contains("this record was corrected later"), "{md}");
        assert!(md.contains("[record corrected later]"), "{md}");
        let internal = render_markdown(&pm, Audience::Internal);
        assert!(internal.contains("; corrected by chg_b"), "{internal}");
        assert!(internal.contains("by ci"), "{internal}");
    }
}

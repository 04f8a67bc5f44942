//! PagerDuty Events API v2. An incident that is open (opened or updated) is a `trigger`, an
//! incident that is over (resolved, or a postmortem published) a `resolve`; both carry
//! `dedup_key: "pharos-<incident id>"`, so every event of one incident lands on one alert and
//! the resolve closes it. Triggers carry a summary (title, ≤ 1024 characters), the page URL as
//! source, a severity by impact (critical → `critical`, major → `error`, minor → `warning`,
//! none → `info`), the event time, the first affected component, the page name as group,
//! details (status, impact, latest update, components, responder severity) and a link.
//!
//! Maintenance and component events are not sent to PagerDuty: they page nobody.
//! [`Notifier::send`](crate::Notifier::send) counts them as sent without a request.
//! PagerDuty answers `202 Accepted` on success.

use pharos_domain::Impact;
use pharos_wire::ApiTime;
use serde_json::{json, Value};

use crate::event::Event;
use crate::message::{incident_over, truncate, Message};
use crate::render::RenderError;
use crate::time::zone;

/// The `dedup_key` of incident `id`.
pub fn dedup_key(incident_id: &str) -> String {
    format!("pharos-{incident_id}")
}

/// PagerDuty's severity for an incident's impact.
pub fn severity(impact: Impact) -> &'static str {
    match impact {
        Impact::Critical => "critical",
        Impact::Major => "error",
        Impact::Minor => "warning",
        Impact::None => "info",
    }
}

/// The event body for `event`, or `None` when PagerDuty is not told about this kind.
pub fn payload(event: &Event, routing_key: &str) -> Result<Option<Value>, RenderError> {
    if !event.kind.is_incident() {
        return Ok(None);
    }
    let i = event
        .incident
        .as_ref()
        .ok_or_else(|| RenderError::Incomplete {
            kind: event.kind.as_str(),
            missing: "incident",
        })?;
    let dedup = dedup_key(i.id.as_str());
    if event.kind == crate::EventKind::IncidentResolved || incident_over(i.status) {
        return Ok(Some(json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup,
        })));
    }
    let m = Message::of(event)?;
    let page_url = event.page.url.trim_end_matches('/');
    let mut details = serde_json::Map::new();
    details.insert("status".into(), json!(i.status.as_str()));
    details.insert("impact".into(), json!(i.impact().as_str()));
    if let Some(sev) = i.severity {
        details.insert("severity".into(), json!(sev.as_str()));
    }
    if let Some(body) = &m.body {
        details.insert("latest_update".into(), json!(truncate(body, 4000)));
    }
    details.insert("components".into(), json!(m.components.join(", ")));
    let mut payload = json!({
        "summary": truncate(&m.title, 1024),
        "source": page_url,
        "severity": severity(i.impact()),
        "timestamp": ApiTime::in_zone(event.at, zone(&event.page.time_zone)),
        "group": event.page.name,
        "class": "incident",
        "custom_details": details,
    });
    if let Some(first) = i.components.keys().next() {
        payload["component"] = json!(event.component_name(first));
    }
    Ok(Some(json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": payload,
        "links": [{"href": m.link, "text": "Status page"}],
        "client": "Pharos",
        "client_url": page_url,
    })))
}

//! Statuspage's subscriber webhook payload (`pharos_wire::webhook`, whose incident is the v2
//! API's, built the same way), so receivers written for Statuspage (or Instatus, which copies
//! it) work unchanged:
//!
//! - incident and maintenance events: `{"meta", "page", "incident"}`, the incident carrying
//!   every field of Statuspage's webhook (including the legacy `scheduled_*`, `metadata` and
//!   twitter fields), updates newest first; a maintenance uses the same `incident` key with
//!   the `scheduled_*` fields filled in and impact `maintenance`;
//! - component status events: `{"meta", "page", "component_update", "component"}`;
//! - probe events (responders' webhooks only; Pharos's own): `{"meta", "page",
//!   "location_update": {"id", "name", "online", "last_seen_at", "monitors", "created_at"}}`.
//!
//! Timestamps are written as the v2 API writes them: RFC 3339 with milliseconds, in the
//! page's time zone. Components are written as far as the event carries them (id, name,
//! status, creation time, page id).
//!
//! With a secret, the request carries `X-Pharos-Signature: sha256=<hex HMAC-SHA256 of the
//! exact body bytes, keyed with the secret>` (GitHub's scheme) and `X-Pharos-Timestamp` (Unix
//! seconds when the attempt was rendered; informational, not signed). Every request carries
//! `X-Pharos-Event` with the event kind, and `Idempotency-Key` with the delivery id.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use pharos_domain::ComponentId;
use pharos_wire::v2::{AffectedComponent, IncidentOf, PageRef, ScheduledMaintenance};
use pharos_wire::webhook::{
    self, ComponentObject, ComponentPayload, ComponentUpdate, IncidentPayload, Meta, Page,
};
use sha2::Sha256;

use crate::event::Event;
use crate::render::{RenderError, RenderedRequest};
use crate::time::zone;

/// Statuspage's documentation link, sent in `meta.documentation`.
pub use pharos_wire::webhook::DOCUMENTATION;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Pharos-Signature";
/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "X-Pharos-Timestamp";
/// The event-kind header.
pub const EVENT_HEADER: &str = "X-Pharos-Event";

/// The unsubscribe link a notifier's payload carries: `<page url>/#unsubscribe` (a notifier
/// is configured, not subscribed; subscriber deliveries pass their own link to [`body`]).
pub fn notifier_unsubscribe(event: &Event) -> String {
    format!("{}/#unsubscribe", event.page.url.trim_end_matches('/'))
}

/// The payload's exact bytes for `event`, with `unsubscribe` in `meta.unsubscribe`.
pub fn body(event: &Event, unsubscribe: &str) -> Result<Vec<u8>, RenderError> {
    let on_page = PageRef {
        id: &event.page.id,
        url: &event.page.url,
        time_zone: zone(&event.page.time_zone),
    };
    let meta = Meta::new(unsubscribe);
    let page = Page {
        id: &event.page.id,
        status_indicator: event.page.status_indicator,
        status_description: &event.page.status_description,
    };
    let missing = |missing| RenderError::Incomplete {
        kind: event.kind.as_str(),
        missing,
    };
    let name_of = |id: &ComponentId| affected_name(event, id);
    if event.kind.is_incident() {
        let i = event.incident.as_ref().ok_or_else(|| missing("incident"))?;
        let v2 = IncidentOf::from_incident(on_page, i, name_of, components(event, on_page));
        return super::to_json(&IncidentPayload {
            meta,
            page,
            incident: webhook::Incident::from_incident(v2, i.impact_override),
        });
    }
    if event.kind.is_maintenance() {
        let m = event
            .maintenance
            .as_ref()
            .ok_or_else(|| missing("maintenance"))?;
        let v2 =
            ScheduledMaintenance::from_maintenance(on_page, m, name_of, components(event, on_page));
        return super::to_json(&IncidentPayload {
            meta,
            page,
            incident: webhook::Incident::from_maintenance(v2, m.auto_start, m.auto_complete),
        });
    }
    if event.kind.is_probe() {
        let l = event.location.as_ref().ok_or_else(|| missing("location"))?;
        return super::to_json(&ProbePayload {
            meta,
            page,
            location_update: LocationUpdate {
                id: &l.id,
                name: &l.name,
                online: event.kind == crate::EventKind::ProbeOnline,
                last_seen_at: l.last_seen_at.map(|t| on_page.time(t)),
                monitors: l.monitors,
                created_at: on_page.time(event.at),
            },
        });
    }
    let change = event
        .component_change
        .as_ref()
        .ok_or_else(|| missing("component change"))?;
    let context = event
        .components
        .iter()
        .find(|c| c.id == change.component_id);
    let component = ComponentObject {
        created_at: on_page.time(context.map_or(event.at, |c| c.created_at)),
        id: change.component_id.to_string(),
        name: event.component_name(&change.component_id),
        status: change.new_status,
    };
    super::to_json(&ComponentPayload {
        meta,
        page,
        component_update: ComponentUpdate {
            created_at: on_page.time(event.at),
            new_status: change.new_status,
            old_status: change.old_status,
            id: event.id.clone(),
            component_id: change.component_id.to_string(),
        },
        component,
    })
}

/// A probe event's payload: Pharos's own, in the shape of the others.
#[derive(serde::Serialize)]
struct ProbePayload<'a> {
    meta: Meta<'a>,
    page: Page<'a>,
    location_update: LocationUpdate<'a>,
}

/// What happened to a location's probes.
#[derive(serde::Serialize)]
struct LocationUpdate<'a> {
    id: &'a str,
    name: &'a str,
    online: bool,
    last_seen_at: Option<pharos_wire::ApiTime>,
    monitors: usize,
    created_at: pharos_wire::ApiTime,
}

/// The request for a webhook notifier.
pub(crate) fn render(
    url: &str,
    secret: Option<&str>,
    delivery_id: &str,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<RenderedRequest, RenderError> {
    let body = body(event, &notifier_unsubscribe(event))?;
    let mut extra = vec![(EVENT_HEADER, event.kind.as_str().to_owned())];
    if let Some(secret) = secret {
        extra.push((SIGNATURE_HEADER, signature(secret, &body)?));
        extra.push((TIMESTAMP_HEADER, now.timestamp().to_string()));
    }
    Ok(super::json_request(
        url.to_owned(),
        delivery_id,
        body,
        extra,
    ))
}

/// `sha256=<hex HMAC-SHA256 of body keyed with secret>`.
pub fn signature(secret: &str, body: &[u8]) -> Result<String, RenderError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| RenderError::Config("the webhook secret cannot key HMAC".to_owned()))?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// A component's name in `affected_components`; its id when the event does not carry it.
fn affected_name(event: &Event, id: &ComponentId) -> String {
    match event.components.iter().find(|c| &c.id == id) {
        Some(c) => AffectedComponent::display_name(&c.name, c.group.as_deref()),
        None => id.to_string(),
    }
}

/// Every component the event names, as a webhook's `incident.components`.
fn components(event: &Event, on_page: PageRef<'_>) -> Vec<webhook::Component> {
    event
        .components
        .iter()
        .map(|c| webhook::Component {
            created_at: on_page.time(c.created_at),
            id: c.id.to_string(),
            name: c.name.clone(),
            status: c.status,
            page_id: event.page.id.clone(),
        })
        .collect()
}

//! Statuspage's subscriber webhook payload, so receivers written for Statuspage (or Instatus,
//! which copies it) work unchanged:
//!
//! - incident and maintenance events: `{"meta", "page", "incident"}`, the incident carrying
//!   every field of Statuspage's webhook (including the legacy `scheduled_*`, `metadata` and
//!   twitter fields), updates newest first; a maintenance uses the same `incident` key with
//!   the `scheduled_*` fields filled in and impact `maintenance`;
//! - component status events: `{"meta", "page", "component_update", "component"}`.
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
use chrono_tz::Tz;
use hmac::{Hmac, KeyInit, Mac};
use pharos_domain::incident::{AffectedChange, PublicUpdate};
use pharos_domain::ComponentStatus;
use serde::Serialize;
use sha2::Sha256;

use crate::event::Event;
use crate::render::{RenderError, RenderedRequest};
use crate::time::{api_time, zone};

/// Statuspage's documentation link, sent in `meta.documentation`.
pub const DOCUMENTATION: &str = "https://doers.statuspage.io/customer-notifications/webhooks/";

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Pharos-Signature";
/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "X-Pharos-Timestamp";
/// The event-kind header.
pub const EVENT_HEADER: &str = "X-Pharos-Event";

#[derive(Serialize)]
struct Meta<'a> {
    unsubscribe: &'a str,
    documentation: &'static str,
}

#[derive(Serialize)]
struct PageBlock<'a> {
    id: &'a str,
    status_indicator: &'static str,
    status_description: &'a str,
}

#[derive(Serialize)]
struct IncidentPayload<'a> {
    meta: Meta<'a>,
    page: PageBlock<'a>,
    incident: IncidentBlock,
}

#[derive(Serialize)]
struct ComponentPayload<'a> {
    meta: Meta<'a>,
    page: PageBlock<'a>,
    component_update: ComponentUpdate,
    component: ComponentObject,
}

#[derive(Serialize)]
struct IncidentBlock {
    name: String,
    status: &'static str,
    created_at: String,
    updated_at: String,
    monitoring_at: Option<String>,
    resolved_at: Option<String>,
    impact: &'static str,
    shortlink: String,
    scheduled_for: Option<String>,
    scheduled_until: Option<String>,
    scheduled_remind_prior: bool,
    scheduled_reminded_at: Option<String>,
    impact_override: Option<&'static str>,
    scheduled_auto_in_progress: bool,
    scheduled_auto_completed: bool,
    metadata: serde_json::Map<String, serde_json::Value>,
    started_at: String,
    reminder_intervals: Option<String>,
    id: String,
    page_id: String,
    incident_updates: Vec<UpdateBlock>,
    components: Vec<IncidentComponent>,
}

#[derive(Serialize)]
struct UpdateBlock {
    status: &'static str,
    body: String,
    created_at: String,
    wants_twitter_update: bool,
    twitter_updated_at: Option<String>,
    updated_at: String,
    display_at: String,
    affected_components: Option<Vec<Affected>>,
    deliver_notifications: bool,
    custom_tweet: Option<String>,
    tweet_id: Option<String>,
    id: String,
    incident_id: String,
}

#[derive(Serialize)]
struct Affected {
    code: String,
    name: String,
    old_status: ComponentStatus,
    new_status: ComponentStatus,
}

#[derive(Serialize)]
struct IncidentComponent {
    created_at: String,
    id: String,
    name: String,
    status: ComponentStatus,
    page_id: String,
}

#[derive(Serialize)]
struct ComponentUpdate {
    created_at: String,
    new_status: ComponentStatus,
    old_status: ComponentStatus,
    id: String,
    component_id: String,
}

#[derive(Serialize)]
struct ComponentObject {
    created_at: String,
    id: String,
    name: String,
    status: ComponentStatus,
}

/// The unsubscribe link a notifier's payload carries: `<page url>/#unsubscribe` (a notifier
/// is configured, not subscribed; subscriber deliveries pass their own link to [`body`]).
pub fn notifier_unsubscribe(event: &Event) -> String {
    format!("{}/#unsubscribe", event.page.url.trim_end_matches('/'))
}

/// The payload's exact bytes for `event`, with `unsubscribe` in `meta.unsubscribe`.
pub fn body(event: &Event, unsubscribe: &str) -> Result<Vec<u8>, RenderError> {
    let tz = zone(&event.page.time_zone);
    let meta = Meta {
        unsubscribe,
        documentation: DOCUMENTATION,
    };
    let page = PageBlock {
        id: &event.page.id,
        status_indicator: event.page.status_indicator.as_str(),
        status_description: &event.page.status_description,
    };
    let missing = |missing| RenderError::Incomplete {
        kind: event.kind.as_str(),
        missing,
    };
    if event.kind.is_incident() || event.kind.is_maintenance() {
        let incident = if event.kind.is_incident() {
            incident_block(event, tz).ok_or_else(|| missing("incident"))?
        } else {
            maintenance_block(event, tz).ok_or_else(|| missing("maintenance"))?
        };
        return super::to_json(&IncidentPayload {
            meta,
            page,
            incident,
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
        created_at: api_time(context.map_or(event.at, |c| c.created_at), tz),
        id: change.component_id.to_string(),
        name: event.component_name(&change.component_id),
        status: change.new_status,
    };
    super::to_json(&ComponentPayload {
        meta,
        page,
        component_update: ComponentUpdate {
            created_at: api_time(event.at, tz),
            new_status: change.new_status,
            old_status: change.old_status,
            id: event.id.clone(),
            component_id: change.component_id.to_string(),
        },
        component,
    })
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

fn incident_block(event: &Event, tz: Tz) -> Option<IncidentBlock> {
    let i = event.incident.as_ref()?;
    let at = |t| api_time(t, tz);
    Some(IncidentBlock {
        name: i.name.clone(),
        status: i.status.as_str(),
        created_at: at(i.created_at),
        updated_at: at(i.updated_at),
        monitoring_at: i.monitoring_at.map(at),
        resolved_at: i.resolved_at.map(at),
        impact: i.impact().as_str(),
        shortlink: event.link().unwrap_or_default(),
        scheduled_for: None,
        scheduled_until: None,
        scheduled_remind_prior: false,
        scheduled_reminded_at: None,
        impact_override: i.impact_override.map(|o| o.as_str()),
        scheduled_auto_in_progress: false,
        scheduled_auto_completed: false,
        metadata: serde_json::Map::new(),
        started_at: at(i.started_at),
        reminder_intervals: None,
        id: i.id.to_string(),
        page_id: event.page.id.clone(),
        incident_updates: updates(event, tz, i.id.as_str(), &i.updates, |s| s.as_str()),
        components: components(event, tz),
    })
}

fn maintenance_block(event: &Event, tz: Tz) -> Option<IncidentBlock> {
    let m = event.maintenance.as_ref()?;
    let at = |t| api_time(t, tz);
    Some(IncidentBlock {
        name: m.name.clone(),
        status: m.status.as_str(),
        created_at: at(m.created_at),
        updated_at: at(m.updated_at),
        monitoring_at: None,
        resolved_at: m.completed_at.map(at),
        impact: "maintenance",
        shortlink: event.link().unwrap_or_default(),
        scheduled_for: Some(at(m.scheduled_for)),
        scheduled_until: Some(at(m.scheduled_until)),
        scheduled_remind_prior: false,
        scheduled_reminded_at: None,
        impact_override: None,
        scheduled_auto_in_progress: m.auto_start,
        scheduled_auto_completed: m.auto_complete,
        metadata: serde_json::Map::new(),
        started_at: at(m.started_at.unwrap_or(m.scheduled_for)),
        reminder_intervals: None,
        id: m.id.to_string(),
        page_id: event.page.id.clone(),
        incident_updates: updates(event, tz, m.id.as_str(), &m.updates, |s| s.as_str()),
        components: components(event, tz),
    })
}

fn updates<S: Copy>(
    event: &Event,
    tz: Tz,
    incident_id: &str,
    list: &[PublicUpdate<S>],
    status: impl Fn(S) -> &'static str,
) -> Vec<UpdateBlock> {
    list.iter()
        .rev()
        .map(|u| {
            let created = api_time(u.created_at, tz);
            UpdateBlock {
                status: status(u.status),
                body: u.body.clone(),
                created_at: created.clone(),
                wants_twitter_update: false,
                twitter_updated_at: None,
                updated_at: created.clone(),
                display_at: created,
                affected_components: (!u.affected.is_empty())
                    .then(|| u.affected.iter().map(|a| affected(event, a)).collect()),
                deliver_notifications: true,
                custom_tweet: None,
                tweet_id: None,
                id: u.id.to_string(),
                incident_id: incident_id.to_owned(),
            }
        })
        .collect()
}

/// Statuspage names a grouped component "Component - Group :: Component".
fn affected(event: &Event, a: &AffectedChange) -> Affected {
    let context = event.components.iter().find(|c| c.id == a.component_id);
    let name = match context {
        Some(c) => match &c.group {
            Some(g) => format!("{} - {g} :: {}", c.name, c.name),
            None => c.name.clone(),
        },
        None => a.component_id.to_string(),
    };
    Affected {
        code: a.component_id.to_string(),
        name,
        old_status: a.old_status,
        new_status: a.new_status,
    }
}

fn components(event: &Event, tz: Tz) -> Vec<IncidentComponent> {
    event
        .components
        .iter()
        .map(|c| IncidentComponent {
            created_at: api_time(c.created_at, tz),
            id: c.id.to_string(),
            name: c.name.clone(),
            status: c.status,
            page_id: event.page.id.clone(),
        })
        .collect()
}

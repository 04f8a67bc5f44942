//! Shapes several admin resources share: who did something ([`ActorOut`]), a public update
//! ([`UpdateOut`]), one entry of a timeline ([`TimelineEntryOut`]), and the `{id}` path
//! segment ([`IdPath`]). Times are RFC 3339 in UTC.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use pharos_domain::incident::{PublicUpdate, TimelineEntry};
use pharos_domain::Actor;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;

/// Who made a change.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Actor)]
pub(crate) struct ActorOut {
    /// `automation` (Pharos itself: checks, the maintenance clock) or `person` (an admin
    /// token's holder).
    #[serde(rename = "type")]
    #[schema(example = "person")]
    pub kind: &'static str,
    /// The token's name, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "alice")]
    pub name: Option<String>,
}

impl From<&Actor> for ActorOut {
    fn from(a: &Actor) -> Self {
        match a {
            Actor::Automation => Self {
                kind: "automation",
                name: None,
            },
            Actor::Person(name) => Self {
                kind: "person",
                name: Some(name.clone()),
            },
        }
    }
}

/// One component's status change made by an update.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = AffectedComponent)]
pub(crate) struct AffectedOut {
    /// Component id.
    pub component_id: String,
    /// Status before the update.
    pub old_status: &'static str,
    /// Status after it.
    pub new_status: &'static str,
}

/// A public update of an incident or maintenance: what the page and subscribers see.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Update)]
pub(crate) struct UpdateOut {
    /// Update id.
    pub id: String,
    /// The status as of this update.
    #[schema(example = "identified")]
    pub status: &'static str,
    /// Markdown body.
    pub body: String,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
    /// Who posted it.
    pub actor: ActorOut,
    /// Component status changes it made.
    pub affected_components: Vec<AffectedOut>,
}

impl UpdateOut {
    /// Converts an update whose status renders with `status`.
    pub(crate) fn of<S: Copy>(u: &PublicUpdate<S>, status: impl Fn(S) -> &'static str) -> Self {
        Self {
            id: u.id.to_string(),
            status: status(u.status),
            body: u.body.clone(),
            created_at: u.created_at,
            actor: ActorOut::from(&u.actor),
            affected_components: u
                .affected
                .iter()
                .map(|a| AffectedOut {
                    component_id: a.component_id.to_string(),
                    old_status: a.old_status.as_str(),
                    new_status: a.new_status.as_str(),
                })
                .collect(),
        }
    }
}

/// One entry of an incident's or maintenance's timeline: public updates, private notes,
/// monitor failures and recoveries, component status changes, and changes to severity,
/// impact, name and roles.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = TimelineEntry)]
pub(crate) struct TimelineEntryOut {
    /// Entry id.
    pub id: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When Pharos recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: ActorOut,
    /// What happened: `opened`, `public_update`, `note`, `published`, `monitor_down`,
    /// `monitor_up`, `monitor_down_in_maintenance`, `component_status`, `status_changed`,
    /// `severity_changed`, `impact_changed`, `renamed`, `role_assigned`, `alert_firing`,
    /// `alert_acknowledged` or `alert_resolved`.
    #[schema(example = "severity_changed")]
    pub kind: &'static str,
    /// The kind's own fields, e.g. `{"from": "S3", "to": "S2"}` for `severity_changed`,
    /// `{"monitor_id": "api-health", "error": "…", "first_failure_at": "…"}` for
    /// `monitor_down`, `{"body": "…"}` for `note`.
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl From<&TimelineEntry> for TimelineEntryOut {
    fn from(e: &TimelineEntry) -> Self {
        let mut details = match serde_json::to_value(&e.kind) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        details.remove("kind");
        Self {
            id: e.id.to_string(),
            occurred_at: e.occurred_at,
            recorded_at: e.recorded_at,
            actor: ActorOut::from(&e.actor),
            kind: e.kind_name(),
            details,
        }
    }
}

/// The `{id}` path segment, with a JSON error if the path cannot be read.
#[derive(Debug)]
pub(crate) struct IdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| IdPath(id))
            .map_err(|e| ApiError::bad_request(e.body_text(), Some("id".to_owned())))
    }
}

/// Seconds as a JSON number with millisecond precision.
pub(crate) fn seconds(d: chrono::Duration) -> f64 {
    // Millisecond counts of real durations are far below 2^53: exact in an f64.
    #[allow(clippy::cast_precision_loss)]
    let ms = d.num_milliseconds() as f64;
    ms / 1000.0
}

//! Alert ingestion in the senders' own formats: `POST /api/v1/ingest/alertmanager`
//! (Alertmanager's webhook receiver, version 4) and `POST /api/v1/ingest/grafana` (Grafana
//! alerting's webhook contact point), plus `GET /api/v1/alerts`, every alert Pharos holds.
//! PagerDuty's Events API v2 has its own path outside `/api/v1` (`crate::pagerduty`).
//!
//! Both senders can send a bearer token (`http_config.authorization` in Alertmanager, the
//! "Authorization Header" of Grafana's webhook), so these routes sit behind the same token
//! check as the rest of the admin API.

use axum::extract::State;
use axum::Json;
use pharos_domain::alert::{AlertSource, AlertmanagerWebhook, AttachedAlert};
use pharos_domain::IncidentId;
use pharos_engine::{AlertListing, AlertOutcome};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ApiJson, ErrorBody, UNAVAILABLE};
use super::Ctx;

/// What Pharos did with a webhook's alerts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IngestAnswer {
    /// How many alerts the body carried.
    received: usize,
    /// What each did, in the body's order.
    alerts: Vec<AlertOutcomeOut>,
}

/// What one alert did.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AlertOutcome)]
pub(crate) struct AlertOutcomeOut {
    /// The alert's dedup key: `alertmanager:<fingerprint>`, `grafana:<fingerprint>`,
    /// `pagerduty:<dedup_key>`.
    #[schema(example = "alertmanager:c6a2b5e4d3f10a9b")]
    key: String,
    /// `opened` (a new incident), `attached` (joined an open incident), `repeated` (already
    /// firing: counted, not re-announced), `acknowledged`, `resolved`, `recorded` (kept
    /// without an incident: info severity, no component, or `auto_open = false`), or
    /// `unknown` (a resolve or acknowledge for an alert Pharos does not hold).
    #[schema(example = "opened")]
    result: &'static str,
    /// The incident it is in.
    incident_id: Option<String>,
    /// The components it was routed to.
    components: Vec<String>,
    /// Why: `route 1`, `label component=api`, or why nothing matched.
    #[schema(example = "label component=api")]
    routing: String,
}

impl From<AlertOutcome> for AlertOutcomeOut {
    fn from(o: AlertOutcome) -> Self {
        Self {
            key: o.key,
            result: o.result,
            incident_id: o.incident_id.map(|i| i.to_string()),
            components: o.components.iter().map(ToString::to_string).collect(),
            routing: o.routing,
        }
    }
}

/// An Alertmanager (version 4) or Grafana (version 1) webhook body, as their senders document
/// it. Unknown fields are accepted.
#[derive(ToSchema)]
#[allow(dead_code)] // Only describes the body for the OpenAPI document.
pub(crate) struct WebhookBody {
    /// `"4"` (Alertmanager) or `"1"` (Grafana).
    version: Option<String>,
    /// `firing` or `resolved`, for the group.
    status: Option<String>,
    /// Labels all alerts share.
    #[schema(value_type = Object)]
    common_labels: (),
    /// The alerts: `status`, `labels`, `annotations`, `startsAt`, `endsAt`, `generatorURL`,
    /// `fingerprint`.
    #[schema(value_type = Vec<Object>)]
    alerts: (),
}

/// An alert Pharos holds.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Alert)]
pub(crate) struct AlertOut {
    /// Its dedup key.
    key: String,
    /// The incident it is in, if any.
    incident_id: Option<String>,
    /// `alertmanager`, `grafana` or `pagerduty`.
    source: &'static str,
    /// Its name (the `alertname` label, else its summary).
    name: String,
    /// Its latest summary.
    summary: String,
    /// `critical`, `error`, `warning` or `info`.
    severity: &'static str,
    /// The components it was routed to.
    components: Vec<String>,
    /// What they show while it fires; null: recorded without an outage.
    status: Option<&'static str>,
    /// Whether it is firing now.
    firing: bool,
    /// Whether a person acknowledged it at the sender.
    acknowledged: bool,
    /// When it started firing.
    first_seen_at: chrono::DateTime<chrono::Utc>,
    /// When Pharos last heard about it.
    last_seen_at: chrono::DateTime<chrono::Utc>,
    /// How many notifications about it arrived.
    notifications: u32,
    /// A link back to the sender.
    url: Option<String>,
}

impl From<AlertListing> for AlertOut {
    fn from(l: AlertListing) -> Self {
        Self::of(l.key, l.incident_id.as_ref(), l.alert)
    }
}

impl AlertOut {
    /// The alert `key` as held in `incident` (if any).
    pub(crate) fn of(key: String, incident: Option<&IncidentId>, a: AttachedAlert) -> Self {
        Self {
            key,
            incident_id: incident.map(ToString::to_string),
            source: a.source.as_str(),
            name: a.name,
            summary: a.summary,
            severity: a.severity.as_str(),
            components: a.components.iter().map(ToString::to_string).collect(),
            status: a.status.map(|s| s.as_str()),
            firing: a.firing,
            acknowledged: a.acknowledged,
            first_seen_at: a.first_seen_at,
            last_seen_at: a.last_seen_at,
            notifications: a.notifications,
            url: a.url,
        }
    }
}

/// Receives Alertmanager's webhook (version 4). Each alert is deduplicated by its
/// fingerprint, routed to components by `[alerts]`, and joins or opens an incident; a
/// resolved alert leaves its incident.
#[utoipa::path(
    post,
    path = "/api/v1/ingest/alertmanager",
    operation_id = "ingest_alertmanager",
    tag = "alerts",
    request_body = WebhookBody,
    responses(
        (status = 200, description = "Applied and stored", body = IngestAnswer),
        (status = 400, description = "Not an Alertmanager webhook body; the field is named", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn alertmanager(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(body): ApiJson<AlertmanagerWebhook>,
) -> Result<Json<IngestAnswer>, ApiError> {
    ingest(&ctx, &caller, body, AlertSource::Alertmanager).await
}

/// Receives Grafana alerting's webhook contact point. Same rules as Alertmanager's.
#[utoipa::path(
    post,
    path = "/api/v1/ingest/grafana",
    operation_id = "ingest_grafana",
    tag = "alerts",
    request_body = WebhookBody,
    responses(
        (status = 200, description = "Applied and stored", body = IngestAnswer),
        (status = 400, description = "Not a Grafana webhook body; the field is named", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn grafana(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(body): ApiJson<AlertmanagerWebhook>,
) -> Result<Json<IngestAnswer>, ApiError> {
    ingest(&ctx, &caller, body, AlertSource::Grafana).await
}

async fn ingest(
    ctx: &Ctx,
    caller: &Caller,
    body: AlertmanagerWebhook,
    source: AlertSource,
) -> Result<Json<IngestAnswer>, ApiError> {
    let alerts = body
        .into_alerts(source)
        .map_err(|e| ApiError::bad_request(e.to_string(), Some(e.field)))?;
    let received = alerts.len();
    let outcomes = ctx.control.ingest_alerts(alerts, caller.actor()).await?;
    Ok(Json(IngestAnswer {
        received,
        alerts: outcomes.into_iter().map(AlertOutcomeOut::from).collect(),
    }))
}

/// Every alert Pharos holds: those in open incidents (firing or already resolved), then
/// those kept without an incident.
#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    operation_id = "list_alerts",
    tag = "alerts",
    responses((status = 200, description = "Alerts", body = [AlertOut]), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn list(State(ctx): State<Ctx>) -> Result<Json<Vec<AlertOut>>, ApiError> {
    let alerts = ctx.control.alerts().await?;
    Ok(Json(alerts.into_iter().map(AlertOut::from).collect()))
}

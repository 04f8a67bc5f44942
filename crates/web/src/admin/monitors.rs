//! `/api/v1/monitors`: each monitor's confirmed health, its last check and why it failed, and
//! for one monitor its most recent results (with an http check's phase timings), so "why is
//! it red?" (or slow) has an answer.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use pharos_domain::{CheckResult, MonitorId, PhaseTimings};
use pharos_engine::MonitorView;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, UNAVAILABLE};
use super::model::IdPath;
use super::Ctx;

/// How many recent results `GET /api/v1/monitors/{id}` shows.
const RECENT_RESULTS: usize = 20;

/// A monitor's live state.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Monitor)]
pub(crate) struct MonitorOut {
    /// Id.
    #[schema(example = "api-health")]
    id: String,
    /// `http`, `tcp`, …
    #[serde(rename = "type")]
    #[schema(example = "http")]
    kind: &'static str,
    /// Confirmed health: `unknown` (not yet confirmed), `up`, `degraded` or `down`.
    #[schema(example = "down")]
    health: &'static str,
    /// When the last check started.
    last_check_at: Option<DateTime<Utc>>,
    /// Why the last check failed, if it did.
    #[schema(example = "condition failed: [STATUS] (503) == 200")]
    last_error: Option<String>,
    /// Components it drives.
    components: Vec<String>,
    /// Since when it has been flapping (changing state so often that its incident gets one
    /// update for all of it, and its components stay at its failure status), if it is.
    flapping_since: Option<DateTime<Utc>>,
    /// For a monitor checked from several locations, each one's own state, in the
    /// monitor's `locations` order; empty for one checked by the server alone.
    locations: Vec<MonitorLocationOut>,
}

/// A monitor's state at one location.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MonitorLocation)]
pub(crate) struct MonitorLocationOut {
    /// The location's id (`local` is the server itself).
    #[schema(example = "eu-fr")]
    id: String,
    /// Its name.
    #[schema(example = "Europe (France)")]
    name: String,
    /// Its confirmed health there; `unknown` while it has no fresh result (its probe is
    /// offline or silent), which never counts as down.
    #[schema(example = "down")]
    health: &'static str,
    /// When its last result there was taken.
    last_check_at: Option<DateTime<Utc>>,
    /// Why its last check there failed, if it did.
    last_error: Option<String>,
    /// How long its last check there took, in milliseconds: the response time seen from
    /// that location.
    #[schema(example = 182)]
    last_duration_ms: Option<u64>,
    /// Whether the location's probes are online.
    online: bool,
}

impl From<&MonitorView> for MonitorOut {
    fn from(m: &MonitorView) -> Self {
        Self {
            id: m.id.to_string(),
            kind: m.type_name,
            health: m.health.as_str(),
            last_check_at: m.last_check_at,
            last_error: m.last_error.clone(),
            components: m.components.iter().map(ToString::to_string).collect(),
            flapping_since: m.flapping_since,
            locations: m
                .locations
                .iter()
                .map(|l| MonitorLocationOut {
                    id: l.location.to_string(),
                    name: l.name.clone(),
                    health: l.health.as_str(),
                    last_check_at: l.last_check_at,
                    last_error: l.last_error.clone(),
                    last_duration_ms: l.last_duration_ms,
                    online: l.online,
                })
                .collect(),
        }
    }
}

/// One check's result.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CheckResult)]
pub(crate) struct ResultOut {
    /// When the check started.
    started_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    duration_ms: u64,
    /// `up`, `degraded` or `down`.
    #[schema(example = "down")]
    outcome: &'static str,
    /// HTTP status, when there was one.
    status_code: Option<u16>,
    /// Why it failed: the probe's error, or the failed conditions with their values.
    error: Option<String>,
    /// How long each phase of an `http` check took; absent for other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    timings: Option<TimingsOut>,
    /// Where it was checked from: `local` (the server) or a location's id.
    #[schema(example = "eu-fr")]
    location: String,
}

impl From<&CheckResult> for ResultOut {
    fn from(r: &CheckResult) -> Self {
        Self {
            started_at: r.started_at,
            duration_ms: r.duration_ms,
            outcome: r.outcome.as_str(),
            status_code: r.status_code,
            error: r.error.clone(),
            timings: r.timings.map(TimingsOut::from),
            location: r.location.to_string(),
        }
    }
}

/// The phases of one `http` check, in milliseconds. Each is its own span, so together they
/// are the time to the response's headers; `duration_ms` adds reading the body. A phase that
/// did not happen is `null`: a kept-alive connection has no DNS, connect or TLS phase, an
/// address in the URL no DNS, plain `http` no TLS.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PhaseTimings)]
pub(crate) struct TimingsOut {
    /// Resolving the host name.
    #[schema(example = 4)]
    dns_ms: Option<u64>,
    /// Opening the TCP connection.
    #[schema(example = 12)]
    connect_ms: Option<u64>,
    /// The TLS handshake.
    #[schema(example = 25)]
    tls_ms: Option<u64>,
    /// Waiting for the response's headers once connected (every hop's, after redirects).
    #[schema(example = 87)]
    first_byte_ms: Option<u64>,
}

impl From<PhaseTimings> for TimingsOut {
    fn from(t: PhaseTimings) -> Self {
        Self {
            dns_ms: t.dns_ms,
            connect_ms: t.connect_ms,
            tls_ms: t.tls_ms,
            first_byte_ms: t.first_byte_ms,
        }
    }
}

/// A monitor with its recent results.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MonitorDetail {
    /// The monitor.
    #[serde(flatten)]
    monitor: MonitorOut,
    /// Its newest results (up to 20), newest first.
    recent_results: Vec<ResultOut>,
}

/// Every monitor, in configuration order.
#[utoipa::path(
    get,
    path = "/api/v1/monitors",
    operation_id = "list_monitors",
    tag = "monitors",
    responses((status = 200, description = "Every monitor, in configuration order", body = [MonitorOut]))
)]
pub(crate) async fn list(State(ctx): State<Ctx>) -> Json<Vec<MonitorOut>> {
    let view = ctx.control.view();
    Json(view.monitors.iter().map(MonitorOut::from).collect())
}

/// One monitor with its most recent results.
#[utoipa::path(
    get,
    path = "/api/v1/monitors/{id}",
    operation_id = "get_monitor",
    tag = "monitors",
    params(("id" = String, Path, description = "Monitor id")),
    responses((status = 200, description = "The monitor and its newest results", body = MonitorDetail), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn get_one(
    State(ctx): State<Ctx>,
    IdPath(id): IdPath,
) -> Result<Json<MonitorDetail>, ApiError> {
    let not_found = || ApiError::not_found("monitor", &id);
    let mid = MonitorId::new(id.as_str()).map_err(|_| not_found())?;
    // Live, not from the published view: an up monitor's last check is news here, though
    // not on the page.
    let monitor = ctx.control.monitor(&mid).await?.ok_or_else(not_found)?;
    let results = ctx.control.recent_results(&mid, RECENT_RESULTS).await?;
    Ok(Json(MonitorDetail {
        monitor: MonitorOut::from(&monitor),
        recent_results: results.iter().map(ResultOut::from).collect(),
    }))
}

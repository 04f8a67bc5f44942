//! `POST /v2/enqueue`: PagerDuty's Events API v2, so anything that can page PagerDuty
//! (Prometheus, Grafana, Datadog, Zabbix, custom scripts…) can alert Pharos by changing the
//! URL. The answers are PagerDuty's: `202 {"status": "success", "message": "Event
//! processed", "dedup_key": …}`, and `400 {"status": "invalid event", "message": "Event
//! object is invalid", "errors": [...]}`.
//!
//! The token is the `routing_key` (PagerDuty's integration key), or a bearer header; either
//! must be one of `[admin] tokens`.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use pharos_domain::access::Permission;
use pharos_domain::alert::{pagerduty_dedup_key, PagerDutyEvent};
use pharos_domain::Actor;
use serde_json::json;

use super::auth::bearer;
use super::Ctx;

/// Receives one PagerDuty event: `trigger`, `acknowledge` or `resolve`.
pub(crate) async fn enqueue(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    let event: PagerDutyEvent = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return invalid(format!("the body is not a PagerDuty event: {e}")),
    };
    let caller = match caller(&ctx, &headers, event.routing_key.as_deref()).await {
        Ok(c) => c,
        Err(why) => return why.response(),
    };
    let alert = match event.into_alert(new_dedup_key) {
        Ok(a) => a,
        Err(e) => return invalid(e.message),
    };
    let dedup_key = pagerduty_dedup_key(&alert.key).to_owned();
    match ctx
        .control
        .ingest_alerts(vec![alert], Actor::Person(caller))
        .await
    {
        Ok(_) => (
            StatusCode::ACCEPTED,
            Json(
                json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key}),
            ),
        )
            .into_response(),
        Err(e) => super::error::ApiError::from(e).into_response(),
    }
}

/// A dedup key for a trigger without one: 32 hex digits, like PagerDuty's own.
fn new_dedup_key() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Who sends a PagerDuty event: the name behind the token given as a bearer header, else
/// as its `routing_key` (an `[admin] tokens` entry or an API token), which must allow
/// ingestion; otherwise the refusal to send ([`Refusal::response`]).
pub(super) async fn caller(
    ctx: &Ctx,
    headers: &HeaderMap,
    routing_key: Option<&str>,
) -> Result<String, Refusal> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .or(routing_key)
        .filter(|k| !k.is_empty())
        .ok_or(Refusal::Unknown(
            "'routing_key' is missing: use an admin token from [admin] tokens or an API token",
        ))?;
    let principal = super::auth::principal(&ctx.auth, presented)
        .await
        .map_err(|_| {
            tracing::info!("PagerDuty event with an unknown routing key refused");
            Refusal::Unknown(
                "invalid routing key: it must be an admin token from [admin] tokens or an API token",
            )
        })?;
    if !principal.may(Permission::Ingest) {
        return Err(Refusal::Forbidden(format!(
            "the token of {} ({}) may not send events: it needs the ingest scope or the role responder or above",
            principal.name,
            principal.grant.as_str()
        )));
    }
    Ok(principal.name)
}

/// Why an event was not taken, in PagerDuty's error shape.
pub(super) enum Refusal {
    /// No known token: 401.
    Unknown(&'static str),
    /// A known token that may not ingest: 403.
    Forbidden(String),
}

impl Refusal {
    /// The answer.
    pub(super) fn response(self) -> Response {
        match self {
            Refusal::Unknown(why) => refused(why),
            Refusal::Forbidden(why) => (
                StatusCode::FORBIDDEN,
                Json(json!({"status": "forbidden", "message": "Event refused", "errors": [why]})),
            )
                .into_response(),
        }
    }
}

/// PagerDuty's 400: `{"status": "invalid event", "message": "Event object is invalid",
/// "errors": [error]}`.
pub(super) fn invalid(error: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"status": "invalid event", "message": "Event object is invalid", "errors": [error]})),
    )
        .into_response()
}

/// A 401 in PagerDuty's error shape.
pub(super) fn refused(error: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"status": "unauthorized", "message": "Event refused", "errors": [error]})),
    )
        .into_response()
}

//! The probe protocol's two routes (SPEC §7, `pharos_wire::probe`): a probe long-polls for
//! the monitors it runs and sends its results in batches. A probe authenticates with its
//! location's token, not an admin token; a wrong token and an unknown location get the same
//! 401, so locations cannot be discovered.

use std::collections::HashMap;

use axum::extract::{Query, State};
use std::time::Instant;

use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pharos_domain::LocationId;
use pharos_engine::locations::ProbeRefusal;
use pharos_wire::probe::{Assignment, BatchAnswer, ResultBatch, LONG_POLL};

use super::auth::bearer;
use super::error::{self, ApiError};
use super::Ctx;
use crate::limit::RateLimit;

/// Largest results body: a full batch of results with long errors.
pub(crate) const MAX_RESULTS_BYTES: usize = 4 * 1024 * 1024;

/// Wrong tokens (or unknown locations) one address may send: 10 at once, then one a minute.
/// The probe routes and the admin API count apart, so a misconfigured probe does not lock its
/// operators out of the API from the same address.
/// Only failures count; past them, the address gets 429 without its token being looked at or
/// logged, so guessing is slow and cannot fill the log.
pub(crate) const WRONG_TOKENS: RateLimit = RateLimit {
    burst: 10,
    refill_every: std::time::Duration::from_secs(60),
};

/// The location a request is for, once its token is checked, and the probe instance.
fn authenticate(
    ctx: &Ctx,
    parts: &Parts,
    query: &HashMap<String, String>,
) -> Result<(LocationId, String), ApiError> {
    let ip = crate::limit::client_ip(&ctx.control, &parts.headers, &parts.extensions);
    let now = Instant::now();
    ctx.probe_guesses
        .check(ip, now)
        .map_err(ApiError::too_many)?;
    let checked = check_token(ctx, &parts.headers, query);
    if checked.is_err() {
        // Spent only on failure; the next failure past the allowance is a 429.
        let _ = ctx.probe_guesses.take(ip, now);
    }
    checked
}

/// The location and instance named by `query`, if the bearer token in `headers` is one of
/// the location's.
fn check_token(
    ctx: &Ctx,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<(LocationId, String), ApiError> {
    let location = query
        .get("location")
        .ok_or_else(|| ApiError::bad_request("missing `location` in the query", None))?;
    let instance = query.get("probe").map_or("probe", String::as_str);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .ok_or_else(|| {
            ApiError::unauthorized("send Authorization: Bearer <the location's probe token>")
        })?;
    let id = ctx
        .control
        .locations()
        .authenticate(location, token, instance)
        .map_err(|e| ApiError::unauthorized(e.to_string()))?;
    Ok((id, instance.to_owned()))
}

/// `GET /api/v1/probe/monitors`: the monitors this probe runs. With `version` equal to the
/// current one, waits up to [`LONG_POLL`] for a change and answers 304 if none came.
pub(crate) async fn monitors(
    State(ctx): State<Ctx>,
    parts: Parts,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (location, instance) = authenticate(&ctx, &parts, &query)?;
    let registry = ctx.control.locations();
    let known = query.get("version").cloned();
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    loop {
        let (version, monitors) = registry.assignment(&location, &instance);
        if known.as_deref() != Some(version.as_str()) {
            let assignment = Assignment {
                location: location.to_string(),
                version,
                monitors: monitors.iter().map(|m| (**m).clone()).collect(),
                server_time: pharos_engine::clock::now(),
            };
            // The monitors' secrets go to the probe that runs them, in clear, only here.
            let body = pharos_domain::fingerprint::in_clear(|| serde_json::to_vec(&assignment))
                .map_err(|e| ApiError::internal(&format!("serializing an assignment: {e}")))?;
            return Ok((
                [(header::CONTENT_TYPE, "application/json")],
                [(header::CACHE_CONTROL, "no-store")],
                body,
            )
                .into_response());
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Ok(StatusCode::NOT_MODIFIED.into_response());
        }
        registry.wait_for_change(left).await;
        // Waiting is also being alive: note the probe again before answering.
        authenticate(&ctx, &parts, &query)?;
    }
}

/// `POST /api/v1/probe/results`: one batch of results, counted once however often it is
/// sent.
pub(crate) async fn results(
    State(ctx): State<Ctx>,
    parts: Parts,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<axum::Json<BatchAnswer>, ApiError> {
    let (location, _) = authenticate(&ctx, &parts, &query)?;
    let batch: ResultBatch = error::parse(&body)?;
    let (outcome, receipt) =
        ctx.control
            .locations()
            .accept(&location, batch)
            .map_err(|e| match e {
                ProbeRefusal::Unauthorized => ApiError::unauthorized(e.to_string()),
                ProbeRefusal::TooLarge { .. } => ApiError::too_large(e.to_string()),
                ProbeRefusal::Busy => ApiError::unavailable(e.to_string()),
            })?;
    // Answered only once stored: the probe keeps the batch and sends it again (same key)
    // until then.
    receipt
        .stored()
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(axum::Json(BatchAnswer {
        accepted: outcome.accepted,
        duplicate: outcome.duplicate,
        refused: outcome.refused,
        clock_offset_ms: outcome.clock_offset_ms,
    }))
}

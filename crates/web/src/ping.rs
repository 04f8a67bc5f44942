//! Heartbeat pings, at healthchecks.io's URLs so existing cron jobs and scripts work
//! unchanged: `GET`, `HEAD` or `POST` to `/ping/{token}` (success), `/ping/{token}/start`,
//! `/ping/{token}/fail`, or `/ping/{token}/{exit status}` (0 is success).
//!
//! The answer is `200 OK` (text), with `Access-Control-Allow-Origin: *` as healthchecks.io
//! sends it. An unknown token is `404`, an unknown suffix `400` saying what would work, both as
//! Pharos's JSON error (`{"error": {"status", "message"}}`; scripts go by the status). The
//! first line of a request body (a failing job's output, say) is kept with the ping and shows
//! in the failure reason.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use pharos_domain::heartbeat::{Ping, PingKind};
use pharos_engine::heartbeats::{Heartbeats, PingError};

/// Largest request body read; a job's output beyond it is refused (healthchecks.io keeps
/// 100 KB, of which Pharos keeps only the first line anyway).
const MAX_BODY_BYTES: usize = 100 * 1024;

/// The ping routes. Merge with the public router.
pub fn router(heartbeats: Heartbeats) -> Router {
    Router::new()
        .route("/ping/{token}", get(success).post(success))
        .route("/ping/{token}/{suffix}", get(with_suffix).post(with_suffix))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(heartbeats)
}

async fn success(
    State(heartbeats): State<Heartbeats>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    take(&heartbeats, &token, PingKind::Success, &body).await
}

async fn with_suffix(
    State(heartbeats): State<Heartbeats>,
    Path((token, suffix)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    match PingKind::parse(Some(&suffix)) {
        Ok(kind) => take(&heartbeats, &token, kind, &body).await,
        Err(reason) => error(StatusCode::BAD_REQUEST, reason),
    }
}

async fn take(heartbeats: &Heartbeats, token: &str, kind: PingKind, body: &[u8]) -> Response {
    let ping = Ping::new(
        kind,
        pharos_engine::clock::now(),
        &String::from_utf8_lossy(body),
    );
    match heartbeats.ping(token, ping).await {
        Ok(monitor) => {
            tracing::debug!(%monitor, ?kind, "heartbeat ping");
            text(StatusCode::OK, "OK".to_owned())
        }
        Err(PingError::UnknownToken) => error(StatusCode::NOT_FOUND, "not found".to_owned()),
        Err(e @ PingError::NotStored(_)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    let mut r = crate::security::error_response(status, message);
    crate::cors::allow_any_origin(r.headers_mut());
    r
}

fn text(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let headers = r.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    crate::cors::allow_any_origin(headers);
    r
}

//! `/api/v1/deliveries`: the notification outbox, so a responder can see what was sent, what
//! is waiting for a retry and why, and what was given up (dead) with its last error; and
//! `POST /api/v1/deliveries/{id}/retry`, which sends a dead delivery again (audited).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use pharos_engine::{DeliveryState, OutboxRow, RetryError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody, UNAVAILABLE};
use super::model::IdPath;
use super::Ctx;

/// Most deliveries one request lists.
const MAX_LIMIT: usize = 500;

/// One delivery of one notification to one destination.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Delivery)]
pub(crate) struct DeliveryOut {
    /// Delivery id; also the `Idempotency-Key` the receiver sees.
    id: String,
    /// `notifier:<id>` (later also subscribers).
    #[schema(example = "notifier:ops")]
    destination: String,
    /// What happened, e.g. `incident_opened`.
    #[schema(example = "incident_opened")]
    event_kind: String,
    /// `pending` (waiting for its first attempt or a retry), `sent` or `dead` (given up).
    #[schema(example = "dead")]
    state: &'static str,
    /// Attempts so far.
    attempts: u32,
    /// Why the last attempt failed.
    #[schema(example = "HTTP 503 Service Unavailable")]
    last_error: Option<String>,
    /// When it was made.
    created_at: DateTime<Utc>,
    /// When the next attempt is due (pending only).
    due_at: Option<DateTime<Utc>>,
    /// When it was last tried.
    last_attempt_at: Option<DateTime<Utc>>,
    /// When it was accepted.
    sent_at: Option<DateTime<Utc>>,
}

impl From<OutboxRow> for DeliveryOut {
    fn from(r: OutboxRow) -> Self {
        Self {
            due_at: (r.state == DeliveryState::Pending).then_some(r.due_at),
            id: r.id,
            destination: r.destination,
            event_kind: r.event_kind,
            state: r.state.as_str(),
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: r.created_at,
            last_attempt_at: r.last_attempt_at,
            sent_at: r.sent_at,
        }
    }
}

/// Filters for the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryQuery {
    /// Only deliveries in this state: `pending`, `sent` or `dead`.
    state: Option<String>,
    /// At most this many (default 100, at most 500).
    limit: Option<usize>,
}

/// Notification deliveries, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/deliveries",
    operation_id = "list_deliveries",
    tag = "deliveries",
    params(DeliveryQuery),
    responses(
        (status = 200, description = "Deliveries, newest first", body = [DeliveryOut]),
        (status = 422, description = "An unknown state", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn list(
    State(ctx): State<Ctx>,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<Vec<DeliveryOut>>, ApiError> {
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(DeliveryState::parse(s).ok_or_else(|| {
            ApiError::unprocessable(
                "state",
                format!("unknown state {s:?}; expected pending, sent or dead"),
            )
        })?),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let rows = ctx.control.deliveries(state, limit).await?;
    Ok(Json(rows.into_iter().map(DeliveryOut::from).collect()))
}

/// Sends a dead delivery again: it becomes `pending`, due now, and is tried as any other
/// (a failure is retried with backoff while the delivery is younger than a day, else it is
/// dead again at once). Only a dead delivery can be retried.
#[utoipa::path(
    post,
    path = "/api/v1/deliveries/{id}/retry",
    operation_id = "retry_delivery",
    tag = "deliveries",
    params(("id" = String, Path, description = "Delivery id")),
    responses(
        (status = 200, description = "Queued again; the delivery as it is now", body = DeliveryOut),
        (status = 404, description = "No delivery with this id", body = ErrorBody),
        (status = 409, description = "The delivery is not dead (pending or sent)", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn retry(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<DeliveryOut>, ApiError> {
    let row = caller
        .on_behalf(&ctx.control)
        .retry_delivery(&id)
        .await
        .map_err(|e| retry_error(&id, e))?;
    tracing::info!(delivery = %row.id, by = %caller.name, "dead delivery retried through the admin API");
    Ok(Json(DeliveryOut::from(row)))
}

/// A refused retry as the API answers it.
pub(crate) fn retry_error(id: &str, e: RetryError) -> ApiError {
    match e {
        RetryError::NotFound(_) => ApiError::not_found("delivery", id),
        RetryError::NotDead(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        RetryError::Unavailable(s) => pharos_engine::CommandError::Unavailable(s).into(),
    }
}

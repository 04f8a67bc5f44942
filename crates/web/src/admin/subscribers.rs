//! `/api/v1/subscribers`: the public's subscriptions, so a responder can see who gets updates
//! (and who has not confirmed yet or has left) and remove a subscriber for good.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use pharos_engine::{Subscriber, SubscriberError, SubscriberKind, SubscriberState};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody, UNAVAILABLE};
use super::model::IdPath;
use super::Ctx;

/// One subscriber.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Subscriber)]
pub(crate) struct SubscriberOut {
    /// Id.
    #[schema(example = "k3j9x0a1b2c3")]
    id: String,
    /// `email` or `webhook`.
    #[schema(example = "webhook")]
    mode: &'static str,
    /// `pending` (e-mail not confirmed yet), `active` or `unsubscribed`.
    #[schema(example = "active")]
    state: &'static str,
    /// The e-mail address (for a webhook: its contact address, if one was given).
    #[schema(example = "ops@example.com")]
    email: Option<String>,
    /// The webhook URL (webhooks only).
    #[schema(example = "https://hooks.example.com/status")]
    endpoint: Option<String>,
    /// Components followed; empty means the whole page.
    component_ids: Vec<String>,
    /// When it subscribed.
    created_at: DateTime<Utc>,
    /// When it was confirmed (at once for webhooks).
    confirmed_at: Option<DateTime<Utc>>,
    /// When it unsubscribed.
    unsubscribed_at: Option<DateTime<Utc>>,
}

impl From<Subscriber> for SubscriberOut {
    fn from(s: Subscriber) -> Self {
        Self {
            mode: s.kind.as_str(),
            state: s.state().as_str(),
            endpoint: (s.kind == SubscriberKind::Webhook).then(|| s.address.clone()),
            id: s.id,
            email: s.email,
            component_ids: s.components.iter().map(ToString::to_string).collect(),
            created_at: s.created_at,
            confirmed_at: s.confirmed_at,
            unsubscribed_at: s.unsubscribed_at,
        }
    }
}

/// Filters for the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SubscriberQuery {
    /// Only subscribers in this state: `pending`, `active` or `unsubscribed`.
    state: Option<String>,
}

/// Every subscriber, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/subscribers",
    operation_id = "list_subscribers",
    tag = "subscribers",
    params(SubscriberQuery),
    responses(
        (status = 200, description = "Subscribers, oldest first", body = [SubscriberOut]),
        (status = 422, description = "An unknown state", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn list(
    State(ctx): State<Ctx>,
    Query(q): Query<SubscriberQuery>,
) -> Result<Json<Vec<SubscriberOut>>, ApiError> {
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(SubscriberState::parse(s).ok_or_else(|| {
            ApiError::unprocessable(
                "state",
                format!("unknown state {s:?}; expected pending, active or unsubscribed"),
            )
        })?),
    };
    let subscribers = ctx.control.subscribers(state).await?;
    Ok(Json(
        subscribers.into_iter().map(SubscriberOut::from).collect(),
    ))
}

/// Removes a subscriber for good, whatever its state; nothing more is sent to it.
#[utoipa::path(
    delete,
    path = "/api/v1/subscribers/{id}",
    operation_id = "remove_subscriber",
    tag = "subscribers",
    params(("id" = String, Path, description = "Subscriber id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No subscriber with this id", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn remove(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    match caller.on_behalf(&ctx.control).remove_subscriber(&id).await {
        Ok(()) => {
            tracing::info!(subscriber = %id, by = %caller.name, "subscriber removed through the admin API");
            Ok(StatusCode::NO_CONTENT)
        }
        Err(SubscriberError::NotFound(_)) => Err(ApiError::not_found("subscriber", &id)),
        Err(SubscriberError::Unavailable(s)) => {
            Err(pharos_engine::CommandError::Unavailable(s).into())
        }
        Err(e) => Err(ApiError::internal(&e.to_string())),
    }
}

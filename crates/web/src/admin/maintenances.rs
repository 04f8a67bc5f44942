//! `/api/v1/maintenances`: schedule a maintenance window, post updates that move it forward
//! (`scheduled → in_progress → verifying → completed`), and read it with its timeline. While a
//! window is `in_progress` or `verifying` its components show `under_maintenance`, and a
//! monitor failing on them opens no incident.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use pharos_domain::{request, ComponentId, IncidentId, Maintenance, MaintenanceStatus};
use pharos_engine::{NewMaintenance, NewMaintenanceUpdate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ApiJson, ErrorBody, UNAVAILABLE};
use super::model::{IdPath, TimelineEntryOut, UpdateOut};
use super::Ctx;

/// A scheduled maintenance.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Maintenance)]
pub(crate) struct MaintenanceOut {
    /// Id.
    id: String,
    /// Title.
    name: String,
    /// `scheduled`, `in_progress`, `verifying` or `completed`.
    #[schema(example = "scheduled")]
    status: &'static str,
    /// Components under maintenance while it is active.
    components: Vec<String>,
    /// Start of the window.
    scheduled_for: DateTime<Utc>,
    /// End of the window.
    scheduled_until: DateTime<Utc>,
    /// Moves to `in_progress` at `scheduled_for` by itself.
    auto_start: bool,
    /// Moves to `completed` at `scheduled_until` by itself.
    auto_complete: bool,
    /// The `[[maintenances]]` id it came from, when the configuration declared it.
    config_id: Option<String>,
    /// When it was created.
    created_at: DateTime<Utc>,
    /// When it last changed.
    updated_at: DateTime<Utc>,
    /// When it started.
    started_at: Option<DateTime<Utc>>,
    /// When it completed.
    completed_at: Option<DateTime<Utc>>,
    /// Public updates, oldest first.
    updates: Vec<UpdateOut>,
}

impl From<&Maintenance> for MaintenanceOut {
    fn from(m: &Maintenance) -> Self {
        Self {
            id: m.id.to_string(),
            name: m.name.clone(),
            status: m.status.as_str(),
            components: m.components.iter().map(ToString::to_string).collect(),
            scheduled_for: m.scheduled_for,
            scheduled_until: m.scheduled_until,
            auto_start: m.auto_start,
            auto_complete: m.auto_complete,
            config_id: m.config_id.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
            started_at: m.started_at,
            completed_at: m.completed_at,
            updates: m
                .updates
                .iter()
                .map(|u| UpdateOut::of(u, |s| s.as_str()))
                .collect(),
        }
    }
}

/// A maintenance with its timeline.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MaintenanceDetail {
    /// The maintenance.
    #[serde(flatten)]
    maintenance: MaintenanceOut,
    /// Everything that happened to it, in order: updates, notes, monitors that failed during
    /// the window.
    timeline: Vec<TimelineEntryOut>,
}

/// `POST /api/v1/maintenances`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateMaintenance {
    /// Title, 1-255 characters.
    #[schema(example = "Database upgrade")]
    name: String,
    /// Markdown body of the first update.
    #[schema(example = "We are upgrading the primary database.")]
    body: String,
    /// Ids of the components under maintenance (not groups); at least one.
    #[serde(deserialize_with = "request::list")]
    #[schema(value_type = Vec<String>, example = json!(["api"]))]
    components: Vec<ComponentId>,
    /// Start, RFC 3339.
    #[schema(example = "2026-05-01T02:00:00Z")]
    scheduled_for: DateTime<Utc>,
    /// End, RFC 3339; after the start and in the future.
    #[schema(example = "2026-05-01T03:00:00Z")]
    scheduled_until: DateTime<Utc>,
    /// Start by itself at `scheduled_for` (default true).
    auto_start: Option<bool>,
    /// Complete by itself at `scheduled_until` (default true).
    auto_complete: Option<bool>,
}

/// `POST /api/v1/maintenances/{id}/updates`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateMaintenanceUpdate {
    /// New status (default: unchanged); only forward: `scheduled`, `in_progress`,
    /// `verifying`, `completed`.
    #[serde(default, deserialize_with = "request::option")]
    #[schema(value_type = Option<String>, example = "verifying")]
    status: Option<MaintenanceStatus>,
    /// Markdown body; may be empty when the status changes.
    #[schema(example = "The upgrade is done; we are verifying.")]
    body: String,
}

/// `PATCH /api/v1/maintenances/{id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchMaintenance {
    /// Title, 1-255 characters.
    #[schema(example = "Database upgrade (moved)")]
    pub(crate) name: Option<String>,
    /// Ids of the components under maintenance (not groups); at least one.
    #[schema(example = json!(["api"]))]
    pub(crate) components: Option<Vec<String>>,
    /// Start, RFC 3339.
    #[schema(example = "2026-05-02T02:00:00Z")]
    pub(crate) scheduled_for: Option<DateTime<Utc>>,
    /// End, RFC 3339; after the start and in the future.
    #[schema(example = "2026-05-02T03:00:00Z")]
    pub(crate) scheduled_until: Option<DateTime<Utc>>,
    /// Start by itself at `scheduled_for`.
    pub(crate) auto_start: Option<bool>,
    /// Complete by itself at `scheduled_until`.
    pub(crate) auto_complete: Option<bool>,
}

impl PatchMaintenance {
    /// The engine's patch: component ids parsed at the edge (422 naming the one at fault).
    pub(crate) fn into_patch(self) -> Result<pharos_engine::MaintenancePatch, ApiError> {
        let components = match self.components {
            None => None,
            Some(list) => Some(
                list.iter()
                    .enumerate()
                    .map(|(i, c)| {
                        ComponentId::new(c.as_str()).map_err(|e| {
                            ApiError::unprocessable(format!("components[{i}]"), e.to_string())
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(pharos_engine::MaintenancePatch {
            name: self.name,
            components,
            scheduled_for: self.scheduled_for,
            scheduled_until: self.scheduled_until,
            auto_start: self.auto_start,
            auto_complete: self.auto_complete,
        })
    }
}

/// Changes a window that has not started: its name, components, times, and whether it starts
/// and completes by itself (beyond SPEC §4, as Statuspage lets a scheduled maintenance be
/// edited). A window under way or over is refused with 422: post an update instead.
#[utoipa::path(
    patch,
    path = "/api/v1/maintenances/{id}",
    operation_id = "patch_maintenance",
    tag = "maintenances",
    params(("id" = String, Path, description = "Maintenance id")),
    request_body = PatchMaintenance,
    responses((status = 200, description = "Changed and stored; the maintenance as it is now", body = MaintenanceOut), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn patch(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<PatchMaintenance>,
) -> Result<Json<MaintenanceOut>, ApiError> {
    let mid = maintenance_id(&id)?;
    let m = caller
        .on_behalf(&ctx.control)
        .edit_maintenance(mid, req.into_patch()?, caller.actor())
        .await?;
    tracing::info!(maintenance = %m.id, by = %caller.name, "maintenance edited through the admin API");
    Ok(Json(MaintenanceOut::from(&m)))
}

fn maintenance_id(id: &str) -> Result<IncidentId, ApiError> {
    IncidentId::new(id).ok_or_else(|| ApiError::not_found("maintenance", id))
}

fn created(m: &Maintenance) -> Response {
    (
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/maintenances/{}", m.id))],
        Json(MaintenanceOut::from(m)),
    )
        .into_response()
}

/// Every maintenance, newest window first.
#[utoipa::path(
    get,
    path = "/api/v1/maintenances",
    operation_id = "list_maintenances",
    tag = "maintenances",
    responses((status = 200, description = "Every maintenance, newest window first", body = [MaintenanceOut]))
)]
pub(crate) async fn list(State(ctx): State<Ctx>) -> Json<Vec<MaintenanceOut>> {
    let view = ctx.control.view();
    let mut all: Vec<&Maintenance> = view.maintenances.iter().rev().collect();
    all.sort_by_key(|m| std::cmp::Reverse(m.scheduled_for));
    Json(all.into_iter().map(MaintenanceOut::from).collect())
}

/// Schedules a maintenance window. One starting now (with `auto_start`) is in progress at once.
#[utoipa::path(
    post,
    path = "/api/v1/maintenances",
    operation_id = "create_maintenance",
    tag = "maintenances",
    request_body = CreateMaintenance,
    responses((status = 201, description = "Scheduled and stored", body = MaintenanceOut), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn create(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateMaintenance>,
) -> Result<Response, ApiError> {
    let new = NewMaintenance {
        name: req.name,
        body: req.body,
        components: req.components,
        scheduled_for: req.scheduled_for,
        scheduled_until: req.scheduled_until,
        auto_start: req.auto_start,
        auto_complete: req.auto_complete,
    };
    let m = caller
        .on_behalf(&ctx.control)
        .create_maintenance(new, caller.actor())
        .await?;
    tracing::info!(maintenance = %m.id, by = %caller.name, "maintenance scheduled through the admin API");
    Ok(created(&m))
}

/// One maintenance with its timeline.
#[utoipa::path(
    get,
    path = "/api/v1/maintenances/{id}",
    operation_id = "get_maintenance",
    tag = "maintenances",
    params(("id" = String, Path, description = "Maintenance id")),
    responses((status = 200, description = "The maintenance and its timeline", body = MaintenanceDetail), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn get_one(
    State(ctx): State<Ctx>,
    IdPath(id): IdPath,
) -> Result<Json<MaintenanceDetail>, ApiError> {
    let mid = maintenance_id(&id)?;
    let view = ctx.control.view();
    let m = view
        .maintenances
        .iter()
        .find(|m| m.id == mid)
        .ok_or_else(|| ApiError::not_found("maintenance", &id))?;
    let timeline = ctx.control.timeline(&mid).await?;
    Ok(Json(MaintenanceDetail {
        maintenance: MaintenanceOut::from(m),
        timeline: timeline.iter().map(TimelineEntryOut::from).collect(),
    }))
}

/// Posts an update, optionally moving the window forward.
#[utoipa::path(
    post,
    path = "/api/v1/maintenances/{id}/updates",
    operation_id = "post_maintenance_update",
    tag = "maintenances",
    params(("id" = String, Path, description = "Maintenance id")),
    request_body = CreateMaintenanceUpdate,
    responses((status = 201, description = "Posted and stored; the maintenance as it is now", body = MaintenanceOut), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn post_update(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<CreateMaintenanceUpdate>,
) -> Result<Response, ApiError> {
    let mid = maintenance_id(&id)?;
    let update = NewMaintenanceUpdate {
        status: req.status,
        body: req.body,
    };
    let m = caller
        .on_behalf(&ctx.control)
        .update_maintenance(mid, update, caller.actor())
        .await?;
    tracing::info!(maintenance = %m.id, status = m.status.as_str(), by = %caller.name, "maintenance update posted through the admin API");
    Ok(created(&m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::error::parse;
    use axum::http::StatusCode;

    #[test]
    fn statuses_and_components_are_parsed_at_the_edge() {
        let (status, field, message) =
            parse::<CreateMaintenanceUpdate>(br#"{"status": "resolved", "body": "b"}"#)
                .unwrap_err()
                .parts();
        assert_eq!(
            (status, field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("status"))
        );
        assert!(message.contains("incident status"), "{message}");
        let u: CreateMaintenanceUpdate = parse(br#"{"status": "verifying", "body": ""}"#).unwrap();
        assert_eq!(u.status, Some(MaintenanceStatus::Verifying));
        let body = br#"{"name": "x", "body": "", "components": ["db", "Bad id"],
            "scheduled_for": "2026-05-01T02:00:00Z", "scheduled_until": "2026-05-01T03:00:00Z"}"#;
        let (status, field, message) = parse::<CreateMaintenance>(body).unwrap_err().parts();
        assert_eq!(
            (status, field.as_deref(), message.as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("components[1]"),
                "unknown component \"Bad id\""
            )
        );
    }
}

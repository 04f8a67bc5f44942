//! `/api/v1/components`: every component and group with its status, the monitors that drive
//! it, whether anything watches it, and its override; and the override itself: a status a
//! person pins on a component, shown instead of what its monitors say until it expires or is
//! cleared.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use pharos_domain::{request, ComponentStatus};
use pharos_engine::{ComponentOverride, OverrideRequest, StatusView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ApiJson, ErrorBody, UNAVAILABLE};
use super::model::{ActorOut, IdPath};
use super::Ctx;

/// A component (or group) and its current state.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Component)]
pub(crate) struct ComponentOut {
    /// Id.
    #[schema(example = "api")]
    id: String,
    /// Display name.
    name: String,
    /// Description.
    description: Option<String>,
    /// Current status (`operational`, `degraded_performance`, `partial_outage`,
    /// `major_outage`, `under_maintenance`); for a group, the worst of its components.
    #[schema(example = "operational")]
    status: &'static str,
    /// The group it belongs to.
    group_id: Option<String>,
    /// Whether this is a group.
    is_group: bool,
    /// For a group: its components' ids.
    children: Vec<String>,
    /// Monitors that drive its status, in configuration order (none for a group: its
    /// components' monitors drive it).
    monitors: Vec<String>,
    /// Whether anything would notice it going down: a component when at least one monitor
    /// drives it, a group when each of its components is watched. `GET /api/v1/coverage`
    /// lists the components that are not.
    watched: bool,
    /// Position on the page, 0-based.
    position: u32,
    /// When its status last changed.
    updated_at: DateTime<Utc>,
    /// The override in force, if any.
    #[serde(rename = "override")]
    override_: Option<OverrideOut>,
}

/// A component status pinned by a person or an incident update.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ComponentOverride)]
pub(crate) struct OverrideOut {
    /// Which component.
    component_id: String,
    /// The status shown.
    #[schema(example = "degraded_performance")]
    status: &'static str,
    /// When it lapses by itself; null lasts until cleared.
    until: Option<DateTime<Utc>>,
    /// Why.
    reason: Option<String>,
    /// The incident whose update set it; cleared when that incident resolves.
    incident_id: Option<String>,
    /// Who set it.
    actor: ActorOut,
    /// When.
    set_at: DateTime<Utc>,
}

impl From<&ComponentOverride> for OverrideOut {
    fn from(o: &ComponentOverride) -> Self {
        Self {
            component_id: o.component_id.to_string(),
            status: o.status.as_str(),
            until: o.until,
            reason: o.reason.clone(),
            incident_id: o.incident_id.as_ref().map(ToString::to_string),
            actor: ActorOut::from(&o.actor),
            set_at: o.set_at,
        }
    }
}

/// `PUT /api/v1/components/{id}/override`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetOverride {
    /// Status to show: `operational`, `degraded_performance`, `partial_outage`,
    /// `major_outage` or `under_maintenance`.
    #[serde(deserialize_with = "request::one")]
    #[schema(value_type = String, example = "degraded_performance")]
    status: ComponentStatus,
    /// When it lapses by itself (RFC 3339, in the future); absent or null lasts until cleared.
    #[schema(example = "2026-05-01T03:00:00Z")]
    until: Option<DateTime<Utc>>,
    /// Why, for responders.
    #[schema(example = "Provider reports degraded latency")]
    reason: Option<String>,
}

/// Every component and group, in page order, with its override.
#[utoipa::path(
    get,
    path = "/api/v1/components",
    operation_id = "list_components",
    tag = "components",
    responses((status = 200, description = "Every component and group, in page order", body = [ComponentOut]), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn list(State(ctx): State<Ctx>) -> Result<Json<Vec<ComponentOut>>, ApiError> {
    let overrides = ctx.control.overrides().await?;
    let view = ctx.control.view();
    let drivers = view.drivers();
    Ok(Json(
        view.components
            .iter()
            .map(|c| ComponentOut {
                id: c.id.to_string(),
                name: c.name.clone(),
                description: c.description.clone(),
                status: c.status.as_str(),
                group_id: c.group_id.as_ref().map(ToString::to_string),
                is_group: c.is_group,
                children: c.children.iter().map(ToString::to_string).collect(),
                monitors: drivers
                    .get(&c.id)
                    .map(|ms| ms.iter().map(ToString::to_string).collect())
                    .unwrap_or_default(),
                watched: StatusView::is_watched(c, &drivers),
                position: c.position,
                updated_at: c.updated_at,
                override_: overrides
                    .iter()
                    .find(|o| o.component_id == c.id)
                    .map(OverrideOut::from),
            })
            .collect(),
    ))
}

/// Pins a status on a component (not a group), replacing any override it had.
#[utoipa::path(
    put,
    path = "/api/v1/components/{id}/override",
    operation_id = "set_component_override",
    tag = "components",
    params(("id" = String, Path, description = "Component id")),
    request_body = SetOverride,
    responses((status = 200, description = "Set and stored", body = OverrideOut), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn set_override(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<SetOverride>,
) -> Result<Json<OverrideOut>, ApiError> {
    let request = OverrideRequest {
        status: req.status,
        until: req.until,
        reason: req.reason,
    };
    let set = caller
        .on_behalf(&ctx.control)
        .set_override(id.clone(), request, caller.actor())
        .await?;
    tracing::info!(component = %id, by = %caller.name, "component status override set through the admin API");
    set.as_ref()
        .map(|o| Json(OverrideOut::from(o)))
        .ok_or_else(|| ApiError::internal("an override was set but the engine does not show it"))
}

/// Clears a component's override; its monitors decide its status again.
#[utoipa::path(
    delete,
    path = "/api/v1/components/{id}/override",
    operation_id = "clear_component_override",
    tag = "components",
    params(("id" = String, Path, description = "Component id")),
    responses((status = 204, description = "Cleared (or there was none)"), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn clear_override(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    caller
        .on_behalf(&ctx.control)
        .clear_override(id.clone())
        .await?;
    tracing::info!(component = %id, by = %caller.name, "component status override cleared through the admin API");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::error::parse;

    #[test]
    fn the_status_is_parsed_at_the_edge() {
        let (status, field, message) = parse::<SetOverride>(br#"{"status": "broken"}"#)
            .unwrap_err()
            .parts();
        assert_eq!(
            (status, field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("status"))
        );
        assert!(
            message.starts_with("unknown component status \"broken\""),
            "{message}"
        );
        let o: SetOverride = parse(br#"{"status": "major_outage"}"#).unwrap();
        assert_eq!(o.status, ComponentStatus::MajorOutage);
    }
}

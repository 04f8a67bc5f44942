//! `/api/v1/coverage`: what nothing watches. The components no monitor drives (the ones
//! `pharos validate` warns about) and the monitors removed from the configuration, archived
//! at a start-up with their history kept, so that a check deleted from the file is reported
//! instead of silently dropped.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use pharos_engine::control::ArchivedMonitor;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, UNAVAILABLE};
use super::Ctx;

/// What nothing watches.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Coverage)]
pub(crate) struct CoverageOut {
    /// Components (never groups) that no monitor drives, in page order: nothing will notice
    /// if they go down.
    #[schema(example = json!(["billing"]))]
    unwatched_components: Vec<String>,
    /// Monitors removed from the configuration, most recently removed first. Each was
    /// archived at the start-up that no longer found it; its results and last state are
    /// kept, and it comes back with them if its id is declared again.
    removed_monitors: Vec<RemovedMonitorOut>,
}

/// A monitor that is no longer in the configuration.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RemovedMonitor)]
pub(crate) struct RemovedMonitorOut {
    /// Id.
    #[schema(example = "billing-health")]
    id: String,
    /// `http`, `tcp`, … (as last declared).
    #[serde(rename = "type")]
    #[schema(example = "http")]
    kind: String,
    /// The components it drove.
    #[schema(example = json!(["billing"]))]
    components: Vec<String>,
    /// When it was first configured.
    created_at: DateTime<Utc>,
    /// When it was found missing from the configuration and archived.
    archived_at: DateTime<Utc>,
    /// Its last confirmed health: `unknown` (never confirmed), `up`, `degraded` or `down`.
    #[schema(example = "up")]
    health: &'static str,
    /// Since when it had that health.
    health_since: Option<DateTime<Utc>>,
    /// When its last check started.
    last_check_at: Option<DateTime<Utc>>,
    /// Why its last check failed, if it did.
    last_error: Option<String>,
}

impl From<ArchivedMonitor> for RemovedMonitorOut {
    fn from(m: ArchivedMonitor) -> Self {
        Self {
            id: m.id.to_string(),
            kind: m.type_name,
            components: m.components.iter().map(ToString::to_string).collect(),
            created_at: m.created_at,
            archived_at: m.archived_at,
            health: m.health.as_str(),
            health_since: m.health_since,
            last_check_at: m.last_check_at,
            last_error: m.last_error,
        }
    }
}

/// Components no monitor drives, and monitors removed from the configuration.
#[utoipa::path(
    get,
    path = "/api/v1/coverage",
    operation_id = "get_coverage",
    tag = "coverage",
    responses(
        (status = 200, description = "Unwatched components and removed monitors", body = CoverageOut),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn get(State(ctx): State<Ctx>) -> Result<Json<CoverageOut>, ApiError> {
    let removed = ctx.control.removed_monitors().await?;
    let view = ctx.control.view();
    Ok(Json(CoverageOut {
        unwatched_components: view
            .unwatched_components()
            .iter()
            .map(|c| c.id.to_string())
            .collect(),
        removed_monitors: removed.into_iter().map(RemovedMonitorOut::from).collect(),
    }))
}

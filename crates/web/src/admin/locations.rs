//! `/api/v1/locations`: each place monitors are checked from besides the server itself,
//! whether its probes are heard from, and what they have sent (SPEC §7).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::Ctx;

/// One location.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Location)]
pub(crate) struct LocationOut {
    /// Its id, as monitors' `locations` name it.
    #[schema(example = "eu-fr")]
    id: String,
    /// Its name.
    #[schema(example = "Europe (France)")]
    name: String,
    /// Whether a probe was heard from within the location's `offline_after`.
    online: bool,
    /// When a probe was last heard from.
    last_seen_at: Option<DateTime<Utc>>,
    /// The version of the probe last heard from.
    version: Option<String>,
    /// The live probe instances sharing the location's work.
    probes: Vec<String>,
    /// Monitors checked from here.
    monitors: usize,
    /// Results received per second over the last minute.
    results_per_second: f64,
    /// Results and batches refused since start: not assigned here, replayed, wrong token.
    refused: u64,
    /// How far the last batch's clock was from the server's, in milliseconds (positive:
    /// ahead); results are corrected by it.
    clock_offset_ms: Option<i64>,
    /// Recent problems, newest last.
    problems: Vec<ProblemOut>,
}

/// A problem with a location's probes.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LocationProblem)]
pub(crate) struct ProblemOut {
    /// When.
    at: DateTime<Utc>,
    /// What.
    #[schema(example = "a probe presented a wrong or revoked token; refused")]
    message: String,
}

/// Every configured location with its probes' state.
#[utoipa::path(
    get,
    path = "/api/v1/locations",
    operation_id = "list_locations",
    tag = "coverage",
    responses(
        (status = 200, description = "Every location, in configuration order", body = Vec<LocationOut>),
        (status = 401, description = "Missing or wrong token", body = ErrorBody)
    )
)]
pub(crate) async fn list(State(ctx): State<Ctx>) -> Json<Vec<LocationOut>> {
    Json(
        ctx.control
            .locations()
            .listing()
            .into_iter()
            .map(|l| LocationOut {
                id: l.id,
                name: l.name,
                online: l.online,
                last_seen_at: l.last_seen_at,
                version: l.version,
                probes: l.probes,
                monitors: l.monitors,
                results_per_second: l.results_per_second,
                refused: l.refused,
                clock_offset_ms: l.clock_offset_ms,
                problems: l
                    .problems
                    .into_iter()
                    .map(|p| ProblemOut {
                        at: p.at,
                        message: p.message,
                    })
                    .collect(),
            })
            .collect(),
    )
}

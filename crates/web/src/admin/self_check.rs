//! `/api/v1/self-check`: whether Pharos itself can reach the network. While no `[self_check]`
//! target answers, failed checks are not counted against their targets; this says so, and
//! how many were held back.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::Ctx;

/// What the self-check last saw.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SelfCheck)]
pub(crate) struct SelfCheckOut {
    /// Whether `[self_check]` is configured; without it Pharos cannot tell its own outage
    /// from its targets', and `online` is always true.
    configured: bool,
    /// False while no target answers: Pharos is cut off, and failed checks do not count.
    online: bool,
    /// When `online` last changed.
    since: Option<DateTime<Utc>>,
    /// When the last round ran.
    checked_at: Option<DateTime<Utc>>,
    /// Each target's last result.
    targets: Vec<TargetOut>,
    /// Failed checks not counted because Pharos was offline, since start-up.
    suppressed_failures: u64,
}

/// One target's last result.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SelfCheckTarget)]
pub(crate) struct TargetOut {
    /// The target as configured.
    #[schema(example = "tcp://10.0.0.1:53")]
    target: String,
    /// Whether it answered.
    ok: bool,
    /// Why not.
    error: Option<String>,
}

/// Whether Pharos can reach the network, per its `[self_check]` targets.
#[utoipa::path(
    get,
    path = "/api/v1/self-check",
    operation_id = "get_self_check",
    tag = "coverage",
    responses(
        (status = 200, description = "The self-check's last round", body = SelfCheckOut),
        (status = 401, description = "Missing or wrong token", body = ErrorBody)
    )
)]
pub(crate) async fn get(State(ctx): State<Ctx>) -> Json<SelfCheckOut> {
    let s = ctx.control.self_check();
    Json(SelfCheckOut {
        configured: s.configured,
        online: s.online,
        since: s.since,
        checked_at: s.checked_at,
        targets: s
            .targets
            .into_iter()
            .map(|t| TargetOut {
                target: t.target,
                ok: t.ok,
                error: t.error,
            })
            .collect(),
        suppressed_failures: s.suppressed_failures,
    })
}

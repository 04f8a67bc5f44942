//! `GET /api/v1/audit` (SPEC §9): the audit trail, newest first. Every change by a person or
//! a token is there with who, when, what, the subject before and after, the request id and
//! the address; entries are written in the transaction of their change and never edited or
//! removed. Reading it is for owners and admins (the `administer` permission).

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use pharos_engine::people::{AuditEntry, AuditFilter, AUDIT_PAGE_MAX};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, UNAVAILABLE};
use super::Ctx;

/// Which entries to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Only what this actor did: a user's or token's id, or a name (`alice`, a configured
    /// token's name).
    actor: Option<String>,
    /// Only actions starting with this: `token.`, `user.add`, `incident.`.
    kind: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// The next page: entries older than this `seq` (the last one of the previous page).
    before: Option<i64>,
    /// At most this many (default and maximum 500).
    limit: Option<usize>,
}

/// Who did it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditActor {
    /// `user`, `token`, `config_token`, `automation` or `anonymous`.
    #[schema(example = "config_token")]
    kind: &'static str,
    /// The user's or token's id, when there is one.
    id: Option<String>,
    /// The name recorded.
    #[schema(example = "ops")]
    name: String,
}

/// One entry of the trail.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditEntry)]
pub(crate) struct AuditOut {
    /// Its place in the trail: grows with every entry.
    seq: i64,
    /// When.
    at: DateTime<Utc>,
    /// Who.
    actor: AuditActor,
    /// What: `token.create`, `token.revoke`, `user.add`, …
    #[schema(example = "token.create")]
    action: String,
    /// What it was done to (an id), when there is one.
    subject: Option<String>,
    /// The subject before (never a secret or a hash).
    #[schema(value_type = Object)]
    before: Option<Value>,
    /// The subject after.
    #[schema(value_type = Object)]
    after: Option<Value>,
    /// The request it came with.
    request_id: Option<String>,
    /// The address it came from.
    address: Option<String>,
}

impl From<AuditEntry> for AuditOut {
    fn from(e: AuditEntry) -> Self {
        let r = e.record;
        // Stored as JSON text by whoever wrote it; shown as JSON, or as text if it is not.
        let json =
            |t: Option<String>| t.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)));
        Self {
            seq: e.seq,
            at: r.at,
            actor: AuditActor {
                kind: r.actor_kind.as_str(),
                id: r.actor_id,
                name: r.actor_name,
            },
            action: r.action,
            subject: r.subject,
            before: json(r.before),
            after: json(r.after),
            request_id: r.request_id,
            address: r.address,
        }
    }
}

/// The audit trail, newest first, in pages of at most 500.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    operation_id = "list_audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Entries, newest first", body = [AuditOut]),
        (status = 422, description = "A limit of 0", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn list(
    State(ctx): State<Ctx>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditOut>>, ApiError> {
    if q.limit == Some(0) {
        return Err(ApiError::unprocessable(
            "limit",
            format!("limit is 1 to {AUDIT_PAGE_MAX}"),
        ));
    }
    let filter = AuditFilter {
        actor: q.actor,
        action_prefix: q.kind,
        since: q.since,
        before_seq: q.before,
        limit: q.limit,
    };
    let entries = ctx
        .control
        .directory()
        .audit(&filter)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "reading the audit trail failed");
            ApiError::unavailable("storage did not answer; try again")
        })?;
    Ok(Json(entries.into_iter().map(AuditOut::from).collect()))
}

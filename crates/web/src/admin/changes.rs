//! `/api/v1/changes`: what changed (deploys, configuration pushes, feature flags,
//! migrations, rollbacks…), recorded by the pipeline that made the change, and
//! `POST /v2/change/enqueue`, the same in PagerDuty's change-event format.
//!
//! Records are append-only: nothing here edits or deletes one. A correction is a new record
//! whose `supersedes` names the old one; the old one then shows `superseded_by`, and both stay
//! listed. Each change shows the release-regression verdict Pharos derived from the checks
//! around it (`regression`), and `GET /api/v1/incidents/{id}` lists the changes before and
//! during the incident with why each is listed ([`incident_changes`]). Changes are for
//! responders: the public page never shows them.
//!
//! PagerDuty change events map onto a change like this: `payload.summary` → `summary`,
//! `payload.timestamp` → `started_at`, `links[0].href` → `url`, and
//! `payload.custom_details.{component, kind, version, commit (or revision), environment,
//! author, external_id, supersedes}` → the fields of the same name (`kind` defaults to
//! `deploy`). The component is `custom_details.component`, else `payload.source` when it
//! names a configured component. The token is the `routing_key`, or a bearer header; either
//! must be one of `[admin] tokens`.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use pharos_domain::change::{self, ChangeKind, PathStep, RelatedChange, Relation};
use pharos_domain::request::{self, RequestValue};
use pharos_domain::{ChangeEntry, ComponentId, Incident, NewChange};
use pharos_engine::changes::{ChangeFilter, Recorded};
use pharos_engine::{CommandError, DeskError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ApiJson, ErrorBody, UNAVAILABLE};
use super::model::IdPath;
use super::pagerduty::invalid;
use super::Ctx;

/// Most changes one list answers.
const MAX_LIMIT: usize = 1000;
/// Changes one list answers by default.
const DEFAULT_LIMIT: usize = 100;

/// One recorded change.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Change)]
pub(crate) struct ChangeOut {
    /// Pharos's id for the record.
    #[schema(example = "chg_k3v9x0q2m7ab")]
    id: String,
    /// The component it changed.
    #[schema(example = "api")]
    component: String,
    /// `deploy`, `config`, `feature_flag`, `infrastructure`, `migration`, `rollback` or
    /// `other`.
    #[schema(example = "deploy")]
    kind: String,
    /// One line saying what changed.
    #[schema(example = "Deploy api 1.4.2")]
    summary: String,
    /// The version released.
    #[schema(example = "1.4.2")]
    version: Option<String>,
    /// The commit released.
    #[schema(example = "9f1c2ab")]
    commit: Option<String>,
    /// Where it went.
    #[schema(example = "production")]
    environment: Option<String>,
    /// Who made it.
    author: Option<String>,
    /// A link to the pipeline run, pull request or ticket.
    url: Option<String>,
    /// When the change started (the time it was recorded, when the sender gave none).
    started_at: DateTime<Utc>,
    /// When it finished.
    finished_at: Option<DateTime<Utc>>,
    /// The sender's own id for it.
    external_id: Option<String>,
    /// The record this one corrects.
    supersedes: Option<String>,
    /// Whether a newer record corrects this one.
    superseded: bool,
    /// The newer record that corrects this one.
    superseded_by: Option<String>,
    /// `api`, `cli` or `pagerduty`.
    #[schema(example = "api")]
    source: String,
    /// When Pharos recorded it.
    recorded_at: DateTime<Utc>,
    /// The admin token's name that recorded it.
    recorded_by: String,
    /// The release-regression check of the change, once Pharos has looked at it.
    regression: Option<RegressionOut>,
}

impl From<&ChangeEntry> for ChangeOut {
    fn from(e: &ChangeEntry) -> Self {
        let c = &e.change;
        Self {
            id: c.id.clone(),
            component: c.component.to_string(),
            kind: c.kind.clone(),
            summary: c.summary.clone(),
            version: c.version.clone(),
            commit: c.commit.clone(),
            environment: c.environment.clone(),
            author: c.author.clone(),
            url: c.url.clone(),
            started_at: c.started_at,
            finished_at: c.finished_at,
            external_id: c.external_id.clone(),
            supersedes: c.supersedes.clone(),
            superseded: e.superseded_by.is_some(),
            superseded_by: e.superseded_by.clone(),
            source: c.source.clone(),
            recorded_at: c.recorded_at,
            recorded_by: c.recorded_by.clone(),
            regression: e.regression.as_ref().map(RegressionOut::from),
        }
    }
}

/// What the checks of the change's component say about it: the window before the change
/// against the window after it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ChangeRegression)]
pub(crate) struct RegressionOut {
    /// `watching` (the window after the change has not passed), `suspect`, `clear`,
    /// `insufficient_data` or `superseded` (its correction is judged instead).
    #[schema(example = "suspect")]
    state: &'static str,
    /// Whether the change is suspect: p95 latency or the failure rate clearly worse after it.
    suspect: bool,
    /// One line for people.
    #[schema(
        example = "p95 latency 3.1× higher since deploy 1.4.2 at 09:00 UTC (412 ms, was 133 ms)"
    )]
    summary: String,
    /// Median check duration before, ms.
    p50_before_ms: Option<u64>,
    /// Median check duration after, ms.
    p50_after_ms: Option<u64>,
    /// 95th-percentile check duration before, ms.
    p95_before_ms: Option<u64>,
    /// 95th-percentile check duration after, ms.
    p95_after_ms: Option<u64>,
    /// Share of failed checks before, 0–1.
    failure_rate_before: Option<f64>,
    /// Share of failed checks after, 0–1.
    failure_rate_after: Option<f64>,
    /// Checks compared before.
    samples_before: Option<u32>,
    /// Checks compared after.
    samples_after: Option<u32>,
    /// The monitors whose checks were compared.
    monitors: Vec<String>,
    /// How long each window is, seconds.
    window_seconds: u64,
    /// When Pharos last looked.
    evaluated_at: DateTime<Utc>,
    /// When a later window showed no regression any more (suspect changes).
    recovered_at: Option<DateTime<Utc>>,
}

impl From<&pharos_domain::Regression> for RegressionOut {
    fn from(r: &pharos_domain::Regression) -> Self {
        Self {
            state: r.state.as_str(),
            suspect: r.suspect,
            summary: r.summary.clone(),
            p50_before_ms: r.before.map(|s| s.p50_ms),
            p50_after_ms: r.after.map(|s| s.p50_ms),
            p95_before_ms: r.before.map(|s| s.p95_ms),
            p95_after_ms: r.after.map(|s| s.p95_ms),
            failure_rate_before: r.before.map(|s| s.failure_rate()),
            failure_rate_after: r.after.map(|s| s.failure_rate()),
            samples_before: r.before.map(|s| s.samples),
            samples_after: r.after.map(|s| s.samples),
            monitors: r.monitors.iter().map(ToString::to_string).collect(),
            window_seconds: r.window_seconds,
            evaluated_at: r.evaluated_at,
            recovered_at: r.recovered_at,
        }
    }
}

/// A change listed with an incident, and why.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = IncidentChange)]
pub(crate) struct RelatedChangeOut {
    /// The change.
    #[serde(flatten)]
    change: ChangeOut,
    /// `same_component` (a change to one of the incident's components) or `dependency` (a
    /// change to a component that a monitor of one of its components depends on).
    #[schema(example = "dependency")]
    reason: &'static str,
    /// For `dependency`: from the incident's component through monitors to the changed
    /// component, e.g. `[{"component": "api"}, {"monitor": "api-health"},
    /// {"monitor": "db-port"}, {"component": "db"}]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    path: Option<Vec<BTreeMap<&'static str, String>>>,
    /// Why it is listed, in words.
    #[schema(example = "api's monitor api-health depends on db-port, which checks db")]
    why: String,
    /// Whether it started before the incident did (else during it).
    before_incident: bool,
}

impl From<&RelatedChange> for RelatedChangeOut {
    fn from(r: &RelatedChange) -> Self {
        let (reason, path) = match &r.relation {
            Relation::SameComponent => ("same_component", None),
            Relation::Dependency { path } => (
                "dependency",
                Some(
                    path.iter()
                        .map(|step| match step {
                            PathStep::Component(c) => {
                                BTreeMap::from([("component", c.to_string())])
                            }
                            PathStep::Monitor(m) => BTreeMap::from([("monitor", m.to_string())]),
                        })
                        .collect(),
                ),
            ),
        };
        Self {
            change: ChangeOut::from(&r.entry),
            reason,
            path,
            why: r.relation.explain(),
            before_incident: r.before_incident,
        }
    }
}

/// The changes an incident lists (for `GET /api/v1/incidents/{id}`), newest first.
pub(crate) async fn incident_changes(
    ctx: &Ctx,
    incident: &Incident,
) -> Result<Vec<RelatedChangeOut>, ApiError> {
    let listed = ctx.control.incident_changes(incident).await?;
    Ok(listed.iter().map(RelatedChangeOut::from).collect())
}

/// `POST /api/v1/changes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateChange {
    /// The component changed (a configured component, not a group).
    #[serde(deserialize_with = "change::component")]
    #[schema(value_type = String, example = "api")]
    component: ComponentId,
    /// `deploy`, `config`, `feature_flag`, `infrastructure`, `migration`, `rollback` or
    /// `other`.
    #[serde(deserialize_with = "request::one")]
    #[schema(value_type = String, example = "deploy")]
    kind: ChangeKind,
    /// One line, 1-1024 characters.
    #[schema(example = "Deploy api 1.4.2")]
    summary: String,
    /// Version released (at most 255 characters; blank counts as absent, like every optional
    /// text).
    #[schema(example = "1.4.2")]
    version: Option<String>,
    /// Commit released.
    #[schema(example = "9f1c2ab")]
    commit: Option<String>,
    /// Where it went.
    #[schema(example = "production")]
    environment: Option<String>,
    /// Who made it.
    author: Option<String>,
    /// An `http(s)://` link to the pipeline run, pull request or ticket.
    url: Option<String>,
    /// When it started, RFC 3339 (default: now). At most 5 minutes in the future.
    started_at: Option<DateTime<Utc>>,
    /// When it finished, RFC 3339; not before `started_at`.
    finished_at: Option<DateTime<Utc>>,
    /// The sender's own id for it.
    external_id: Option<String>,
    /// The id of the record this one corrects; it must exist and not be superseded yet.
    #[schema(example = "chg_k3v9x0q2m7ab")]
    supersedes: Option<String>,
    /// `api` (default) or `cli` (set by `pharos change`).
    #[serde(default, deserialize_with = "request::option")]
    #[schema(value_type = Option<String>, example = "api")]
    source: Option<Source>,
}

/// Who sent a change through `POST /api/v1/changes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A pipeline, or anyone, through the API.
    Api,
    /// `pharos change`.
    Cli,
}

impl RequestValue for Source {
    fn from_request(s: &str) -> Result<Self, String> {
        match s {
            "api" => Ok(Self::Api),
            "cli" => Ok(Self::Cli),
            other => Err(format!("unknown source {other:?}; expected api or cli")),
        }
    }
}

/// Filters for the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChangeQuery {
    /// Only changes to this component.
    component: Option<String>,
    /// Only changes that started at or after this time (RFC 3339).
    since: Option<String>,
    /// Only changes that started before this time (RFC 3339).
    until: Option<String>,
    /// At most this many, the newest (default 100, at most 1000).
    limit: Option<String>,
}

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::unprocessable(
                field,
                format!("{s:?} is not an RFC 3339 time like 2026-03-01T09:00:00Z"),
            )
        })
}

/// Changes, newest first (by `started_at`), superseded ones included.
#[utoipa::path(
    get,
    path = "/api/v1/changes",
    operation_id = "list_changes",
    tag = "changes",
    params(ChangeQuery),
    responses(
        (status = 200, description = "Changes, newest first", body = [ChangeOut]),
        (status = 422, description = "A bad filter, named in `field`", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn list(
    State(ctx): State<Ctx>,
    Query(q): Query<ChangeQuery>,
) -> Result<Json<Vec<ChangeOut>>, ApiError> {
    let component = q
        .component
        .as_deref()
        .map(|c| {
            ComponentId::new(c).map_err(|e| ApiError::unprocessable("component", e.to_string()))
        })
        .transpose()?;
    let since = q
        .since
        .as_deref()
        .map(|s| parse_time("since", s))
        .transpose()?;
    let until = q
        .until
        .as_deref()
        .map(|s| parse_time("until", s))
        .transpose()?;
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::unprocessable(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                ))
            }
        },
    };
    let filter = ChangeFilter {
        component,
        since,
        until,
        limit: Some(limit),
    };
    let entries = ctx.control.changes(&filter).await?;
    Ok(Json(entries.iter().map(ChangeOut::from).collect()))
}

/// Records a change. Nothing is ever edited: to correct a record, post a new one with
/// `supersedes` naming it.
#[utoipa::path(
    post,
    path = "/api/v1/changes",
    operation_id = "create_change",
    tag = "changes",
    request_body = CreateChange,
    responses(
        (status = 201, description = "Recorded and stored", body = ChangeOut),
        (status = 200, description = "A retry: this source already sent a change with this `external_id`; the record stored then", body = ChangeOut),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn create(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateChange>,
) -> Result<Response, ApiError> {
    let source = match req.source {
        None | Some(Source::Api) => "api",
        Some(Source::Cli) => "cli",
    };
    let new = NewChange {
        component: req.component,
        kind: req.kind,
        summary: req.summary,
        version: req.version,
        commit: req.commit,
        environment: req.environment,
        author: req.author,
        url: req.url,
        started_at: req.started_at,
        finished_at: req.finished_at,
        external_id: req.external_id,
        supersedes: req.supersedes,
    };
    let recorded = ctx.control.record_change(new, source, &caller.name).await?;
    // A retry (an `external_id` this source sent before) answers 200 with the first record.
    let status = match &recorded {
        Recorded::New(_) => StatusCode::CREATED,
        Recorded::Retry(_) => StatusCode::OK,
    };
    let entry = recorded.entry();
    Ok((
        status,
        [(
            header::LOCATION,
            format!("/api/v1/changes/{}", entry.change.id),
        )],
        Json(ChangeOut::from(entry)),
    )
        .into_response())
}

/// One change, with the record that supersedes it and its regression verdict.
#[utoipa::path(
    get,
    path = "/api/v1/changes/{id}",
    operation_id = "get_change",
    tag = "changes",
    params(("id" = String, Path, description = "Change id")),
    responses(
        (status = 200, description = "The change", body = ChangeOut),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn get_one(
    State(ctx): State<Ctx>,
    IdPath(id): IdPath,
) -> Result<Json<ChangeOut>, ApiError> {
    let entry = ctx
        .control
        .change(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("change", &id))?;
    Ok(Json(ChangeOut::from(&entry)))
}

// ---- PagerDuty change events -----------------------------------------------------------

/// A PagerDuty change event (Events API v2, `POST /v2/change/enqueue`).
#[derive(Debug, Deserialize)]
struct PagerDutyChange {
    routing_key: Option<String>,
    payload: Option<PagerDutyPayload>,
    #[serde(default)]
    links: Vec<PagerDutyLink>,
}

#[derive(Debug, Deserialize)]
struct PagerDutyPayload {
    summary: Option<String>,
    timestamp: Option<String>,
    source: Option<String>,
    #[serde(default)]
    custom_details: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct PagerDutyLink {
    href: Option<String>,
}

/// A custom detail as text: strings as they are, numbers and booleans written out.
fn detail(details: Option<&serde_json::Value>, key: &str) -> Option<String> {
    match details?.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Receives one PagerDuty change event and records it as a change (`source: pagerduty`).
/// Answers as PagerDuty does: `202 {"status": "success", "message": "Change event
/// processed"}` (plus Pharos's `change_id`), or `400 {"status": "invalid event", …,
/// "errors": [...]}` naming the field at fault.
pub(crate) async fn pagerduty_enqueue(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let event: PagerDutyChange = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return invalid(format!("the body is not a PagerDuty change event: {e}")),
    };
    let caller = match super::pagerduty::caller(&ctx, &headers, event.routing_key.as_deref()).await
    {
        Ok(c) => c,
        Err(why) => return why.response(),
    };
    let Some(payload) = event.payload else {
        return invalid("'payload' is missing".into());
    };
    let details = payload.custom_details.as_ref();
    let view = ctx.control.view();
    let is_component = |id: &str| {
        view.components
            .iter()
            .any(|c| c.id.as_str() == id && !c.is_group)
    };
    let (component, component_field) = match detail(details, "component") {
        Some(c) => (c, "payload.custom_details.component"),
        None => match payload.source.as_deref() {
            Some(s) if is_component(s) => (s.to_owned(), "payload.source"),
            _ => {
                return invalid(
                    "'payload.custom_details.component' is missing (and 'payload.source' names no component): name the Pharos component that changed".into(),
                )
            }
        },
    };
    let started_at = match payload.timestamp.as_deref() {
        None => None,
        Some(t) => match pharos_domain::alert::parse_pagerduty_time(t) {
            Some(t) => Some(t),
            None => {
                return invalid(format!(
                    "'payload.timestamp' {t:?} is not an ISO 8601 time like 2020-07-17T08:42:58.315+0000"
                ))
            }
        },
    };
    let component = match change::parse_component(&component) {
        Ok(c) => c,
        Err(message) => return invalid(format!("'{component_field}' {message}")),
    };
    let kind = match detail(details, "kind") {
        None => ChangeKind::Deploy,
        Some(k) => match ChangeKind::from_request(&k) {
            Ok(k) => k,
            Err(message) => return invalid(format!("'payload.custom_details.kind' {message}")),
        },
    };
    let new = NewChange {
        component,
        kind,
        summary: payload.summary.unwrap_or_default(),
        version: detail(details, "version"),
        commit: detail(details, "commit").or_else(|| detail(details, "revision")),
        environment: detail(details, "environment"),
        author: detail(details, "author"),
        url: event.links.into_iter().find_map(|l| l.href),
        started_at,
        finished_at: None,
        external_id: detail(details, "external_id"),
        supersedes: detail(details, "supersedes"),
    };
    match ctx.control.record_change(new, "pagerduty", &caller).await {
        Ok(recorded) => (
            StatusCode::ACCEPTED,
            Json(json!({
                "status": "success",
                "message": "Change event processed",
                "change_id": recorded.entry().change.id,
            })),
        )
            .into_response(),
        Err(CommandError::Desk(DeskError::Rule(rule))) => {
            let field = match rule.field() {
                "component" => component_field.to_owned(),
                "summary" => "payload.summary".to_owned(),
                "started_at" => "payload.timestamp".to_owned(),
                "url" => "links[0].href".to_owned(),
                other => format!("payload.custom_details.{other}"),
            };
            invalid(format!("'{field}' {}", rule.message()))
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pagerduty_timestamps() {
        let want = DateTime::parse_from_rfc3339("2020-07-17T08:42:58.315Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            pharos_domain::alert::parse_pagerduty_time("2020-07-17T08:42:58.315+0000"),
            Some(want)
        );
        assert_eq!(
            pharos_domain::alert::parse_pagerduty_time("2020-07-17T08:42:58.315Z"),
            Some(want)
        );
        assert_eq!(
            pharos_domain::alert::parse_pagerduty_time("2020-07-17T10:42:58.315+02:00"),
            Some(want)
        );
        assert_eq!(
            pharos_domain::alert::parse_pagerduty_time("yesterday"),
            None
        );
    }

    #[test]
    fn the_body_is_parsed_at_the_edge() {
        use crate::admin::error::parse;
        let refused = |json: &str| parse::<CreateChange>(json.as_bytes()).unwrap_err().parts();
        let (status, field, message) =
            refused(r#"{"component": "api", "kind": "deploymnet", "summary": "x"}"#);
        assert_eq!(
            (status, field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("kind"))
        );
        assert!(message.contains("expected one of deploy"), "{message}");
        let (status, field, message) =
            refused(r#"{"component": "Bad Id", "kind": "deploy", "summary": "x"}"#);
        assert_eq!(
            (status, field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("component"))
        );
        assert!(message.contains("may only contain"), "{message}");
        let (status, field, message) =
            refused(r#"{"component": "api", "kind": "deploy", "summary": "x", "source": "ci"}"#);
        assert_eq!(
            (status, field.as_deref(), message.as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("source"),
                "unknown source \"ci\"; expected api or cli"
            )
        );
        let c: CreateChange = parse(
            br#"{"component": " api ", "kind": " rollback ", "summary": "x", "source": "cli"}"#,
        )
        .unwrap();
        assert_eq!(
            (c.component.as_str(), c.kind, c.source),
            ("api", ChangeKind::Rollback, Some(Source::Cli))
        );
    }

    #[test]
    fn custom_details_read_as_text() {
        let d = json!({"version": "1.4.2", "build_number": 2, "ok": true, "nested": {}});
        assert_eq!(detail(Some(&d), "version").as_deref(), Some("1.4.2"));
        assert_eq!(detail(Some(&d), "build_number").as_deref(), Some("2"));
        assert_eq!(detail(Some(&d), "ok").as_deref(), Some("true"));
        assert_eq!(detail(Some(&d), "nested"), None);
        assert_eq!(detail(None, "version"), None);
    }
}

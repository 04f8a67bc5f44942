//! `/api/v1/incidents`: declare an incident, post public updates and private notes, change
//! its name, severity, impact, roles or visibility, and read it with its full timeline.
//!
//! Request bodies are parsed here, at the edge, into the engine's typed commands: statuses,
//! impacts, severities and component ids deserialize straight into domain values
//! (`pharos_domain::request`). A string that names no such value (`"severity": "S9"`, a
//! maintenance status on an incident) is a 422 naming its field by its path (`status`,
//! `components.api`), with the rule's own message; a wrong JSON type or an unknown key is a
//! 400. The engine then checks only what needs its state: that a component is configured and
//! not a group, that a published incident is not unpublished, lengths and roles.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use pharos_domain::{
    request, ComponentId, ComponentStatus, Impact, Incident, IncidentId, IncidentStatus, Severity,
};
use pharos_engine::{IncidentPatch, NewIncident, NewUpdate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ApiJson, ErrorBody, UNAVAILABLE};
use super::model::{seconds, ActorOut, IdPath, TimelineEntryOut, UpdateOut};
use super::Ctx;

/// An incident as the admin API shows it (public and private alike).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Incident)]
pub(crate) struct IncidentOut {
    /// Id.
    #[schema(example = "k3v9x0q2m7ab")]
    id: String,
    /// Title.
    name: String,
    /// `investigating`, `identified`, `monitoring`, `resolved` or `postmortem`.
    #[schema(example = "investigating")]
    status: &'static str,
    /// The impact shown: `impact_override` if set, else the worst impact its components have
    /// reached (`none`, `minor`, `major`, `critical`).
    #[schema(example = "major")]
    impact: &'static str,
    /// The impact a person set, replacing the computed one.
    impact_override: Option<&'static str>,
    /// Severity for responders, `S1` (worst) to `S4`.
    #[schema(example = "S2")]
    severity: Option<&'static str>,
    /// Whether it is on the public page.
    public: bool,
    /// Whether a check opened it.
    automated: bool,
    /// Whether a person has taken it over: automation then only records events in the
    /// timeline and never changes its status or posts to it.
    human_owned: bool,
    /// Affected component id → the status the incident last saw for it.
    components: BTreeMap<String, String>,
    /// Component id → status asked for while the incident is private: not shown on the
    /// public page until it is published (then they take effect, if it is still open).
    #[schema(example = json!({"api": "partial_outage"}))]
    pending_components: BTreeMap<String, String>,
    /// Monitors that joined it → whether each is down now.
    monitors: BTreeMap<String, bool>,
    /// Role → who holds it, e.g. `commander → alice`.
    roles: BTreeMap<String, String>,
    /// When it was created.
    created_at: DateTime<Utc>,
    /// When it last changed.
    updated_at: DateTime<Utc>,
    /// When the trouble started (the first failing check, for incidents a check opened).
    started_at: DateTime<Utc>,
    /// When it last entered `monitoring`.
    monitoring_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    resolved_at: Option<DateTime<Utc>>,
    /// When the first failing check that opened it started (incidents a check opened).
    first_failure_at: Option<DateTime<Utc>>,
    /// When it first appeared on the public page.
    published_at: Option<DateTime<Utc>>,
    /// Seconds from the first failing check to the public page; null unless a check opened
    /// it and it was published.
    #[schema(example = 4.25)]
    time_to_publish_seconds: Option<f64>,
    /// Public updates, oldest first.
    updates: Vec<UpdateOut>,
    /// Alerts from Alertmanager, Grafana or PagerDuty that joined it, firing or not.
    alerts: Vec<super::ingest::AlertOut>,
    /// When a responder first acknowledged it (`POST …/acknowledge`).
    acknowledged_at: Option<DateTime<Utc>>,
    /// Who did.
    #[schema(example = "alice")]
    acknowledged_by: Option<String>,
}

impl From<&Incident> for IncidentOut {
    fn from(i: &Incident) -> Self {
        Self {
            id: i.id.to_string(),
            name: i.name.clone(),
            status: i.status.as_str(),
            impact: i.impact().as_str(),
            impact_override: i.impact_override.map(|x| x.as_str()),
            severity: i.severity.map(|s| s.as_str()),
            public: i.public,
            automated: i.automated,
            human_owned: i.human_owned,
            components: i
                .components
                .iter()
                .map(|(c, s)| (c.to_string(), s.as_str().to_owned()))
                .collect(),
            pending_components: i
                .pending_components
                .iter()
                .map(|(c, s)| (c.to_string(), s.as_str().to_owned()))
                .collect(),
            monitors: i
                .monitors
                .iter()
                .map(|(m, down)| (m.to_string(), *down))
                .collect(),
            roles: i.roles.clone(),
            created_at: i.created_at,
            updated_at: i.updated_at,
            started_at: i.started_at,
            monitoring_at: i.monitoring_at,
            resolved_at: i.resolved_at,
            first_failure_at: i.first_failure_at,
            acknowledged_at: i.acknowledged.as_ref().map(|a| a.at),
            acknowledged_by: i.acknowledged.as_ref().map(|a| a.by.clone()),
            published_at: i.published_at,
            time_to_publish_seconds: i.time_to_publish().map(seconds),
            updates: i
                .updates
                .iter()
                .map(|u| UpdateOut::of(u, |s| s.as_str()))
                .collect(),
            alerts: i
                .alerts
                .iter()
                .map(|(k, a)| super::ingest::AlertOut::of(k.clone(), Some(&i.id), a.clone()))
                .collect(),
        }
    }
}

/// An incident with its full timeline.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IncidentDetail {
    /// The incident.
    #[serde(flatten)]
    incident: IncidentOut,
    /// Everything that happened to it, in order of when it happened: public updates, private
    /// notes, monitor failures and recoveries, component changes, severity, impact, name and
    /// role changes.
    timeline: Vec<TimelineEntryOut>,
    /// Earlier incidents on the same components whose text reads alike, best first, with
    /// their postmortems and the action items still open.
    similar_incidents: Vec<super::postmortems::SimilarOut>,
    /// Changes to its components and to what they depend on, from `[changes] lookback`
    /// before it started until it was resolved, newest first, each with why it is listed.
    changes: Vec<super::changes::RelatedChangeOut>,
}

/// `POST /api/v1/incidents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateIncident {
    /// Title, 1-255 characters.
    #[schema(example = "Elevated API errors")]
    name: String,
    /// `investigating` (default), `identified`, `monitoring` or `resolved`.
    #[serde(default, deserialize_with = "request::option")]
    #[schema(value_type = Option<String>, example = "investigating")]
    status: Option<IncidentStatus>,
    /// Markdown body of the first public update.
    #[schema(example = "We are looking into elevated error rates on the API.")]
    body: String,
    /// Component id → status to show while the incident is open (`operational`,
    /// `degraded_performance`, `partial_outage`, `major_outage`, `under_maintenance`).
    #[serde(default, deserialize_with = "request::map")]
    #[schema(value_type = Option<BTreeMap<String, String>>, example = json!({"api": "partial_outage"}))]
    components: BTreeMap<ComponentId, ComponentStatus>,
    /// Impact override: `none`, `minor`, `major` or `critical` (default: computed from the
    /// components).
    #[serde(default, deserialize_with = "request::option")]
    #[schema(value_type = Option<String>)]
    impact: Option<Impact>,
    /// `S1` (worst) to `S4`.
    #[serde(default, deserialize_with = "request::option")]
    #[schema(value_type = Option<String>, example = "S2")]
    severity: Option<Severity>,
    /// Whether it shows on the public page at once (default true).
    public: Option<bool>,
}

/// `POST /api/v1/incidents/{id}/updates`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUpdate {
    /// New status (default: unchanged): `investigating`, `identified`, `monitoring` or
    /// `resolved`. Resolving puts the components back to what their monitors say.
    #[serde(default, deserialize_with = "request::option")]
    #[schema(value_type = Option<String>, example = "identified")]
    status: Option<IncidentStatus>,
    /// Markdown body; may be empty when a status or components are given.
    #[schema(example = "A bad deploy was rolled back.")]
    body: String,
    /// Component id → status to show from now on (held back while the incident is private,
    /// and shown when it is published).
    #[serde(default, deserialize_with = "request::map")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    components: BTreeMap<ComponentId, ComponentStatus>,
    /// `true` publishes a private incident with this update. Posting an update never
    /// publishes by itself; `false` is refused on a published incident.
    public: Option<bool>,
}

/// `POST /api/v1/incidents/{id}/notes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateNote {
    /// The note, for responders only; never public.
    #[schema(example = "Paged the database on-call.")]
    body: String,
}

/// A private note, as recorded.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Note)]
pub(crate) struct NoteOut {
    /// The incident (or maintenance) it belongs to.
    incident_id: String,
    /// The note.
    body: String,
    /// Who wrote it.
    actor: ActorOut,
}

/// `PATCH /api/v1/incidents/{id}`: only the keys present change; `null` clears `severity`,
/// `impact` and a role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchIncident {
    /// New title.
    name: Option<String>,
    /// `S1`..`S4`, or `null` to clear.
    #[serde(default, deserialize_with = "request::nullable")]
    #[schema(value_type = Option<String>, example = "S2")]
    severity: Option<Option<Severity>>,
    /// `none`, `minor`, `major`, `critical`, or `null` to go back to the computed impact.
    #[serde(default, deserialize_with = "request::nullable")]
    #[schema(value_type = Option<String>, example = "critical")]
    impact: Option<Option<Impact>>,
    /// Role → person, or `null` to clear the role. Role names are 1-32 lowercase letters,
    /// `-` or `_`.
    #[schema(example = json!({"commander": "alice", "scribe": null}))]
    roles: Option<BTreeMap<String, Option<String>>>,
    /// `true` publishes a private incident: it appears on the page, in the feeds and the v2
    /// API, subscribers hear of it once, and its held component statuses take effect. A
    /// published incident cannot be unpublished.
    public: Option<bool>,
}

fn incident_id(id: &str) -> Result<IncidentId, ApiError> {
    IncidentId::new(id).ok_or_else(|| ApiError::not_found("incident", id))
}

fn created(id: &str, body: impl Serialize) -> Response {
    (
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/incidents/{id}"))],
        Json(body),
    )
        .into_response()
}

/// Every incident, public and private, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    operation_id = "list_incidents",
    tag = "incidents",
    responses((status = 200, description = "Every incident, newest first", body = [IncidentOut]))
)]
pub(crate) async fn list(State(ctx): State<Ctx>) -> Json<Vec<IncidentOut>> {
    let view = ctx.control.view();
    let mut all: Vec<&Incident> = view.incidents.iter().rev().collect();
    all.sort_by_key(|i| std::cmp::Reverse(i.created_at));
    Json(all.into_iter().map(IncidentOut::from).collect())
}

/// Declares an incident. It is public at once unless `public` is false; the components named
/// show the given statuses until it is resolved. A private incident stays off every public
/// surface (page, feeds, v2 API, subscribers) until a person publishes it, and its component
/// statuses are held until then (`pending_components`).
#[utoipa::path(
    post,
    path = "/api/v1/incidents",
    operation_id = "create_incident",
    tag = "incidents",
    request_body = CreateIncident,
    responses((status = 201, description = "Created and stored", body = IncidentOut), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn create(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateIncident>,
) -> Result<Response, ApiError> {
    let new = NewIncident {
        name: req.name,
        status: req.status,
        body: req.body,
        components: req.components,
        impact: req.impact,
        severity: req.severity,
        public: req.public,
    };
    let incident = caller
        .on_behalf(&ctx.control)
        .create_incident(new, caller.actor())
        .await?;
    tracing::info!(incident = %incident.id, by = %caller.name, "incident declared through the admin API");
    Ok(created(incident.id.as_str(), IncidentOut::from(&incident)))
}

/// One incident with its full timeline.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}",
    operation_id = "get_incident",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "The incident and its timeline", body = IncidentDetail), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn get_one(
    State(ctx): State<Ctx>,
    IdPath(id): IdPath,
) -> Result<Json<IncidentDetail>, ApiError> {
    let iid = incident_id(&id)?;
    let view = ctx.control.view();
    let incident = view
        .incidents
        .iter()
        .find(|i| i.id == iid)
        .ok_or_else(|| ApiError::not_found("incident", &id))?;
    let timeline = ctx.control.timeline(&iid).await?;
    Ok(Json(IncidentDetail {
        incident: IncidentOut::from(incident),
        timeline: timeline.iter().map(TimelineEntryOut::from).collect(),
        similar_incidents: super::postmortems::similar_out(&ctx, incident).await?,
        changes: super::changes::incident_changes(&ctx, incident).await?,
    }))
}

/// Posts an update: a new status, a message, component statuses. From now on a person owns
/// the incident and automation no longer changes its status. Posting never publishes a
/// private incident: the update is public once the incident is (`public: true` here, or
/// `PATCH` with `public: true`).
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/updates",
    operation_id = "post_incident_update",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    request_body = CreateUpdate,
    responses((status = 201, description = "Posted and stored; the incident as it is now", body = IncidentOut), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn post_update(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<CreateUpdate>,
) -> Result<Response, ApiError> {
    let iid = incident_id(&id)?;
    let update = NewUpdate {
        status: req.status,
        body: req.body,
        components: req.components,
        public: req.public,
    };
    let incident = caller
        .on_behalf(&ctx.control)
        .post_update(iid, update, caller.actor())
        .await?;
    tracing::info!(incident = %incident.id, status = incident.status.as_str(), by = %caller.name, "incident update posted through the admin API");
    Ok(created(incident.id.as_str(), IncidentOut::from(&incident)))
}

/// Adds a private note to the timeline (beyond SPEC §4: responders' notes never reach the
/// public page). Works for maintenance ids too.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/notes",
    operation_id = "add_incident_note",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident (or maintenance) id")),
    request_body = CreateNote,
    responses((status = 201, description = "Recorded in the timeline", body = NoteOut), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn add_note(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<CreateNote>,
) -> Result<Response, ApiError> {
    let iid = incident_id(&id)?;
    caller
        .on_behalf(&ctx.control)
        .add_note(iid.clone(), req.body.clone(), caller.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NoteOut {
            incident_id: iid.to_string(),
            body: req.body,
            actor: ActorOut::from(&caller.actor()),
        }),
    )
        .into_response())
}

/// Changes the name, severity, impact, roles or visibility. Each change is recorded in the
/// timeline with who made it, when, and the old and new values.
#[utoipa::path(
    patch,
    path = "/api/v1/incidents/{id}",
    operation_id = "patch_incident",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    request_body = PatchIncident,
    responses((status = 200, description = "Changed and stored; the incident as it is now", body = IncidentOut), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn patch(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<PatchIncident>,
) -> Result<Json<IncidentOut>, ApiError> {
    let iid = incident_id(&id)?;
    let patch = IncidentPatch {
        name: req.name,
        severity: req.severity,
        impact: req.impact,
        roles: req.roles.unwrap_or_default(),
        public: req.public,
    };
    let incident = caller
        .on_behalf(&ctx.control)
        .patch_incident(iid, patch, caller.actor())
        .await?;
    Ok(Json(IncidentOut::from(&incident)))
}

/// Acknowledges an open incident: a responder says they are on it (SPEC §10). The first
/// acknowledgement is kept, with a timeline entry; acknowledging again changes nothing. A
/// resolved incident is refused (422).
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/acknowledge",
    operation_id = "acknowledge_incident",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "Acknowledged and stored; the incident as it is now", body = IncidentOut), (status = 503, description = UNAVAILABLE, body = ErrorBody))
)]
pub(crate) async fn acknowledge(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<IncidentOut>, ApiError> {
    let iid = incident_id(&id)?;
    let incident = caller
        .on_behalf(&ctx.control)
        .acknowledge(iid, caller.actor())
        .await?;
    tracing::info!(incident = %incident.id, by = %caller.name, "incident acknowledged through the admin API");
    Ok(Json(IncidentOut::from(&incident)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::error::parse;
    use axum::http::StatusCode;

    #[test]
    fn patch_tells_absent_from_null() {
        let p: PatchIncident = parse(br#"{"severity": null, "impact": "major"}"#).unwrap();
        assert_eq!(p.severity, Some(None));
        assert_eq!(p.impact, Some(Some(Impact::Major)));
        let p: PatchIncident = parse(br#"{"roles": {"commander": null}}"#).unwrap();
        assert_eq!(p.severity, None);
        assert_eq!(p.impact, None);
        assert_eq!(p.roles, Some(BTreeMap::from([("commander".into(), None)])));
    }

    /// The answer to a body refused at the edge: (status, field, message).
    fn refusal<T: serde::de::DeserializeOwned + std::fmt::Debug>(
        json: &str,
    ) -> (StatusCode, Option<String>, String) {
        parse::<T>(json.as_bytes()).unwrap_err().parts()
    }

    #[test]
    fn values_that_name_nothing_are_refused_at_the_edge_naming_their_field() {
        let (status, field, message) =
            refusal::<CreateIncident>(r#"{"name": "X", "body": "Y", "status": "in_progress"}"#);
        assert_eq!(
            (status, field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("status"))
        );
        assert!(message.contains("maintenance status"), "{message}");
        let (status, field, message) =
            refusal::<CreateIncident>(r#"{"name": "X", "body": "Y", "status": "postmortem"}"#);
        assert_eq!(
            (status, field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("status"))
        );
        assert!(message.contains("publishing a postmortem"), "{message}");
        let (status, field, message) = refusal::<CreateIncident>(
            r#"{"name": "X", "body": "Y", "components": {"api": "on_fire"}}"#,
        );
        assert_eq!(
            (status, field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("components.api"))
        );
        assert_eq!(message, "unknown component status \"on_fire\"; expected operational, degraded_performance, partial_outage, major_outage or under_maintenance");
        let (status, field, message) = refusal::<CreateIncident>(
            r#"{"name": "X", "body": "Y", "components": {"Not an id": "major_outage"}}"#,
        );
        assert_eq!(
            (status, field.as_deref()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("components.Not an id")
            )
        );
        assert_eq!(message, "unknown component \"Not an id\"");
        let (status, field, message) =
            refusal::<CreateIncident>(r#"{"name": "X", "body": "Y", "severity": "S9"}"#);
        assert_eq!(
            (status, field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("severity"))
        );
        assert_eq!(
            message,
            "unknown severity \"S9\"; expected S1, S2, S3 or S4"
        );
        let (status, field, message) = refusal::<PatchIncident>(r#"{"impact": "x"}"#);
        assert_eq!(
            (status, field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("impact"))
        );
        assert_eq!(
            message,
            "unknown impact \"x\"; expected none, minor, major or critical"
        );
        let (status, field, _) = refusal::<CreateUpdate>(r#"{"body": "", "status": "closed"}"#);
        assert_eq!(
            (status, field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("status"))
        );
        // A wrong JSON type, a missing or an unknown key stays a 400.
        for (json, at) in [
            (r#"{"name": "X", "body": "Y", "severity": 1}"#, "severity"),
            (
                r#"{"name": "X", "body": "Y", "components": {"api": 1}}"#,
                "components.api",
            ),
            (r#"{"name": "X"}"#, "body"),
            (r#"{"name": "X", "body": "Y", "sevrity": "S1"}"#, "sevrity"),
        ] {
            let (status, field, _) = refusal::<CreateIncident>(json);
            assert_eq!(
                (status, field.as_deref()),
                (StatusCode::BAD_REQUEST, Some(at)),
                "{json}"
            );
        }
    }

    #[test]
    fn typed_bodies_reach_the_engine_as_asked() {
        let c: CreateIncident = parse(
            br#"{"name": "X", "body": "Y", "severity": "s2", "components": {"api": "major_outage"}}"#,
        )
        .unwrap();
        assert_eq!(
            c.severity,
            Some(Severity::S2),
            "severities are case-insensitive"
        );
        assert_eq!(
            c.components,
            BTreeMap::from([(
                ComponentId::new("api").unwrap(),
                ComponentStatus::MajorOutage
            )])
        );
        let c: CreateIncident =
            parse(br#"{"name": "X", "body": "Y", "components": null}"#).unwrap();
        assert!(c.components.is_empty() && c.status.is_none());
        let u: CreateUpdate = parse(br#"{"body": "", "status": "resolved"}"#).unwrap();
        assert_eq!(u.status, Some(IncidentStatus::Resolved));
    }
}

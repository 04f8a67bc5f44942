//! `/api/v1/incidents/{id}/postmortem`: the postmortem of an incident, drafted from its record
//! on every read (`GET`, as JSON or, with `?format=md`, Markdown), its human part saved with
//! `PUT`, and published with `POST …/postmortem/publish` once nothing is missing. Also the
//! similar earlier incidents shown on `GET /api/v1/incidents/{id}`.
//!
//! The draft is built by `pharos_domain::postmortem::draft` from the incident as the engine's
//! view shows it, its timeline and the changes to its components (read from storage), and the
//! saved human part; every local time is in one zone: `?tz=`, else the zone saved with the
//! postmortem, else the page's `[page] time_zone`.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use pharos_domain::postmortem::{
    self, ActionInput, ActionItem, ActionKind, Audience, EditsInput, Postmortem, PostmortemEdits,
};
use pharos_domain::request;
use pharos_domain::similar::{self, Candidate, SimilarIncident};
use pharos_domain::{ComponentId, Incident, IncidentId};
use pharos_engine::{EngineControl, Publication, StoredPostmortem};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ApiJson, ErrorBody, UNAVAILABLE};
use super::model::IdPath;
use super::Ctx;

/// One action item.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PostmortemAction)]
pub(crate) struct ActionOut {
    /// Stable id within the postmortem: `A1`, `A2`, …
    #[schema(example = "A1")]
    id: String,
    /// What will be done.
    #[schema(example = "Alert when open connections keep growing")]
    description: String,
    /// Who owns it; `null` while nobody does.
    #[schema(example = "alice")]
    owner: Option<String>,
    /// When it is due (`YYYY-MM-DD`); `null` while undecided.
    #[schema(example = "2026-04-30")]
    due: Option<NaiveDate>,
    /// `prevent`, `mitigate` or `process`.
    #[schema(example = "prevent")]
    kind: &'static str,
    /// Whether it is done.
    done: bool,
    /// Its ticket.
    url: Option<String>,
}

impl From<&ActionItem> for ActionOut {
    fn from(a: &ActionItem) -> Self {
        Self {
            id: a.id.clone(),
            description: a.description.clone(),
            owner: a.owner.clone(),
            due: a.due,
            kind: a.kind.as_str(),
            done: a.done,
            url: a.url.clone(),
        }
    }
}

/// An earlier incident on the same components that reads alike.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SimilarIncident)]
pub(crate) struct SimilarOut {
    /// Its id.
    id: String,
    /// Its name.
    name: String,
    /// Its status now.
    #[schema(example = "postmortem")]
    status: &'static str,
    /// When its trouble started.
    started_at: DateTime<Utc>,
    /// When it was resolved.
    resolved_at: Option<DateTime<Utc>>,
    /// Text similarity, 0 to 1 (TF-IDF cosine over name, updates and root cause); at least
    /// 0.15.
    #[schema(example = 0.42)]
    score: f64,
    /// The components both incidents touched.
    shared_components: Vec<String>,
    /// Its postmortem: `draft`, `published`, or `null` when none was started.
    #[schema(example = "published")]
    postmortem: Option<&'static str>,
    /// The root cause its postmortem gives.
    root_cause: Option<String>,
    /// Its action items not done yet.
    open_actions: Vec<ActionOut>,
}

impl From<&SimilarIncident> for SimilarOut {
    fn from(s: &SimilarIncident) -> Self {
        Self {
            id: s.id.to_string(),
            name: s.name.clone(),
            status: s.status.as_str(),
            started_at: s.started_at,
            resolved_at: s.resolved_at,
            score: s.score,
            shared_components: s.shared_components.iter().map(|c| c.to_string()).collect(),
            postmortem: s.postmortem.map(|p| p.as_str()),
            root_cause: s.root_cause.clone(),
            open_actions: s.open_actions.iter().map(ActionOut::from).collect(),
        }
    }
}

/// One gap that keeps the postmortem from being published.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PostmortemGap)]
pub(crate) struct MissingOut {
    /// The section or field, as named in the `PUT` body: `root_cause`, `remediation`,
    /// `actions`, `actions[0].owner`, `actions[0].due`, `services_impacted`, …
    #[schema(example = "actions[0].owner")]
    pub(crate) section: String,
    /// What to do about it.
    #[schema(example = "action A1 has no owner")]
    pub(crate) message: String,
}

/// The human part as saved: what `PUT` takes (send it back with your changes).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PostmortemEdits)]
pub(crate) struct EditsOut {
    /// Replaces the drafted description (`null`: the draft's).
    description: Option<String>,
    /// Replaces the drafted type of event (`null`: the draft's).
    event_type: Option<String>,
    /// Names the services impacted beside the recorded components.
    services_impacted: Option<String>,
    /// Why it happened (Markdown).
    root_cause: String,
    /// What ended it (Markdown).
    remediation: String,
    /// Follow-ups.
    actions: Vec<ActionOut>,
    /// The saved IANA zone (`null`: the page's).
    time_zone: Option<String>,
}

impl From<&PostmortemEdits> for EditsOut {
    fn from(e: &PostmortemEdits) -> Self {
        Self {
            description: e.description.clone(),
            event_type: e.event_type.clone(),
            services_impacted: e.services_impacted.clone(),
            root_cause: e.root_cause.clone(),
            remediation: e.remediation.clone(),
            actions: e.actions.iter().map(ActionOut::from).collect(),
            time_zone: e.time_zone.clone(),
        }
    }
}

/// A postmortem: the draft built from the record with the human part filled in, whether it
/// is complete, and when it was saved and published.
///
/// The draft's own fields: `incident_id`, `title`, `incident_status`, `severity`, `impact`,
/// `time_zone`, `description` and `event_type` (`{text, edited}`), `services_impacted`
/// (`[{component_id, name, worst_status}]`), `services_note`, `started_at`, `resolved_at`,
/// `total_duration` (`{seconds, text}`), `detection` (`source`, `by_check`, and
/// `time_to_detect`, `time_to_acknowledge`, `time_to_first_public_update`,
/// `time_to_mitigate`, `time_to_resolve`, each `{at, seconds, text}` or `null`), `timeline`
/// (`[{at, local, utc, actor, kind, text, private}]` in time order), `changes`, `root_cause`,
/// `remediation`, `actions`, `similar_incidents` and `generated_at`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Postmortem)]
pub(crate) struct PostmortemOut {
    /// The draft (see above).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    draft: Postmortem,
    /// Whether nothing is missing: it can be published.
    complete: bool,
    /// What keeps it from being published, in document order.
    missing: Vec<MissingOut>,
    /// Whether it has been published.
    published: bool,
    /// When it was last published.
    published_at: Option<DateTime<Utc>>,
    /// When the human part was last saved (`null`: never).
    updated_at: Option<DateTime<Utc>>,
    /// The human part as saved.
    edits: EditsOut,
}

/// `GET …/postmortem` options.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PostmortemQuery {
    /// `json` (default) or `md` (Markdown, `text/markdown`).
    format: Option<String>,
    /// IANA time zone for every local time, e.g. `America/Denver` (default: the zone saved
    /// with the postmortem, else the page's).
    tz: Option<String>,
}

/// `PUT …/postmortem`: the whole human part (what is left out is emptied).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutPostmortem {
    /// Replaces the drafted description; blank or `null` keeps the draft's.
    description: Option<String>,
    /// Replaces the drafted type of event ("Outage", "Degradation", …); blank or `null`
    /// keeps the draft's.
    #[schema(example = "Outage")]
    event_type: Option<String>,
    /// Names the services impacted, beside the components recorded on the incident.
    services_impacted: Option<String>,
    /// Why it happened (Markdown, at most 10,000 characters).
    #[schema(example = "An ever-growing list of open connections exhausted the pool.")]
    root_cause: Option<String>,
    /// What was done to end it (Markdown, at most 10,000 characters).
    #[schema(example = "Restarted the booking service with a larger pool.")]
    remediation: Option<String>,
    /// Follow-ups, at most 50. Give a saved action's `id` to keep it; leave `id` out for a new
    /// one.
    #[serde(default)]
    actions: Vec<PutAction>,
    /// IANA time zone the document is written in, e.g. `America/Denver`.
    #[serde(default, deserialize_with = "postmortem::time_zone")]
    #[schema(value_type = Option<String>, example = "America/Denver")]
    time_zone: Option<Tz>,
}

/// One action item in a `PUT`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutAction {
    /// A saved action's id (`A1`); leave out for a new action.
    id: Option<String>,
    /// What will be done.
    #[schema(example = "Alert when open connections keep growing")]
    description: String,
    /// Who owns it (a person or team); must not be blank when given.
    #[schema(example = "alice")]
    owner: Option<String>,
    /// Due date, `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "request::option")]
    #[schema(value_type = Option<String>, example = "2026-04-30")]
    due: Option<NaiveDate>,
    /// `prevent` (default), `mitigate` or `process`.
    #[serde(default, deserialize_with = "request::option")]
    #[schema(value_type = Option<String>, example = "prevent")]
    kind: Option<ActionKind>,
    /// Whether it is done (default false).
    done: Option<bool>,
    /// Its ticket, `http(s)://…`.
    url: Option<String>,
}

impl From<PutPostmortem> for EditsInput {
    fn from(p: PutPostmortem) -> Self {
        EditsInput {
            description: p.description,
            event_type: p.event_type,
            services_impacted: p.services_impacted,
            root_cause: p.root_cause,
            remediation: p.remediation,
            actions: p
                .actions
                .into_iter()
                .map(|a| ActionInput {
                    id: a.id,
                    description: a.description,
                    owner: a.owner,
                    due: a.due,
                    kind: a.kind,
                    done: a.done,
                    url: a.url,
                })
                .collect(),
            time_zone: p.time_zone,
        }
    }
}

/// The body of a refused publication: the API's error, plus every gap.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PublishRefused {
    /// `{status, message, field}`, as every error.
    #[schema(value_type = Object)]
    error: serde_json::Value,
    /// What is missing (empty when the refusal is about the incident's status).
    missing: Vec<MissingOut>,
}

/// The refusal itself, as an answer.
fn refused(status: StatusCode, message: String, field: &str, missing: Vec<MissingOut>) -> Response {
    let body = PublishRefused {
        error: serde_json::json!({
            "status": status.as_u16(),
            "message": message,
            "field": field,
        }),
        missing,
    };
    (status, Json(body)).into_response()
}

fn incident_id(id: &str) -> Result<IncidentId, ApiError> {
    IncidentId::new(id).ok_or_else(|| ApiError::not_found("incident", id))
}

fn parse_tz(field: &str, z: &str) -> Result<Tz, ApiError> {
    postmortem::parse_time_zone(field, z).map_err(rule_error)
}

/// A domain refusal as a 422 naming its field.
pub(crate) fn rule_error(e: pharos_domain::RuleError) -> ApiError {
    let field = e.field().to_owned();
    let message = match e {
        pharos_domain::RuleError::Invalid { message, .. } => message,
    };
    ApiError::unprocessable(field, message)
}

/// A draft with what it was built from.
pub(crate) struct Built {
    /// The draft.
    pub(crate) postmortem: Postmortem,
    /// What is saved.
    pub(crate) stored: StoredPostmortem,
    /// The incident it is about.
    pub(crate) incident: Incident,
}

/// What keeps `pm` from being published, in the API's shape.
pub(crate) fn missing_out(pm: &Postmortem) -> Vec<MissingOut> {
    postmortem::missing(pm)
        .into_iter()
        .map(|m| MissingOut {
            section: m.section,
            message: m.message,
        })
        .collect()
}

impl Built {
    fn out(self) -> PostmortemOut {
        let missing = missing_out(&self.postmortem);
        PostmortemOut {
            complete: missing.is_empty(),
            missing,
            published: self.stored.published_at.is_some(),
            published_at: self.stored.published_at,
            updated_at: self.stored.updated_at,
            edits: EditsOut::from(&self.stored.edits),
            draft: self.postmortem,
        }
    }
}

/// Builds the draft of incident `iid`, in `tz` when given.
pub(crate) async fn build(
    control: &EngineControl,
    iid: &IncidentId,
    tz: Option<Tz>,
) -> Result<Built, ApiError> {
    let incident = control
        .view()
        .incidents
        .iter()
        .find(|i| &i.id == iid)
        .cloned()
        .ok_or_else(|| ApiError::not_found("incident", iid.as_str()))?;
    build_from(control, incident, tz, None).await
}

/// The postmortem of `incident` as given (the desk's answer to a command, which the published
/// view may not show yet), with `edits` instead of the saved human part when given (a preview
/// of edits not saved).
pub(crate) async fn build_from(
    control: &EngineControl,
    incident: Incident,
    tz: Option<Tz>,
    edits: Option<PostmortemEdits>,
) -> Result<Built, ApiError> {
    let iid = &incident.id;
    let view = control.view();
    let mut stored = control.postmortem(iid).await?;
    if let Some(edits) = edits {
        stored.edits = edits;
    }
    let tz = tz
        .or_else(|| stored.edits.tz())
        .unwrap_or(view.page.time_zone);
    let timeline = control.timeline(iid).await?;
    let now = pharos_engine::clock::now();
    let changes = control.incident_changes(&incident).await?;
    let names: BTreeMap<ComponentId, String> = view
        .components
        .iter()
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    let mut draft = postmortem::draft(
        &postmortem::Sources {
            incident: &incident,
            timeline: &timeline,
            changes: &changes,
            edits: &stored.edits,
            component_names: &names,
        },
        tz,
        now,
    );
    draft.similar_incidents = similar_incidents(control, &incident).await?;
    Ok(Built {
        postmortem: draft,
        stored,
        incident,
    })
}

/// The earlier incidents like `incident`, best first (see `pharos_domain::similar`).
pub(crate) async fn similar_incidents(
    control: &EngineControl,
    incident: &Incident,
) -> Result<Vec<SimilarIncident>, ApiError> {
    let view = control.view();
    let earlier: Vec<&Incident> = view
        .incidents
        .iter()
        .filter(|i| i.created_at < incident.created_at)
        .filter(|i| {
            i.components
                .keys()
                .any(|c| incident.components.contains_key(c))
        })
        .collect();
    if earlier.is_empty() {
        return Ok(Vec::new());
    }
    let stored = control.postmortems().await?;
    let candidate = |i: &'_ Incident| {
        let pm = stored.get(&i.id);
        (
            pm.map(|p| &p.edits),
            pm.is_some_and(|p| p.published_at.is_some()),
        )
    };
    let (own, _) = candidate(incident);
    let target = Candidate {
        incident,
        postmortem: own,
        published: false,
    };
    let others: Vec<Candidate<'_>> = earlier
        .into_iter()
        .map(|i| {
            let (postmortem, published) = candidate(i);
            Candidate {
                incident: i,
                postmortem,
                published,
            }
        })
        .collect();
    Ok(similar::find(
        target,
        &others,
        similar::THRESHOLD,
        similar::LIMIT,
    ))
}

/// [`similar_incidents`] in the API's shape.
pub(crate) async fn similar_out(
    ctx: &Ctx,
    incident: &Incident,
) -> Result<Vec<SimilarOut>, ApiError> {
    Ok(similar_incidents(&ctx.control, incident)
        .await?
        .iter()
        .map(SimilarOut::from)
        .collect())
}

/// The postmortem of an incident, drafted from its record: description, type of event,
/// services impacted, timeline (in time order, in one zone, UTC beside each time), total
/// duration, detection metrics, the changes that preceded it, and the human part (root cause,
/// remediation, action items), with what is still missing. `?format=md` answers the same as
/// Markdown.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}/postmortem",
    operation_id = "get_postmortem",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id"), PostmortemQuery),
    responses(
        (status = 200, description = "The postmortem (JSON, or Markdown with ?format=md)", content(
            (PostmortemOut = "application/json"),
            (String = "text/markdown")
        )),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 422, description = "An unknown format or time zone", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn get(
    State(ctx): State<Ctx>,
    IdPath(id): IdPath,
    Query(q): Query<PostmortemQuery>,
) -> Result<Response, ApiError> {
    let iid = incident_id(&id)?;
    let markdown = match q.format.as_deref().map(str::trim) {
        None | Some("json") => false,
        Some("md" | "markdown") => true,
        Some(other) => {
            return Err(ApiError::unprocessable(
                "format",
                format!("unknown format {other:?}; expected json or md"),
            ))
        }
    };
    let tz = q.tz.as_deref().map(|z| parse_tz("tz", z)).transpose()?;
    let built = build(&ctx.control, &iid, tz).await?;
    if markdown {
        let md = postmortem::render_markdown(&built.postmortem, Audience::Internal);
        return Ok(([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], md).into_response());
    }
    Ok(Json(built.out()).into_response())
}

/// Saves the human part of the postmortem: root cause, remediation, action items (each with
/// an owner and a due date), and optional replacements for the drafted description and type of
/// event. Replaces what was saved. A postmortem already published keeps its published text
/// until it is published again.
#[utoipa::path(
    put,
    path = "/api/v1/incidents/{id}/postmortem",
    operation_id = "put_postmortem",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    request_body = PutPostmortem,
    responses(
        (status = 200, description = "Saved; the postmortem as it is now", body = PostmortemOut),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 422, description = "A field breaks a rule (named, e.g. actions[1].due)", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn put(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<PutPostmortem>,
) -> Result<Json<PostmortemOut>, ApiError> {
    let iid = incident_id(&id)?;
    if !ctx.control.view().incidents.iter().any(|i| i.id == iid) {
        return Err(ApiError::not_found("incident", &id));
    }
    let previous = ctx.control.postmortem(&iid).await?;
    let edits = postmortem::parse_edits(req.into(), &previous.edits).map_err(rule_error)?;
    caller
        .on_behalf(&ctx.control)
        .save_postmortem(&iid, Some(&edits), None)
        .await?;
    tracing::info!(incident = %iid, by = %caller.name, actions = edits.actions.len(), "postmortem saved through the admin API");
    Ok(Json(build(&ctx.control, &iid, None).await?.out()))
}

/// Publishes the postmortem: refused with 409 while the incident is not resolved, and with
/// 422 listing every gap (in `missing`) while it is incomplete. Otherwise the postmortem is
/// posted as a public update with status `postmortem` (subscribers and notifiers hear of it;
/// the incident page and `/api/v2/incidents.json` show it), and the incident's status becomes
/// `postmortem`. Publishing again after an edit replaces the published text, without a second
/// notification. Private notes, similar incidents, change authors and record ids are never
/// published; nor are responders' names (who declared it, posted updates, owns an action
/// item) unless `[page] show_responders = true`. A private incident's postmortem stays
/// private with it until the incident is published.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/postmortem/publish",
    operation_id = "publish_postmortem",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "Published and stored; the postmortem as it is now", body = PostmortemOut),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 409, description = "The incident is not resolved", body = PublishRefused),
        (status = 422, description = "Incomplete: every gap is listed in `missing`", body = PublishRefused),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn publish(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let iid = incident_id(&id)?;
    match publish_as(&ctx.control, &caller, &iid, ctx.show_responders).await? {
        Published::Done(built) => Ok(Json(built.out()).into_response()),
        Published::NotResolved(message) => {
            Ok(refused(StatusCode::CONFLICT, message, "status", Vec::new()))
        }
        Published::Incomplete(gaps) => {
            let field = gaps.first().map(|g| g.section.clone()).unwrap_or_default();
            Ok(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                incomplete_message(gaps.len()),
                &field,
                gaps,
            ))
        }
    }
}

/// What publishing did.
pub(crate) enum Published {
    /// Published; the postmortem as it is now.
    Done(Box<Built>),
    /// Refused, nothing changed: the incident is not resolved (the sentence says so).
    NotResolved(String),
    /// Refused, nothing changed: these are missing.
    Incomplete(Vec<MissingOut>),
}

/// "the postmortem is incomplete: 3 items are missing".
pub(crate) fn incomplete_message(gaps: usize) -> String {
    format!(
        "the postmortem is incomplete: {} item{} missing",
        gaps,
        if gaps == 1 { " is" } else { "s are" }
    )
}

/// Publishes incident `iid`'s postmortem on behalf of `caller` (see [`publish`]): the admin
/// API's and the console's one way to do it.
pub(crate) async fn publish_as(
    control: &EngineControl,
    caller: &Caller,
    iid: &IncidentId,
    show_responders: bool,
) -> Result<Published, ApiError> {
    let built = build(control, iid, None).await?;
    if built.incident.status.is_unresolved() {
        return Ok(Published::NotResolved(format!(
            "the incident is still {}; resolve it before publishing its postmortem",
            built.incident.status.as_str()
        )));
    }
    let gaps = missing_out(&built.postmortem);
    if !gaps.is_empty() {
        return Ok(Published::Incomplete(gaps));
    }
    let audience = Audience::Public { show_responders };
    let text = postmortem::render_markdown(&built.postmortem, audience);
    let (incident, publication) = caller
        .on_behalf(control)
        .publish_postmortem(iid.clone(), text, caller.actor())
        .await?;
    control
        .save_postmortem(iid, None, Some(pharos_engine::clock::now()))
        .await?;
    let what = match publication {
        Publication::First => "postmortem published",
        Publication::Revised => "published postmortem revised",
        Publication::Unchanged => "postmortem published again, unchanged",
    };
    tracing::info!(incident = %iid, by = %caller.name, "{what}");
    // Answered from the desk's incident: the published view may not show it as `postmortem`
    // yet.
    Ok(Published::Done(Box::new(
        build_from(control, incident, None, None).await?,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::error::parse;

    #[test]
    fn dates_kinds_and_time_zones_are_parsed_at_the_edge_naming_their_field() {
        let refused = |json: &str| parse::<PutPostmortem>(json.as_bytes()).unwrap_err().parts();
        for (json, field, says) in [
            (
                r#"{"actions": [{"description": "a"}, {"description": "b", "due": "30/04/2026"}]}"#,
                "actions[1].due",
                "is not a date",
            ),
            (
                r#"{"actions": [{"description": "a", "kind": "fix"}]}"#,
                "actions[0].kind",
                "unknown kind \"fix\"",
            ),
            (
                r#"{"time_zone": "Mars/Olympus"}"#,
                "time_zone",
                "unknown time zone",
            ),
            (r#"{"time_zone": "MST"}"#, "time_zone", "abbreviation"),
            (r#"{"time_zone": "CST6CDT"}"#, "time_zone", "abbreviation"),
        ] {
            let (status, at, message) = refused(json);
            assert_eq!(
                (status, at.as_deref()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{json}"
            );
            assert!(message.contains(says), "{json}: {message}");
        }
        let p: PutPostmortem = parse(
            br#"{"time_zone": " ", "actions": [{"description": "a", "kind": " process", "due": "2026-04-30"}]}"#,
        )
        .unwrap();
        assert_eq!(p.time_zone, None, "blank is absent");
        let input = EditsInput::from(p);
        assert_eq!(input.actions[0].kind, Some(ActionKind::Process));
        assert_eq!(input.actions[0].due, NaiveDate::from_ymd_opt(2026, 4, 30));
    }
}

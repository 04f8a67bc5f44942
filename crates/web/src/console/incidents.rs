//! The console's incidents: the list with search (`GET /console/incidents`), declaring one
//! (`GET /console/incidents/new`, `POST /console/incidents`), one incident with its whole
//! timeline (`GET /console/incidents/{id}`), and what responders do to it: post an update
//! (status, components, Markdown body with a preview and message templates), add a private
//! note, change its name, severity, impact or visibility, assign roles. Every change goes
//! through the engine on the signed-in person's behalf, exactly as the admin API's, so it is
//! checked by the same rules and audited in the same transaction.
//!
//! The page works without JavaScript: the preview and the templates are buttons of the same
//! form, answered with the form again. With JavaScript, an open incident's status and
//! timeline follow it live ([`super::live`]).

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use http::{HeaderValue, StatusCode};
use pharos_domain::access::Permission;
use pharos_domain::incident::{TimelineEntry, TimelineKind};
use pharos_domain::{
    ComponentId, ComponentStatus, Impact, Incident, IncidentId, IncidentStatus, RuleError, Severity,
};
use pharos_engine::desk::DeskError;
use pharos_engine::{CommandError, IncidentPatch, NewIncident, NewUpdate};
use serde::Deserialize;

use super::pages::{render, Nav};
use super::{html, local_time, Ctx, Fields, Signed};
use crate::brand::BrandView;

/// Canned first lines for an update, one per status (the form's "Use template").
const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "investigating",
        "Investigating",
        "We are investigating reports of problems with {components}. We will post an update \
         within 30 minutes.",
    ),
    (
        "identified",
        "Identified",
        "We have identified the cause of the problems with {components} and are working on a \
         fix.",
    ),
    (
        "monitoring",
        "Monitoring",
        "A fix has been applied to {components}. We are monitoring the results.",
    ),
    (
        "resolved",
        "Resolved",
        "This incident has been resolved. {components} are working normally.",
    ),
];

/// Roles a person may hold in an incident (any other name may be typed too).
const ROLE_NAMES: &[&str] = &["commander", "communications", "operations", "scribe"];

/// The longest search the list takes.
const MAX_QUERY_CHARS: usize = 200;

/// A component the forms offer, with the status chosen for it (`""`: not affected).
struct ComponentChoice {
    id: String,
    name: String,
    chosen: &'static str,
}

/// An option of a `<select>`.
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

/// What the update (or declare) form holds: its values, to show them again.
#[derive(Default)]
struct Draft {
    name: String,
    status: String,
    body: String,
    components: BTreeMap<String, String>,
    public: bool,
    impact: String,
    severity: String,
}

/// `status` choices for an incident's update, with `current` selected.
fn status_choices(current: &str) -> Vec<Choice> {
    IncidentStatus::ALL
        .iter()
        .filter(|s| **s != IncidentStatus::Postmortem)
        .map(|s| Choice {
            value: s.as_str(),
            label: s.label(),
            selected: s.as_str() == current,
        })
        .collect()
}

/// A `<select>`'s options: `none` (value `""`) first, then each `(value, label)`, with the
/// one equal to `current` selected.
fn choices(
    none: &'static str,
    options: impl Iterator<Item = (&'static str, &'static str)>,
    current: &str,
) -> Vec<Choice> {
    std::iter::once(("", none))
        .chain(options)
        .map(|(value, label)| Choice {
            value,
            label,
            selected: value == current,
        })
        .collect()
}

/// Component status choices (with "not affected" first). The template marks each
/// component's own choice (`ComponentChoice::chosen`), not `selected`.
fn component_status_choices() -> Vec<Choice> {
    let statuses = ComponentStatus::ALL.iter().map(|s| (s.as_str(), s.label()));
    choices("Not affected", statuses, "")
}

/// Impact choices: computed from the components, or one set by hand.
fn impact_choices(current: &str) -> Vec<Choice> {
    let impacts = Impact::ALL.iter().map(|i| (i.as_str(), i.as_str()));
    choices("From the components", impacts, current)
}

/// Severity choices.
fn severity_choices(current: &str) -> Vec<Choice> {
    let severities = Severity::ALL.iter().map(|s| (s.as_str(), s.as_str()));
    choices("Not set", severities, current)
}

/// The leaf components, with the status `draft` chose for each.
fn component_choices(ctx: &Ctx, draft: &Draft) -> Vec<ComponentChoice> {
    ctx.control
        .view()
        .components
        .iter()
        .filter(|c| !c.is_group)
        .map(|c| {
            let chosen = draft
                .components
                .get(c.id.as_str())
                .and_then(|s| ComponentStatus::parse(s))
                .map_or("", ComponentStatus::as_str);
            ComponentChoice {
                id: c.id.to_string(),
                name: c.name.clone(),
                chosen,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The list

/// An incident's row in the list.
struct Row {
    id: String,
    name: String,
    status: &'static str,
    impact: &'static str,
    severity: Option<&'static str>,
    public: bool,
    started: String,
    resolved: Option<String>,
}

/// The list page.
#[derive(Template)]
#[template(path = "console/incidents.html")]
struct ListPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    query: &'a str,
    open_only: bool,
    rows: Vec<Row>,
    may_declare: bool,
}

/// The list's query string.
#[derive(Deserialize)]
pub(super) struct ListQuery {
    /// Words the name (or the id) must contain.
    #[serde(default)]
    q: String,
    /// `open` to show only unresolved incidents.
    #[serde(default)]
    show: String,
}

/// Whether `incident` matches every word of `query` (in its name or id, any case).
fn matches(incident: &Incident, words: &[String]) -> bool {
    let name = incident.name.to_lowercase();
    words
        .iter()
        .all(|w| name.contains(w.as_str()) || incident.id.as_str() == w)
}

/// `GET /console/incidents`.
pub(super) async fn list(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Query(q): Query<ListQuery>,
) -> Response {
    let view = ctx.control.view();
    let tz = super::time_zone(&signed);
    let query: String = q.q.trim().chars().take(MAX_QUERY_CHARS).collect();
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let open_only = q.show == "open";
    let mut all: Vec<&Incident> = view
        .incidents
        .iter()
        .filter(|i| !open_only || i.status.is_unresolved())
        .filter(|i| matches(i, &words))
        .collect();
    all.sort_by_key(|i| std::cmp::Reverse(i.created_at));
    let rows = all
        .into_iter()
        .map(|i| Row {
            id: i.id.to_string(),
            name: i.name.clone(),
            status: i.status.label(),
            impact: i.impact_override.unwrap_or(i.computed_impact).as_str(),
            severity: i.severity.map(Severity::as_str),
            public: i.public,
            started: local_time(i.started_at, tz),
            resolved: i.resolved_at.map(|t| local_time(t, tz)),
        })
        .collect();
    let nav = Nav::new(&signed, "/incidents");
    let brand = BrandView::new(&view.page);
    html(
        StatusCode::OK,
        render(
            &ListPage {
                base: &ctx.base,
                nav: Some(&nav),
                page_name: &view.page.name,
                brand: &brand,
                query: &query,
                open_only,
                rows,
                may_declare: signed.may(Permission::Communicate),
            },
            "Incidents",
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Declaring

/// The declare form.
#[derive(Template)]
#[template(path = "console/incident_new.html")]
struct NewPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    csrf: &'a str,
    error: Option<&'a str>,
    draft: &'a Draft,
    preview: Option<String>,
    statuses: Vec<Choice>,
    impacts: Vec<Choice>,
    severities: Vec<Choice>,
    component_statuses: Vec<Choice>,
    components: Vec<ComponentChoice>,
    templates: &'static [(&'static str, &'static str, &'static str)],
}

/// The declare form with `draft`, `error` and `preview`, answered with `status`.
fn new_form(
    ctx: &Ctx,
    signed: &Signed,
    status: StatusCode,
    draft: &Draft,
    error: Option<&str>,
    preview: Option<String>,
) -> Response {
    let view = ctx.control.view();
    let nav = Nav::new(signed, "/incidents");
    let brand = BrandView::new(&view.page);
    html(
        status,
        render(
            &NewPage {
                base: &ctx.base,
                nav: Some(&nav),
                page_name: &view.page.name,
                brand: &brand,
                csrf: &signed.csrf,
                error,
                draft,
                preview,
                statuses: status_choices(&draft.status),
                impacts: impact_choices(&draft.impact),
                severities: severity_choices(&draft.severity),
                component_statuses: component_status_choices(),
                components: component_choices(ctx, draft),
                templates: TEMPLATES,
            },
            "Declare an incident",
        ),
    )
}

/// `GET /console/incidents/new`.
pub(super) async fn new(State(ctx): State<Ctx>, Extension(signed): Extension<Signed>) -> Response {
    let draft = Draft {
        status: "investigating".into(),
        public: true,
        ..Draft::default()
    };
    new_form(&ctx, &signed, StatusCode::OK, &draft, None, None)
}

/// The form's values.
fn draft_of(fields: &Fields) -> Draft {
    let components = fields
        .0
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("c.")?.to_owned(), v.clone())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    Draft {
        name: fields.get("name").trim().to_owned(),
        status: fields.get("status").to_owned(),
        body: fields.get("body").to_owned(),
        components,
        public: fields.get("public") == "on",
        impact: fields.get("impact").to_owned(),
        severity: fields.get("severity").to_owned(),
    }
}

/// The text of template `key`, naming the chosen components (or "our services").
fn template_text(ctx: &Ctx, key: &str, draft: &Draft) -> Option<String> {
    let (_, _, text) = TEMPLATES.iter().find(|(k, _, _)| *k == key)?;
    let view = ctx.control.view();
    let names: Vec<&str> = view
        .components
        .iter()
        .filter(|c| draft.components.contains_key(c.id.as_str()))
        .map(|c| c.name.as_str())
        .collect();
    let components = if names.is_empty() {
        "our services".to_owned()
    } else {
        names.join(", ")
    };
    Some(text.replace("{components}", &components))
}

/// A form's typed values, or the field and what is wrong with it.
struct Parsed {
    status: Option<IncidentStatus>,
    components: BTreeMap<ComponentId, ComponentStatus>,
    impact: Option<Impact>,
    severity: Option<Severity>,
}

/// Parses `draft` at the edge: each value must name a real status, impact or severity.
fn parse(draft: &Draft) -> Result<Parsed, RuleError> {
    let status = match draft.status.as_str() {
        "" => None,
        s => Some(
            IncidentStatus::parse(s)
                .filter(|s| *s != IncidentStatus::Postmortem)
                .ok_or_else(|| {
                    RuleError::invalid("status", format!("{s:?} is not an incident status"))
                })?,
        ),
    };
    let mut components = BTreeMap::new();
    for (id, s) in &draft.components {
        let field = format!("components.{id}");
        let cid =
            ComponentId::new(id.as_str()).map_err(|e| RuleError::invalid(&field, e.to_string()))?;
        let st = ComponentStatus::parse(s).ok_or_else(|| {
            RuleError::invalid(&field, format!("{s:?} is not a component status"))
        })?;
        components.insert(cid, st);
    }
    let impact = match draft.impact.as_str() {
        "" => None,
        s => Some(
            Impact::parse(s)
                .ok_or_else(|| RuleError::invalid("impact", format!("{s:?} is not an impact")))?,
        ),
    };
    let severity =
        match draft.severity.as_str() {
            "" => None,
            s => Some(Severity::parse(s).ok_or_else(|| {
                RuleError::invalid("severity", format!("{s:?} is not a severity"))
            })?),
        };
    Ok(Parsed {
        status,
        components,
        impact,
        severity,
    })
}

/// A refusal at the edge, as the engine's refusals are.
fn refused(e: RuleError) -> CommandError {
    CommandError::Desk(DeskError::Rule(e))
}

/// The message of a refused command, for the form; `Err` when Pharos could not answer.
fn refusal(e: CommandError) -> Result<String, CommandError> {
    match e {
        CommandError::Desk(d) => Ok(format!("{d}. Nothing was changed.")),
        unavailable @ CommandError::Unavailable(_) => Err(unavailable),
    }
}

/// `POST /console/incidents`: declare, or preview, or fill a template in.
pub(super) async fn create(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
) -> Response {
    let mut draft = draft_of(&fields);
    match fields.get("action") {
        "preview" => {
            let preview = crate::markdown::render_markdown(&draft.body);
            return new_form(&ctx, &signed, StatusCode::OK, &draft, None, Some(preview));
        }
        "template" => {
            if let Some(text) = template_text(&ctx, fields.get("template"), &draft) {
                draft.body = text;
            }
            return new_form(&ctx, &signed, StatusCode::OK, &draft, None, None);
        }
        _ => {}
    }
    let unprocessable = |draft: &Draft, message: &str| {
        new_form(
            &ctx,
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            draft,
            Some(message),
            None,
        )
    };
    let parsed = match parse(&draft) {
        Ok(p) => p,
        Err(e) => return unprocessable(&draft, &format!("{e}. Nothing was changed.")),
    };
    let new = NewIncident {
        name: draft.name.clone(),
        status: parsed.status,
        body: draft.body.clone(),
        components: parsed.components,
        impact: parsed.impact,
        severity: parsed.severity,
        public: Some(draft.public),
    };
    let caller = &signed.caller;
    match caller
        .on_behalf(&ctx.control)
        .create_incident(new, caller.actor())
        .await
    {
        Ok(incident) => {
            tracing::info!(incident = %incident.id, by = %caller.name, "incident declared in the console");
            see(&ctx.at(&format!("/incidents/{}", incident.id)))
        }
        Err(e) => match refusal(e) {
            Ok(message) => unprocessable(&draft, &message),
            Err(e) => super::unavailable(&ctx, &e),
        },
    }
}

/// `303 See Other` to `to` (a path this module built from ids).
fn see(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

// ---------------------------------------------------------------------------------------
// One incident

/// A line of the timeline.
pub(super) struct TimelineLine {
    at: String,
    who: String,
    text: String,
    /// A public update's or a note's body, rendered Markdown.
    body_html: Option<String>,
    private: bool,
}

/// What changes while the incident is open: its status line and its timeline (the part the
/// live page replaces).
#[derive(Template)]
#[template(path = "console/incident_live.html")]
pub(super) struct LivePart {
    status: &'static str,
    impact: &'static str,
    severity: Option<&'static str>,
    public: bool,
    human_owned: bool,
    started: String,
    resolved: Option<String>,
    roles: Vec<(String, String)>,
    components: Vec<(String, &'static str)>,
    timeline: Vec<TimelineLine>,
    acknowledged: Option<String>,
}

/// The incident page.
#[derive(Template)]
#[template(path = "console/incident.html")]
struct IncidentPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    csrf: &'a str,
    id: &'a str,
    name: &'a str,
    open: bool,
    public: bool,
    live: String,
    error: Option<&'a str>,
    may_write: bool,
    draft: &'a Draft,
    preview: Option<String>,
    statuses: Vec<Choice>,
    impacts: Vec<Choice>,
    severities: Vec<Choice>,
    component_statuses: Vec<Choice>,
    components: Vec<ComponentChoice>,
    templates: &'static [(&'static str, &'static str, &'static str)],
    role_names: &'static [&'static str],
    note: &'a str,
    /// Whether the Acknowledge button shows: open, not yet acknowledged, and the person may.
    may_acknowledge: bool,
}

/// The id in the path, if it is one.
fn incident_id(id: &str) -> Option<IncidentId> {
    IncidentId::new(id)
}

/// Incident `id` as the view has it now.
fn find(ctx: &Ctx, id: &IncidentId) -> Option<Incident> {
    ctx.control
        .view()
        .incidents
        .iter()
        .find(|i| &i.id == id)
        .cloned()
}

/// The part of the page that follows the incident live.
pub(super) async fn live_part(
    ctx: &Ctx,
    incident: &Incident,
    tz: chrono_tz::Tz,
) -> Result<LivePart, CommandError> {
    let timeline = ctx.control.timeline(&incident.id).await?;
    let view = ctx.control.view();
    let name_of = |id: &ComponentId| {
        view.components
            .iter()
            .find(|c| &c.id == id)
            .map_or_else(|| id.to_string(), |c| c.name.clone())
    };
    Ok(LivePart {
        status: incident.status.label(),
        impact: incident
            .impact_override
            .unwrap_or(incident.computed_impact)
            .as_str(),
        severity: incident.severity.map(Severity::as_str),
        public: incident.public,
        human_owned: incident.human_owned,
        started: local_time(incident.started_at, tz),
        resolved: incident.resolved_at.map(|t| local_time(t, tz)),
        acknowledged: incident
            .acknowledged
            .as_ref()
            .map(|a| format!("{} at {}", a.by, local_time(a.at, tz))),
        roles: incident
            .roles
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        components: incident
            .components
            .iter()
            .map(|(id, s)| (name_of(id), s.label()))
            .collect(),
        timeline: timeline
            .iter()
            .rev()
            .map(|e| line(e, &name_of, tz))
            .collect(),
    })
}

/// One timeline entry as the page shows it.
fn line(
    e: &TimelineEntry,
    name_of: &dyn Fn(&ComponentId) -> String,
    tz: chrono_tz::Tz,
) -> TimelineLine {
    let who = match &e.actor {
        pharos_domain::Actor::Automation => "Pharos".to_owned(),
        pharos_domain::Actor::Person(p) => p.clone(),
    };
    let (text, body_html, private) = match &e.kind {
        TimelineKind::PublicUpdate { status, body, .. } => (
            format!(
                "Public update: {}",
                IncidentStatus::parse(status)
                    .map_or_else(|| status.clone(), |s| s.label().to_owned())
            ),
            Some(crate::markdown::render_markdown(body)),
            false,
        ),
        TimelineKind::Note { body } => (
            "Private note".to_owned(),
            Some(crate::markdown::render_markdown(body)),
            true,
        ),
        _ => (
            pharos_domain::postmortem::timeline_line(e, name_of),
            None,
            false,
        ),
    };
    TimelineLine {
        at: local_time(e.occurred_at, tz),
        who,
        text,
        body_html,
        private,
    }
}

/// The incident page for `incident`, with the update form holding `draft`.
#[allow(clippy::too_many_arguments)]
async fn incident_page(
    ctx: &Ctx,
    signed: &Signed,
    incident: &Incident,
    status: StatusCode,
    draft: &Draft,
    note: &str,
    error: Option<&str>,
    preview: Option<String>,
) -> Response {
    let tz = super::time_zone(signed);
    let live = match live_part(ctx, incident, tz).await {
        Ok(part) => render(&part, "The timeline could not be shown."),
        Err(e) => return super::unavailable(ctx, &e),
    };
    let view = ctx.control.view();
    let nav = Nav::new(signed, "/incidents");
    let brand = BrandView::new(&view.page);
    let id = incident.id.to_string();
    html(
        status,
        render(
            &IncidentPage {
                base: &ctx.base,
                nav: Some(&nav),
                page_name: &view.page.name,
                brand: &brand,
                csrf: &signed.csrf,
                id: &id,
                name: &incident.name,
                open: incident.status.is_unresolved(),
                public: incident.public,
                live,
                error,
                may_write: signed.may(Permission::Communicate),
                draft,
                preview,
                statuses: status_choices(&draft.status),
                impacts: impact_choices(&draft.impact),
                severities: severity_choices(&draft.severity),
                component_statuses: component_status_choices(),
                components: component_choices(ctx, draft),
                templates: TEMPLATES,
                role_names: ROLE_NAMES,
                note,
                may_acknowledge: signed.may(Permission::Respond)
                    && incident.status.is_unresolved()
                    && incident.acknowledged.is_none(),
            },
            &incident.name,
        ),
    )
}

/// The update form's starting values: the incident's status, components, impact, severity.
fn draft_from(incident: &Incident) -> Draft {
    Draft {
        name: incident.name.clone(),
        status: incident.status.as_str().to_owned(),
        body: String::new(),
        components: incident
            .components
            .iter()
            .map(|(id, s)| (id.to_string(), s.as_str().to_owned()))
            .collect(),
        public: incident.public,
        impact: incident
            .impact_override
            .map(|i| i.as_str().to_owned())
            .unwrap_or_default(),
        severity: incident
            .severity
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
    }
}

/// "No such incident": 404.
fn not_found(ctx: &Ctx, id: &str) -> Response {
    html(
        StatusCode::NOT_FOUND,
        super::pages::message(
            ctx,
            "No such incident",
            &format!("There is no incident {id:?}."),
        ),
    )
}

/// `GET /console/incidents/{id}`.
pub(super) async fn show(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    let Some(incident) = incident_id(&id).and_then(|iid| find(&ctx, &iid)) else {
        return not_found(&ctx, &id);
    };
    let draft = draft_from(&incident);
    incident_page(
        &ctx,
        &signed,
        &incident,
        StatusCode::OK,
        &draft,
        "",
        None,
        None,
    )
    .await
}

/// After a change to `incident`: back to its page (303), or its page with the refusal (422).
async fn after(
    ctx: &Ctx,
    signed: &Signed,
    iid: &IncidentId,
    result: Result<(), CommandError>,
    draft: &Draft,
    note: &str,
) -> Response {
    match result {
        Ok(()) => see(&ctx.at(&format!("/incidents/{iid}"))),
        Err(e) => match refusal(e) {
            Ok(message) => match find(ctx, iid) {
                Some(incident) => {
                    incident_page(
                        ctx,
                        signed,
                        &incident,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        draft,
                        note,
                        Some(&message),
                        None,
                    )
                    .await
                }
                None => not_found(ctx, iid.as_str()),
            },
            Err(e) => super::unavailable(ctx, &e),
        },
    }
}

/// `POST /console/incidents/{id}/updates`: post an update, or preview it, or fill a
/// template in.
pub(super) async fn post_update(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
    Path(id): Path<String>,
) -> Response {
    let Some(incident) = incident_id(&id).and_then(|iid| find(&ctx, &iid)) else {
        return not_found(&ctx, &id);
    };
    let mut draft = draft_of(&fields);
    draft.impact = draft_from(&incident).impact;
    draft.severity = draft_from(&incident).severity;
    match fields.get("action") {
        "preview" => {
            let preview = crate::markdown::render_markdown(&draft.body);
            return incident_page(
                &ctx,
                &signed,
                &incident,
                StatusCode::OK,
                &draft,
                "",
                None,
                Some(preview),
            )
            .await;
        }
        "template" => {
            if let Some(text) = template_text(&ctx, fields.get("template"), &draft) {
                draft.body = text;
            }
            return incident_page(
                &ctx,
                &signed,
                &incident,
                StatusCode::OK,
                &draft,
                "",
                None,
                None,
            )
            .await;
        }
        _ => {}
    }
    let parsed = match parse(&draft) {
        Ok(p) => p,
        Err(e) => return after(&ctx, &signed, &incident.id, Err(refused(e)), &draft, "").await,
    };
    let update = NewUpdate {
        status: parsed.status,
        body: draft.body.clone(),
        components: parsed.components,
        public: None,
    };
    let caller = &signed.caller;
    let result = caller
        .on_behalf(&ctx.control)
        .post_update(incident.id.clone(), update, caller.actor())
        .await
        .map(|_| ());
    if result.is_ok() {
        tracing::info!(incident = %incident.id, by = %caller.name, "incident update posted in the console");
    }
    after(&ctx, &signed, &incident.id, result, &draft, "").await
}

/// `POST /console/incidents/{id}/notes`: a private note.
pub(super) async fn add_note(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
    Path(id): Path<String>,
) -> Response {
    let Some(incident) = incident_id(&id).and_then(|iid| find(&ctx, &iid)) else {
        return not_found(&ctx, &id);
    };
    let body = fields.get("note").to_owned();
    let caller = &signed.caller;
    let result = if body.trim().is_empty() {
        Err(refused(RuleError::invalid("note", "write something first")))
    } else {
        caller
            .on_behalf(&ctx.control)
            .add_note(incident.id.clone(), body.clone(), caller.actor())
            .await
    };
    let draft = draft_from(&incident);
    after(&ctx, &signed, &incident.id, result, &draft, &body).await
}

/// `POST /console/incidents/{id}/acknowledge`: "I am on it" (the first acknowledgement stays).
pub(super) async fn acknowledge(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    let Some(incident) = incident_id(&id).and_then(|iid| find(&ctx, &iid)) else {
        return not_found(&ctx, &id);
    };
    let caller = &signed.caller;
    let result = caller
        .on_behalf(&ctx.control)
        .acknowledge(incident.id.clone(), caller.actor())
        .await
        .map(|_| ());
    let draft = draft_from(&incident);
    after(&ctx, &signed, &incident.id, result, &draft, "").await
}

/// `POST /console/incidents/{id}/edit`: name, severity, impact, visibility, or one role.
pub(super) async fn edit(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
    Path(id): Path<String>,
) -> Response {
    let Some(incident) = incident_id(&id).and_then(|iid| find(&ctx, &iid)) else {
        return not_found(&ctx, &id);
    };
    let before = draft_from(&incident);
    let mut patch = IncidentPatch::default();
    match fields.get("action") {
        "publish" => patch.public = Some(true),
        "command" => {
            patch
                .roles
                .insert("commander".into(), Some(signed.caller.name.clone()));
        }
        "role" => {
            let role = fields.get("role").trim().to_lowercase();
            let holder = fields.get("holder").trim();
            patch
                .roles
                .insert(role, (!holder.is_empty()).then(|| holder.to_owned()));
        }
        _ => {
            let draft = Draft {
                name: fields.get("name").trim().to_owned(),
                impact: fields.get("impact").to_owned(),
                severity: fields.get("severity").to_owned(),
                status: String::new(),
                ..Draft::default()
            };
            let parsed = match parse(&draft) {
                Ok(p) => p,
                Err(e) => {
                    return after(&ctx, &signed, &incident.id, Err(refused(e)), &before, "").await
                }
            };
            if draft.name != incident.name {
                patch.name = Some(draft.name.clone());
            }
            if parsed.severity != incident.severity {
                patch.severity = Some(parsed.severity);
            }
            if parsed.impact != incident.impact_override {
                patch.impact = Some(parsed.impact);
            }
        }
    }
    let caller = &signed.caller;
    let result = caller
        .on_behalf(&ctx.control)
        .patch_incident(incident.id.clone(), patch, caller.actor())
        .await
        .map(|_| ());
    after(&ctx, &signed, &incident.id, result, &before, "").await
}

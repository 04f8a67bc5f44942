//! The console's postmortem editor: `GET /console/incidents/{id}/postmortem` shows the draft
//! the engine builds from the incident's record (as `GET /api/v1/incidents/{id}/postmortem`
//! does), its completeness checklist (each item done or what is missing), and a form with a
//! field per part a person writes (what `PUT …/postmortem` takes: description, type of event,
//! services impacted, root cause, remediation, action items, time zone). `POST` on the same
//! path saves it, or, with the Preview button, shows the form again with the document as it
//! would be published rendered below (nothing saved); `POST …/postmortem/publish` publishes
//! it, refused with the list of gaps while the checklist is incomplete (and while the incident
//! is not resolved), exactly as the admin API refuses.
//!
//! Action items are rows of fields named `a<i>.<field>`; the saved ones come first, then two
//! empty rows for new ones. Clearing a row's description removes it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Extension;
use chrono::NaiveDate;
use http::StatusCode;
use pharos_domain::access::Permission;
use pharos_domain::postmortem::{
    self, ActionInput, ActionKind, Audience, EditsInput, PostmortemEdits,
};
use pharos_domain::IncidentId;

use super::ops::{flash, redirect, refusal, say, sentence, Done};
use super::pages::{render, Nav};
use super::{html, Ctx, Fields, Signed};
use crate::admin::postmortems::{self as api, Built, MissingOut, Published};
use crate::brand::BrandView;

/// Most action rows a form is read for (the domain allows 50; the form adds two blank ones).
const MAX_ROWS: usize = postmortem::MAX_ACTIONS + 2;
/// Blank rows offered for new action items.
const BLANK_ROWS: usize = 2;

/// The checklist: a gap's section (or its prefix, for `actions[…]`) and what the line says.
const CHECKS: &[(&str, &str)] = &[
    ("description", "Description"),
    ("event_type", "Type of event"),
    ("services_impacted", "Services impacted"),
    ("timeline", "Timeline"),
    (
        "total_duration",
        "Incident resolved, so its duration is known",
    ),
    ("root_cause", "Root cause"),
    ("remediation", "Remediation"),
    (
        "actions",
        "Action items, one of them to prevent a recurrence",
    ),
    ("actions[", "Every action item has an owner and a due date"),
];

/// One line of the checklist.
struct Check {
    label: String,
    done: bool,
    /// What is missing, when not done.
    gaps: Vec<String>,
}

/// The checklist for `gaps`: every check, done or with its gaps; a gap no check names is a
/// line of its own.
fn checklist(gaps: &[MissingOut]) -> Vec<Check> {
    let matches = |key: &str, section: &str| {
        if key.ends_with('[') {
            section.starts_with(key)
        } else {
            section == key
        }
    };
    let mut out: Vec<Check> = CHECKS
        .iter()
        .map(|(key, label)| {
            let gaps: Vec<String> = gaps
                .iter()
                .filter(|g| matches(key, &g.section))
                .map(|g| sentence(&g.message))
                .collect();
            Check {
                label: (*label).to_owned(),
                done: gaps.is_empty(),
                gaps,
            }
        })
        .collect();
    for g in gaps {
        if !CHECKS.iter().any(|(key, _)| matches(key, &g.section)) {
            out.push(Check {
                label: g.section.clone(),
                done: false,
                gaps: vec![sentence(&g.message)],
            });
        }
    }
    out
}

/// One action row of the form, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ActionRow {
    index: usize,
    id: String,
    description: String,
    owner: String,
    due: String,
    kind: String,
    done: bool,
    url: String,
}

/// The form's values, as typed (or as saved).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Form {
    description: String,
    event_type: String,
    services_impacted: String,
    root_cause: String,
    remediation: String,
    time_zone: String,
    actions: Vec<ActionRow>,
}

impl Form {
    /// The saved human part, with blank rows for new actions.
    fn of(edits: &PostmortemEdits) -> Form {
        let mut actions: Vec<ActionRow> = edits
            .actions
            .iter()
            .map(|a| ActionRow {
                index: 0,
                id: a.id.clone(),
                description: a.description.clone(),
                owner: a.owner.clone().unwrap_or_default(),
                due: a.due.map(|d| d.to_string()).unwrap_or_default(),
                kind: a.kind.as_str().to_owned(),
                done: a.done,
                url: a.url.clone().unwrap_or_default(),
            })
            .collect();
        actions.extend((0..BLANK_ROWS).map(|_| ActionRow::default()));
        let mut form = Form {
            description: edits.description.clone().unwrap_or_default(),
            event_type: edits.event_type.clone().unwrap_or_default(),
            services_impacted: edits.services_impacted.clone().unwrap_or_default(),
            root_cause: edits.root_cause.clone(),
            remediation: edits.remediation.clone(),
            time_zone: edits.time_zone.clone().unwrap_or_default(),
            actions,
        };
        form.number();
        form
    }

    /// The form as sent.
    fn read(fields: &Fields) -> Form {
        let mut actions = Vec::new();
        for i in 0..MAX_ROWS {
            let name = |f: &str| format!("a{i}.{f}");
            if !fields.0.iter().any(|(k, _)| *k == name("description")) {
                break;
            }
            actions.push(ActionRow {
                index: i,
                id: fields.get(&name("id")).to_owned(),
                description: fields.get(&name("description")).to_owned(),
                owner: fields.get(&name("owner")).to_owned(),
                due: fields.get(&name("due")).to_owned(),
                kind: fields.get(&name("kind")).to_owned(),
                done: fields.get(&name("done")) == "on",
                url: fields.get(&name("url")).to_owned(),
            });
        }
        let mut form = Form {
            description: fields.get("description").to_owned(),
            event_type: fields.get("event_type").to_owned(),
            services_impacted: fields.get("services_impacted").to_owned(),
            root_cause: fields.get("root_cause").to_owned(),
            remediation: fields.get("remediation").to_owned(),
            time_zone: fields.get("time_zone").to_owned(),
            actions,
        };
        // Always room for a new one.
        if form
            .actions
            .iter()
            .all(|a| !a.description.trim().is_empty())
        {
            form.actions.push(ActionRow::default());
        }
        form.number();
        form
    }

    fn number(&mut self) {
        for (i, a) in self.actions.iter_mut().enumerate() {
            a.index = i;
        }
    }

    /// What `PUT …/postmortem` would be given; the refusal names the field by its label.
    /// Rows with a blank description are left out (that removes a saved action).
    fn input(&self) -> Result<EditsInput, String> {
        let some = |s: &str| Some(s.to_owned());
        let mut actions = Vec::new();
        for (n, a) in self
            .actions
            .iter()
            .filter(|a| !a.description.trim().is_empty())
            .enumerate()
        {
            let at = format!("Action {}", n + 1);
            let due = match a.due.trim() {
                "" => None,
                d => Some(
                    NaiveDate::parse_from_str(d, "%Y-%m-%d")
                        .map_err(|_| format!("{at}, due: {d:?} is not a date like 2026-04-30."))?,
                ),
            };
            let kind = match a.kind.trim() {
                "" => None,
                k => Some(
                    k.parse::<ActionKind>()
                        .map_err(|_| format!("{at}, kind: unknown kind {k:?}."))?,
                ),
            };
            let blank_none = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
            actions.push(ActionInput {
                id: blank_none(&a.id),
                description: a.description.clone(),
                owner: blank_none(&a.owner),
                due,
                kind,
                done: Some(a.done),
                url: blank_none(&a.url),
            });
        }
        let time_zone = match self.time_zone.trim() {
            "" => None,
            z => Some(
                postmortem::parse_time_zone("time_zone", z)
                    .map_err(|e| format!("Time zone: {}", sentence(&rule_message(&e))))?,
            ),
        };
        Ok(EditsInput {
            description: some(&self.description),
            event_type: some(&self.event_type),
            services_impacted: some(&self.services_impacted),
            root_cause: some(&self.root_cause),
            remediation: some(&self.remediation),
            actions,
            time_zone,
        })
    }
}

/// A rule's message.
fn rule_message(e: &pharos_domain::RuleError) -> String {
    match e {
        pharos_domain::RuleError::Invalid { message, .. } => message.clone(),
    }
}

/// A refused field as the form says it: `actions[1].owner` is "Action 2, owner".
fn field_label(field: &str) -> String {
    if let Some(rest) = field.strip_prefix("actions[") {
        if let Some((n, tail)) = rest.split_once(']') {
            let n: usize = n.parse().unwrap_or(0);
            let tail = tail.trim_start_matches('.');
            return if tail.is_empty() {
                format!("Action {}", n + 1)
            } else {
                format!("Action {}, {}", n + 1, tail.replace('_', " "))
            };
        }
    }
    match field {
        "description" => "Description".to_owned(),
        "event_type" => "Type of event".to_owned(),
        "services_impacted" => "Services impacted".to_owned(),
        "root_cause" => "Root cause".to_owned(),
        "remediation" => "Remediation".to_owned(),
        "time_zone" => "Time zone".to_owned(),
        "actions" => "Action items".to_owned(),
        other => other.to_owned(),
    }
}

/// An action kind offered by the form.
struct KindChoice {
    value: &'static str,
}

/// `GET /console/incidents/{id}/postmortem`.
#[derive(Template)]
#[template(path = "console/postmortem.html")]
struct EditorPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    csrf: &'a str,
    id: &'a str,
    title: &'a str,
    incident_status: &'static str,
    flash: Option<&'a str>,
    error: Option<String>,
    checks: Vec<Check>,
    complete: bool,
    published: Option<String>,
    saved: Option<String>,
    may_edit: bool,
    drafted_description: &'a str,
    drafted_event_type: &'a str,
    services: String,
    duration: String,
    time_zone: &'a str,
    form: &'a Form,
    kinds: Vec<KindChoice>,
    preview_html: Option<String>,
}

/// What the page shows besides the draft.
struct Shown<'a> {
    form: &'a Form,
    flash: Option<&'a str>,
    error: Option<String>,
    preview_html: Option<String>,
}

fn editor(ctx: &Ctx, signed: &Signed, built: &Built, shown: Shown<'_>) -> String {
    let view = ctx.control.view();
    let nav = Nav::new(signed, "/incidents");
    let brand = BrandView::new(&view.page);
    let pm = &built.postmortem;
    let gaps = api::missing_out(pm);
    let tz = super::ops::user_tz(signed);
    let id = built.incident.id.to_string();
    render(
        &EditorPage {
            base: &ctx.base,
            nav: Some(&nav),
            page_name: &view.page.name,
            brand: &brand,
            csrf: &signed.csrf,
            id: &id,
            title: &pm.title,
            incident_status: built.incident.status.label(),
            flash: shown.flash,
            error: shown.error,
            complete: gaps.is_empty(),
            checks: checklist(&gaps),
            published: built.stored.published_at.map(|t| super::ops::when(t, tz)),
            saved: built.stored.updated_at.map(|t| super::ops::when(t, tz)),
            may_edit: signed.may(Permission::Communicate),
            drafted_description: &pm.description.text,
            drafted_event_type: &pm.event_type.text,
            services: pm
                .services_impacted
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            duration: pm
                .total_duration
                .as_ref()
                .map_or_else(|| "not resolved yet".to_owned(), |d| d.text.clone()),
            time_zone: &pm.time_zone,
            form: shown.form,
            kinds: ActionKind::ALL
                .iter()
                .map(|k| KindChoice { value: k.as_str() })
                .collect(),
            preview_html: shown.preview_html,
        },
        "Postmortem",
    )
}

/// The incident id in the path, or the 404 page (boxed: a page is large beside an id).
fn incident_id(ctx: &Ctx, id: &str) -> Result<IncidentId, Box<Response>> {
    IncidentId::new(id).ok_or_else(|| {
        Box::new(say(
            ctx,
            StatusCode::NOT_FOUND,
            "Not found",
            "No incident has this id.",
        ))
    })
}

/// The editor with the saved postmortem.
pub(super) async fn page(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let iid = match incident_id(&ctx, &id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let built = match api::build(&ctx.control, &iid, None).await {
        Ok(b) => b,
        Err(e) => return refusal(&ctx, &e),
    };
    let form = Form::of(&built.stored.edits);
    let shown = Shown {
        form: &form,
        flash: flash(
            done.done.as_deref(),
            &[
                ("saved", "The postmortem is saved."),
                ("published", "The postmortem is published."),
            ],
        ),
        error: None,
        preview_html: None,
    };
    html(StatusCode::OK, editor(&ctx, &signed, &built, shown))
}

/// Saves the postmortem (the admin API's `PUT …/postmortem`), or with `action=preview` shows
/// the form again with the document rendered, saving nothing.
pub(super) async fn save(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
    Path(id): Path<String>,
) -> Response {
    let iid = match incident_id(&ctx, &id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let form = Form::read(&fields);
    let preview = fields.get("action") == "preview";
    let built = match api::build(&ctx.control, &iid, None).await {
        Ok(b) => b,
        Err(e) => return refusal(&ctx, &e),
    };
    let again = |error: String| {
        let shown = Shown {
            form: &form,
            flash: None,
            error: Some(error),
            preview_html: None,
        };
        html(
            StatusCode::UNPROCESSABLE_ENTITY,
            editor(&ctx, &signed, &built, shown),
        )
    };
    let input = match form.input() {
        Ok(i) => i,
        Err(error) => return again(error),
    };
    let edits = match postmortem::parse_edits(input, &built.stored.edits) {
        Ok(e) => e,
        Err(e) => {
            return again(format!(
                "{}: {}",
                field_label(e.field()),
                sentence(&rule_message(&e))
            ))
        }
    };
    if preview {
        let draft =
            match api::build_from(&ctx.control, built.incident.clone(), None, Some(edits)).await {
                Ok(b) => b,
                Err(e) => return refusal(&ctx, &e),
            };
        let audience = Audience::Public {
            show_responders: ctx.show_responders,
        };
        let markdown = postmortem::render_markdown(&draft.postmortem, audience);
        let shown = Shown {
            form: &form,
            flash: Some("Preview only: nothing is saved until you press Save."),
            error: None,
            preview_html: Some(crate::markdown::render_markdown(&markdown)),
        };
        // The checklist of what the preview shows.
        return html(StatusCode::OK, editor(&ctx, &signed, &draft, shown));
    }
    match signed
        .caller
        .on_behalf(&ctx.control)
        .save_postmortem(&iid, Some(&edits), None)
        .await
    {
        Ok(_) => {
            tracing::info!(incident = %iid, by = %signed.caller.name, actions = edits.actions.len(), "postmortem saved in the console");
            redirect(&format!(
                "{}/incidents/{}/postmortem?done=saved",
                &*ctx.base, iid
            ))
        }
        Err(error) => super::unavailable(&ctx, &error),
    }
}

/// Publishes the postmortem (the admin API's `POST …/postmortem/publish`): refused, with the
/// editor and what is missing, while it is incomplete or the incident is not resolved.
pub(super) async fn publish(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    let iid = match incident_id(&ctx, &id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let refused =
        match api::publish_as(&ctx.control, &signed.caller, &iid, ctx.show_responders).await {
            Ok(Published::Done(_)) => {
                return redirect(&format!(
                    "{}/incidents/{}/postmortem?done=published",
                    &*ctx.base, iid
                ))
            }
            Ok(Published::NotResolved(message)) => (
                StatusCode::CONFLICT,
                format!("Not published: {}", sentence(&message)),
            ),
            Ok(Published::Incomplete(gaps)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "Not published: {} The checklist says what to add.",
                    sentence(&api::incomplete_message(gaps.len()))
                ),
            ),
            Err(e) => return refusal(&ctx, &e),
        };
    let built = match api::build(&ctx.control, &iid, None).await {
        Ok(b) => b,
        Err(e) => return refusal(&ctx, &e),
    };
    let form = Form::of(&built.stored.edits);
    let shown = Shown {
        form: &form,
        flash: None,
        error: Some(refused.1),
        preview_html: None,
    };
    html(refused.0, editor(&ctx, &signed, &built, shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checklist_has_every_line_and_places_each_gap() {
        let gap = |section: &str, message: &str| MissingOut {
            section: section.to_owned(),
            message: message.to_owned(),
        };
        let checks = checklist(&[
            gap("root_cause", "write the root cause"),
            gap("actions[0].owner", "action A1 has no owner"),
            gap("actions[1].due", "action A2 has no due date"),
            gap("something_new", "a new rule"),
        ]);
        assert_eq!(checks.len(), CHECKS.len() + 1);
        let line = |label: &str| checks.iter().find(|c| c.label == label).unwrap();
        assert!(line("Description").done);
        assert!(!line("Root cause").done);
        assert_eq!(
            line("Every action item has an owner and a due date").gaps,
            vec!["Action A1 has no owner.", "Action A2 has no due date."]
        );
        assert!(line("Action items, one of them to prevent a recurrence").done);
        assert!(!line("something_new").done);
    }

    #[test]
    fn refused_fields_are_named_as_the_form_labels_them() {
        assert_eq!(field_label("actions[1].owner"), "Action 2, owner");
        assert_eq!(field_label("actions[0]"), "Action 1");
        assert_eq!(field_label("root_cause"), "Root cause");
    }
}

//! The console's maintenance pages: the list (`GET /console/maintenances`: in progress,
//! upcoming, completed, and a month calendar of the windows, `?month=YYYY-MM`), scheduling
//! (`GET /console/maintenances/new`, `POST /console/maintenances`) and one maintenance with its
//! timeline (`GET /console/maintenances/{id}`) and the forms that move it forward (`POST
//! /console/maintenances/{id}/updates`: an update, starting early, finishing early).
//!
//! Times are read and shown in the signed-in person's zone (`time_zone`, UTC by default): the
//! `datetime-local` fields are that zone's wall-clock time, turned into UTC here; a time that
//! does not exist there (a daylight-saving gap) is refused, and one that happens twice (the
//! hour repeated in autumn) is its first occurrence. The engine's maintenance commands are
//! those of the admin API (`POST /api/v1/maintenances`, `POST …/{id}/updates`): a window can
//! be scheduled and moved forward (`scheduled → in_progress → verifying → completed`), not
//! edited or deleted, so "cancel" is completing a window that has not started.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Extension;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use http::StatusCode;
use pharos_domain::access::Permission;
use pharos_domain::incident::TimelineKind;
use pharos_domain::{Actor, ComponentId, IncidentId, Maintenance, MaintenanceStatus};
use pharos_engine::{CommandError, DeskError, NewMaintenance, NewMaintenanceUpdate};
use serde::Deserialize;

use super::ops::{flash, redirect, say, sentence, user_tz, utc, when, Done};
use super::pages::{render, Nav};
use super::{html, Ctx, Fields, Signed};
use crate::brand::BrandView;

/// A status as people read it.
fn status_label(s: MaintenanceStatus) -> &'static str {
    match s {
        MaintenanceStatus::Scheduled => "Scheduled",
        MaintenanceStatus::InProgress => "In progress",
        MaintenanceStatus::Verifying => "Verifying",
        MaintenanceStatus::Completed => "Completed",
    }
}

/// One maintenance in a list.
struct Row {
    id: String,
    name: String,
    status: &'static str,
    components: String,
    from: String,
    from_utc: String,
    until: String,
}

/// One day of the calendar.
struct Day {
    number: u32,
    today: bool,
    items: Vec<(String, String)>,
}

/// `GET /console/maintenances`.
#[derive(Template)]
#[template(path = "console/maintenances.html")]
struct ListPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    time_zone: &'a str,
    may_schedule: bool,
    active: Vec<Row>,
    upcoming: Vec<Row>,
    completed: Vec<Row>,
    month_label: String,
    prev_month: String,
    next_month: String,
    weeks: Vec<Vec<Option<Day>>>,
}

/// `?month=YYYY-MM`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct MonthQuery {
    month: Option<String>,
}

/// The names of `ids`, as the page shows them.
fn component_names(ctx: &Ctx, ids: &[ComponentId]) -> String {
    let view = ctx.control.view();
    ids.iter()
        .map(|id| {
            view.components
                .iter()
                .find(|c| &c.id == id)
                .map_or_else(|| id.to_string(), |c| c.name.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn row(ctx: &Ctx, m: &Maintenance, tz: Tz) -> Row {
    Row {
        id: m.id.to_string(),
        name: m.name.clone(),
        status: status_label(m.status),
        components: component_names(ctx, &m.components),
        from: when(m.scheduled_for, tz),
        from_utc: utc(m.scheduled_for),
        until: when(m.scheduled_until, tz),
    }
}

/// The first day of the month `YYYY-MM`, or `None`.
fn parse_month(s: &str) -> Option<NaiveDate> {
    let (y, m) = s.trim().split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
}

/// The first day of the month after `first`'s.
fn next_month(first: NaiveDate) -> NaiveDate {
    let (y, m) = if first.month() == 12 {
        (first.year() + 1, 1)
    } else {
        (first.year(), first.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(first)
}

/// The first day of the month before `first`'s.
fn prev_month(first: NaiveDate) -> NaiveDate {
    let (y, m) = if first.month() == 1 {
        (first.year() - 1, 12)
    } else {
        (first.year(), first.month() - 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(first)
}

/// Local midnight starting `day` in `tz`, as UTC (the first instant of the day when midnight
/// falls in a gap).
fn day_start(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        chrono::LocalResult::None => {
            let later = midnight + Duration::hours(1);
            tz.from_local_datetime(&later).earliest().map_or_else(
                || Utc.from_utc_datetime(&midnight),
                |t| t.with_timezone(&Utc),
            )
        }
    }
}

/// The weeks (Monday first) of the month starting `first`, each day with the windows that
/// overlap it in `tz`; days of other months are `None`.
fn calendar(
    first: NaiveDate,
    tz: Tz,
    today: NaiveDate,
    windows: &[(String, String, DateTime<Utc>, DateTime<Utc>)],
) -> Vec<Vec<Option<Day>>> {
    let mut weeks = Vec::new();
    let mut week: Vec<Option<Day>> = (0..first.weekday().num_days_from_monday())
        .map(|_| None)
        .collect();
    let end = next_month(first);
    let mut day = first;
    while day < end {
        let (from, until) = (day_start(day, tz), day_start(day + Duration::days(1), tz));
        let items = windows
            .iter()
            .filter(|(_, _, s, e)| *s < until && *e > from)
            .map(|(id, name, _, _)| (id.clone(), name.clone()))
            .collect();
        week.push(Some(Day {
            number: day.day(),
            today: day == today,
            items,
        }));
        if week.len() == 7 {
            weeks.push(std::mem::take(&mut week));
        }
        day += Duration::days(1);
    }
    if !week.is_empty() {
        while week.len() < 7 {
            week.push(None);
        }
        weeks.push(week);
    }
    weeks
}

/// The list and the calendar.
pub(super) async fn list(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Query(q): Query<MonthQuery>,
) -> Response {
    let tz = user_tz(&signed);
    let now = pharos_engine::clock::now();
    let today = now.with_timezone(&tz).date_naive();
    let view = ctx.control.view();
    let mut all: Vec<&Maintenance> = view.maintenances.iter().collect();
    all.sort_by_key(|m| m.scheduled_for);
    let active = all
        .iter()
        .filter(|m| m.status.is_active())
        .map(|m| row(&ctx, m, tz))
        .collect();
    let upcoming = all
        .iter()
        .filter(|m| m.status == MaintenanceStatus::Scheduled)
        .map(|m| row(&ctx, m, tz))
        .collect();
    let completed = all
        .iter()
        .rev()
        .filter(|m| m.status == MaintenanceStatus::Completed)
        .take(50)
        .map(|m| row(&ctx, m, tz))
        .collect();
    let first = q
        .month
        .as_deref()
        .and_then(parse_month)
        .unwrap_or_else(|| today.with_day(1).unwrap_or(today));
    let windows: Vec<_> = all
        .iter()
        .map(|m| {
            // A window completed early is drawn as it ran.
            let end = m.completed_at.unwrap_or(m.scheduled_until);
            (m.id.to_string(), m.name.clone(), m.scheduled_for, end)
        })
        .collect();
    let weeks = calendar(first, tz, today, &windows);
    let nav = Nav::new(&signed, "/maintenances");
    let brand = BrandView::new(&view.page);
    html(
        StatusCode::OK,
        render(
            &ListPage {
                base: &ctx.base,
                nav: Some(&nav),
                page_name: &view.page.name,
                brand: &brand,
                time_zone: tz.name(),
                may_schedule: signed.may(Permission::Communicate),
                active,
                upcoming,
                completed,
                month_label: first.format("%B %Y").to_string(),
                prev_month: prev_month(first).format("%Y-%m").to_string(),
                next_month: next_month(first).format("%Y-%m").to_string(),
                weeks,
            },
            "Maintenances",
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Scheduling

/// A component that can be put under maintenance (not a group).
struct Choice {
    id: String,
    name: String,
    checked: bool,
}

/// `GET /console/maintenances/new`, and the same form again with what was typed and why it
/// was refused.
#[derive(Template)]
#[template(path = "console/maintenance_new.html")]
struct NewPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    csrf: &'a str,
    time_zone: &'a str,
    error: Option<String>,
    name: &'a str,
    body: &'a str,
    starts: &'a str,
    ends: &'a str,
    auto_start: bool,
    auto_complete: bool,
    components: Vec<Choice>,
}

/// What the scheduling form holds.
struct Typed<'a> {
    name: &'a str,
    body: &'a str,
    starts: &'a str,
    ends: &'a str,
    auto_start: bool,
    auto_complete: bool,
    chosen: Vec<&'a str>,
}

fn new_page(ctx: &Ctx, signed: &Signed, typed: &Typed<'_>, error: Option<String>) -> String {
    let view = ctx.control.view();
    let nav = Nav::new(signed, "/maintenances");
    let brand = BrandView::new(&view.page);
    let tz = user_tz(signed);
    let components = view
        .components
        .iter()
        .filter(|c| !c.is_group)
        .map(|c| Choice {
            checked: typed.chosen.contains(&c.id.as_str()),
            id: c.id.to_string(),
            name: c.name.clone(),
        })
        .collect();
    render(
        &NewPage {
            base: &ctx.base,
            nav: Some(&nav),
            page_name: &view.page.name,
            brand: &brand,
            csrf: &signed.csrf,
            time_zone: tz.name(),
            error,
            name: typed.name,
            body: typed.body,
            starts: typed.starts,
            ends: typed.ends,
            auto_start: typed.auto_start,
            auto_complete: typed.auto_complete,
            components,
        },
        "Schedule a maintenance",
    )
}

/// The scheduling form, empty.
pub(super) async fn new_form(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
) -> Response {
    let typed = Typed {
        name: "",
        body: "",
        starts: "",
        ends: "",
        auto_start: true,
        auto_complete: true,
        chosen: Vec::new(),
    };
    html(StatusCode::OK, new_page(&ctx, &signed, &typed, None))
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM`, seconds optional) read as wall-clock time in
/// `tz`, as UTC; the refusal names the field by its label.
pub(super) fn local_time(label: &str, s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(format!("{label}: give a date and time."));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("{label}: {s:?} is not a date and time like 2026-05-01T02:00."))?;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        // The hour repeated when clocks go back: the first time it happens.
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        chrono::LocalResult::None => Err(format!(
            "{label}: {s} does not exist in {} (the clocks skip it); choose another time.",
            tz.name()
        )),
    }
}

/// The label of an engine field, for a refusal.
fn field_label(field: &str) -> &str {
    match field {
        "name" => "Name",
        "body" => "Message",
        "scheduled_for" => "Starts",
        "scheduled_until" => "Ends",
        f if f.starts_with("components") => "Components",
        "status" => "Status",
        other => other,
    }
}

/// A refused command as one line for the form.
fn refused_line(e: &DeskError) -> String {
    match e {
        DeskError::Rule(r) => {
            let message = match r {
                pharos_domain::RuleError::Invalid { message, .. } => message.as_str(),
            };
            format!("{}: {}", field_label(r.field()), sentence(message))
        }
        DeskError::NotFound { .. } => sentence(&e.to_string()),
    }
}

/// Schedules a maintenance (the admin API's `POST /api/v1/maintenances`); the form again,
/// 422, when a field is refused.
pub(super) async fn create(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
) -> Response {
    let tz = user_tz(&signed);
    let typed = Typed {
        name: fields.get("name"),
        body: fields.get("body"),
        starts: fields.get("starts"),
        ends: fields.get("ends"),
        auto_start: fields.get("auto_start") == "on",
        auto_complete: fields.get("auto_complete") == "on",
        chosen: fields.all("components").collect(),
    };
    let again = |error: String| {
        html(
            StatusCode::UNPROCESSABLE_ENTITY,
            new_page(&ctx, &signed, &typed, Some(error)),
        )
    };
    let times = local_time("Starts", typed.starts, tz)
        .and_then(|s| local_time("Ends", typed.ends, tz).map(|e| (s, e)));
    let (scheduled_for, scheduled_until) = match times {
        Ok(t) => t,
        Err(error) => return again(error),
    };
    let mut components = Vec::new();
    for c in &typed.chosen {
        match ComponentId::new(*c) {
            Ok(id) => components.push(id),
            Err(_) => return again(format!("Components: unknown component {c:?}.")),
        }
    }
    let new = NewMaintenance {
        name: typed.name.to_owned(),
        body: typed.body.to_owned(),
        components,
        scheduled_for,
        scheduled_until,
        auto_start: Some(typed.auto_start),
        auto_complete: Some(typed.auto_complete),
    };
    match signed
        .caller
        .on_behalf(&ctx.control)
        .create_maintenance(new, signed.caller.actor())
        .await
    {
        Ok(m) => {
            tracing::info!(maintenance = %m.id, by = %signed.caller.name, "maintenance scheduled in the console");
            redirect(&format!(
                "{}/maintenances/{}?done=scheduled",
                &*ctx.base, m.id
            ))
        }
        Err(CommandError::Desk(e)) => again(refused_line(&e)),
        Err(CommandError::Unavailable(error)) => super::unavailable(&ctx, &error),
    }
}

// ---------------------------------------------------------------------------------------
// One maintenance

/// One entry of the timeline.
struct Entry {
    at: String,
    at_utc: String,
    who: String,
    what: String,
    body_html: String,
    private: bool,
}

/// A status the update form may set.
struct StatusChoice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

/// `GET /console/maintenances/{id}`.
#[derive(Template)]
#[template(path = "console/maintenance.html")]
struct DetailPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    csrf: &'a str,
    time_zone: &'a str,
    flash: Option<&'a str>,
    error: Option<String>,
    m: Row,
    auto: String,
    may_change: bool,
    scheduled: bool,
    open: bool,
    statuses: Vec<StatusChoice>,
    body: &'a str,
    timeline: Vec<Entry>,
    /// The edit form's values (a window that has not started): start and end as
    /// `datetime-local` in the person's zone, the components, the automation.
    starts_local: String,
    ends_local: String,
    choices: Vec<Choice>,
    auto_start: bool,
    auto_complete: bool,
}

/// One line for a timeline entry.
fn entry(e: &pharos_domain::incident::TimelineEntry, tz: Tz) -> Entry {
    let (what, body, private) = match &e.kind {
        TimelineKind::Opened { name } => (format!("Scheduled: {name}"), String::new(), false),
        TimelineKind::PublicUpdate { status, body, .. } => (
            format!(
                "Public update · {}",
                MaintenanceStatus::parse(status)
                    .map_or_else(|| status.clone(), |s| status_label(s).to_owned())
            ),
            body.clone(),
            false,
        ),
        TimelineKind::Note { body } => ("Private note".to_owned(), body.clone(), true),
        TimelineKind::StatusChanged { from, to } => {
            (format!("Status {from} → {to}"), String::new(), false)
        }
        TimelineKind::MonitorDownInMaintenance { monitor_id, error } => (
            format!("Check {monitor_id} failed during the window: {error}"),
            String::new(),
            true,
        ),
        _ => (e.kind_name().replace('_', " "), String::new(), false),
    };
    Entry {
        at: when(e.occurred_at, tz),
        at_utc: utc(e.occurred_at),
        who: match &e.actor {
            Actor::Automation => "Pharos".to_owned(),
            Actor::Person(p) => p.clone(),
        },
        what,
        body_html: crate::markdown::render_markdown(&body),
        private,
    }
}

/// The page of maintenance `id`, with `error` and the typed `body` for the update form.
async fn detail_page(
    ctx: &Ctx,
    signed: &Signed,
    id: &str,
    flash_code: Option<&str>,
    error: Option<String>,
    body: &str,
) -> Result<String, Response> {
    let not_found = || {
        say(
            ctx,
            StatusCode::NOT_FOUND,
            "Not found",
            "No maintenance has this id.",
        )
    };
    let mid = IncidentId::new(id).ok_or_else(not_found)?;
    let view = ctx.control.view();
    let m = view
        .maintenances
        .iter()
        .find(|m| m.id == mid)
        .ok_or_else(not_found)?;
    let timeline = ctx
        .control
        .timeline(&mid)
        .await
        .map_err(|e| super::unavailable(ctx, &e))?;
    let tz = user_tz(signed);
    // Only forward: the current status and those after it.
    let current = MaintenanceStatus::ALL
        .iter()
        .position(|s| *s == m.status)
        .unwrap_or(0);
    let statuses = MaintenanceStatus::ALL[current..]
        .iter()
        .map(|s| StatusChoice {
            value: s.as_str(),
            label: status_label(*s),
            selected: *s == m.status,
        })
        .collect();
    let auto = match (m.auto_start, m.auto_complete) {
        (true, true) => "Starts and completes by itself at the times above.",
        (true, false) => "Starts by itself; completed by hand.",
        (false, true) => "Started by hand; completes by itself at the end.",
        (false, false) => "Started and completed by hand.",
    };
    let nav = Nav::new(signed, "/maintenances");
    let brand = BrandView::new(&view.page);
    Ok(render(
        &DetailPage {
            base: &ctx.base,
            nav: Some(&nav),
            page_name: &view.page.name,
            brand: &brand,
            csrf: &signed.csrf,
            time_zone: tz.name(),
            flash: flash(
                flash_code,
                &[
                    ("scheduled", "The maintenance is scheduled."),
                    ("updated", "The update is posted."),
                    ("edited", "The window is changed."),
                ],
            ),
            error,
            m: row(ctx, m, tz),
            auto: auto.to_owned(),
            may_change: signed.may(Permission::Communicate),
            scheduled: m.status == MaintenanceStatus::Scheduled,
            open: m.status != MaintenanceStatus::Completed,
            statuses,
            body,
            timeline: timeline.iter().map(|e| entry(e, tz)).collect(),
            starts_local: m
                .scheduled_for
                .with_timezone(&tz)
                .format("%Y-%m-%dT%H:%M")
                .to_string(),
            ends_local: m
                .scheduled_until
                .with_timezone(&tz)
                .format("%Y-%m-%dT%H:%M")
                .to_string(),
            choices: view
                .components
                .iter()
                .filter(|c| !c.is_group)
                .map(|c| Choice {
                    id: c.id.to_string(),
                    name: c.name.clone(),
                    checked: m.components.contains(&c.id),
                })
                .collect(),
            auto_start: m.auto_start,
            auto_complete: m.auto_complete,
        },
        "Maintenance",
    ))
}

/// One maintenance with its timeline and forms.
pub(super) async fn detail(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    match detail_page(&ctx, &signed, &id, done.done.as_deref(), None, "").await {
        Ok(page) => html(StatusCode::OK, page),
        Err(r) => r,
    }
}

/// Posts an update, optionally moving the window forward (start now, verify, finish now):
/// the admin API's `POST /api/v1/maintenances/{id}/updates`.
pub(super) async fn post_update(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
    Path(id): Path<String>,
) -> Response {
    let body = fields.get("body");
    let again = |error: String| async {
        match detail_page(&ctx, &signed, &id, None, Some(error), body).await {
            Ok(page) => html(StatusCode::UNPROCESSABLE_ENTITY, page),
            Err(r) => r,
        }
    };
    let status = match fields.get("status").trim() {
        "" => None,
        s => match MaintenanceStatus::parse(s) {
            Some(s) => Some(s),
            None => return again(format!("Status: unknown status {s:?}.")).await,
        },
    };
    let Some(mid) = IncidentId::new(id.as_str()) else {
        return say(
            &ctx,
            StatusCode::NOT_FOUND,
            "Not found",
            "No maintenance has this id. Nothing was changed.",
        );
    };
    let update = NewMaintenanceUpdate {
        status,
        body: body.to_owned(),
    };
    match signed
        .caller
        .on_behalf(&ctx.control)
        .update_maintenance(mid, update, signed.caller.actor())
        .await
    {
        Ok(m) => {
            tracing::info!(maintenance = %m.id, status = m.status.as_str(), by = %signed.caller.name, "maintenance update posted in the console");
            redirect(&format!(
                "{}/maintenances/{}?done=updated",
                &*ctx.base, m.id
            ))
        }
        Err(CommandError::Desk(DeskError::NotFound { .. })) => say(
            &ctx,
            StatusCode::NOT_FOUND,
            "Not found",
            "No maintenance has this id. Nothing was changed.",
        ),
        Err(CommandError::Desk(e)) => again(refused_line(&e)).await,
        Err(CommandError::Unavailable(error)) => super::unavailable(&ctx, &error),
    }
}

/// Changes a window that has not started (the admin API's `PATCH /api/v1/maintenances/{id}`):
/// its name, times, components and automation; the page again, 422, when a field is refused.
pub(super) async fn edit(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
    Path(id): Path<String>,
) -> Response {
    let again = |error: String| async {
        match detail_page(&ctx, &signed, &id, None, Some(error), "").await {
            Ok(page) => html(StatusCode::UNPROCESSABLE_ENTITY, page),
            Err(r) => r,
        }
    };
    let tz = user_tz(&signed);
    let times = local_time("Starts", fields.get("starts"), tz)
        .and_then(|s| local_time("Ends", fields.get("ends"), tz).map(|e| (s, e)));
    let (scheduled_for, scheduled_until) = match times {
        Ok(t) => t,
        Err(error) => return again(error).await,
    };
    let mut components = Vec::new();
    for c in fields.all("components") {
        match ComponentId::new(c) {
            Ok(id) => components.push(id),
            Err(_) => return again(format!("Components: unknown component {c:?}.")).await,
        }
    }
    let Some(mid) = IncidentId::new(id.as_str()) else {
        return say(
            &ctx,
            StatusCode::NOT_FOUND,
            "Not found",
            "No maintenance has this id. Nothing was changed.",
        );
    };
    let patch = pharos_engine::MaintenancePatch {
        name: Some(fields.get("name").to_owned()),
        components: Some(components),
        scheduled_for: Some(scheduled_for),
        scheduled_until: Some(scheduled_until),
        auto_start: Some(fields.get("auto_start") == "on"),
        auto_complete: Some(fields.get("auto_complete") == "on"),
    };
    match signed
        .caller
        .on_behalf(&ctx.control)
        .edit_maintenance(mid, patch, signed.caller.actor())
        .await
    {
        Ok(m) => {
            tracing::info!(maintenance = %m.id, by = %signed.caller.name, "maintenance edited in the console");
            redirect(&format!("{}/maintenances/{}?done=edited", &*ctx.base, m.id))
        }
        Err(CommandError::Desk(DeskError::NotFound { .. })) => say(
            &ctx,
            StatusCode::NOT_FOUND,
            "Not found",
            "No maintenance has this id. Nothing was changed.",
        ),
        Err(CommandError::Desk(e)) => again(refused_line(&e)).await,
        Err(CommandError::Unavailable(error)) => super::unavailable(&ctx, &error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_read_in_the_persons_zone() {
        let denver: Tz = "America/Denver".parse().unwrap();
        assert_eq!(
            local_time("Starts", "2026-05-01T02:00", denver).unwrap(),
            Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap()
        );
        // The spring-forward gap does not exist; the autumn hour is its first occurrence.
        let gap = local_time("Starts", "2026-03-08T02:30", denver).unwrap_err();
        assert!(gap.contains("does not exist"), "{gap}");
        assert_eq!(
            local_time("Ends", "2026-11-01T01:30", denver).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 1, 7, 30, 0).unwrap()
        );
        assert!(local_time("Ends", "tomorrow", Tz::UTC).is_err());
        assert!(local_time("Ends", "", Tz::UTC)
            .unwrap_err()
            .starts_with("Ends"));
    }

    #[test]
    fn a_month_is_whole_weeks_monday_first() {
        let first = parse_month("2026-12").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 12, 24, 23, 0, 0).unwrap();
        let windows = vec![(
            "m1".to_owned(),
            "Upgrade".to_owned(),
            start,
            start + Duration::hours(2),
        )];
        let weeks = calendar(first, Tz::UTC, first, &windows);
        // December 2026 starts on a Tuesday and has 31 days: 5 weeks.
        assert_eq!(weeks.len(), 5);
        assert!(weeks[0][0].is_none());
        assert_eq!(weeks[0][1].as_ref().unwrap().number, 1);
        let with: Vec<u32> = weeks
            .iter()
            .flatten()
            .flatten()
            .filter(|d| !d.items.is_empty())
            .map(|d| d.number)
            .collect();
        assert_eq!(with, vec![24, 25]);
        assert_eq!(parse_month("2026-13"), None);
        assert_eq!(parse_month("26-1"), None);
        assert_eq!(
            prev_month(parse_month("2026-01").unwrap()),
            parse_month("2025-12").unwrap()
        );
    }
}

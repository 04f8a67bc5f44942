//! The console's operations pages: recent changes (`GET /console/changes`), subscribers
//! with removal (`GET /console/subscribers`, `POST /console/subscribers/{id}/remove`),
//! notification deliveries with a retry for dead ones (`GET /console/deliveries`,
//! `POST /console/deliveries/{id}/retry`) and the reports with their charts
//! (`GET /console/reports`); and what the maintenance and postmortem pages share with them
//! (times in the signed-in person's zone, answers after a form).
//!
//! Every change goes through the engine on the person's behalf, exactly as the admin API's
//! (`DELETE /api/v1/subscribers/{id}`, `POST /api/v1/deliveries/{id}/retry`), so it is
//! audited in the change's own transaction.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use http::header::LOCATION;
use http::{HeaderValue, StatusCode};
use pharos_domain::access::Permission;
use pharos_engine::changes::ChangeFilter;
use pharos_engine::{DeliveryState, RetryError, SubscriberError, SubscriberKind};
use serde::Deserialize;

use super::pages::{render, Nav};
use super::{html, pages, Ctx, Signed};
use crate::admin::error::ApiError;
use crate::admin::reports::{self, ReportQuery};
use crate::admin::reports_page::{self, MetricRow};
use crate::brand::BrandView;

// ---------------------------------------------------------------------------------------
// Shared by the maintenance and postmortem pages

/// `303 See Other` to a path built from stored ids (the `Location` is always valid: ids are
/// `[a-z0-9_-]`, and anything else falls back to the console's home).
pub(super) fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut().insert(
        LOCATION,
        HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static(super::HOME_PATH)),
    );
    r
}

/// The zone the signed-in person reads times in (their `time_zone`, UTC when it is not a
/// known IANA name).
pub(super) fn user_tz(signed: &Signed) -> Tz {
    signed.session.user.time_zone.parse().unwrap_or(Tz::UTC)
}

/// `t` for people, in `tz`: "2026-12-07 14:00 CET".
pub(super) fn when(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// `t` in UTC, for `<time datetime>`.
pub(super) fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A page saying `text` under `heading`, with `status`.
pub(super) fn say(ctx: &Ctx, status: StatusCode, heading: &str, text: &str) -> Response {
    html(status, pages::message(ctx, heading, text))
}

/// An admin-API refusal as a console page: 404 names what is missing, 503 asks to try again,
/// anything else says the message with its status.
pub(super) fn refusal(ctx: &Ctx, e: &ApiError) -> Response {
    let (status, _, message) = e.shown();
    match status {
        StatusCode::NOT_FOUND => say(ctx, status, "Not found", &sentence(message)),
        StatusCode::SERVICE_UNAVAILABLE => super::unavailable(ctx, &message),
        _ => say(ctx, status, "Not done", &sentence(message)),
    }
}

/// `message` as a sentence: capitalised, with a full stop.
pub(super) fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut s: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

/// The flash line for a `?done=` code a form's redirect carries (fixed texts: nothing from
/// the query string is shown).
pub(super) fn flash(done: Option<&str>, known: &[(&str, &'static str)]) -> Option<&'static str> {
    let done = done?;
    known.iter().find(|(k, _)| *k == done).map(|(_, t)| *t)
}

/// `?done=` after a form.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Done {
    /// Which change was made.
    pub(super) done: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Changes

/// One change's row.
struct ChangeRow {
    started: String,
    started_utc: String,
    component: String,
    kind: String,
    summary: String,
    version: String,
    environment: String,
    author: String,
    url: Option<String>,
    source: String,
    superseded: bool,
    regression: Option<String>,
}

/// `GET /console/changes`.
#[derive(Template)]
#[template(path = "console/changes.html")]
struct ChangesPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    time_zone: &'a str,
    rows: Vec<ChangeRow>,
}

/// How many changes the page lists (the admin API's default).
const CHANGES_SHOWN: usize = 100;

/// The recent changes, newest first, as `GET /api/v1/changes` lists them.
pub(super) async fn changes(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
) -> Response {
    let filter = ChangeFilter {
        component: None,
        since: None,
        until: None,
        limit: Some(CHANGES_SHOWN),
    };
    let entries = match ctx.control.changes(&filter).await {
        Ok(e) => e,
        Err(error) => return super::unavailable(&ctx, &error),
    };
    let tz = user_tz(&signed);
    let view = ctx.control.view();
    let name_of = |id: &pharos_domain::ComponentId| {
        view.components
            .iter()
            .find(|c| &c.id == id)
            .map_or_else(|| id.to_string(), |c| c.name.clone())
    };
    let rows = entries
        .iter()
        .map(|e| {
            let c = &e.change;
            ChangeRow {
                started: when(c.started_at, tz),
                started_utc: utc(c.started_at),
                component: name_of(&c.component),
                kind: c.kind.clone(),
                summary: c.summary.clone(),
                version: c
                    .version
                    .clone()
                    .or_else(|| c.commit.as_ref().map(|s| s.chars().take(12).collect()))
                    .unwrap_or_default(),
                environment: c.environment.clone().unwrap_or_default(),
                author: c.author.clone().unwrap_or_default(),
                // Shown as a link only when it is one (checked when recorded, checked again).
                url: c
                    .url
                    .clone()
                    .filter(|u| pharos_domain::link::is_http_link(u)),
                source: c.source.clone(),
                superseded: e.superseded_by.is_some(),
                regression: e
                    .regression
                    .as_ref()
                    .filter(|r| r.suspect)
                    .map(|r| r.summary.clone()),
            }
        })
        .collect();
    let nav = Nav::new(&signed, "/changes");
    let brand = BrandView::new(&view.page);
    html(
        StatusCode::OK,
        render(
            &ChangesPage {
                base: &ctx.base,
                nav: Some(&nav),
                page_name: &view.page.name,
                brand: &brand,
                time_zone: tz.name(),
                rows,
            },
            "Changes",
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Subscribers

/// One subscriber's row.
struct SubscriberRow {
    id: String,
    mode: &'static str,
    state: &'static str,
    address: String,
    components: String,
    created: String,
    created_utc: String,
}

/// `GET /console/subscribers`.
#[derive(Template)]
#[template(path = "console/subscribers.html")]
struct SubscribersPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    csrf: &'a str,
    flash: Option<&'a str>,
    may_remove: bool,
    rows: Vec<SubscriberRow>,
}

/// Every subscriber, oldest first, each with a form to remove it (for those who may).
pub(super) async fn subscribers(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Query(done): Query<Done>,
) -> Response {
    let list = match ctx.control.subscribers(None).await {
        Ok(l) => l,
        Err(error) => return super::unavailable(&ctx, &error),
    };
    let tz = user_tz(&signed);
    let view = ctx.control.view();
    let rows = list
        .into_iter()
        .map(|s| SubscriberRow {
            mode: s.kind.as_str(),
            state: s.state().as_str(),
            address: match s.kind {
                SubscriberKind::Webhook => s.address.clone(),
                _ => s.email.clone().unwrap_or_else(|| s.address.clone()),
            },
            components: if s.components.is_empty() {
                "Whole page".to_owned()
            } else {
                s.components
                    .iter()
                    .map(|id| {
                        view.components
                            .iter()
                            .find(|c| &c.id == id)
                            .map_or_else(|| id.to_string(), |c| c.name.clone())
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            created: when(s.created_at, tz),
            created_utc: utc(s.created_at),
            id: s.id,
        })
        .collect();
    let nav = Nav::new(&signed, "/subscribers");
    let brand = BrandView::new(&view.page);
    html(
        StatusCode::OK,
        render(
            &SubscribersPage {
                base: &ctx.base,
                nav: Some(&nav),
                page_name: &view.page.name,
                brand: &brand,
                csrf: &signed.csrf,
                flash: flash(
                    done.done.as_deref(),
                    &[("removed", "The subscriber was removed.")],
                ),
                may_remove: signed.may(Permission::Operate),
                rows,
            },
            "Subscribers",
        ),
    )
}

/// Removes a subscriber for good (the admin API's `DELETE /api/v1/subscribers/{id}`).
pub(super) async fn remove_subscriber(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    match signed
        .caller
        .on_behalf(&ctx.control)
        .remove_subscriber(&id)
        .await
    {
        Ok(()) => {
            tracing::info!(subscriber = %id, by = %signed.caller.name, "subscriber removed in the console");
            redirect(&ctx.at("/subscribers?done=removed"))
        }
        Err(SubscriberError::NotFound(_)) => say(
            &ctx,
            StatusCode::NOT_FOUND,
            "Not found",
            "No subscriber has this id: it may have been removed already. Nothing was changed.",
        ),
        Err(error) => super::unavailable(&ctx, &error),
    }
}

// ---------------------------------------------------------------------------------------
// Deliveries

/// One delivery's row.
struct DeliveryRow {
    id: String,
    destination: String,
    event_kind: String,
    state: &'static str,
    attempts: u32,
    last_error: String,
    created: String,
    created_utc: String,
    /// When it is next tried (pending), was sent (sent) or last tried (dead).
    status_time: String,
    dead: bool,
}

/// `GET /console/deliveries`.
#[derive(Template)]
#[template(path = "console/deliveries.html")]
struct DeliveriesPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    csrf: &'a str,
    flash: Option<&'a str>,
    may_retry: bool,
    filters: Vec<Filter>,
    rows: Vec<DeliveryRow>,
}

/// A link choosing which deliveries are listed.
struct Filter {
    href: String,
    label: &'static str,
    current: bool,
}

/// `GET /console/deliveries` options.
#[derive(Debug, Default, Deserialize)]
pub(super) struct DeliveryQuery {
    /// Only this state: `pending`, `sent` or `dead`.
    state: Option<String>,
    /// Which change was made.
    done: Option<String>,
}

/// How many deliveries the page lists.
const DELIVERIES_SHOWN: usize = 200;

/// The recent deliveries, newest first, with their state; a retry button for dead ones.
pub(super) async fn deliveries(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Query(q): Query<DeliveryQuery>,
) -> Response {
    let state = q.state.as_deref().and_then(DeliveryState::parse);
    let rows = match ctx.control.deliveries(state, DELIVERIES_SHOWN).await {
        Ok(r) => r,
        Err(error) => return super::unavailable(&ctx, &error),
    };
    let tz = user_tz(&signed);
    let rows = rows
        .into_iter()
        .map(|r| {
            let status_time = match r.state {
                DeliveryState::Pending => format!("next try {}", when(r.due_at, tz)),
                DeliveryState::Sent => r
                    .sent_at
                    .map(|t| format!("sent {}", when(t, tz)))
                    .unwrap_or_default(),
                DeliveryState::Dead => r
                    .last_attempt_at
                    .map(|t| format!("given up {}", when(t, tz)))
                    .unwrap_or_default(),
            };
            DeliveryRow {
                dead: r.state == DeliveryState::Dead,
                state: r.state.as_str(),
                attempts: r.attempts,
                last_error: r.last_error.unwrap_or_default(),
                created: when(r.created_at, tz),
                created_utc: utc(r.created_at),
                status_time,
                id: r.id,
                destination: r.destination,
                event_kind: r.event_kind,
            }
        })
        .collect();
    let filters = [
        (None, "All"),
        (Some(DeliveryState::Pending), "Pending"),
        (Some(DeliveryState::Sent), "Sent"),
        (Some(DeliveryState::Dead), "Dead"),
    ]
    .into_iter()
    .map(|(s, label)| Filter {
        href: match s {
            Some(s) => ctx.at(&format!("/deliveries?state={}", s.as_str())),
            None => ctx.at("/deliveries"),
        },
        label,
        current: s == state,
    })
    .collect();
    let view = ctx.control.view();
    let nav = Nav::new(&signed, "/deliveries");
    let brand = BrandView::new(&view.page);
    html(
        StatusCode::OK,
        render(
            &DeliveriesPage {
                base: &ctx.base,
                nav: Some(&nav),
                page_name: &view.page.name,
                brand: &brand,
                csrf: &signed.csrf,
                flash: flash(
                    q.done.as_deref(),
                    &[(
                        "retried",
                        "The delivery is queued again: it is sent within a few seconds.",
                    )],
                ),
                may_retry: signed.may(Permission::Operate),
                filters,
                rows,
            },
            "Deliveries",
        ),
    )
}

/// Sends a dead delivery again (the admin API's `POST /api/v1/deliveries/{id}/retry`).
pub(super) async fn retry_delivery(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    match signed
        .caller
        .on_behalf(&ctx.control)
        .retry_delivery(&id)
        .await
    {
        Ok(row) => {
            tracing::info!(delivery = %row.id, by = %signed.caller.name, "dead delivery retried in the console");
            redirect(&ctx.at("/deliveries?done=retried"))
        }
        Err(RetryError::NotFound(_)) => say(
            &ctx,
            StatusCode::NOT_FOUND,
            "Not found",
            "No delivery has this id. Nothing was changed.",
        ),
        Err(e @ RetryError::NotDead(_)) => say(
            &ctx,
            StatusCode::CONFLICT,
            "Not retried",
            &format!("{} Nothing was changed.", sentence(&e.to_string())),
        ),
        Err(RetryError::Unavailable(s)) => super::unavailable(&ctx, &s),
    }
}

// ---------------------------------------------------------------------------------------
// Reports

/// One bar of a chart.
struct Bar {
    /// Its label, left of the bar.
    label: String,
    /// What the bar measures, right of it.
    value: String,
    y: u32,
    text_y: u32,
    width: u32,
}

/// A horizontal bar chart, drawn on the server as SVG.
struct Chart {
    /// The element id of its title.
    id: String,
    title: String,
    height: u32,
    bars: Vec<Bar>,
}

/// Chart geometry: the label column, the bar area, one row's height.
const LABEL_W: u32 = 180;
const BAR_W: u32 = 400;
const ROW_H: u32 = 26;

impl Chart {
    /// A chart of `values` (label, figure, text), bars scaled to the largest figure.
    fn new(id: String, title: String, values: Vec<(String, f64, String)>) -> Chart {
        let max = values.iter().map(|(_, v, _)| *v).fold(0.0_f64, f64::max);
        let bars = values
            .into_iter()
            .zip(0u32..)
            .map(|((label, v, value), i)| {
                // A fraction of BAR_W: within u32 by construction.
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let width = if max > 0.0 {
                    ((v / max) * f64::from(BAR_W))
                        .round()
                        .max(if v > 0.0 { 2.0 } else { 0.0 }) as u32
                } else {
                    0
                };
                Bar {
                    label,
                    value,
                    y: i * ROW_H + 4,
                    text_y: i * ROW_H + 18,
                    width,
                }
            })
            .collect::<Vec<_>>();
        let rows = u32::try_from(bars.len()).unwrap_or(u32::MAX).max(1);
        Chart {
            id,
            title,
            height: rows.saturating_mul(ROW_H) + 8,
            bars,
        }
    }
}

/// One section of the report as a table.
struct ReportSection {
    anchor: String,
    title: String,
    rows: Vec<MetricRow>,
}

/// `GET /console/reports`.
#[derive(Template)]
#[template(path = "console/reports.html")]
struct ReportsPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    time_zone: &'a str,
    generated: String,
    links: Vec<Filter>,
    windows: Vec<String>,
    charts: Vec<Chart>,
    sections: Vec<ReportSection>,
    label_x: u32,
    bar_x: u32,
    value_x: u32,
}

/// The reports of `GET /api/v1/reports` (and the admin `/reports` page): uptime, downtime
/// and incident figures per window, for the page and each component, with a downtime chart
/// per window. Same query (`?days=`, `?component=`).
pub(super) async fn reports(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<ReportQuery>,
) -> Response {
    let report = match reports::build(&ctx.control, &query, pharos_engine::clock::now()).await {
        Ok(r) => r,
        Err(e) => return refusal(&ctx, &e),
    };
    let view = ctx.control.view();
    // Windows are whole days in the page's zone (as the API computes them).
    let tz = view.page.time_zone;
    let days: Vec<(u32, &'static str)> = report.windows.iter().map(|w| (w.days, w.key)).collect();
    let mut sections = vec![ReportSection {
        anchor: "all".to_owned(),
        title: "All components".to_owned(),
        rows: reports_page::rows(
            "all",
            &days,
            &report.overall.uptime,
            &report.overall.incidents,
            tz,
        ),
    }];
    for c in &report.components {
        let anchor = format!("c-{}", c.id);
        sections.push(ReportSection {
            rows: reports_page::rows(&anchor, &days, &c.uptime, &c.incidents, tz),
            anchor,
            title: c.name.clone(),
        });
    }
    let charts = days
        .iter()
        .map(|&(d, key)| {
            let values = report
                .components
                .iter()
                .map(|c| {
                    let u = c.uptime.get(d);
                    let down = u.map_or(0.0, |u| u.downtime_seconds);
                    let text = format!(
                        "{} · {}",
                        reports_page::duration_text(down),
                        reports_page::percent_text(u.and_then(|u| u.percent))
                    );
                    (c.name.clone(), down, text)
                })
                .collect();
            Chart::new(
                format!("chart-{key}"),
                format!("Downtime by component, last {d} days"),
                values,
            )
        })
        .collect();
    let component = query.component.as_deref().map(|c| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("component", c);
        q.finish()
    });
    let href = |d: Option<u32>| {
        let mut parts: Vec<String> = d.map(|d| format!("days={d}")).into_iter().collect();
        parts.extend(component.clone());
        if parts.is_empty() {
            ctx.at("/reports")
        } else {
            ctx.at(&format!("/reports?{}", parts.join("&")))
        }
    };
    let all = report.windows.len() > 1;
    let mut links = vec![Filter {
        href: href(None),
        label: "All windows",
        current: all,
    }];
    for (d, label) in [(30, "30 days"), (90, "90 days"), (365, "365 days")] {
        links.push(Filter {
            href: href(Some(d)),
            label,
            current: !all && days.first().is_some_and(|(x, _)| *x == d),
        });
    }
    let nav = Nav::new(&signed, "/reports");
    let brand = BrandView::new(&view.page);
    html(
        StatusCode::OK,
        render(
            &ReportsPage {
                base: &ctx.base,
                nav: Some(&nav),
                page_name: &view.page.name,
                brand: &brand,
                time_zone: tz.name(),
                generated: when(report.generated_at, tz),
                links,
                windows: report
                    .windows
                    .iter()
                    .map(|w| format!("{} days (from {})", w.days, when(w.from, tz)))
                    .collect(),
                charts,
                sections,
                label_x: LABEL_W - 8,
                bar_x: LABEL_W,
                value_x: LABEL_W + BAR_W + 8,
            },
            "Reports",
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_a_small_one_stays_visible() {
        let c = Chart::new(
            "c".into(),
            "t".into(),
            vec![
                ("a".into(), 100.0, String::new()),
                ("b".into(), 0.1, String::new()),
                ("c".into(), 0.0, String::new()),
            ],
        );
        let widths: Vec<u32> = c.bars.iter().map(|b| b.width).collect();
        assert_eq!(widths, vec![BAR_W, 2, 0]);
        assert_eq!(c.height, 3 * ROW_H + 8);
    }

    #[test]
    fn messages_become_sentences() {
        assert_eq!(sentence("is in the past"), "Is in the past.");
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(sentence(""), "");
    }
}

//! One monitor in the console (`GET /console/monitors/{id}`): its state as the engine sees it
//! now, each location's own state, its recent results with the reason each failed, and a
//! chart of where the time of its recent checks went (DNS, connect, TLS, first byte), drawn
//! on the server as SVG.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use http::StatusCode;
use pharos_domain::{CheckOutcome, CheckResult, MonitorId};

use super::overview::{health_class, Sparkline};
use super::pages::{render, Nav};
use super::{html, local_time, Ctx, Signed};
use crate::brand::BrandView;

/// How many results the page lists.
const RESULTS_SHOWN: usize = 50;
/// How many of them the timings chart draws.
const CHARTED: usize = 20;

/// A location's row.
struct LocationRow {
    name: String,
    health: &'static str,
    class: &'static str,
    online: bool,
    last_check: String,
    duration: String,
    error: Option<String>,
}

/// A result's row.
struct ResultRow {
    at: String,
    outcome: &'static str,
    class: &'static str,
    duration_ms: u64,
    status_code: Option<u16>,
    location: String,
    error: Option<String>,
}

/// One bar of the timings chart: a check's phases as stacked segments.
struct Bar {
    y: u32,
    label: String,
    /// (x, width, phase) of each segment.
    segments: Vec<(u32, u32, &'static str)>,
}

/// The timings chart.
struct Chart {
    height: u32,
    bars: Vec<Bar>,
    max_ms: u64,
    summary: String,
}

/// The monitor page.
#[derive(Template)]
#[template(path = "console/monitor.html")]
struct MonitorPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    id: &'a str,
    type_name: &'static str,
    health: &'static str,
    class: &'static str,
    flapping_since: Option<String>,
    last_error: Option<String>,
    components: Vec<String>,
    locations: Vec<LocationRow>,
    results: Vec<ResultRow>,
    spark: Option<Sparkline>,
    chart: Option<Chart>,
}

/// Chart width in SVG units (the label column is to the left of `BAR_X`).
const CHART_W: u32 = 600;
const BAR_X: u32 = 130;
const ROW_H: u32 = 20;

/// The phases of `results` with timings (newest first), as stacked bars.
fn chart(results: &[CheckResult], tz: chrono_tz::Tz) -> Option<Chart> {
    let timed: Vec<&CheckResult> = results
        .iter()
        .filter(|r| r.timings.as_ref().is_some_and(|t| !t.is_empty()))
        .take(CHARTED)
        .collect();
    if timed.is_empty() {
        return None;
    }
    let max_ms = timed
        .iter()
        .map(|r| r.duration_ms)
        .max()
        .unwrap_or(1)
        .max(1);
    let scale = |ms: u64| ((ms.min(max_ms) * u64::from(CHART_W - BAR_X)) / max_ms) as u32;
    let bars = timed
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut segments = Vec::new();
            let mut x = BAR_X;
            if let Some(t) = &r.timings {
                for (ms, phase) in [
                    (t.dns_ms, "dns"),
                    (t.connect_ms, "connect"),
                    (t.tls_ms, "tls"),
                    (t.first_byte_ms, "wait"),
                ] {
                    if let Some(ms) = ms {
                        let w = scale(ms).max(1);
                        segments.push((x, w, phase));
                        x += w;
                    }
                }
            }
            // What is left of the check's time: reading the answer and judging it.
            let total = BAR_X + scale(r.duration_ms);
            if total > x {
                segments.push((x, total - x, "rest"));
            }
            Bar {
                y: i as u32 * ROW_H,
                label: r
                    .started_at
                    .with_timezone(&tz)
                    .format("%H:%M:%S")
                    .to_string(),
                segments,
            }
        })
        .collect::<Vec<_>>();
    Some(Chart {
        height: bars.len() as u32 * ROW_H + 20,
        summary: format!(
            "Where the time of the last {} timed checks went, the longest {max_ms} ms",
            bars.len()
        ),
        bars,
        max_ms,
    })
}

fn outcome(o: CheckOutcome) -> (&'static str, &'static str) {
    match o {
        CheckOutcome::Up => ("up", "op"),
        CheckOutcome::Degraded => ("degraded", "deg"),
        CheckOutcome::Down => ("down", "major"),
    }
}

/// `GET /console/monitors/{id}`.
pub(super) async fn page(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    let not_found = || {
        html(
            StatusCode::NOT_FOUND,
            super::pages::message(
                &ctx,
                "No such monitor",
                &format!("There is no monitor {id:?}."),
            ),
        )
    };
    let Some(mid) = MonitorId::new(id.as_str()).ok() else {
        return not_found();
    };
    let monitor = match ctx.control.monitor(&mid).await {
        Ok(Some(m)) => m,
        Ok(None) => return not_found(),
        Err(e) => return super::unavailable(&ctx, &e),
    };
    let results = match ctx.control.recent_results(&mid, RESULTS_SHOWN).await {
        Ok(r) => r,
        Err(e) => return super::unavailable(&ctx, &e),
    };
    let tz = super::time_zone(&signed);
    let now = pharos_engine::clock::now();
    let view = ctx.control.view();
    let nav = Nav::new(&signed, "");
    let brand = BrandView::new(&view.page);
    let locations = monitor
        .locations
        .iter()
        .map(|l| LocationRow {
            name: l.name.clone(),
            health: l.health.as_str(),
            class: health_class(l.health),
            online: l.online,
            last_check: l
                .last_check_at
                .map_or_else(|| "not yet".to_owned(), |t| super::ago(now, t)),
            duration: l
                .last_duration_ms
                .map_or_else(|| "–".to_owned(), |ms| format!("{ms} ms")),
            error: l.last_error.clone(),
        })
        .collect();
    let rows = results
        .iter()
        .map(|r| {
            let (outcome, class) = outcome(r.outcome);
            ResultRow {
                at: local_time(r.started_at, tz),
                outcome,
                class,
                duration_ms: r.duration_ms,
                status_code: r.status_code,
                location: r.location.to_string(),
                error: r.error.clone(),
            }
        })
        .collect();
    let components = monitor
        .components
        .iter()
        .map(|c| {
            view.components
                .iter()
                .find(|v| &v.id == c)
                .map_or_else(|| c.to_string(), |v| v.name.clone())
        })
        .collect();
    let spark = Sparkline::of(&ctx.control.recent().of(&mid));
    let page = MonitorPage {
        base: &ctx.base,
        nav: Some(&nav),
        page_name: &view.page.name,
        brand: &brand,
        id: &id,
        type_name: monitor.type_name,
        health: monitor.health.as_str(),
        class: health_class(monitor.health),
        flapping_since: monitor.flapping_since.map(|t| local_time(t, tz)),
        last_error: monitor.last_error.clone(),
        components,
        locations,
        results: rows,
        spark,
        chart: chart(&results, tz),
    };
    html(StatusCode::OK, render(&page, "Monitor"))
}

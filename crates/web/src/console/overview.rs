//! The console's overview (`GET /console`): open incidents and maintenances, every component
//! with its status and 90-day uptime, and every monitor with its state and a response-time
//! sparkline of its last checks, all from memory (the published view and the engine's
//! [`pharos_engine::recent::RecentChecks`]), so the page costs no storage read however many
//! monitors there are.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use http::StatusCode;
use pharos_domain::Health;
use pharos_engine::recent::RecentCheck;

use super::pages::{render, Nav};
use super::{html, local_time, Ctx, Signed};
use crate::brand::BrandView;

/// An open incident's row.
struct IncidentRow {
    id: String,
    name: String,
    status: &'static str,
    impact: &'static str,
    severity: Option<&'static str>,
    public: bool,
    started: String,
}

/// A maintenance in progress or to come.
struct MaintenanceRow {
    id: String,
    name: String,
    status: &'static str,
    window: String,
}

/// A component's row.
struct ComponentRow {
    name: String,
    status: &'static str,
    class: &'static str,
    is_group: bool,
    uptime: String,
}

/// A monitor's row.
struct MonitorRow {
    id: String,
    type_name: &'static str,
    health: &'static str,
    class: &'static str,
    last_check: String,
    error: Option<String>,
    spark: Option<Sparkline>,
}

/// A response-time sparkline, drawn on the server as SVG.
pub(super) struct Sparkline {
    /// `x,y` pairs of the line, in the 120×28 box.
    pub(super) points: String,
    /// Where the failed checks are (x, y).
    pub(super) downs: Vec<(u32, u32)>,
    /// What it shows, for screen readers.
    pub(super) label: String,
}

/// The box a sparkline is drawn in.
const SPARK_W: u32 = 120;
const SPARK_H: u32 = 28;

impl Sparkline {
    /// The line of `checks` (oldest first), scaled to the slowest; `None` for fewer than two.
    pub(super) fn of(checks: &[RecentCheck]) -> Option<Sparkline> {
        if checks.len() < 2 {
            return None;
        }
        let max = checks
            .iter()
            .map(|c| c.duration_ms)
            .max()
            .unwrap_or(0)
            .max(1);
        let min = checks.iter().map(|c| c.duration_ms).min().unwrap_or(0);
        let last = checks.len() as u32 - 1;
        let mut points = String::with_capacity(checks.len() * 7);
        let mut downs = Vec::new();
        for (i, c) in checks.iter().enumerate() {
            let x = i as u32 * SPARK_W / last;
            // Whole pixels, 2 px margin: the line's numbers are most of the page's weight.
            let y =
                (SPARK_H - 2) - ((c.duration_ms.min(max) * u64::from(SPARK_H - 4)) / max) as u32;
            if !points.is_empty() {
                points.push(' ');
            }
            points.push_str(&format!("{x},{y}"));
            if c.down {
                downs.push((x, y));
            }
        }
        let label = format!(
            "Response time of the last {} checks: {min} to {max} ms{}",
            checks.len(),
            if downs.is_empty() {
                String::new()
            } else {
                format!(", {} failed", downs.len())
            }
        );
        Some(Sparkline {
            points,
            downs,
            label,
        })
    }
}

/// The overview page.
#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    incidents: Vec<IncidentRow>,
    maintenances: Vec<MaintenanceRow>,
    components: Vec<ComponentRow>,
    monitors: Vec<MonitorRow>,
    down: usize,
}

/// The class the public page's styles colour a monitor's health with.
pub(super) fn health_class(h: Health) -> &'static str {
    match h {
        Health::Unknown => "none",
        Health::Up => "op",
        Health::Degraded => "deg",
        Health::Down => "major",
    }
}

/// `GET /console`.
pub(super) async fn page(State(ctx): State<Ctx>, Extension(signed): Extension<Signed>) -> Response {
    let view = ctx.control.view();
    let tz = super::time_zone(&signed);
    let nav = Nav::new(&signed, "");
    let brand = BrandView::new(&view.page);
    let incidents = view
        .incidents
        .iter()
        .rev()
        .filter(|i| i.status.is_unresolved())
        .map(|i| IncidentRow {
            id: i.id.to_string(),
            name: i.name.clone(),
            status: i.status.label(),
            impact: i.impact_override.unwrap_or(i.computed_impact).as_str(),
            severity: i.severity.map(|s| s.as_str()),
            public: i.public,
            started: local_time(i.started_at, tz),
        })
        .collect();
    let maintenances = view
        .maintenances
        .iter()
        .filter(|m| m.status.is_active() || m.status.is_upcoming())
        .map(|m| MaintenanceRow {
            id: m.id.to_string(),
            name: m.name.clone(),
            status: m.status.as_str(),
            window: format!(
                "{} – {}",
                local_time(m.scheduled_for, tz),
                local_time(m.scheduled_until, tz)
            ),
        })
        .collect();
    let components = view
        .components
        .iter()
        .map(|c| ComponentRow {
            name: c.name.clone(),
            status: c.status.label(),
            class: crate::page::status_class(Some(c.status)),
            is_group: c.is_group,
            uptime: c
                .uptime_ratio
                .map_or_else(|| "–".to_owned(), |r| format!("{:.2} %", r * 100.0)),
        })
        .collect();
    let mut recent = ctx.control.recent().all();
    let now = pharos_engine::clock::now();
    let monitors: Vec<MonitorRow> = view
        .monitors
        .iter()
        .map(|m| MonitorRow {
            id: m.id.to_string(),
            type_name: m.type_name,
            health: m.health.as_str(),
            class: health_class(m.health),
            last_check: m
                .last_check_at
                .map_or_else(|| "not yet".to_owned(), |t| super::ago(now, t)),
            error: m.last_error.clone(),
            spark: recent.remove(&m.id).and_then(|c| Sparkline::of(&c)),
        })
        .collect();
    let down = view
        .monitors
        .iter()
        .filter(|m| m.health == Health::Down)
        .count();
    html(
        StatusCode::OK,
        render(
            &OverviewPage {
                base: &ctx.base,
                nav: Some(&nav),
                page_name: &view.page.name,
                brand: &brand,
                incidents,
                maintenances,
                components,
                monitors,
                down,
            },
            "Overview",
        ),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn check(ms: u64, down: bool) -> RecentCheck {
        RecentCheck {
            at: chrono::Utc::now(),
            duration_ms: ms,
            down,
        }
    }

    #[test]
    fn a_sparkline_spans_the_box_and_marks_failures() {
        assert!(Sparkline::of(&[check(5, false)]).is_none());
        let s = Sparkline::of(&[check(0, false), check(100, true), check(50, false)]).unwrap();
        assert_eq!(s.points, "0,26 60,2 120,14");
        assert_eq!(s.downs, vec![(60, 2)]);
        assert_eq!(
            s.label,
            "Response time of the last 3 checks: 0 to 100 ms, 1 failed"
        );
    }
}

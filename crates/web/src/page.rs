//! The public status page (`/`): a view model computed from a [`StatusView`] and rendered once
//! per change with askama (`templates/index.html`).
//!
//! Everything the template shows is prepared here (as text, or as sanitized HTML for update
//! bodies), so the template has no logic beyond loops and conditions. Times are written in the
//! page's time zone inside `<time>` elements; the page's one script rewrites them into the
//! viewer's zone when JavaScript runs, and the page reads fine without it.
//!
//! Uptime bars: one per local day, the newest 30 on narrow screens (CSS), each a `<button>`
//! whose text is the day's detail, shown while it is hovered or focused (so a tap or the
//! keyboard reaches it, and screen readers read it as the button's name). Today's bar is never
//! better than the component's current status. The uptime figure needs a day of tracked
//! history: a younger component says so instead of extrapolating from a few minutes.

use std::collections::HashMap;

use askama::Template;
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use pharos_domain::uptime::{observed_ms, overall_ratio, DayUptime};
use pharos_domain::{ComponentStatus, Indicator};
use pharos_engine::{ComponentView, StatusView};

use crate::banner::{banner, Banner};
use crate::brand::BrandView;
use crate::history::{newest_update, path_segment};
use crate::markdown::render_markdown_inline;
use crate::v2::{ApiTime, Incident, ScheduledMaintenance, Status};

/// How many daily bars a component shows.
pub const UPTIME_DAYS: usize = 90;
/// How many of them narrow screens show (the newest).
pub const NARROW_UPTIME_DAYS: usize = 30;

/// Tracked time a component needs before its uptime figure is shown.
const FIGURE_NEEDS_MS: i64 = 24 * 3_600_000;
/// Tracked time a day needs before its bar's detail shows a percentage.
const DAY_FIGURE_NEEDS_MS: i64 = 3_600_000;

/// A time as the pages show it.
pub(crate) struct TimeView {
    /// RFC 3339 in the page's zone, for `<time datetime>` on `/`.
    pub(crate) iso: String,
    /// RFC 3339 in UTC (`2026-01-02T10:04:05Z`), for `<time datetime>` on the incident and
    /// history pages.
    pub(crate) utc: String,
    /// Human text in the page's zone, e.g. "Jan 2, 2026 03:04 MST".
    pub(crate) text: String,
    /// Tooltip keeping the page's zone visible: "Jan 2, 2026 03:04 MST (America/Denver)".
    pub(crate) title: String,
}

impl TimeView {
    /// `t` shown in the page's zone `tz`.
    pub(crate) fn new(t: DateTime<Utc>, tz: Tz) -> Self {
        let local = t.with_timezone(&tz);
        let text = local.format("%b %-d, %Y %H:%M %Z").to_string();
        Self {
            iso: ApiTime::in_zone(t, tz).to_string(),
            utc: t.to_rfc3339_opts(SecondsFormat::Secs, true),
            title: format!("{text} ({})", tz.name()),
            text,
        }
    }
}

/// One daily uptime bar.
struct Bar {
    /// CSS class suffix: `op`, `deg`, `part`, `major`, `maint` or `none` (no data).
    class: &'static str,
    /// The day's detail: date, worst status and uptime.
    tip: String,
}

/// A component or a group on the page.
struct Row {
    name: String,
    description: Option<String>,
    status_class: &'static str,
    status_label: &'static str,
    is_group: bool,
    children: Vec<Row>,
    bars: Vec<Bar>,
    /// Over all the bars: "99.87 % uptime", "Under a day of data" or "No data".
    uptime_90: String,
    /// The same over the newest [`NARROW_UPTIME_DAYS`], shown on narrow screens.
    uptime_30: String,
    /// The bars' group label, for screen readers.
    bars_label: String,
    /// "Failing from Europe (France)" while checks from some places fail.
    failing_from: Option<String>,
}

/// An open incident.
struct IncidentCard {
    /// The id as a URL path segment, for `/incidents/{path}`.
    path: String,
    name: String,
    status_label: &'static str,
    impact_class: &'static str,
    started: TimeView,
    latest: Option<UpdateLine>,
}

/// A maintenance window, upcoming or under way.
struct MaintenanceCard {
    /// The id as a URL path segment, for `/incidents/{path}`.
    path: String,
    name: String,
    status_label: &'static str,
    from: TimeView,
    until: TimeView,
    latest: Option<UpdateLine>,
}

/// The newest update of an incident or maintenance.
struct UpdateLine {
    status_label: &'static str,
    /// The body as safe inline HTML ([`crate::markdown`]).
    body_html: String,
    at: TimeView,
}

/// A component the subscribe form offers to follow.
struct SubscribeOption {
    id: String,
    name: String,
    /// Whether it sits in a group (indented under it).
    in_group: bool,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    brand: BrandView,
    time_zone: &'static str,
    banner: Banner,
    updated: TimeView,
    rows: Vec<Row>,
    incidents: Vec<IncidentCard>,
    maintenances: Vec<MaintenanceCard>,
    /// Whether the form offers e-mail subscriptions.
    email_subscriptions: bool,
    /// Components the form offers, in page order.
    subscribe_options: Vec<SubscribeOption>,
}

/// Renders the page. `incidents` are the unresolved incidents and `maintenances` the upcoming
/// and active ones, both as the API shows them. `latest_html(id)` gives the newest update's body
/// of an incident or maintenance as safe inline HTML, when it is already rendered.
pub fn render(
    view: &StatusView,
    status: &Status,
    incidents: &[Incident],
    maintenances: &[ScheduledMaintenance],
    latest_html: &dyn Fn(&str) -> Option<String>,
) -> Result<String, askama::Error> {
    let tz = view.page.time_zone;
    let page = IndexPage {
        brand: BrandView::new(&view.page),
        time_zone: tz.name(),
        banner: banner(status, incidents),
        updated: TimeView::new(view.updated_at, tz),
        rows: rows(view),
        incidents: incidents
            .iter()
            .map(|i| incident_card(i, tz, latest_html))
            .collect(),
        maintenances: maintenances
            .iter()
            .map(|m| maintenance_card(m, tz, latest_html))
            .collect(),
        email_subscriptions: view.page.email_subscriptions,
        subscribe_options: subscribe_options(view),
    };
    page.render()
}

/// Every group and component in page order, components of a group right after it.
fn subscribe_options(view: &StatusView) -> Vec<SubscribeOption> {
    let mut out = Vec::new();
    let mut by_position: Vec<&ComponentView> = view.components.iter().collect();
    by_position.sort_by_key(|c| c.position);
    for c in by_position.iter().filter(|c| c.group_id.is_none()) {
        out.push(SubscribeOption {
            id: c.id.to_string(),
            name: c.name.clone(),
            in_group: false,
        });
        for k in by_position
            .iter()
            .filter(|k| k.group_id.as_ref() == Some(&c.id))
        {
            out.push(SubscribeOption {
                id: k.id.to_string(),
                name: k.name.clone(),
                in_group: true,
            });
        }
    }
    out
}

/// Top-level rows in position order, each group holding its children.
fn rows(view: &StatusView) -> Vec<Row> {
    let today = view
        .generated_at
        .with_timezone(&view.page.time_zone)
        .date_naive();
    let by_id: HashMap<&str, &ComponentView> =
        view.components.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut top: Vec<&ComponentView> = view
        .components
        .iter()
        .filter(|c| {
            c.group_id
                .as_ref()
                .is_none_or(|g| !by_id.contains_key(g.as_str()))
        })
        .collect();
    top.sort_by_key(|c| c.position);
    top.into_iter()
        .map(|c| {
            if c.is_group {
                let mut children: Vec<&ComponentView> = c
                    .children
                    .iter()
                    .filter_map(|id| by_id.get(id.as_str()).copied())
                    .collect();
                // Children the group does not list but that point at it still belong to it.
                for extra in view
                    .components
                    .iter()
                    .filter(|x| x.group_id.as_ref() == Some(&c.id) && !c.children.contains(&x.id))
                {
                    children.push(extra);
                }
                let mut row = row(c, today);
                row.children = children.into_iter().map(|k| self::row(k, today)).collect();
                row
            } else {
                row(c, today)
            }
        })
        .collect()
}

fn row(c: &ComponentView, today: NaiveDate) -> Row {
    let (bars, bars_label, uptime_90, uptime_30) = if c.is_group {
        (Vec::new(), String::new(), String::new(), String::new())
    } else {
        let narrow_from = today - Duration::days(NARROW_UPTIME_DAYS as i64 - 1);
        let recent: Vec<DayUptime> = c
            .uptime_days
            .iter()
            .filter(|d| d.date >= narrow_from && d.date <= today)
            .copied()
            .collect();
        (
            bars(&c.uptime_days, today, c.status),
            format!("{}: one bar per day, oldest first", c.name),
            uptime_figure(&c.uptime_days),
            uptime_figure(&recent),
        )
    };
    Row {
        name: c.name.clone(),
        description: c.description.clone(),
        status_class: status_class(Some(c.status)),
        status_label: c.status.label(),
        is_group: c.is_group,
        children: Vec::new(),
        bars,
        uptime_90,
        uptime_30,
        bars_label,
        failing_from: (!c.failing_from.is_empty()).then(|| {
            let names: Vec<&str> = c.failing_from.iter().map(String::as_str).collect();
            format!(
                "Failing from {}",
                pharos_domain::incident::join_names(&names)
            )
        }),
    }
}

/// Exactly [`UPTIME_DAYS`] bars ending `today`; days without data say so. Today's bar shows at
/// least the component's `current` status, so it never looks better than the status beside it.
fn bars(days: &[DayUptime], today: NaiveDate, current: ComponentStatus) -> Vec<Bar> {
    let by_date: HashMap<NaiveDate, &DayUptime> = days.iter().map(|d| (d.date, d)).collect();
    (0..UPTIME_DAYS)
        .rev()
        .map(|back| {
            let date = today - Duration::days(back as i64);
            let day = by_date.get(&date).copied();
            let mut worst = day.and_then(DayUptime::worst);
            if back == 0 {
                worst = Some(worst.map_or(current, |w| w.worst(current)));
            }
            let date_text = date.format("%b %-d, %Y");
            let ratio = day
                .filter(|d| d.observed_ms >= DAY_FIGURE_NEEDS_MS)
                .and_then(DayUptime::ratio);
            let tip = match (worst, ratio) {
                (Some(ComponentStatus::Operational), Some(r)) => {
                    format!("{date_text}: {}", uptime_text(Some(r)))
                }
                (Some(w), Some(r)) => {
                    format!("{date_text}: {} · {}", w.label(), uptime_text(Some(r)))
                }
                (Some(w), None) => format!("{date_text}: {}", w.label()),
                (None, _) => format!("{date_text}: No data"),
            };
            Bar {
                class: status_class(worst),
                tip,
            }
        })
        .collect()
}

/// The uptime over `days` as the page states it: a percentage once a whole day is tracked,
/// "Under a day of data" before that, "No data" when nothing is.
fn uptime_figure(days: &[DayUptime]) -> String {
    match observed_ms(days) {
        0 => "No data".to_owned(),
        ms if ms < FIGURE_NEEDS_MS => "Under a day of data".to_owned(),
        _ => uptime_text(overall_ratio(days)),
    }
}

/// "99.87 % uptime", rounded down so that any downtime never reads as 100.00 %; "No data".
fn uptime_text(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) => {
            let pct = (r.clamp(0.0, 1.0) * 10_000.0).floor() / 100.0;
            format!("{pct:.2} % uptime")
        }
        None => "No data".to_owned(),
    }
}

pub(crate) fn status_class(s: Option<ComponentStatus>) -> &'static str {
    match s {
        Some(ComponentStatus::Operational) => "op",
        Some(ComponentStatus::DegradedPerformance) => "deg",
        Some(ComponentStatus::PartialOutage) => "part",
        Some(ComponentStatus::MajorOutage) => "major",
        Some(ComponentStatus::UnderMaintenance) => "maint",
        None => "none",
    }
}

fn indicator_class(i: Indicator) -> &'static str {
    i.as_str()
}

fn incident_card(
    i: &Incident,
    tz: Tz,
    latest_html: &dyn Fn(&str) -> Option<String>,
) -> IncidentCard {
    IncidentCard {
        path: path_segment(&i.id),
        name: i.name.clone(),
        status_label: i.status.label(),
        impact_class: indicator_class(i.impact),
        started: TimeView::new(i.started_at.utc(), tz),
        latest: newest_update(&i.incident_updates).map(|u| UpdateLine {
            status_label: u.status.label(),
            body_html: latest_html(&i.id).unwrap_or_else(|| render_markdown_inline(&u.body)),
            at: TimeView::new(u.display_at.utc(), tz),
        }),
    }
}

fn maintenance_card(
    m: &ScheduledMaintenance,
    tz: Tz,
    latest_html: &dyn Fn(&str) -> Option<String>,
) -> MaintenanceCard {
    let i = &m.incident;
    MaintenanceCard {
        path: path_segment(&i.id),
        name: i.name.clone(),
        status_label: i.status.label(),
        from: TimeView::new(m.scheduled_for.utc(), tz),
        until: TimeView::new(m.scheduled_until.utc(), tz),
        latest: newest_update(&i.incident_updates).map(|u| UpdateLine {
            status_label: u.status.label(),
            body_html: latest_html(&i.id).unwrap_or_else(|| render_markdown_inline(&u.body)),
            at: TimeView::new(u.display_at.utc(), tz),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_never_rounds_up_to_perfect() {
        assert_eq!(uptime_text(Some(1.0)), "100.00 % uptime");
        assert_eq!(uptime_text(Some(0.99999)), "99.99 % uptime");
        assert_eq!(uptime_text(Some(0.9987)), "99.87 % uptime");
        assert_eq!(uptime_text(None), "No data");
    }

    #[test]
    fn always_ninety_bars_ending_today() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        let day = DayUptime {
            date: today,
            observed_ms: 10 * 3_600_000,
            major_ms: 3_600_000,
            partial_ms: 0,
            degraded_ms: 0,
            maintenance_ms: 0,
        };
        let b = bars(&[day], today, ComponentStatus::Operational);
        assert_eq!(b.len(), UPTIME_DAYS);
        assert_eq!(b[89].class, "major");
        assert_eq!(b[89].tip, "Mar 31, 2026: Major outage · 90.00 % uptime");
        assert_eq!(b[0].class, "none");
        assert_eq!(b[0].tip, "Jan 1, 2026: No data");
    }

    #[test]
    fn a_young_component_claims_no_percentage() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        let minute = DayUptime {
            observed_ms: 60_000,
            major_ms: 17_400,
            ..DayUptime::untracked(today)
        };
        assert_eq!(uptime_figure(&[minute]), "Under a day of data");
        assert_eq!(uptime_figure(&[DayUptime::untracked(today)]), "No data");
        let b = bars(&[minute], today, ComponentStatus::Operational);
        assert_eq!(b[89].tip, "Mar 31, 2026: Major outage");
        let day = DayUptime {
            observed_ms: 86_400_000,
            major_ms: 864_000,
            ..DayUptime::untracked(today)
        };
        assert_eq!(uptime_figure(&[day]), "99.00 % uptime");
    }
}

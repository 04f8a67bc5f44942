//! `/reports`: the report of `GET /api/v1/reports` as an HTML page for responders
//! (askama template `templates/reports.html`). Not public: it sits behind
//! [`super::auth::require_responder`], which takes an admin token as the password of HTTP
//! Basic credentials (what a browser can send) or as a bearer header.
//!
//! Rendered on each request (reports are rare and read storage), works without JavaScript,
//! and shows times in the page's time zone. Every figure is a `<data>` element whose `value`
//! is the JSON's number and whose `id` names it (`c-api.30d.uptime`, `all.90d.incidents`), so
//! the page and the API can be checked against each other.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use super::error::ApiError;
use super::reports::{build, DurationStatsOut, IncidentsByWindow, ReportQuery, UptimeByWindow};
use super::Ctx;
use crate::page::TimeView;

/// One figure: what the page shows and the number behind it.
pub(crate) struct Datum {
    /// `<section>.<window>.<metric>`, e.g. `c-api.30d.uptime`.
    pub(crate) id: String,
    /// The number as the JSON has it (seconds, percent, count), or empty when there is none.
    pub(crate) value: String,
    /// What a person reads.
    pub(crate) text: String,
}

/// One line of a table: a label and, per window, one or more figures.
pub(crate) struct MetricRow {
    /// What the line measures.
    pub(crate) label: &'static str,
    /// Per window, its figures.
    pub(crate) cells: Vec<Vec<Datum>>,
}

/// The whole page, or one component.
struct Section {
    /// The element id: `all`, or `c-<component id>`.
    anchor: String,
    title: String,
    /// The component's group name.
    group: Option<String>,
    rows: Vec<MetricRow>,
}

/// A column.
struct WindowHead {
    /// `30 days`.
    label: String,
    from: TimeView,
}

/// A link choosing the windows shown.
struct Link {
    href: String,
    label: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    page_name: String,
    time_zone: &'static str,
    generated: TimeView,
    links: Vec<Link>,
    windows: Vec<WindowHead>,
    sections: Vec<Section>,
}

/// The page: the same query as `GET /api/v1/reports` (`?days=`, `?component=`), answered
/// with HTML that is never cached.
pub(crate) async fn page(State(ctx): State<Ctx>, Query(query): Query<ReportQuery>) -> Response {
    let report = match build(&ctx.control, &query, pharos_engine::clock::now()).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let view = ctx.control.view();
    let tz = view.page.time_zone;
    let group_name = |id: &Option<String>| {
        let id = id.as_deref()?;
        view.components
            .iter()
            .find(|c| c.id.as_str() == id)
            .map(|c| c.name.clone())
    };
    let days: Vec<(u32, &'static str)> = report.windows.iter().map(|w| (w.days, w.key)).collect();
    let mut sections = vec![Section {
        anchor: "all".to_owned(),
        title: "All components".to_owned(),
        group: None,
        rows: rows(
            "all",
            &days,
            &report.overall.uptime,
            &report.overall.incidents,
            tz,
        ),
    }];
    for c in &report.components {
        let anchor = format!("c-{}", c.id);
        sections.push(Section {
            rows: rows(&anchor, &days, &c.uptime, &c.incidents, tz),
            anchor,
            title: c.name.clone(),
            group: group_name(&c.group_id),
        });
    }
    let component = query
        .component
        .as_deref()
        .map(|c| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            q.append_pair("component", c);
            q.finish()
        })
        .unwrap_or_default();
    let href = |d: Option<u32>| {
        let mut parts: Vec<String> = d.map(|d| format!("days={d}")).into_iter().collect();
        if !component.is_empty() {
            parts.push(component.clone());
        }
        if parts.is_empty() {
            "/reports".to_owned()
        } else {
            format!("/reports?{}", parts.join("&"))
        }
    };
    let all = report.windows.len() > 1;
    let mut links = vec![Link {
        href: href(None),
        label: "All windows",
        current: all,
    }];
    for (d, label) in [(30, "30 days"), (90, "90 days"), (365, "365 days")] {
        links.push(Link {
            href: href(Some(d)),
            label,
            current: !all && days.first().is_some_and(|(x, _)| *x == d),
        });
    }
    let page = ReportsPage {
        page_name: view.page.name.clone(),
        time_zone: tz.name(),
        generated: TimeView::new(report.generated_at, tz),
        links,
        windows: report
            .windows
            .iter()
            .map(|w| WindowHead {
                label: format!("{} days", w.days),
                from: TimeView::new(w.from, tz),
            })
            .collect(),
        sections,
    };
    match page.render() {
        Ok(html) => {
            let mut r = axum::response::Html(html).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            ApiError::internal(&format!("rendering the reports page failed: {e}")).into_response()
        }
    }
}

/// The table of one section: uptime, when measuring began, downtime, incidents, and the
/// three incident durations (median · p90), one column per window.
pub(crate) fn rows(
    anchor: &str,
    days: &[(u32, &'static str)],
    uptime: &UptimeByWindow,
    incidents: &IncidentsByWindow,
    tz: Tz,
) -> Vec<MetricRow> {
    let datum = |key: &str, metric: &str, value: String, text: String| Datum {
        id: format!("{anchor}.{key}.{metric}"),
        value,
        text,
    };
    let mut out: Vec<MetricRow> = [
        "Uptime",
        "Measured since",
        "Downtime (weighted)",
        "Incidents",
        "Time to detect (median · p90)",
        "Time to publish (median · p90)",
        "Time to resolve (median · p90)",
    ]
    .into_iter()
    .map(|label| MetricRow {
        label,
        cells: Vec::new(),
    })
    .collect();
    for &(d, key) in days {
        let u = uptime.get(d);
        let percent = u.and_then(|u| u.percent);
        out[0].cells.push(vec![datum(
            key,
            "uptime",
            percent.map(|p| p.to_string()).unwrap_or_default(),
            percent_text(percent),
        )]);
        let since = u.and_then(|u| u.measured_since);
        out[1].cells.push(vec![datum(
            key,
            "since",
            since
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
                .unwrap_or_default(),
            since.map_or_else(|| "—".to_owned(), |t| time_text(t, tz)),
        )]);
        let down = u.map(|u| u.downtime_seconds);
        out[2].cells.push(vec![datum(
            key,
            "downtime",
            down.map(|s| s.to_string()).unwrap_or_default(),
            down.map_or_else(|| "—".to_owned(), duration_text),
        )]);
        let Some(i) = incidents.get(d) else {
            continue;
        };
        let count_text = if i.open > 0 {
            format!("{} ({} open)", i.count, i.open)
        } else {
            i.count.to_string()
        };
        out[3].cells.push(vec![datum(
            key,
            "incidents",
            i.count.to_string(),
            count_text,
        )]);
        for (row, name, stats) in [
            (4, "detect", &i.time_to_detect),
            (5, "publish", &i.time_to_publish),
            (6, "resolve", &i.time_to_resolve),
        ] {
            out[row].cells.push(stats_cell(&datum, key, name, stats));
        }
    }
    out
}

/// Median and p90 of one duration, as two figures.
fn stats_cell(
    datum: &dyn Fn(&str, &str, String, String) -> Datum,
    key: &str,
    name: &str,
    stats: &DurationStatsOut,
) -> Vec<Datum> {
    [("median", stats.median_seconds), ("p90", stats.p90_seconds)]
        .into_iter()
        .map(|(which, secs)| {
            datum(
                key,
                &format!("{name}.{which}"),
                secs.map(|s| s.to_string()).unwrap_or_default(),
                secs.map_or_else(|| "—".to_owned(), duration_text),
            )
        })
        .collect()
}

/// "99.953 %", rounded down so that any downtime never reads as 100.000 %; "No data".
pub(crate) fn percent_text(percent: Option<f64>) -> String {
    match percent {
        Some(p) => {
            let p = (p.clamp(0.0, 100.0) * 1000.0).floor() / 1000.0;
            format!("{p:.3} %")
        }
        None => "No data".to_owned(),
    }
}

/// "Jan 2, 2026 03:04 MST" in the page's zone.
fn time_text(t: DateTime<Utc>, tz: Tz) -> String {
    TimeView::new(t, tz).text
}

/// A duration for people: "4.2 s", "3 min 05 s", "2 h 07 min", "3 d 4 h".
pub(crate) fn duration_text(secs: f64) -> String {
    if secs < 59.95 {
        return format!("{secs:.1} s");
    }
    // Far below i64's range for any real duration.
    #[allow(clippy::cast_possible_truncation)]
    let total = secs.round() as i64;
    let (d, h, m, s) = (
        total / 86_400,
        total % 86_400 / 3600,
        total % 3600 / 60,
        total % 60,
    );
    if total < 3600 {
        format!("{m} min {s:02} s")
    } else if total < 86_400 {
        format!("{h} h {m:02} min")
    } else {
        format!("{d} d {h} h")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        let table: &[(f64, &str)] = &[
            (0.0, "0.0 s"),
            (4.25, "4.2 s"),
            (59.9, "59.9 s"),
            (59.96, "1 min 00 s"),
            (185.0, "3 min 05 s"),
            (7620.0, "2 h 07 min"),
            (86_400.0 * 3.0 + 3600.0 * 4.0 + 59.0, "3 d 4 h"),
        ];
        for (secs, want) in table {
            assert_eq!(duration_text(*secs), *want, "{secs}");
        }
    }

    #[test]
    fn uptime_never_rounds_up_to_perfect() {
        assert_eq!(percent_text(Some(100.0)), "100.000 %");
        assert_eq!(percent_text(Some(99.99999)), "99.999 %");
        assert_eq!(percent_text(Some(99.9537)), "99.953 %");
        assert_eq!(percent_text(None), "No data");
    }
}

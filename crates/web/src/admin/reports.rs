//! `/api/v1/reports`: uptime per component over the last 30, 90 and 365 days, and incident
//! metrics (how many, time to detect, to publish and to resolve: median and 90th percentile)
//! per component and over the whole page. The maths is [`pharos_domain::report`]'s; this
//! module gathers its inputs (status history from storage, which keeps every status change,
//! and incidents from the engine's live view) and shapes the answer, which the responders'
//! HTML page (`/reports`, [`super::reports_page`]) renders too.

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use pharos_domain::report::{self, DurationStats, IncidentMetrics, WindowUptime, WINDOWS};
use pharos_domain::{ComponentId, Incident};
use pharos_engine::EngineControl;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, UNAVAILABLE};
use super::model::seconds;
use super::Ctx;

/// What to report on.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportQuery {
    /// Only this window: `30`, `90` or `365` (a trailing `d` is accepted). Default: all three.
    #[param(example = "90")]
    pub(crate) days: Option<String>,
    /// Only this component (by id) in `components`; `overall` still covers the whole page.
    #[param(example = "api")]
    pub(crate) component: Option<String>,
}

/// The report.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Report)]
pub(crate) struct ReportOut {
    /// When it was computed: the end of every window.
    pub(crate) generated_at: DateTime<Utc>,
    /// The page's time zone: windows are whole local days in it, ending with today.
    #[schema(example = "America/Denver")]
    pub(crate) time_zone: String,
    /// The windows reported, shortest first.
    pub(crate) windows: Vec<WindowOut>,
    /// Every component (never a group) in page order, or the one asked for.
    pub(crate) components: Vec<ComponentReportOut>,
    /// The whole page: uptime summed over every component, and every incident.
    pub(crate) overall: OverallOut,
}

/// One window of the report.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ReportWindow)]
pub(crate) struct WindowOut {
    /// Its key in `uptime` and `incidents`: `30d`, `90d` or `365d`.
    #[schema(example = "30d")]
    pub(crate) key: &'static str,
    /// How many local days it spans, today included.
    #[schema(example = 30)]
    pub(crate) days: u32,
    /// Its start: local midnight starting its first day.
    pub(crate) from: DateTime<Utc>,
    /// Its end: `generated_at`.
    pub(crate) to: DateTime<Utc>,
}

/// One component's figures.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ComponentReport)]
pub(crate) struct ComponentReportOut {
    /// Component id.
    #[schema(example = "api")]
    pub(crate) id: String,
    /// Display name.
    #[schema(example = "API")]
    pub(crate) name: String,
    /// The group it belongs to.
    pub(crate) group_id: Option<String>,
    /// Uptime per window.
    pub(crate) uptime: UptimeByWindow,
    /// Incidents that affected it (listed it among their components), per window.
    pub(crate) incidents: IncidentsByWindow,
}

/// The whole page's figures.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OverallReport)]
pub(crate) struct OverallOut {
    /// Uptime of all components together, per window: their tracked time and downtime
    /// summed, so each component weighs by how long it was tracked.
    pub(crate) uptime: UptimeByWindow,
    /// Every incident, per window, each counted once.
    pub(crate) incidents: IncidentsByWindow,
}

/// Uptime keyed by window; a window not asked for (`?days=`) is left out.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct UptimeByWindow {
    /// The last 30 local days.
    #[serde(rename = "30d", skip_serializing_if = "Option::is_none")]
    pub(crate) d30: Option<UptimeOut>,
    /// The last 90 local days: the status page's uptime bars.
    #[serde(rename = "90d", skip_serializing_if = "Option::is_none")]
    pub(crate) d90: Option<UptimeOut>,
    /// The last 365 local days.
    #[serde(rename = "365d", skip_serializing_if = "Option::is_none")]
    pub(crate) d365: Option<UptimeOut>,
}

/// Incident metrics keyed by window; a window not asked for (`?days=`) is left out.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct IncidentsByWindow {
    /// The last 30 local days.
    #[serde(rename = "30d", skip_serializing_if = "Option::is_none")]
    pub(crate) d30: Option<IncidentsOut>,
    /// The last 90 local days.
    #[serde(rename = "90d", skip_serializing_if = "Option::is_none")]
    pub(crate) d90: Option<IncidentsOut>,
    /// The last 365 local days.
    #[serde(rename = "365d", skip_serializing_if = "Option::is_none")]
    pub(crate) d365: Option<IncidentsOut>,
}

/// Uptime over one window, weighted as on the status page: major outage counts fully as
/// downtime, partial outage at 0.3, degraded performance and maintenance not at all.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[schema(as = Uptime)]
pub(crate) struct UptimeOut {
    /// Uptime in percent, `100 × (1 − downtime_seconds / tracked_seconds)`; null when
    /// nothing was tracked in the window.
    #[schema(example = 99.95)]
    pub(crate) percent: Option<f64>,
    /// When measuring began within the window: the window's `from` when the whole window
    /// was tracked, later for a component younger than the window (it is measured over its
    /// life); null when nothing was tracked.
    pub(crate) measured_since: Option<DateTime<Utc>>,
    /// Tracked time, in seconds.
    #[schema(example = 2_592_000.0)]
    pub(crate) tracked_seconds: f64,
    /// Weighted downtime, in seconds: major outage plus 0.3 × partial outage.
    #[schema(example = 1296.0)]
    pub(crate) downtime_seconds: f64,
    /// Time in `major_outage`, in seconds.
    pub(crate) major_outage_seconds: f64,
    /// Time in `partial_outage`, in seconds.
    pub(crate) partial_outage_seconds: f64,
    /// Time in `degraded_performance`, in seconds (not downtime).
    pub(crate) degraded_performance_seconds: f64,
    /// Time in `under_maintenance`, in seconds (not downtime).
    pub(crate) under_maintenance_seconds: f64,
}

impl From<&WindowUptime> for UptimeOut {
    fn from(w: &WindowUptime) -> Self {
        let s = |ms: i64| seconds(chrono::Duration::milliseconds(ms));
        Self {
            percent: w.ratio().map(|r| r * 100.0),
            measured_since: w.measured_since,
            tracked_seconds: s(w.observed_ms),
            downtime_seconds: w.weighted_down_ms() / 1000.0,
            major_outage_seconds: s(w.major_ms),
            partial_outage_seconds: s(w.partial_ms),
            degraded_performance_seconds: s(w.degraded_ms),
            under_maintenance_seconds: s(w.maintenance_ms),
        }
    }
}

/// Incidents over one window: those open at some time during it (maintenances are not
/// incidents). Durations are whole-incident durations, measured from when the trouble
/// started (`started_at`).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[schema(as = IncidentMetrics)]
pub(crate) struct IncidentsOut {
    /// Incidents open at some time during the window.
    #[schema(example = 3)]
    pub(crate) count: usize,
    /// Of those, the ones not resolved yet.
    #[schema(example = 0)]
    pub(crate) open: usize,
    /// From the start of the trouble to the incident being declared (`created_at`), over
    /// every counted incident.
    pub(crate) time_to_detect: DurationStatsOut,
    /// From the start of the trouble to the public page (`published_at`), over the counted
    /// incidents that were published.
    pub(crate) time_to_publish: DurationStatsOut,
    /// From the start of the trouble to resolution (`resolved_at`), over the counted
    /// incidents that are resolved.
    pub(crate) time_to_resolve: DurationStatsOut,
}

impl From<&IncidentMetrics> for IncidentsOut {
    fn from(m: &IncidentMetrics) -> Self {
        Self {
            count: m.count,
            open: m.open,
            time_to_detect: (&m.time_to_detect).into(),
            time_to_publish: (&m.time_to_publish).into(),
            time_to_resolve: (&m.time_to_resolve).into(),
        }
    }
}

/// Median and 90th percentile of some durations, by nearest rank: the p-th percentile of
/// `n` sorted values is the one at rank ⌈p·n/100⌉, so each is a duration that happened, and
/// the median of an even count is the lower middle value.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[schema(as = DurationStats)]
pub(crate) struct DurationStatsOut {
    /// How many incidents the figures are over.
    #[schema(example = 3)]
    pub(crate) count: usize,
    /// The median, in seconds; null when `count` is 0.
    #[schema(example = 42.5)]
    pub(crate) median_seconds: Option<f64>,
    /// The 90th percentile, in seconds; null when `count` is 0.
    #[schema(example = 310.0)]
    pub(crate) p90_seconds: Option<f64>,
}

impl From<&DurationStats> for DurationStatsOut {
    fn from(s: &DurationStats) -> Self {
        Self {
            count: s.count,
            median_seconds: s.median.map(seconds),
            p90_seconds: s.p90.map(seconds),
        }
    }
}

/// The window key of `days` (one of [`WINDOWS`]).
fn key(days: u32) -> &'static str {
    match days {
        30 => "30d",
        90 => "90d",
        _ => "365d",
    }
}

impl UptimeByWindow {
    fn set(&mut self, days: u32, value: UptimeOut) {
        match days {
            30 => self.d30 = Some(value),
            90 => self.d90 = Some(value),
            _ => self.d365 = Some(value),
        }
    }

    /// The figure for `days`, if reported.
    pub(crate) fn get(&self, days: u32) -> Option<&UptimeOut> {
        match days {
            30 => self.d30.as_ref(),
            90 => self.d90.as_ref(),
            _ => self.d365.as_ref(),
        }
    }
}

impl IncidentsByWindow {
    fn set(&mut self, days: u32, value: IncidentsOut) {
        match days {
            30 => self.d30 = Some(value),
            90 => self.d90 = Some(value),
            _ => self.d365 = Some(value),
        }
    }

    /// The figures for `days`, if reported.
    pub(crate) fn get(&self, days: u32) -> Option<&IncidentsOut> {
        match days {
            30 => self.d30.as_ref(),
            90 => self.d90.as_ref(),
            _ => self.d365.as_ref(),
        }
    }
}

/// The windows `?days=` asks for: all of [`WINDOWS`] by default.
pub(crate) fn windows(days: Option<&str>) -> Result<Vec<u32>, ApiError> {
    let Some(raw) = days else {
        return Ok(WINDOWS.to_vec());
    };
    let digits = raw.trim().strip_suffix('d').unwrap_or(raw.trim());
    digits
        .parse::<u32>()
        .ok()
        .filter(|d| WINDOWS.contains(d))
        .map(|d| vec![d])
        .ok_or_else(|| {
            ApiError::unprocessable(
                "days",
                format!("unknown window {raw:?}; expected 30, 90 or 365"),
            )
        })
}

/// Computes the report at `now` from the engine's live view (components, incidents) and the
/// stored status history.
pub(crate) async fn build(
    control: &EngineControl,
    query: &ReportQuery,
    now: DateTime<Utc>,
) -> Result<ReportOut, ApiError> {
    let windows = windows(query.days.as_deref())?;
    let view = control.view();
    let tz = view.page.time_zone;
    let mut leaves: Vec<&pharos_engine::ComponentView> =
        view.components.iter().filter(|c| !c.is_group).collect();
    leaves.sort_by_key(|c| c.position);
    if let Some(wanted) = query.component.as_deref() {
        if !leaves.iter().any(|c| c.id.as_str() == wanted) {
            let why = if view.components.iter().any(|c| c.id.as_str() == wanted) {
                format!("{wanted:?} is a group; reports cover components")
            } else {
                format!("unknown component {wanted:?}")
            };
            return Err(ApiError::unprocessable("component", why));
        }
    }
    let longest = windows.iter().copied().max().unwrap_or(WINDOWS[0]);
    let history = control
        .status_history(report::window_start(now, tz, longest))
        .await?;
    let incidents: &[Incident] = &view.incidents;

    let mut overall = OverallOut {
        uptime: UptimeByWindow::default(),
        incidents: IncidentsByWindow::default(),
    };
    let mut components: Vec<ComponentReportOut> = leaves
        .iter()
        .filter(|c| {
            query
                .component
                .as_deref()
                .is_none_or(|w| c.id.as_str() == w)
        })
        .map(|c| ComponentReportOut {
            id: c.id.to_string(),
            name: c.name.clone(),
            group_id: c.group_id.as_ref().map(ToString::to_string),
            uptime: UptimeByWindow::default(),
            incidents: IncidentsByWindow::default(),
        })
        .collect();
    let mut window_out = Vec::with_capacity(windows.len());
    for &days in &windows {
        let from = report::window_start(now, tz, days);
        window_out.push(WindowOut {
            key: key(days),
            days,
            from,
            to: now,
        });
        let mut sum = WindowUptime::empty(days, from, now);
        for c in &leaves {
            let timeline = history.get(&c.id).map_or(&[][..], Vec::as_slice);
            let uptime = report::uptime(timeline, now, tz, days);
            sum.absorb(&uptime);
            if let Some(out) = components.iter_mut().find(|o| o.id == c.id.as_str()) {
                out.uptime.set(days, UptimeOut::from(&uptime));
                let id: &ComponentId = &c.id;
                let metrics = report::incident_metrics(incidents, from, now, Some(id));
                out.incidents.set(days, IncidentsOut::from(&metrics));
            }
        }
        overall.uptime.set(days, UptimeOut::from(&sum));
        let metrics = report::incident_metrics(incidents, from, now, None);
        overall.incidents.set(days, IncidentsOut::from(&metrics));
    }
    Ok(ReportOut {
        generated_at: now,
        time_zone: tz.name().to_owned(),
        windows: window_out,
        components,
        overall,
    })
}

/// Uptime per component over the last 30, 90 and 365 days, and incident metrics (count, time
/// to detect, to publish, to resolve: median and 90th percentile by nearest rank) per
/// component and over the whole page. Windows are whole local days in the page's time zone
/// ending with today, as on the status page (whose bars are the `90d` figure); a component
/// younger than a window is measured over its life (`measured_since`). An incident counts in
/// a window when it was open at some time during it; maintenances are not incidents.
#[utoipa::path(
    get,
    path = "/api/v1/reports",
    operation_id = "get_report",
    tag = "reports",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", body = ReportOut),
        (status = 422, description = "An unknown window (`days`) or component (`component`)", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn get(
    State(ctx): State<Ctx>,
    Query(query): Query<ReportQuery>,
) -> Result<Json<ReportOut>, ApiError> {
    build(&ctx.control, &query, pharos_engine::clock::now())
        .await
        .map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_name_one_of_the_three_windows() {
        assert_eq!(windows(None).unwrap(), vec![30, 90, 365]);
        assert_eq!(windows(Some("90")).unwrap(), vec![90]);
        assert_eq!(windows(Some("365d")).unwrap(), vec![365]);
        for bad in ["7", "0", "", "d", "ninety", "-30", "30dd"] {
            assert!(windows(Some(bad)).is_err(), "{bad:?}");
        }
    }
}

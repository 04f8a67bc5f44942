//! Reports for responders: how available each component was over the last 30, 90 or 365
//! days, and how fast incidents were detected, published and resolved. Pure: timelines,
//! incidents and `now` are passed in.
//!
//! Uptime uses the status page's own rules ([`crate::uptime`]): a window is a number of local
//! days in the page's time zone ending with today (so the 90-day figure is the page's), major
//! outage counts fully as downtime, partial outage at [`PARTIAL_OUTAGE_WEIGHT`], degraded
//! performance and maintenance not at all, and time before a component was tracked is left
//! out, so a component younger than the window is measured over its life.
//!
//! Incident metrics use nearest-rank percentiles: the p-th percentile of `n` sorted values is
//! the value at rank ⌈p·n/100⌉ (1-based), so it is always a duration that actually happened;
//! the median is the 50th percentile, which for an even count is the lower middle value.
//! An incident belongs to a window when it was open at some time during it, so every minute
//! of downtime in the window is matched by an incident in its count.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::uptime::{StatusChange, PARTIAL_OUTAGE_WEIGHT};
use crate::{ComponentId, ComponentStatus, Incident};

/// The windows a report covers by default, in days.
pub const WINDOWS: [u32; 3] = [30, 90, 365];

/// Time spent in each status over one window, for one component or summed over several.
/// Durations are in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUptime {
    /// How many local days the window spans (today included).
    pub days: u32,
    /// Start of the window: local midnight starting its first day (UTC).
    pub from: DateTime<Utc>,
    /// End of the window: the report's `now`.
    pub to: DateTime<Utc>,
    /// The first tracked instant in the window: `from` when the whole window was tracked,
    /// later for a component younger than the window; `None` when nothing was tracked.
    pub measured_since: Option<DateTime<Utc>>,
    /// Tracked time.
    pub observed_ms: i64,
    /// Time in `major_outage`.
    pub major_ms: i64,
    /// Time in `partial_outage`.
    pub partial_ms: i64,
    /// Time in `degraded_performance`.
    pub degraded_ms: i64,
    /// Time in `under_maintenance`.
    pub maintenance_ms: i64,
}

impl WindowUptime {
    /// A window from `from` to `to` in which nothing was tracked yet.
    pub fn empty(days: u32, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self {
            days,
            from,
            to,
            measured_since: None,
            observed_ms: 0,
            major_ms: 0,
            partial_ms: 0,
            degraded_ms: 0,
            maintenance_ms: 0,
        }
    }

    /// Weighted downtime in milliseconds: major outage fully, partial outage at
    /// [`PARTIAL_OUTAGE_WEIGHT`].
    pub fn weighted_down_ms(&self) -> f64 {
        ms_f64(self.major_ms) + PARTIAL_OUTAGE_WEIGHT * ms_f64(self.partial_ms)
    }

    /// Uptime ratio (0..=1), or `None` when nothing was tracked.
    pub fn ratio(&self) -> Option<f64> {
        (self.observed_ms > 0).then(|| 1.0 - self.weighted_down_ms() / ms_f64(self.observed_ms))
    }

    /// Adds another component's time over the same window: the sum weighs each component by
    /// how long it was tracked, and `measured_since` becomes the earliest of the two.
    pub fn absorb(&mut self, other: &WindowUptime) {
        self.observed_ms += other.observed_ms;
        self.major_ms += other.major_ms;
        self.partial_ms += other.partial_ms;
        self.degraded_ms += other.degraded_ms;
        self.maintenance_ms += other.maintenance_ms;
        self.measured_since = match (self.measured_since, other.measured_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Milliseconds as an `f64`; exact for any real duration (far below 2^53 ms).
#[allow(clippy::cast_precision_loss)]
fn ms_f64(ms: i64) -> f64 {
    ms as f64
}

/// The start of a window of `days` local days ending with `now`'s local day: local midnight
/// starting day `today - (days - 1)` in `tz`. `days` of 0 is treated as 1.
pub fn window_start(now: DateTime<Utc>, tz: Tz, days: u32) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    let first = today - Duration::days(i64::from(days.max(1)) - 1);
    local_midnight(tz, first)
}

/// The time a component spent in each status over the window of `days` local days ending at
/// `now`. `timeline` is sorted by time; each status holds until the next entry, the last one
/// until `now`; time before the first entry is untracked (as in
/// [`uptime::daily`](crate::uptime::daily)).
pub fn uptime(timeline: &[StatusChange], now: DateTime<Utc>, tz: Tz, days: u32) -> WindowUptime {
    let from = window_start(now, tz, days);
    let mut out = WindowUptime::empty(days.max(1), from, now);
    for (i, change) in timeline.iter().enumerate() {
        let span_end = timeline.get(i + 1).map_or(now, |n| n.at).min(now);
        let start = change.at.max(from);
        if span_end <= start {
            continue;
        }
        out.measured_since.get_or_insert(start);
        let ms = (span_end - start).num_milliseconds();
        out.observed_ms += ms;
        match change.status {
            ComponentStatus::MajorOutage => out.major_ms += ms,
            ComponentStatus::PartialOutage => out.partial_ms += ms,
            ComponentStatus::DegradedPerformance => out.degraded_ms += ms,
            ComponentStatus::UnderMaintenance => out.maintenance_ms += ms,
            ComponentStatus::Operational => {}
        }
    }
    out
}

/// The UTC instant of local midnight starting `date`; on a day that skips midnight (a DST
/// jump at 00:00), the first instant of the day. The same rule as the page's daily bars, so
/// a window's edge falls where a bar's does.
fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_time(chrono::NaiveTime::MIN);
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        chrono::LocalResult::None => tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc)),
    }
}

/// The `percent`-th percentile (1..=100) of `sorted` (ascending) by nearest rank: the value
/// at 1-based rank ⌈percent·n/100⌉. `None` for no values; a `percent` of 0 is treated as 1.
pub fn nearest_rank(sorted: &[Duration], percent: u32) -> Option<Duration> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let percent = usize::try_from(percent.clamp(1, 100)).unwrap_or(100);
    // ⌈percent·n/100⌉ in integers; at least 1 since percent and n are.
    let rank = (percent * n).div_ceil(100);
    sorted.get(rank - 1).copied()
}

/// Median and 90th percentile (nearest rank) of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationStats {
    /// How many durations there were.
    pub count: usize,
    /// The 50th percentile by nearest rank (the lower middle value for an even count).
    pub median: Option<Duration>,
    /// The 90th percentile by nearest rank.
    pub p90: Option<Duration>,
}

impl DurationStats {
    /// The statistics of `values`, in any order.
    pub fn of(values: impl IntoIterator<Item = Duration>) -> Self {
        let mut sorted: Vec<Duration> = values.into_iter().collect();
        sorted.sort_unstable();
        Self {
            count: sorted.len(),
            median: nearest_rank(&sorted, 50),
            p90: nearest_rank(&sorted, 90),
        }
    }
}

/// How many incidents there were and how fast they went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentMetrics {
    /// Incidents open at some time during the window.
    pub count: usize,
    /// Of those, the ones not resolved yet.
    pub open: usize,
    /// From the start of the trouble to the incident being declared
    /// ([`Incident::time_to_detect`]), over every counted incident.
    pub time_to_detect: DurationStats,
    /// From the start of the trouble to the public page ([`Incident::time_to_public`]), over
    /// the counted incidents that were published.
    pub time_to_publish: DurationStats,
    /// From the start of the trouble to resolution ([`Incident::time_to_resolve`]), over the
    /// counted incidents that are resolved.
    pub time_to_resolve: DurationStats,
}

/// Whether `incident` was open at some time in `[from, to]`: it began (the earlier of its
/// start and its declaration) no later than `to`, and was not resolved before `from`.
pub fn overlaps(incident: &Incident, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    let began = incident.started_at.min(incident.created_at);
    let ended = incident.resolved_at.unwrap_or(to);
    began <= to && ended >= from
}

/// The metrics of the `incidents` open at some time in `[from, to]` and, when `component` is
/// given, affecting it (listed in [`Incident::components`]). Durations are whole-incident
/// durations, not clipped to the window. Maintenances are a separate type and never counted.
pub fn incident_metrics<'a>(
    incidents: impl IntoIterator<Item = &'a Incident>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    component: Option<&ComponentId>,
) -> IncidentMetrics {
    let counted: Vec<&Incident> = incidents
        .into_iter()
        .filter(|i| overlaps(i, from, to))
        .filter(|i| component.is_none_or(|c| i.components.contains_key(c)))
        .collect();
    IncidentMetrics {
        count: counted.len(),
        open: counted.iter().filter(|i| i.resolved_at.is_none()).count(),
        time_to_detect: DurationStats::of(counted.iter().map(|i| i.time_to_detect())),
        time_to_publish: DurationStats::of(counted.iter().filter_map(|i| i.time_to_public())),
        time_to_resolve: DurationStats::of(counted.iter().filter_map(|i| i.time_to_resolve())),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::uptime;
    use ComponentStatus::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn change(s: &str, status: ComponentStatus) -> StatusChange {
        StatusChange { at: at(s), status }
    }

    fn secs(n: i64) -> Duration {
        Duration::seconds(n)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v = |xs: &[i64]| xs.iter().map(|&x| secs(x)).collect::<Vec<_>>();
        // (sorted values, percent, expected)
        let table: &[(&[i64], u32, Option<i64>)] = &[
            (&[], 50, None),
            (&[], 90, None),
            (&[7], 50, Some(7)),
            (&[7], 90, Some(7)),
            // Even count: the median is the lower middle value.
            (&[1, 2], 50, Some(1)),
            (&[1, 2], 90, Some(2)),
            (&[1, 2, 3], 50, Some(2)),
            (&[1, 2, 3, 4], 50, Some(2)),
            (&[1, 2, 3, 4, 5], 50, Some(3)),
            // Ten values: p90 is the 9th, rank ⌈0.9·10⌉ = 9.
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90, Some(9)),
            // Eleven: ⌈9.9⌉ = 10.
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 90, Some(10)),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 100, Some(11)),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 1, Some(1)),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0, Some(1)),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 250, Some(11)),
        ];
        for (values, percent, want) in table {
            assert_eq!(
                nearest_rank(&v(values), *percent),
                want.map(secs),
                "p{percent} of {values:?}"
            );
        }
    }

    #[test]
    fn duration_stats_sort_their_input() {
        let s = DurationStats::of([secs(30), secs(10), secs(20), secs(40)]);
        assert_eq!(s.count, 4);
        assert_eq!(s.median, Some(secs(20)));
        assert_eq!(s.p90, Some(secs(40)));
        let none = DurationStats::of([]);
        assert_eq!((none.count, none.median, none.p90), (0, None, None));
    }

    #[test]
    fn windows_start_at_local_midnight_and_include_today() {
        // 2026-03-10T05:00Z is still Mar 9 in Denver (UTC-6 from Mar 8, DST).
        let now = at("2026-03-10T05:00:00Z");
        let denver = chrono_tz::America::Denver;
        let table: &[(Tz, u32, &str)] = &[
            (chrono_tz::UTC, 1, "2026-03-10T00:00:00Z"),
            (chrono_tz::UTC, 30, "2026-02-09T00:00:00Z"),
            (chrono_tz::UTC, 0, "2026-03-10T00:00:00Z"),
            (denver, 1, "2026-03-09T06:00:00Z"),
            // Feb 8 in Denver is before DST: UTC-7.
            (denver, 30, "2026-02-08T07:00:00Z"),
            (chrono_tz::UTC, 365, "2025-03-11T00:00:00Z"),
        ];
        for (tz, days, want) in table {
            assert_eq!(
                window_start(now, *tz, *days),
                at(want),
                "{days} days in {tz}"
            );
        }
    }

    #[test]
    fn uptime_weighs_like_the_page() {
        let timeline = [
            change("2026-01-01T00:00:00Z", Operational),
            change("2026-01-02T00:00:00Z", PartialOutage),
            change("2026-01-02T10:00:00Z", MajorOutage),
            change("2026-01-02T12:00:00Z", DegradedPerformance),
            change("2026-01-02T14:00:00Z", UnderMaintenance),
            change("2026-01-02T15:00:00Z", Operational),
        ];
        let now = at("2026-01-03T00:00:00Z");
        let w = uptime(&timeline, now, chrono_tz::UTC, 3);
        let h = 3_600_000;
        assert_eq!(w.from, at("2026-01-01T00:00:00Z"));
        assert_eq!(w.to, now);
        assert_eq!(w.measured_since, Some(at("2026-01-01T00:00:00Z")));
        assert_eq!(w.observed_ms, 48 * h);
        assert_eq!(
            (w.partial_ms, w.major_ms, w.degraded_ms, w.maintenance_ms),
            (10 * h, 2 * h, 2 * h, h)
        );
        let expected = 1.0 - (2.0 + 0.3 * 10.0) / 48.0;
        assert!((w.ratio().unwrap() - expected).abs() < 1e-12);
        // The same figure as the page's bars over the same days.
        let days = uptime::daily(&timeline, now, chrono_tz::UTC, 3);
        assert!((uptime::overall_ratio(&days).unwrap() - w.ratio().unwrap()).abs() < 1e-12);
    }

    #[test]
    fn a_component_created_mid_window_is_measured_over_its_life() {
        // Created Jan 20 at noon, down for six hours on Jan 25; 30 days end Jan 31.
        let timeline = [
            change("2026-01-20T12:00:00Z", Operational),
            change("2026-01-25T00:00:00Z", MajorOutage),
            change("2026-01-25T06:00:00Z", Operational),
        ];
        let now = at("2026-01-31T12:00:00Z");
        let w = uptime(&timeline, now, chrono_tz::UTC, 30);
        assert_eq!(w.from, at("2026-01-02T00:00:00Z"));
        assert_eq!(w.measured_since, Some(at("2026-01-20T12:00:00Z")));
        // Eleven days of life, not thirty.
        assert_eq!(w.observed_ms, 11 * 86_400_000);
        assert_eq!(w.major_ms, 6 * 3_600_000);
        let expected = 1.0 - 6.0 / (11.0 * 24.0);
        assert!((w.ratio().unwrap() - expected).abs() < 1e-12);

        // A window ending before it existed tracked nothing.
        let before = uptime(&timeline, at("2026-01-10T00:00:00Z"), chrono_tz::UTC, 5);
        assert_eq!(before.measured_since, None);
        assert_eq!(before.ratio(), None);
    }

    #[test]
    fn history_before_the_window_counts_only_from_its_start() {
        // A year-old component whose outage straddles the 30-day edge: only the part inside
        // counts; the status in force at the edge carries in.
        let timeline = [
            change("2025-01-01T00:00:00Z", Operational),
            change("2026-01-01T18:00:00Z", MajorOutage),
            change("2026-01-02T06:00:00Z", Operational),
        ];
        let now = at("2026-01-31T00:00:00Z");
        let w30 = uptime(&timeline, now, chrono_tz::UTC, 30);
        assert_eq!(w30.from, at("2026-01-02T00:00:00Z"));
        assert_eq!(w30.measured_since, Some(w30.from));
        assert_eq!(w30.major_ms, 6 * 3_600_000);
        assert_eq!(w30.observed_ms, 29 * 86_400_000);
        let w90 = uptime(&timeline, now, chrono_tz::UTC, 90);
        assert_eq!(w90.major_ms, 12 * 3_600_000);
        assert!(w90.ratio().unwrap() < 1.0 && w30.ratio().unwrap() < w90.ratio().unwrap());
        // Events after `now` (a clock step back) are ignored.
        let mut later = timeline.to_vec();
        later.push(change("2026-02-05T00:00:00Z", MajorOutage));
        assert_eq!(uptime(&later, now, chrono_tz::UTC, 30), w30);
    }

    #[test]
    fn ninety_days_match_the_page_in_a_zone_with_dst() {
        let tz = chrono_tz::Europe::Berlin;
        let timeline = [
            change("2025-12-01T00:00:00Z", Operational),
            change("2026-03-29T00:30:00Z", PartialOutage),
            change("2026-03-29T03:10:00Z", Operational),
            change("2026-04-10T22:15:00Z", MajorOutage),
            change("2026-04-11T01:45:00Z", UnderMaintenance),
            change("2026-04-11T02:00:00Z", Operational),
        ];
        let now = at("2026-05-01T09:30:00Z");
        let w = uptime(&timeline, now, tz, 90);
        let page = uptime::overall_ratio(&uptime::daily(&timeline, now, tz, 90)).unwrap();
        assert!((w.ratio().unwrap() - page).abs() < 1e-9, "{w:?} vs {page}");
    }

    #[test]
    fn absorbing_sums_time_and_keeps_the_earliest_start() {
        let now = at("2026-01-31T00:00:00Z");
        let old = uptime(
            &[change("2025-06-01T00:00:00Z", MajorOutage)],
            now,
            chrono_tz::UTC,
            30,
        );
        let young = uptime(
            &[change("2026-01-30T00:00:00Z", Operational)],
            now,
            chrono_tz::UTC,
            30,
        );
        let mut all = WindowUptime::empty(30, old.from, now);
        all.absorb(&young);
        assert_eq!(all.measured_since, young.measured_since);
        all.absorb(&old);
        assert_eq!(all.measured_since, Some(old.from));
        assert_eq!(all.observed_ms, 30 * 86_400_000);
        // 29 days down out of 30 tracked component-days.
        let expected = 1.0 - 29.0 / 30.0;
        assert!((all.ratio().unwrap() - expected).abs() < 1e-12);
    }

    /// An incident built from its stored JSON form, so fields added later with a default do
    /// not break these tests.
    fn incident(
        id: &str,
        started: &str,
        created: &str,
        published: Option<&str>,
        resolved: Option<&str>,
        components: &[&str],
    ) -> Incident {
        let components: BTreeMap<&str, &str> =
            components.iter().map(|c| (*c, "major_outage")).collect();
        serde_json::from_value(serde_json::json!({
            "id": id,
            "name": id,
            "status": if resolved.is_some() { "resolved" } else { "investigating" },
            "impact_override": null,
            "computed_impact": "critical",
            "severity": null,
            "components": components,
            "monitors": {},
            "public": published.is_some(),
            "automated": true,
            "human_owned": false,
            "roles": {},
            "created_at": created,
            "updated_at": created,
            "started_at": started,
            "monitoring_at": null,
            "resolved_at": resolved,
            "first_failure_at": started,
            "published_at": published,
            "healthy_since": null,
            "updates": [],
        }))
        .unwrap()
    }

    #[test]
    fn incidents_spanning_the_window_edge_are_counted() {
        let from = at("2026-01-02T00:00:00Z");
        let to = at("2026-01-31T00:00:00Z");
        let table: &[(&str, &str, Option<&str>, bool)] = &[
            // (started, created, resolved, in the window)
            (
                "2026-01-01T23:00:00Z",
                "2026-01-01T23:01:00Z",
                Some("2026-01-02T01:00:00Z"),
                true,
            ),
            (
                "2026-01-01T20:00:00Z",
                "2026-01-01T20:01:00Z",
                Some("2026-01-01T23:59:59Z"),
                false,
            ),
            (
                "2026-01-01T20:00:00Z",
                "2026-01-01T20:01:00Z",
                Some("2026-01-02T00:00:00Z"),
                true,
            ),
            ("2025-12-01T00:00:00Z", "2025-12-01T00:05:00Z", None, true),
            (
                "2026-01-15T00:00:00Z",
                "2026-01-15T00:05:00Z",
                Some("2026-01-15T01:00:00Z"),
                true,
            ),
            ("2026-01-30T23:00:00Z", "2026-01-31T00:00:00Z", None, true),
            ("2026-01-31T00:00:01Z", "2026-01-31T00:00:02Z", None, false),
            // Declared before its stated start: it began when declared.
            ("2026-02-02T00:00:00Z", "2026-01-30T00:00:00Z", None, true),
        ];
        for (started, created, resolved, want) in table {
            let i = incident("x", started, created, None, *resolved, &["api"]);
            assert_eq!(overlaps(&i, from, to), *want, "{started}..{resolved:?}");
        }
    }

    #[test]
    fn incident_metrics_per_component_and_overall() {
        let from = at("2026-01-02T00:00:00Z");
        let to = at("2026-01-31T00:00:00Z");
        let incidents = [
            // Straddles the window start: counted, with its whole duration.
            incident(
                "a",
                "2026-01-01T23:00:00Z",
                "2026-01-01T23:01:00Z",
                Some("2026-01-01T23:02:00Z"),
                Some("2026-01-02T01:00:00Z"),
                &["api"],
            ),
            incident(
                "b",
                "2026-01-10T00:00:00Z",
                "2026-01-10T00:00:10Z",
                Some("2026-01-10T00:00:20Z"),
                Some("2026-01-10T00:30:00Z"),
                &["api", "db"],
            ),
            // Private and still open.
            incident(
                "c",
                "2026-01-20T00:00:00Z",
                "2026-01-20T00:05:00Z",
                None,
                None,
                &["db"],
            ),
            // Before the window: not counted.
            incident(
                "d",
                "2025-12-01T00:00:00Z",
                "2025-12-01T00:00:01Z",
                Some("2025-12-01T00:00:02Z"),
                Some("2025-12-01T00:00:03Z"),
                &["api"],
            ),
        ];
        let api = ComponentId::new("api").unwrap();
        let m = incident_metrics(&incidents, from, to, Some(&api));
        assert_eq!((m.count, m.open), (2, 0));
        // Detect: 60 s (a) and 10 s (b); median is the lower, p90 the higher.
        assert_eq!(m.time_to_detect.median, Some(secs(10)));
        assert_eq!(m.time_to_detect.p90, Some(secs(60)));
        assert_eq!(m.time_to_publish.median, Some(secs(20)));
        assert_eq!(m.time_to_publish.p90, Some(secs(120)));
        assert_eq!(m.time_to_resolve.median, Some(secs(1800)));
        assert_eq!(m.time_to_resolve.p90, Some(secs(7200)));

        let all = incident_metrics(&incidents, from, to, None);
        assert_eq!((all.count, all.open), (3, 1));
        assert_eq!(all.time_to_detect.count, 3);
        assert_eq!(all.time_to_detect.median, Some(secs(60)));
        assert_eq!(all.time_to_detect.p90, Some(secs(300)));
        // Only published ones have a time to publish, only resolved ones a time to resolve.
        assert_eq!(all.time_to_publish.count, 2);
        assert_eq!(all.time_to_resolve.count, 2);

        let nothing = incident_metrics(
            &incidents,
            from,
            to,
            Some(&ComponentId::new("web").unwrap()),
        );
        assert_eq!(nothing.count, 0);
        assert_eq!(nothing.time_to_resolve.median, None);
    }
}

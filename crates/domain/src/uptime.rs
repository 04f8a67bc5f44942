//! Uptime maths with Statuspage's weighting: time in major outage counts fully as downtime,
//! partial outage at 0.3, degraded performance and maintenance not at all. Days are local days
//! in the page's time zone; time before a component was tracked is not counted at all.
//!
//! Time is counted in milliseconds, and the status in force now always counts for today: a
//! component that went down a moment ago already colours today's bar and pulls the uptime
//! below 100 %, instead of waiting for a whole second (and the next page refresh) to pass.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::status::ComponentStatus;

/// Weight of partial outage time in uptime, as Statuspage and Instatus document it.
pub const PARTIAL_OUTAGE_WEIGHT: f64 = 0.3;

/// A component's status from `at` until the next change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    /// When the status began (UTC).
    pub at: DateTime<Utc>,
    /// The status from then on.
    pub status: ComponentStatus,
}

/// Milliseconds spent in each status on one local day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayUptime {
    /// The local date in the page's time zone.
    pub date: NaiveDate,
    /// Milliseconds of the day during which the component was tracked.
    pub observed_ms: i64,
    /// Milliseconds in `major_outage`.
    pub major_ms: i64,
    /// Milliseconds in `partial_outage`.
    pub partial_ms: i64,
    /// Milliseconds in `degraded_performance`.
    pub degraded_ms: i64,
    /// Milliseconds in `under_maintenance`.
    pub maintenance_ms: i64,
}

impl DayUptime {
    /// A day on which nothing was tracked.
    pub fn untracked(date: NaiveDate) -> Self {
        Self {
            date,
            observed_ms: 0,
            major_ms: 0,
            partial_ms: 0,
            degraded_ms: 0,
            maintenance_ms: 0,
        }
    }

    /// Weighted downtime in milliseconds.
    pub fn weighted_down_ms(&self) -> f64 {
        self.major_ms as f64 + PARTIAL_OUTAGE_WEIGHT * self.partial_ms as f64
    }

    /// Uptime ratio for the day, or `None` when nothing was tracked.
    pub fn ratio(&self) -> Option<f64> {
        (self.observed_ms > 0).then(|| 1.0 - self.weighted_down_ms() / self.observed_ms as f64)
    }

    /// The worst status seen on the day, for the bar's colour; `None` when nothing was tracked.
    pub fn worst(&self) -> Option<ComponentStatus> {
        if self.observed_ms == 0 {
            None
        } else if self.major_ms > 0 {
            Some(ComponentStatus::MajorOutage)
        } else if self.partial_ms > 0 {
            Some(ComponentStatus::PartialOutage)
        } else if self.degraded_ms > 0 {
            Some(ComponentStatus::DegradedPerformance)
        } else if self.maintenance_ms > 0 {
            Some(ComponentStatus::UnderMaintenance)
        } else {
            Some(ComponentStatus::Operational)
        }
    }
}

/// Splits a status timeline into the last `days` local days ending with today (oldest first).
/// `timeline` is sorted by time; each status holds until the next entry, the last one until
/// `now`. Time before the first entry is untracked.
///
/// The status in force at `now` counts for at least one millisecond even when it began at
/// `now` itself, so today's bar and the uptime always reflect the current status.
pub fn daily(timeline: &[StatusChange], now: DateTime<Utc>, tz: Tz, days: u32) -> Vec<DayUptime> {
    let today = now.with_timezone(&tz).date_naive();
    // The current status holds until `horizon`: `now`, or a millisecond past its start.
    let horizon = timeline
        .last()
        .filter(|last| last.at <= now)
        .map_or(now, |last| now.max(last.at + Duration::milliseconds(1)));
    let mut out = Vec::with_capacity(days as usize);
    for back in (0..days).rev() {
        let date = today - Duration::days(i64::from(back));
        let start = local_midnight(tz, date);
        let end = if back == 0 {
            horizon
        } else {
            local_midnight(tz, date + Duration::days(1)).min(now)
        };
        let mut day = DayUptime::untracked(date);
        for (i, change) in timeline.iter().enumerate() {
            let span_end = timeline.get(i + 1).map_or(horizon, |n| n.at);
            let from = change.at.max(start);
            let to = span_end.min(end);
            if to <= from {
                continue;
            }
            let ms = (to - from).num_milliseconds();
            day.observed_ms += ms;
            match change.status {
                ComponentStatus::MajorOutage => day.major_ms += ms,
                ComponentStatus::PartialOutage => day.partial_ms += ms,
                ComponentStatus::DegradedPerformance => day.degraded_ms += ms,
                ComponentStatus::UnderMaintenance => day.maintenance_ms += ms,
                ComponentStatus::Operational => {}
            }
        }
        out.push(day);
    }
    out
}

/// Weighted uptime over many days, or `None` when nothing was tracked.
pub fn overall_ratio(days: &[DayUptime]) -> Option<f64> {
    let observed: i64 = observed_ms(days);
    let down: f64 = days.iter().map(DayUptime::weighted_down_ms).sum();
    (observed > 0).then(|| 1.0 - down / observed as f64)
}

/// Milliseconds tracked over many days.
pub fn observed_ms(days: &[DayUptime]) -> i64 {
    days.iter().map(|d| d.observed_ms).sum()
}

/// The UTC instant of local midnight starting `date`; on a day that skips midnight (a DST
/// jump at 00:00), the first instant of the day.
fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_time(chrono::NaiveTime::MIN);
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        chrono::LocalResult::None => tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::*;

    const HOUR: i64 = 3_600_000;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn weights_partial_outage_at_three_tenths() {
        let timeline = [
            StatusChange {
                at: at("2026-01-01T00:00:00Z"),
                status: Operational,
            },
            StatusChange {
                at: at("2026-01-02T00:00:00Z"),
                status: PartialOutage,
            },
            StatusChange {
                at: at("2026-01-02T10:00:00Z"),
                status: MajorOutage,
            },
            StatusChange {
                at: at("2026-01-02T12:00:00Z"),
                status: DegradedPerformance,
            },
            StatusChange {
                at: at("2026-01-02T14:00:00Z"),
                status: Operational,
            },
        ];
        let days = daily(&timeline, at("2026-01-03T00:00:00Z"), chrono_tz::UTC, 3);
        assert_eq!(days.len(), 3);
        let d2 = days[1];
        assert_eq!(d2.date.to_string(), "2026-01-02");
        assert_eq!(d2.observed_ms, 86_400_000);
        assert_eq!(d2.partial_ms, 10 * HOUR);
        assert_eq!(d2.major_ms, 2 * HOUR);
        assert_eq!(d2.degraded_ms, 2 * HOUR);
        let expected = 1.0 - (2.0 * 3600.0 + 0.3 * 10.0 * 3600.0) / 86_400.0;
        assert!((d2.ratio().unwrap() - expected).abs() < 1e-9);
        assert_eq!(d2.worst(), Some(MajorOutage));
        assert_eq!(days[0].worst(), Some(Operational));
        // Today (Jan 3) has not started yet: nothing tracked.
        assert_eq!(days[2].observed_ms, 0);
        assert_eq!(days[2].worst(), None);
    }

    #[test]
    fn untracked_time_does_not_count() {
        let timeline = [StatusChange {
            at: at("2026-01-02T12:00:00Z"),
            status: MajorOutage,
        }];
        let days = daily(&timeline, at("2026-01-02T18:00:00Z"), chrono_tz::UTC, 2);
        assert_eq!(days[0].observed_ms, 0);
        assert_eq!(days[1].observed_ms, 6 * HOUR);
        assert_eq!(overall_ratio(&days), Some(0.0));
    }

    #[test]
    fn days_are_local_to_the_page_time_zone() {
        // 03:00 UTC on Jan 2 is still Jan 1 in Denver (UTC-7).
        let timeline = [
            StatusChange {
                at: at("2026-01-01T00:00:00Z"),
                status: Operational,
            },
            StatusChange {
                at: at("2026-01-02T03:00:00Z"),
                status: MajorOutage,
            },
            StatusChange {
                at: at("2026-01-02T04:00:00Z"),
                status: Operational,
            },
        ];
        let days = daily(
            &timeline,
            at("2026-01-03T12:00:00Z"),
            chrono_tz::America::Denver,
            3,
        );
        assert_eq!(days[0].date.to_string(), "2026-01-01");
        assert_eq!(days[0].major_ms, HOUR);
        assert_eq!(days[1].major_ms, 0);
    }

    #[test]
    fn a_change_this_instant_already_shows_today() {
        let timeline = [
            StatusChange {
                at: at("2026-01-01T00:00:00Z"),
                status: Operational,
            },
            StatusChange {
                at: at("2026-01-02T12:00:00.250Z"),
                status: MajorOutage,
            },
        ];
        // Built the very millisecond the outage began, and 300 ms later.
        for now in [
            at("2026-01-02T12:00:00.250Z"),
            at("2026-01-02T12:00:00.550Z"),
        ] {
            let days = daily(&timeline, now, chrono_tz::UTC, 2);
            assert_eq!(days[1].worst(), Some(MajorOutage), "{now}");
            assert!(days[1].major_ms >= 1, "{now}");
            let ratio = overall_ratio(&days).unwrap();
            assert!(ratio < 1.0 && ratio > 0.99999, "{now}: {ratio}");
        }
        // Yesterday is untouched by the fudge.
        let days = daily(&timeline, at("2026-01-02T12:00:00.250Z"), chrono_tz::UTC, 2);
        assert_eq!(days[0].observed_ms, 86_400_000);
        assert_eq!(days[0].major_ms, 0);
    }

    #[test]
    fn milliseconds_count() {
        let timeline = [
            StatusChange {
                at: at("2026-01-02T00:00:00Z"),
                status: Operational,
            },
            StatusChange {
                at: at("2026-01-02T00:00:01.000Z"),
                status: PartialOutage,
            },
            StatusChange {
                at: at("2026-01-02T00:00:01.400Z"),
                status: Operational,
            },
        ];
        let days = daily(&timeline, at("2026-01-02T00:00:02Z"), chrono_tz::UTC, 1);
        assert_eq!(days[0].observed_ms, 2_000);
        assert_eq!(days[0].partial_ms, 400);
    }
}

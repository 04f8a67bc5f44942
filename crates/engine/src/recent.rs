//! The last few checks of each monitor, kept in memory for the console: its overview draws a
//! response-time sparkline per monitor from them without reading storage, so the page stays
//! cheap with a thousand monitors. The pipeline records every result as it applies it; the
//! console reads a copy. Nothing here is stored: after a restart the lines fill again as the
//! checks run.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use pharos_domain::{CheckOutcome, CheckResult, MonitorId};

/// How many checks each monitor keeps.
pub const RECENT_CHECKS: usize = 48;

/// One check, as a sparkline needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentCheck {
    /// When it started.
    pub at: DateTime<Utc>,
    /// How long it took.
    pub duration_ms: u64,
    /// Whether it failed.
    pub down: bool,
}

/// The last [`RECENT_CHECKS`] checks of every monitor, oldest first.
#[derive(Debug, Default)]
pub struct RecentChecks {
    by_monitor: Mutex<HashMap<MonitorId, VecDeque<RecentCheck>>>,
}

impl RecentChecks {
    /// Records a batch of results (one lock for the batch).
    pub(crate) fn record(&self, results: &[CheckResult]) {
        // A poisoned lock only means a reader panicked mid-copy; the data is still whole.
        let mut map = self
            .by_monitor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for r in results {
            let ring = map
                .entry(r.monitor_id.clone())
                .or_insert_with(|| VecDeque::with_capacity(RECENT_CHECKS));
            if ring.len() == RECENT_CHECKS {
                ring.pop_front();
            }
            ring.push_back(RecentCheck {
                at: r.started_at,
                duration_ms: r.duration_ms,
                down: r.outcome == CheckOutcome::Down,
            });
        }
    }

    /// A copy of every monitor's recent checks, oldest first.
    pub fn all(&self) -> HashMap<MonitorId, Vec<RecentCheck>> {
        let map = self
            .by_monitor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.iter()
            .map(|(id, ring)| (id.clone(), ring.iter().copied().collect()))
            .collect()
    }

    /// Monitor `id`'s recent checks, oldest first.
    pub fn of(&self, id: &MonitorId) -> Vec<RecentCheck> {
        let map = self
            .by_monitor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(id)
            .map(|ring| ring.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn result(monitor: &str, ms: u64, outcome: CheckOutcome) -> CheckResult {
        CheckResult {
            monitor_id: MonitorId::new(monitor).unwrap(),
            started_at: Utc::now(),
            duration_ms: ms,
            outcome,
            status_code: None,
            error: None,
            timings: None,
            location: pharos_domain::LocationId::local(),
        }
    }

    #[test]
    fn keeps_the_last_checks_of_each_monitor_in_order() {
        let recent = RecentChecks::default();
        let batch: Vec<_> = (0..RECENT_CHECKS as u64 + 5)
            .map(|i| result("api", i, CheckOutcome::Up))
            .chain([result("db", 7, CheckOutcome::Down)])
            .collect();
        recent.record(&batch);
        let api = recent.of(&MonitorId::new("api").unwrap());
        assert_eq!(api.len(), RECENT_CHECKS);
        assert_eq!(api.first().unwrap().duration_ms, 5);
        assert_eq!(api.last().unwrap().duration_ms, RECENT_CHECKS as u64 + 4);
        let all = recent.all();
        assert!(all[&MonitorId::new("db").unwrap()][0].down);
        assert!(recent.of(&MonitorId::new("nope").unwrap()).is_empty());
    }
}

//! A monitor checked from several locations (SPEC §7): each location keeps its own health
//! with the monitor's thresholds, and the quorum turns their votes into the monitor's
//! health and into how far a failure reaches.

use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use pharos_domain::location::{Placement, Quorum, Verdict, Vote};
use pharos_domain::{CheckOutcome, CheckResult, Health, LocationId, MonitorState, Thresholds};

/// Added to twice the interval and the timeout before a location's last result is stale:
/// a probe's batch may wait a few seconds before it is sent.
const STALE_SLACK: Duration = Duration::from_secs(15);

/// How far a monitor's failure reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReach {
    /// Failing nowhere.
    Clear,
    /// Failing at some locations, fewer than the quorum.
    Regional,
    /// Failing at the quorum or more: down.
    Down,
}

/// A change in where a monitor fails: the desk opens, spreads, narrows or ends a regional
/// incident from it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReachChange {
    /// How far it reached before.
    pub from: FailureReach,
    /// How far it reaches now.
    pub to: FailureReach,
    /// The locations' verdict now, for saying where.
    pub verdict: Verdict,
}

/// One location's own view of the monitor.
pub(crate) struct Place {
    pub(crate) location: LocationId,
    pub(crate) state: MonitorState,
    /// When its last result was taken.
    pub(crate) last_at: Option<DateTime<Utc>>,
    /// How long its last check took: the response time seen from there.
    pub(crate) last_duration_ms: Option<u64>,
    /// When its current streak of failing checks began.
    pub(crate) failing_since: Option<DateTime<Utc>>,
    /// Whether its probes are online (the server's own location always is).
    pub(crate) online: bool,
}

/// Every location of one monitor, and what they said together last.
pub(crate) struct Places {
    quorum: Quorum,
    pub(crate) at: Vec<Place>,
    /// A result older than this is no vote.
    stale_after: ChronoDuration,
    pub(crate) reach: FailureReach,
    pub(crate) failing: Vec<LocationId>,
    /// The last verdict's failing, passing and unknown locations, for telling a change.
    pub(crate) votes: (Vec<LocationId>, Vec<LocationId>, Vec<LocationId>),
}

impl Places {
    /// The places of a monitor with `placement`, each starting from `stored` (the monitor's
    /// own stored state: a monitor that was down stays down at each place until its checks
    /// there say otherwise), none fresh yet.
    pub(crate) fn new(
        placement: &Placement,
        stored: &MonitorState,
        interval: Duration,
        timeout: Duration,
    ) -> Places {
        let stale = interval.saturating_mul(2) + timeout + STALE_SLACK;
        Places {
            quorum: placement.quorum,
            at: placement
                .locations
                .iter()
                .map(|l| Place {
                    location: l.clone(),
                    state: MonitorState {
                        since: stored.since,
                        health: stored.health,
                        ..MonitorState::default()
                    },
                    last_at: None,
                    last_duration_ms: None,
                    failing_since: None,
                    online: l.is_local(),
                })
                .collect(),
            stale_after: ChronoDuration::from_std(stale).unwrap_or(ChronoDuration::MAX),
            reach: if stored.health == Health::Down {
                FailureReach::Down
            } else {
                FailureReach::Clear
            },
            failing: Vec::new(),
            votes: (Vec::new(), Vec::new(), Vec::new()),
        }
    }

    /// Counts one result at its location; `false` when the monitor is not checked there.
    pub(crate) fn record(&mut self, result: &CheckResult, thresholds: Thresholds) -> bool {
        let Some(place) = self.at.iter_mut().find(|p| p.location == result.location) else {
            return false;
        };
        let (state, _) = place.state.step(
            result.outcome,
            result.error.as_deref(),
            thresholds,
            result.started_at,
        );
        place.state = state;
        // A result is word from its location's probes: they are online (the pipeline hears
        // of it from the registry only at its next tick).
        place.online = true;
        if place.last_at.is_none_or(|t| result.started_at >= t) {
            place.last_duration_ms = Some(result.duration_ms);
        }
        place.last_at = Some(
            place
                .last_at
                .map_or(result.started_at, |t| t.max(result.started_at)),
        );
        if result.outcome == CheckOutcome::Down {
            place.failing_since.get_or_insert(result.started_at);
        } else {
            place.failing_since = None;
        }
        true
    }

    /// Whether `place` has a say at `now`: online, with a result recent enough.
    fn fresh(&self, place: &Place, now: DateTime<Utc>) -> bool {
        place.online && place.last_at.is_some_and(|t| now - t <= self.stale_after)
    }

    /// What the locations say together at `now`.
    pub(crate) fn judge(&self, now: DateTime<Utc>) -> Verdict {
        let votes: Vec<Vote> = self
            .at
            .iter()
            .map(|p| Vote {
                location: p.location.clone(),
                health: self.fresh(p, now).then_some(p.state.health),
            })
            .collect();
        self.quorum.judge(&votes)
    }

    /// Whether some place with a say at `now` failed its latest check without that being
    /// confirmed yet (fewer failures in a row than the threshold): its vote still says it
    /// passes, but it has not said so.
    pub(crate) fn failing_unconfirmed(&self, now: DateTime<Utc>) -> bool {
        self.at.iter().any(|p| {
            self.fresh(p, now) && p.failing_since.is_some() && p.state.health != Health::Down
        })
    }

    /// When the earliest of the failing locations began failing.
    pub(crate) fn failing_since(&self, failing: &[LocationId]) -> Option<DateTime<Utc>> {
        self.at
            .iter()
            .filter(|p| failing.contains(&p.location))
            .filter_map(|p| p.failing_since)
            .min()
    }

    /// The longest run of failed checks among the failing locations.
    pub(crate) fn down_streak(&self, failing: &[LocationId]) -> u32 {
        self.at
            .iter()
            .filter(|p| failing.contains(&p.location))
            .map(|p| p.state.down_streak)
            .max()
            .unwrap_or(0)
    }

    /// Marks `location` online or offline; `false` when the monitor is not checked there or
    /// nothing changed.
    pub(crate) fn set_online(&mut self, location: &LocationId, online: bool) -> bool {
        match self.at.iter_mut().find(|p| &p.location == location) {
            Some(p) if p.online != online => {
                p.online = online;
                true
            }
            _ => false,
        }
    }

    /// Whether some place's say changed since `last` because its result grew stale.
    pub(crate) fn any_went_stale(&self, last: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.at.iter().any(|p| {
            p.online
                && p.last_at
                    .is_some_and(|t| now - t > self.stale_after && last - t <= self.stale_after)
        })
    }
}

impl FailureReach {
    /// How far the failure in `verdict` reaches.
    pub(crate) fn of(verdict: &Verdict) -> FailureReach {
        if verdict.health == Health::Down {
            FailureReach::Down
        } else if verdict.regional {
            FailureReach::Regional
        } else {
            FailureReach::Clear
        }
    }
}

//! Checking one monitor from several places: how the locations' verdicts make the monitor's
//! (SPEC §7).
//!
//! Each location keeps its own health with the monitor's thresholds (a failure confirmed at
//! one place is that place's), and [`Quorum::judge`] turns their votes into one verdict:
//!
//! - down at `quorum` locations or more → the monitor is **down** everywhere (its
//!   `on_failure` status);
//! - down at fewer, but at least one → a **regional** failure: the component shows
//!   `on_regional_failure` (default `partial_outage`), and the incident says where;
//! - otherwise degraded at `quorum` or more → **degraded**; else **up**.
//!
//! A location without a fresh result is **unknown**: it never votes down, so a silent probe
//! can never make an outage (responders hear "probe offline" instead), and it is named apart
//! in the words.

use serde::{Deserialize, Serialize};

use crate::incident::join_names;
use crate::{ComponentStatus, Health, LocationId};

/// How many locations must confirm a monitor down, out of the ones it is checked from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quorum {
    /// Locations the monitor is checked from (at least one).
    pub locations: u32,
    /// Down at this many or more is down everywhere (1 ..= `locations`).
    pub needed: u32,
}

/// Why a quorum cannot be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuorumError {
    /// No location to check from.
    #[error("a monitor needs at least one location")]
    NoLocation,
    /// A quorum of 0, or more than there are locations.
    #[error(
        "`quorum` must be between 1 and the number of locations ({locations}), found {needed}"
    )]
    OutOfRange {
        /// Locations the monitor is checked from.
        locations: u32,
        /// The quorum asked for.
        needed: u32,
    },
}

/// One location's say about a monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// Where from.
    pub location: LocationId,
    /// Its confirmed health there; `None` when no fresh result came from it (an offline
    /// probe): unknown, never a vote for down.
    pub health: Option<Health>,
}

/// What the locations say together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The monitor's health: `Down` only at quorum, `Unknown` when no location has a fresh
    /// result.
    pub health: Health,
    /// Whether it is down somewhere but short of the quorum.
    pub regional: bool,
    /// Locations where it is confirmed down, in the order given.
    pub failing: Vec<LocationId>,
    /// Locations where it answers (up or degraded).
    pub passing: Vec<LocationId>,
    /// Locations without a fresh result (or not confirmed either way yet).
    pub unknown: Vec<LocationId>,
}

impl Quorum {
    /// A quorum of `needed` out of `locations`; `None` for the default, a majority.
    pub fn new(locations: u32, needed: Option<u32>) -> Result<Self, QuorumError> {
        if locations == 0 {
            return Err(QuorumError::NoLocation);
        }
        let needed = needed.unwrap_or(locations / 2 + 1);
        if needed == 0 || needed > locations {
            return Err(QuorumError::OutOfRange { locations, needed });
        }
        Ok(Self { locations, needed })
    }

    /// The monitor's verdict from its locations' votes (see the module documentation).
    pub fn judge(&self, votes: &[Vote]) -> Verdict {
        let mut v = Verdict {
            health: Health::Unknown,
            regional: false,
            failing: Vec::new(),
            passing: Vec::new(),
            unknown: Vec::new(),
        };
        let mut degraded = 0u32;
        for vote in votes {
            match vote.health {
                Some(Health::Down) => v.failing.push(vote.location.clone()),
                Some(h @ (Health::Up | Health::Degraded)) => {
                    if h == Health::Degraded {
                        degraded += 1;
                    }
                    v.passing.push(vote.location.clone());
                }
                Some(Health::Unknown) | None => v.unknown.push(vote.location.clone()),
            }
        }
        let down = count(&v.failing);
        v.health = if down >= self.needed {
            Health::Down
        } else if down + degraded >= self.needed {
            // Failing somewhere and slow elsewhere is, together, at least degraded.
            Health::Degraded
        } else if v.passing.is_empty() && v.failing.is_empty() {
            Health::Unknown
        } else {
            Health::Up
        };
        v.regional = down > 0 && down < self.needed;
        v
    }
}

/// How long a location may stay silent before it is offline, by default: a probe asks for
/// its monitors at least every 20 seconds and sends results as it has them.
pub const DEFAULT_OFFLINE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// A place monitors are checked from besides the server itself (`[[locations]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct LocationDef {
    /// Its id, as monitors' `locations` name it; never `local`.
    pub id: LocationId,
    /// What people read: "Europe (France)".
    pub name: String,
    /// The tokens its probes may present; each revoked by removing it.
    pub tokens: Vec<crate::Secret>,
    /// Silence longer than this makes the location offline: its votes turn unknown and
    /// responders hear of it.
    pub offline_after: std::time::Duration,
}

/// The display name of the server's own location.
pub const LOCAL_NAME: &str = "Local";

/// Where a monitor is checked from and how the places' verdicts combine (SPEC §7): its
/// `locations`, `quorum` and `on_regional_failure`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The locations, in configuration order, without repeats.
    pub locations: Vec<LocationId>,
    /// How many must confirm it down.
    pub quorum: Quorum,
    /// The component's status while it fails at fewer than `quorum` locations.
    pub on_regional_failure: ComponentStatus,
}

impl Default for Placement {
    /// Checked by the server itself only (`["local"]`), as before locations existed.
    fn default() -> Self {
        Placement {
            locations: vec![LocationId::local()],
            quorum: Quorum {
                locations: 1,
                needed: 1,
            },
            on_regional_failure: ComponentStatus::PartialOutage,
        }
    }
}

impl Placement {
    /// Whether the monitor is checked by the server alone: one location, `local`. Such a
    /// monitor's health is simply its own checks' (no votes, no regional failure), and its
    /// stored definition leaves the placement out, as it was before locations existed.
    pub fn is_local_only(&self) -> bool {
        self.locations.len() == 1 && self.locations[0].is_local()
    }

    /// Whether `location` is one the monitor is checked from.
    pub fn includes(&self, location: &LocationId) -> bool {
        self.locations.contains(location)
    }
}

fn count(locations: &[LocationId]) -> u32 {
    u32::try_from(locations.len()).unwrap_or(u32::MAX)
}

impl Verdict {
    /// The status the monitor asks of its components: `on_failure` when down, `regional` when
    /// failing short of the quorum, `degraded_performance` when degraded, else operational.
    /// (A worse status from elsewhere still wins: this is one contribution.)
    pub fn contribution(
        &self,
        on_failure: ComponentStatus,
        regional: ComponentStatus,
    ) -> ComponentStatus {
        let own = crate::monitor::contribution(self.health, on_failure);
        if self.regional {
            ComponentStatus::worst_of([own, regional])
        } else {
            own
        }
    }

    /// Where it fails and where it does not, for an incident: "failing from Europe (France);
    /// US East and Local see it up" (`name` gives a location's display name; unknown ones are
    /// said apart: "no recent result from Asia").
    pub fn where_words(&self, name: impl Fn(&LocationId) -> String) -> String {
        let names = |ids: &[LocationId]| ids.iter().map(&name).collect::<Vec<_>>();
        let list = |names: &[String]| {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            join_names(&refs)
        };
        let mut parts = Vec::new();
        let failing = names(&self.failing);
        if !failing.is_empty() {
            parts.push(format!("failing from {}", list(&failing)));
        }
        let passing = names(&self.passing);
        if !passing.is_empty() {
            let verb = if passing.len() == 1 { "sees" } else { "see" };
            parts.push(format!("{} {verb} it up", list(&passing)));
        }
        let unknown = names(&self.unknown);
        if !unknown.is_empty() {
            parts.push(format!("no recent result from {}", list(&unknown)));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::{MajorOutage, Operational, PartialOutage};
    use Health::{Degraded, Down, Unknown, Up};

    fn loc(id: &str) -> LocationId {
        LocationId::new(id).unwrap()
    }

    /// Votes for `local`, `eu-fr`, `us-east`, … in order; `None` is a silent location.
    fn votes(healths: &[Option<Health>]) -> Vec<Vote> {
        let ids = ["local", "eu-fr", "us-east", "ap-sg", "sa-br"];
        healths
            .iter()
            .zip(ids)
            .map(|(h, id)| Vote {
                location: loc(id),
                health: *h,
            })
            .collect()
    }

    #[test]
    fn the_default_quorum_is_a_majority_and_a_wrong_one_is_refused() {
        for (locations, needed) in [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)] {
            assert_eq!(
                Quorum::new(locations, None).unwrap().needed,
                needed,
                "{locations}"
            );
        }
        assert_eq!(Quorum::new(0, None), Err(QuorumError::NoLocation));
        assert_eq!(
            Quorum::new(3, Some(4)),
            Err(QuorumError::OutOfRange {
                locations: 3,
                needed: 4
            })
        );
        assert!(Quorum::new(3, Some(0)).is_err());
        let e = Quorum::new(3, Some(4)).unwrap_err().to_string();
        assert_eq!(
            e,
            "`quorum` must be between 1 and the number of locations (3), found 4"
        );
    }

    #[test]
    fn the_locations_votes_make_one_verdict() {
        // (quorum, votes) → (health, regional, component status with on_failure = major and
        // on_regional_failure = partial)
        type Row = (
            u32,
            &'static [Option<Health>],
            Health,
            bool,
            ComponentStatus,
        );
        let rows: &[Row] = &[
            // One location: the monitor is that location.
            (1, &[Some(Down)], Down, false, MajorOutage),
            (1, &[Some(Up)], Up, false, Operational),
            (1, &[None], Unknown, false, Operational),
            // Three locations, quorum 2.
            (2, &[Some(Up), Some(Up), Some(Up)], Up, false, Operational),
            (
                2,
                &[Some(Up), Some(Down), Some(Up)],
                Up,
                true,
                PartialOutage,
            ),
            (
                2,
                &[Some(Down), Some(Down), Some(Up)],
                Down,
                false,
                MajorOutage,
            ),
            (
                2,
                &[Some(Down), Some(Down), Some(Down)],
                Down,
                false,
                MajorOutage,
            ),
            // Silent probes never vote down: two silent, one down is still regional.
            (2, &[None, Some(Down), None], Up, true, PartialOutage),
            (2, &[None, None, None], Unknown, false, Operational),
            (2, &[Some(Unknown), Some(Up), None], Up, false, Operational),
            // Slow at quorum is degraded; down in one place and slow in another is too, and
            // still regional.
            (
                2,
                &[Some(Degraded), Some(Degraded), Some(Up)],
                Degraded,
                false,
                ComponentStatus::DegradedPerformance,
            ),
            (
                2,
                &[Some(Degraded), Some(Up), Some(Up)],
                Up,
                false,
                Operational,
            ),
            (
                2,
                &[Some(Down), Some(Degraded), Some(Up)],
                Degraded,
                true,
                PartialOutage,
            ),
            // Quorum 1: any location down is down everywhere.
            (
                1,
                &[Some(Up), Some(Down), Some(Up)],
                Down,
                false,
                MajorOutage,
            ),
            // Quorum 3 of 3: two down is regional.
            (
                3,
                &[Some(Down), Some(Down), Some(Up)],
                Up,
                true,
                PartialOutage,
            ),
            // Five locations, the default majority of 3.
            (
                3,
                &[Some(Down), Some(Down), Some(Down), Some(Up), None],
                Down,
                false,
                MajorOutage,
            ),
            (
                3,
                &[Some(Down), Some(Down), None, None, None],
                Up,
                true,
                PartialOutage,
            ),
        ];
        for (needed, healths, health, regional, status) in rows {
            let q = Quorum::new(u32::try_from(healths.len()).unwrap(), Some(*needed)).unwrap();
            let v = q.judge(&votes(healths));
            let case = format!("quorum {needed} of {healths:?}");
            assert_eq!(v.health, *health, "{case}");
            assert_eq!(v.regional, *regional, "{case}");
            assert_eq!(
                v.contribution(MajorOutage, PartialOutage),
                *status,
                "{case}"
            );
            assert_eq!(
                v.failing.len() + v.passing.len() + v.unknown.len(),
                healths.len(),
                "every location is counted once: {case}"
            );
        }
    }

    #[test]
    fn a_regional_failure_says_where() {
        let name = |l: &LocationId| {
            match l.as_str() {
                "local" => "Local",
                "eu-fr" => "Europe (France)",
                "us-east" => "US East",
                "ap-sg" => "Asia (Singapore)",
                _ => "?",
            }
            .to_owned()
        };
        let q = Quorum::new(3, None).unwrap();
        let v = q.judge(&votes(&[Some(Up), Some(Down), Some(Up)]));
        assert_eq!(
            v.where_words(name),
            "failing from Europe (France); Local and US East see it up"
        );
        let q = Quorum::new(4, None).unwrap();
        let v = q.judge(&votes(&[None, Some(Down), Some(Degraded), None]));
        assert_eq!(
            v.where_words(name),
            "failing from Europe (France); US East sees it up; no recent result from Local and Asia (Singapore)"
        );
    }
}

//! A monitor's health and how one check result moves it. Thresholds give hysteresis so that a
//! single blip never pages anyone: `failure_threshold` consecutive failures before down,
//! `success_threshold` consecutive good checks before up again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr};

use crate::check::CheckOutcome;

/// A monitor's confirmed health.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Health {
    /// Not yet confirmed either way (a new monitor); shown as operational.
    Unknown,
    /// Healthy.
    Up,
    /// Answering, but a degraded condition keeps failing.
    Degraded,
    /// Confirmed failing.
    Down,
}

impl Health {
    /// Storage and API form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the storage form.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// How many consecutive results confirm a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive bad checks before down (or degraded).
    pub failure: u32,
    /// Consecutive good checks before recovering.
    pub success: u32,
}

/// The persisted state of one monitor. Survives restarts, so a monitor that was down stays
/// down (and keeps counting) across a redeploy of Pharos.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorState {
    /// Confirmed health.
    pub health: Health,
    /// When `health` last changed.
    pub since: Option<DateTime<Utc>>,
    /// Consecutive `Down` outcomes.
    pub down_streak: u32,
    /// Consecutive `Up` outcomes.
    pub up_streak: u32,
    /// Consecutive outcomes that were not `Up` (degraded or down).
    pub not_up_streak: u32,
    /// Consecutive outcomes that were not `Down` (up or degraded).
    pub not_down_streak: u32,
    /// When the last check started.
    pub last_check_at: Option<DateTime<Utc>>,
    /// The last check's verdict.
    pub last_outcome: Option<CheckOutcome>,
    /// The last check's failure reason.
    pub last_error: Option<String>,
}

impl Default for MonitorState {
    fn default() -> Self {
        MonitorState {
            health: Health::Unknown,
            since: None,
            down_streak: 0,
            up_streak: 0,
            not_up_streak: 0,
            not_down_streak: 0,
            last_check_at: None,
            last_outcome: None,
            last_error: None,
        }
    }
}

/// A confirmed change of health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Health before.
    pub from: Health,
    /// Health after.
    pub to: Health,
    /// When the check that confirmed it started.
    pub at: DateTime<Utc>,
}

impl MonitorState {
    /// Applies one check result. Returns the new state and the transition it caused, if any.
    ///
    /// - `failure` consecutive `Down` → Down.
    /// - Down, then `success` consecutive non-`Down` → Up (or Degraded if the last was).
    /// - Up, then `failure` consecutive non-`Up` (not yet Down) → Degraded.
    /// - Degraded, then `success` consecutive `Up` → Up.
    /// - Unknown becomes Up on the first `Up`, and otherwise follows the rules for Up.
    pub fn step(
        &self,
        outcome: CheckOutcome,
        error: Option<&str>,
        t: Thresholds,
        at: DateTime<Utc>,
    ) -> (MonitorState, Option<Transition>) {
        let bump = |on: bool, n: u32| if on { n.saturating_add(1) } else { 0 };
        let mut next = MonitorState {
            down_streak: bump(outcome == CheckOutcome::Down, self.down_streak),
            up_streak: bump(outcome == CheckOutcome::Up, self.up_streak),
            not_up_streak: bump(outcome != CheckOutcome::Up, self.not_up_streak),
            not_down_streak: bump(outcome != CheckOutcome::Down, self.not_down_streak),
            last_check_at: Some(at),
            last_outcome: Some(outcome),
            last_error: error.map(str::to_owned),
            ..self.clone()
        };
        let failure = t.failure.max(1);
        let success = t.success.max(1);
        let target = match self.health {
            _ if self.health != Health::Down && next.down_streak >= failure => Health::Down,
            Health::Down if next.not_down_streak >= success => {
                if outcome == CheckOutcome::Up {
                    Health::Up
                } else {
                    Health::Degraded
                }
            }
            Health::Unknown if outcome == CheckOutcome::Up => Health::Up,
            Health::Up | Health::Unknown if next.not_up_streak >= failure => Health::Degraded,
            Health::Degraded if next.up_streak >= success => Health::Up,
            h => h,
        };
        if target == self.health {
            return (next, None);
        }
        next.health = target;
        next.since = Some(at);
        let transition = Transition {
            from: self.health,
            to: target,
            at,
        };
        (next, Some(transition))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckOutcome::{Degraded as G, Down as D, Up as U};

    fn run(outcomes: &[CheckOutcome], failure: u32, success: u32) -> Vec<Health> {
        let t = Thresholds { failure, success };
        let mut s = MonitorState::default();
        let at = DateTime::<Utc>::UNIX_EPOCH;
        outcomes
            .iter()
            .map(|&o| {
                s = s.step(o, None, t, at).0;
                s.health
            })
            .collect()
    }

    #[test]
    fn needs_failure_threshold_consecutive_failures() {
        use Health::*;
        assert_eq!(
            run(&[U, D, D, U, D, D, D], 3, 2),
            [Up, Up, Up, Up, Up, Up, Down]
        );
    }

    #[test]
    fn needs_success_threshold_to_recover() {
        use Health::*;
        assert_eq!(
            run(&[D, D, U, D, U, U], 2, 2),
            [Unknown, Down, Down, Down, Down, Up]
        );
    }

    #[test]
    fn degraded_needs_confirmation_too() {
        use Health::*;
        assert_eq!(
            run(&[U, G, G, U, U], 2, 2),
            [Up, Up, Degraded, Degraded, Up]
        );
        // Degraded answers count towards recovery from down, landing in degraded.
        assert_eq!(run(&[D, G, G], 1, 2), [Down, Down, Degraded]);
    }

    #[test]
    fn a_new_monitor_is_up_on_its_first_success() {
        use Health::*;
        assert_eq!(run(&[U], 3, 2), [Up]);
        assert_eq!(run(&[D], 1, 2), [Down]);
    }

    #[test]
    fn reports_the_transition_once() {
        let t = Thresholds {
            failure: 1,
            success: 1,
        };
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let (s, tr) = MonitorState::default().step(D, Some("refused"), t, at);
        assert_eq!(
            tr.map(|t| (t.from, t.to)),
            Some((Health::Unknown, Health::Down))
        );
        assert_eq!(s.last_error.as_deref(), Some("refused"));
        assert_eq!(s.step(D, None, t, at).1, None);
    }
}

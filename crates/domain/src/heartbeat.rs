//! Heartbeat monitors: instead of Pharos checking a target, a job tells Pharos it ran, by
//! requesting a healthchecks.io-style ping URL (`/ping/{token}`, `/start`, `/fail`, or an exit
//! status). A job that is silent past its deadline, reports failure, or starts and never
//! finishes is down.
//!
//! [`HeartbeatTracker`] holds one monitor's rules and what it heard, and turns pings and the
//! clock into [`Verdict`]s; it does no I/O and reads no clock, so every rule is tested with
//! plain times. The rules, as healthchecks.io's:
//!
//! - **Expected pings.** With a `period`, a success ping is due `period` after the last one;
//!   with a cron `schedule` (in its time zone), at the first scheduled time after the last one.
//!   Either way the job has `grace` more before it is down. Before any ping, the clock starts
//!   when monitoring began.
//! - **Failure.** `/fail`, or an exit status other than 0, is down at once; the next success
//!   brings it back up.
//! - **Started, never finished.** After `/start`, the job has `grace` to report success or
//!   failure, or it is down.
//!
//! A silent job yields one down verdict per silence, not one per clock tick.

use std::str::FromStr as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Serialize, Serializer};

use crate::check::CheckOutcome;
use crate::duration::format_duration;

/// Settings of a `heartbeat` monitor. `Debug` hides the token.
#[derive(Clone, PartialEq, Serialize)]
pub struct HeartbeatSpec {
    /// The secret part of the ping URL (`/ping/{token}`); stored only as a fingerprint.
    #[serde(serialize_with = "crate::fingerprint::secret_str")]
    pub token: String,
    /// When pings are expected.
    pub expect: Expect,
    /// How late a ping may be, and how long a started job may run, before the monitor is
    /// down.
    #[serde(serialize_with = "crate::monitor::as_millis")]
    pub grace: Duration,
}

impl std::fmt::Debug for HeartbeatSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeartbeatSpec")
            .field("token", &crate::fingerprint::REDACTED)
            .field("expect", &self.expect)
            .field("grace", &self.grace)
            .finish()
    }
}

/// When a heartbeat's success pings are expected.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// One every this long.
    Period(#[serde(serialize_with = "crate::monitor::as_millis")] Duration),
    /// One at each time of a cron schedule (boxed: a parsed schedule is large).
    Schedule(Box<Schedule>),
}

/// A five-field cron schedule (`*/5 * * * *`) read in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    time_zone: Tz,
    cron: croner::Cron,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        self.expression == other.expression && self.time_zone == other.time_zone
    }
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{} ({})", self.expression, self.time_zone.name()))
    }
}

impl Schedule {
    /// Parses a cron expression of five fields (minute, hour, day of month, month, day of
    /// week, with `*`, lists, ranges, steps and names), to be read in `time_zone`.
    pub fn parse(expression: &str, time_zone: Tz) -> Result<Schedule, String> {
        let expression = expression.trim();
        let fields = expression.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "a schedule has five fields (minute hour day-of-month month day-of-week), like \
                 \"*/5 * * * *\"; this one has {fields}"
            ));
        }
        let cron = croner::Cron::from_str(expression)
            .map_err(|e| format!("{expression:?} is not a cron schedule: {e}"))?;
        Ok(Schedule {
            expression: expression.to_owned(),
            time_zone,
            cron,
        })
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone it is read in.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// The first scheduled time strictly after `after`, if the schedule has one (a schedule
    /// such as "30 February" never fires).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.time_zone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// What a ping says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingKind {
    /// `/ping/{token}`: the job succeeded.
    Success,
    /// `/ping/{token}/start`: the job started.
    Start,
    /// `/ping/{token}/fail`: the job failed.
    Fail,
    /// `/ping/{token}/{status}`: the job exited with this status (0 is success).
    Exit(u8),
}

impl PingKind {
    /// Reads the part of a ping URL after the token: none, `start`, `fail` or an exit status
    /// from 0 to 255.
    pub fn parse(suffix: Option<&str>) -> Result<PingKind, String> {
        match suffix {
            None | Some("") => Ok(PingKind::Success),
            Some("start") => Ok(PingKind::Start),
            Some("fail") => Ok(PingKind::Fail),
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
                .parse::<u8>()
                .map(PingKind::Exit)
                .map_err(|_| format!("exit status {s} is out of range (0-255)")),
            Some(s) => Err(format!(
                "{s:?} is not a ping: use /start, /fail or an exit status (0-255)"
            )),
        }
    }
}

/// One ping as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// What it says.
    pub kind: PingKind,
    /// When it arrived (UTC).
    pub at: DateTime<Utc>,
    /// The start of the request body, if any (a failing job's output), one line.
    pub note: Option<String>,
}

/// Longest [`Ping::note`] kept, in characters.
pub const PING_NOTE_MAX_CHARS: usize = 200;

impl Ping {
    /// A ping, keeping at most [`PING_NOTE_MAX_CHARS`] characters of `body` on one line.
    pub fn new(kind: PingKind, at: DateTime<Utc>, body: &str) -> Ping {
        // Word by word, stopping once the note is full: a body may be 100 KB.
        let mut line = String::new();
        for word in body.split_whitespace() {
            if line.chars().count() >= PING_NOTE_MAX_CHARS {
                break;
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        let line: String = line.chars().take(PING_NOTE_MAX_CHARS).collect();
        Ping {
            kind,
            at,
            note: (!line.is_empty()).then_some(line),
        }
    }
}

/// A change of a heartbeat monitor's outcome, at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// When it was decided.
    pub at: DateTime<Utc>,
    /// Up or down.
    pub outcome: CheckOutcome,
    /// Why it is down.
    pub reason: Option<String>,
}

/// One heartbeat monitor's rules and what it has heard.
#[derive(Debug, Clone)]
pub struct HeartbeatTracker {
    spec: HeartbeatSpec,
    /// The last success, or when monitoring began: what the next expected ping counts from.
    reference: DateTime<Utc>,
    /// Whether `reference` is a ping (for the wording).
    pinged: bool,
    /// A start not yet followed by success or failure.
    started: Option<DateTime<Utc>>,
    /// Down since a failure or a missed deadline, until the next success.
    down: bool,
}

impl HeartbeatTracker {
    /// A tracker for `spec` whose clock starts at `since` (when monitoring began).
    pub fn new(spec: HeartbeatSpec, since: DateTime<Utc>) -> HeartbeatTracker {
        HeartbeatTracker {
            spec,
            reference: since,
            pinged: false,
            started: None,
            down: false,
        }
    }

    /// The settings it follows.
    pub fn spec(&self) -> &HeartbeatSpec {
        &self.spec
    }

    /// Takes a ping; returns the verdict it makes (a start makes none).
    pub fn on_ping(&mut self, ping: &Ping) -> Option<Verdict> {
        let at = ping.at;
        let failure = match ping.kind {
            PingKind::Start => {
                self.started = Some(at);
                return None;
            }
            PingKind::Success | PingKind::Exit(0) => None,
            PingKind::Fail => Some("the job reported failure".to_owned()),
            PingKind::Exit(status) => Some(format!("the job exited with status {status}")),
        };
        self.started = None;
        self.reference = at;
        self.pinged = true;
        self.down = failure.is_some();
        Some(Verdict {
            at,
            outcome: if failure.is_some() {
                CheckOutcome::Down
            } else {
                CheckOutcome::Up
            },
            reason: failure.map(|f| match &ping.note {
                Some(note) => format!("{f}: {note}"),
                None => f,
            }),
        })
    }

    /// When the monitor goes down if nothing is heard: the expected ping's deadline, or a
    /// started job's, whichever is first. `None` while it is already down (nothing more to
    /// wait for) or when the schedule never fires again.
    pub fn deadline(&self) -> Option<DateTime<Utc>> {
        if self.down {
            return None;
        }
        let grace = chrono_duration(self.spec.grace);
        let expected = self.expected_after().map(|t| t + grace);
        let finish_by = self.started.map(|s| s + grace);
        match (expected, finish_by) {
            (Some(e), Some(f)) => Some(e.min(f)),
            (e, f) => e.or(f),
        }
    }

    /// Looks at the clock: past the deadline, the monitor is down (once per silence).
    pub fn on_clock(&mut self, now: DateTime<Utc>) -> Option<Verdict> {
        let deadline = self.deadline()?;
        if now < deadline {
            return None;
        }
        let grace = format_duration(self.spec.grace);
        let reason = match self.started {
            Some(started) if started + chrono_duration(self.spec.grace) <= deadline => format!(
                "the job started at {} and did not finish within {grace}",
                clock(started)
            ),
            _ => {
                let since = if self.pinged {
                    format!("no ping since {}", clock(self.reference))
                } else {
                    format!(
                        "no ping since monitoring began at {}",
                        clock(self.reference)
                    )
                };
                let rule = match &self.spec.expect {
                    Expect::Period(p) => format!("one is expected every {}", format_duration(*p)),
                    Expect::Schedule(s) => format!(
                        "one is expected on the schedule {} ({})",
                        s.expression,
                        s.time_zone.name()
                    ),
                };
                format!("{since}; {rule}, with {grace} grace")
            }
        };
        self.down = true;
        self.started = None;
        Some(Verdict {
            at: now,
            outcome: CheckOutcome::Down,
            reason: Some(reason),
        })
    }

    /// When the next success ping is expected, before grace.
    fn expected_after(&self) -> Option<DateTime<Utc>> {
        match &self.spec.expect {
            Expect::Period(p) => Some(self.reference + chrono_duration(*p)),
            Expect::Schedule(s) => s.next_after(self.reference),
        }
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// `2026-11-22 14:03:00 UTC`.
fn clock(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn every(period: u64, grace: u64) -> HeartbeatSpec {
        HeartbeatSpec {
            token: "tok".into(),
            expect: Expect::Period(Duration::from_secs(period)),
            grace: Duration::from_secs(grace),
        }
    }

    fn ping(kind: PingKind, at: &str) -> Ping {
        Ping::new(kind, t(at), "")
    }

    #[test]
    fn a_silent_job_is_down_once_after_period_and_grace() {
        let mut hb = HeartbeatTracker::new(every(300, 60), t("2026-11-22T12:00:00Z"));
        assert_eq!(hb.deadline(), Some(t("2026-11-22T12:06:00Z")));
        assert_eq!(hb.on_clock(t("2026-11-22T12:05:59Z")), None);
        let v = hb.on_clock(t("2026-11-22T12:06:00Z")).unwrap();
        assert_eq!(v.outcome, CheckOutcome::Down);
        assert_eq!(
            v.reason.unwrap(),
            "no ping since monitoring began at 2026-11-22 12:00:00 UTC; one is expected every \
             5m, with 1m grace"
        );
        // Once per silence.
        assert_eq!(hb.deadline(), None);
        assert_eq!(hb.on_clock(t("2026-11-22T13:00:00Z")), None);
        // A success brings it up and restarts the clock from the ping.
        let up = hb
            .on_ping(&ping(PingKind::Success, "2026-11-22T13:00:10Z"))
            .unwrap();
        assert_eq!((up.outcome, up.reason), (CheckOutcome::Up, None));
        assert_eq!(hb.deadline(), Some(t("2026-11-22T13:06:10Z")));
        let v = hb.on_clock(t("2026-11-22T13:06:10Z")).unwrap();
        assert!(
            v.reason
                .unwrap()
                .starts_with("no ping since 2026-11-22 13:00:10 UTC;"),
            "worded from the last ping"
        );
    }

    #[test]
    fn failure_and_exit_statuses_are_down_at_once_with_the_jobs_words() {
        let mut hb = HeartbeatTracker::new(every(300, 60), t("2026-11-22T12:00:00Z"));
        let failed = Ping::new(PingKind::Fail, t("2026-11-22T12:01:00Z"), "disk\nfull  ");
        let v = hb.on_ping(&failed).unwrap();
        assert_eq!(v.outcome, CheckOutcome::Down);
        assert_eq!(v.reason.unwrap(), "the job reported failure: disk full");
        assert_eq!(hb.deadline(), None, "down until the next success");
        let v = hb
            .on_ping(&ping(PingKind::Exit(0), "2026-11-22T12:02:00Z"))
            .unwrap();
        assert_eq!(v.outcome, CheckOutcome::Up);
        let v = hb
            .on_ping(&ping(PingKind::Exit(3), "2026-11-22T12:03:00Z"))
            .unwrap();
        assert_eq!(
            (v.outcome, v.reason.unwrap().as_str()),
            (CheckOutcome::Down, "the job exited with status 3")
        );
    }

    #[test]
    fn a_start_without_a_finish_is_down_after_grace() {
        let mut hb = HeartbeatTracker::new(every(3600, 120), t("2026-11-22T12:00:00Z"));
        assert_eq!(
            hb.on_ping(&ping(PingKind::Start, "2026-11-22T12:10:00Z")),
            None
        );
        assert_eq!(hb.deadline(), Some(t("2026-11-22T12:12:00Z")));
        let v = hb.on_clock(t("2026-11-22T12:12:00Z")).unwrap();
        assert_eq!(
            v.reason.unwrap(),
            "the job started at 2026-11-22 12:10:00 UTC and did not finish within 2m"
        );
        // A start that finishes in time is fine.
        let mut hb = HeartbeatTracker::new(every(3600, 120), t("2026-11-22T12:00:00Z"));
        hb.on_ping(&ping(PingKind::Start, "2026-11-22T12:10:00Z"));
        hb.on_ping(&ping(PingKind::Success, "2026-11-22T12:11:00Z"));
        assert_eq!(hb.on_clock(t("2026-11-22T12:12:30Z")), None);
        assert_eq!(hb.deadline(), Some(t("2026-11-22T13:13:00Z")));
    }

    #[test]
    fn a_schedule_expects_each_run_in_its_time_zone() {
        let daily = Schedule::parse("30 2 * * *", chrono_tz::America::New_York).unwrap();
        let spec = HeartbeatSpec {
            token: "tok".into(),
            expect: Expect::Schedule(Box::new(daily)),
            grace: Duration::from_secs(600),
        };
        // 02:30 in New York in November is 07:30 UTC (EST).
        let mut hb = HeartbeatTracker::new(spec, t("2026-11-22T00:00:00Z"));
        assert_eq!(hb.deadline(), Some(t("2026-11-22T07:40:00Z")));
        hb.on_ping(&ping(PingKind::Success, "2026-11-22T07:31:00Z"));
        assert_eq!(hb.deadline(), Some(t("2026-11-23T07:40:00Z")));
        let v = hb.on_clock(t("2026-11-23T07:40:00Z")).unwrap();
        assert!(v.reason.unwrap().ends_with(
            "one is expected on the schedule 30 2 * * * (America/New_York), with 10m grace"
        ),);
    }

    #[test]
    fn bad_schedules_and_ping_suffixes_are_named() {
        assert!(Schedule::parse("* * * *", Tz::UTC)
            .unwrap_err()
            .contains("five fields"));
        assert!(Schedule::parse("61 * * * *", Tz::UTC)
            .unwrap_err()
            .contains("is not a cron schedule"));
        assert_eq!(PingKind::parse(None), Ok(PingKind::Success));
        assert_eq!(PingKind::parse(Some("start")), Ok(PingKind::Start));
        assert_eq!(PingKind::parse(Some("fail")), Ok(PingKind::Fail));
        assert_eq!(PingKind::parse(Some("0")), Ok(PingKind::Exit(0)));
        assert_eq!(PingKind::parse(Some("255")), Ok(PingKind::Exit(255)));
        assert_eq!(
            PingKind::parse(Some("256")).unwrap_err(),
            "exit status 256 is out of range (0-255)"
        );
        assert!(PingKind::parse(Some("log"))
            .unwrap_err()
            .contains("not a ping"));
    }
}

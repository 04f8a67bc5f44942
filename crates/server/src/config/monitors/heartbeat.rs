//! `type = "heartbeat"`: never checked, but pinged by a job at `/ping/{token}` (the URLs of
//! healthchecks.io), every `period` or on a cron `schedule`, with `grace` to be late.

use std::collections::HashMap;
use std::time::Duration;

use pharos_domain::heartbeat::{Expect, HeartbeatSpec, Schedule};
use pharos_domain::MonitorKind;

use super::{Entry, Read, Type, DEFAULT_INTERVAL, MIN_INTERVAL};
use crate::config::walk::{Cx, Section};

/// Shortest and longest heartbeat token.
const TOKEN_LENGTH: std::ops::RangeInclusive<usize> = 16..=128;
/// A heartbeat's grace when none is given (healthchecks.io's default).
const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// The heartbeat monitor type.
pub(super) const TYPE: Type = Type {
    name: "heartbeat",
    a_name: "a heartbeat",
    keys: &["token", "period", "schedule", "time_zone", "grace"],
    // It is pinged, never checked.
    refuses: &[
        "url",
        "interval",
        "timeout",
        "conditions",
        "degraded_conditions",
        "retries",
        "retry_interval",
        "locations",
        "quorum",
        "on_regional_failure",
    ],
    refusal: "the job pings /ping/{token}, and `period` or `schedule` with `grace` say when",
    // Its verdicts come from its pings and the clock.
    default_condition: None,
    // One verdict per ping or silence is the whole story.
    thresholds: (1, 1),
    read,
};

/// Reads the heartbeat keys; its interval (shown, never used to schedule) is its period.
fn read(cx: &mut Cx<'_>, s: &Section<'_>, e: &mut Entry<'_>) -> Option<Read> {
    let hb = spec(cx, s, e.name, e.seen)?;
    let interval = match hb.expect {
        Expect::Period(p) => p,
        Expect::Schedule(_) => DEFAULT_INTERVAL,
    };
    Some(Read {
        kind: MonitorKind::Heartbeat(hb),
        interval: Some(interval),
    })
}

/// The heartbeat keys: a unique `token`, `period` or `schedule` (with `time_zone`), `grace`.
fn spec(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    name: &str,
    tokens: &mut HashMap<String, usize>,
) -> Option<HeartbeatSpec> {
    let errors_before = cx.error_count();
    let token = match s.field("token") {
        None => {
            cx.error(
                s.at,
                format!(
                    "{name} is missing required key `token` (the secret in its ping URL \
                     /ping/<token>, e.g. a UUID)"
                ),
            );
            None
        }
        Some(f) => cx.string(&f).and_then(|v| {
            let ok_chars = v
                .text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok_chars || !TOKEN_LENGTH.contains(&v.text.len()) {
                cx.error(
                    v.at,
                    format!(
                        "`token` must be {} to {} letters, digits, `-` or `_` (a UUID works), \
                         found {} characters{}",
                        TOKEN_LENGTH.start(),
                        TOKEN_LENGTH.end(),
                        v.text.chars().count(),
                        if ok_chars { "" } else { " including others" }
                    ),
                );
                return None;
            }
            if let Some(&prev) = tokens.get(&v.text) {
                let message = format!(
                    "this `token` is already used by another heartbeat monitor ({}); each \
                     needs its own",
                    cx.describe_position(prev)
                );
                cx.error(v.at, message);
                return None;
            }
            tokens.insert(v.text.clone(), v.at);
            Some(v.text)
        }),
    };
    let period = s.field("period").and_then(|f| {
        let d = cx.duration(&f)?;
        if d < MIN_INTERVAL {
            cx.error(f.at, "`period` must be at least 1s");
            return None;
        }
        Some(d)
    });
    let zone = s.field("time_zone");
    let time_zone = zone
        .as_ref()
        .and_then(|f| crate::config::build::time_zone(cx, f));
    let schedule = s.field("schedule").and_then(|f| {
        let v = cx.string(&f)?;
        let tz = time_zone.unwrap_or(chrono_tz::UTC);
        Schedule::parse(&v.text, tz)
            .map_err(|e| cx.error(v.at, format!("`schedule`: {e}")))
            .ok()
    });
    let expect = match (s.field("period"), s.field("schedule")) {
        (Some(_), Some(f)) => {
            cx.error(
                f.at,
                "set `period` or `schedule`, not both: a job is expected either every so \
                 often or at set times",
            );
            None
        }
        (None, None) => {
            cx.error(
                s.at,
                format!(
                    "{name} needs `period` (e.g. \"5m\") or `schedule` (e.g. \"*/5 * * * *\") \
                     to say when its job pings"
                ),
            );
            None
        }
        (Some(_), None) => period.map(Expect::Period),
        (None, Some(_)) => schedule.map(|s| Expect::Schedule(Box::new(s))),
    };
    if let (Some(f), None) = (&zone, s.field("schedule")) {
        cx.error(f.at, "`time_zone` applies only with `schedule`");
    }
    let grace = match s.field("grace") {
        None => Some(DEFAULT_GRACE),
        Some(f) => cx.duration(&f),
    };
    if cx.error_count() > errors_before {
        return None;
    }
    Some(HeartbeatSpec {
        token: token?,
        expect: expect?,
        grace: grace?,
    })
}

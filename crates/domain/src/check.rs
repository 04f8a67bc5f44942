//! What one check saw ([`Observation`]) and what it means ([`CheckResult`]). A target that is
//! down is data here, never an error: the probe fills in `error` with the reason and the
//! conditions decide the outcome.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::condition::ConditionResult;
use crate::ids::MonitorId;
use crate::monitor::MonitorSpec;

/// Everything a probe observed about a target in one check: the values the condition
/// placeholders (`[STATUS]`, `[BODY]`, `[CONNECTED]`, …) resolve to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// Whether a connection to the target was established (`[CONNECTED]`).
    pub connected: bool,
    /// HTTP status code, when there was a response (`[STATUS]`).
    pub status: Option<u16>,
    /// Time from the start of the check to the answer (`[RESPONSE_TIME]`, in ms).
    pub response_time: Duration,
    /// Response body as text, when the conditions need it (`[BODY]`).
    pub body: Option<String>,
    /// Response headers, names lowercased (`[HEADER].Name`).
    pub headers: Vec<(String, String)>,
    /// The address connected to (`[IP]`).
    pub ip: Option<IpAddr>,
    /// Time left until the peer's certificate expires (`[CERTIFICATE_EXPIRATION]`).
    pub certificate_expiration: Option<Duration>,
    /// DNS response code such as `NOERROR` (`[DNS_RCODE]`).
    pub dns_rcode: Option<String>,
    /// Why the check could not complete (refused, timed out, body too large, bad TLS, …).
    /// When set, the check has failed whatever the conditions say.
    pub error: Option<String>,
}

impl Observation {
    /// A failed observation with only a reason, for a check that never got an answer.
    pub fn failed(reason: impl Into<String>, response_time: Duration) -> Self {
        Observation {
            error: Some(reason.into()),
            response_time,
            ..Observation::default()
        }
    }
}

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// Every condition and every degraded condition held.
    Up,
    /// Every condition held but some degraded condition did not.
    Degraded,
    /// A condition did not hold, or the check could not complete.
    Down,
}

impl CheckOutcome {
    /// The wire and storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }

    /// Parses the storage form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "up" => Some(Self::Up),
            "degraded" => Some(Self::Degraded),
            "down" => Some(Self::Down),
            _ => None,
        }
    }
}

/// One judged check, as recorded and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Which monitor ran it.
    pub monitor_id: MonitorId,
    /// When the check started (UTC).
    pub started_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The verdict.
    pub outcome: CheckOutcome,
    /// HTTP status, when there was one.
    pub status_code: Option<u16>,
    /// Why it failed: the probe's error, or the failed conditions with resolved values.
    pub error: Option<String>,
}

impl CheckResult {
    /// Judges an observation against the monitor's conditions: a probe error or a failed
    /// condition is `Down`; otherwise a failed degraded condition is `Degraded`; else `Up`.
    pub fn judge(spec: &MonitorSpec, obs: &Observation, started_at: DateTime<Utc>) -> CheckResult {
        let failed = |conds: &[crate::Condition]| -> Vec<ConditionResult> {
            conds
                .iter()
                .map(|c| c.evaluate(obs))
                .filter(|r| !r.success)
                .collect()
        };
        let (outcome, error) = if let Some(reason) = &obs.error {
            (CheckOutcome::Down, Some(reason.clone()))
        } else if let Some(reason) = unaccepted_status(spec, obs) {
            (CheckOutcome::Down, Some(reason))
        } else {
            let down = failed(&spec.conditions);
            if !down.is_empty() {
                (CheckOutcome::Down, Some(describe(&down)))
            } else {
                let slow = failed(&spec.degraded_conditions);
                if slow.is_empty() {
                    (CheckOutcome::Up, None)
                } else {
                    (CheckOutcome::Degraded, Some(describe(&slow)))
                }
            }
        };
        CheckResult {
            monitor_id: spec.id.clone(),
            started_at,
            duration_ms: u64::try_from(obs.response_time.as_millis()).unwrap_or(u64::MAX),
            outcome,
            status_code: obs.status,
            error,
        }
    }
}

/// "status 503 is not in accepted_status_codes (200-299, 304)" when an `http` monitor lists
/// the codes it accepts and the answer's is not among them.
fn unaccepted_status(spec: &MonitorSpec, obs: &Observation) -> Option<String> {
    let crate::MonitorKind::Http(http) = &spec.kind else {
        return None;
    };
    let status = obs.status?;
    let accepted = &http.accepted_status_codes;
    if accepted.is_empty() || accepted.iter().any(|r| r.contains(status)) {
        return None;
    }
    let list: Vec<String> = accepted.iter().map(ToString::to_string).collect();
    Some(format!(
        "status {status} is not in accepted_status_codes ({})",
        list.join(", ")
    ))
}

fn describe(failed: &[ConditionResult]) -> String {
    let parts: Vec<&str> = failed.iter().map(|r| r.detail.as_str()).collect();
    format!("condition failed: {}", parts.join("; "))
}

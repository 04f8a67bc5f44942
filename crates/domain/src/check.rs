//! What one check saw ([`Observation`]) and what it means ([`CheckResult`]). A target that is
//! down is data here, never an error: the probe fills in `error` with the reason and the
//! conditions decide the outcome.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr};

use crate::condition::ConditionResult;
use crate::ids::{LocationId, MonitorId};
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
    /// How long each phase of an `http` check took, when any was measured.
    pub timings: Option<PhaseTimings>,
}

/// How long each phase of one `http` check took, in whole milliseconds. Each phase is its own
/// span (not a running total), so `dns + connect + tls + first_byte` is the time to the
/// response's headers and the check's duration adds reading the body. A phase that did not
/// happen is `None`: a request over a kept-alive connection has no DNS, connect or TLS phase,
/// an address in the URL needs no DNS, and plain `http` no TLS. When a redirect opens new
/// connections, their phases add up. A check that failed keeps the phases it completed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PhaseTimings {
    /// Resolving the host name.
    pub dns_ms: Option<u64>,
    /// Opening the TCP connection.
    pub connect_ms: Option<u64>,
    /// The TLS handshake.
    pub tls_ms: Option<u64>,
    /// The rest of the wait for the response's headers once connected: sending the request,
    /// the server's thinking and the round trip (every hop's, after redirects).
    pub first_byte_ms: Option<u64>,
}

impl PhaseTimings {
    /// Whether no phase was measured at all.
    pub fn is_empty(&self) -> bool {
        *self == PhaseTimings::default()
    }
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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
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
        self.into()
    }

    /// Parses the storage form.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
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
    /// Per-phase timings of an `http` check, when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<PhaseTimings>,
    /// Where it was checked from: `local` (the server) unless a probe sent it.
    #[serde(
        default = "LocationId::local",
        skip_serializing_if = "LocationId::is_local"
    )]
    pub location: LocationId,
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
            timings: obs.timings,
            location: LocationId::local(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::{HttpSpec, MonitorKind, QuietRules};
    use crate::ComponentStatus;

    fn http_spec() -> MonitorSpec {
        MonitorSpec {
            id: MonitorId::new("api").expect("a valid id"),
            kind: MonitorKind::Http(HttpSpec::get("https://api.example.com/health")),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            failure_threshold: 1,
            success_threshold: 1,
            conditions: Vec::new(),
            degraded_conditions: Vec::new(),
            components: Vec::new(),
            on_failure: ComponentStatus::MajorOutage,
            depends_on: Vec::new(),
            quiet: QuietRules::default(),
            placement: crate::location::Placement::default(),
        }
    }

    #[test]
    fn the_verdict_keeps_the_phase_timings_and_omits_them_when_absent() {
        let timings = PhaseTimings {
            dns_ms: Some(3),
            connect_ms: Some(10),
            tls_ms: Some(25),
            first_byte_ms: Some(40),
        };
        let obs = Observation {
            connected: true,
            status: Some(200),
            timings: Some(timings),
            ..Observation::default()
        };
        let result = CheckResult::judge(&http_spec(), &obs, Utc::now());
        assert_eq!(result.timings, Some(timings));
        let json = serde_json::to_value(&result).expect("serializable");
        assert_eq!(json["timings"]["tls_ms"], 25);

        let plain = CheckResult::judge(&http_spec(), &Observation::default(), Utc::now());
        let json = serde_json::to_value(&plain).expect("serializable");
        assert!(json.get("timings").is_none(), "{json}");
        // Results stored before timings existed still read.
        let back: CheckResult = serde_json::from_value(json).expect("deserializable");
        assert_eq!(back.timings, None);
        assert!(PhaseTimings::default().is_empty());
        assert!(!timings.is_empty());
    }
}

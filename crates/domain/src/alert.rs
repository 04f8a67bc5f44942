//! Alerts from other monitoring systems, in their senders' own wire formats: Prometheus
//! Alertmanager's webhook (version 4), Grafana alerting's webhook, and PagerDuty's Events API
//! v2. Each is read into one [`Alert`] shape, keyed for deduplication by the sender's own
//! identity (Alertmanager and Grafana `fingerprint`, PagerDuty `dedup_key`), and routed to
//! components by its labels ([`AlertRouting`]).
//!
//! Parsing is tolerant the way senders need: unknown fields are accepted (Alertmanager adds
//! fields in minor releases), a firing alert's `endsAt` may be Go's zero time, timestamps may
//! carry any offset. What Pharos cannot work with is refused with the field named.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strum::IntoStaticStr;

use crate::{ComponentId, ComponentStatus};

/// Longest PagerDuty `dedup_key`, as PagerDuty allows.
pub const MAX_DEDUP_KEY_LEN: usize = 255;
/// Longest alert summary kept; longer ones are cut (PagerDuty's own limit is 1024).
pub const MAX_SUMMARY_LEN: usize = 1024;

/// Which system sent an alert.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AlertSource {
    /// Prometheus Alertmanager's webhook receiver.
    Alertmanager,
    /// Grafana alerting's webhook contact point.
    Grafana,
    /// PagerDuty's Events API v2.
    Pagerduty,
}

impl AlertSource {
    /// The wire name, e.g. `alertmanager`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// A name for people: "Alertmanager".
    pub fn label(self) -> &'static str {
        match self {
            Self::Alertmanager => "Alertmanager",
            Self::Grafana => "Grafana",
            Self::Pagerduty => "PagerDuty",
        }
    }
}

/// What the sender says happened to the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertAction {
    /// The alert is firing (PagerDuty `trigger`).
    Firing,
    /// A person acknowledged it at the sender (PagerDuty `acknowledge`).
    Acknowledged,
    /// It stopped firing (PagerDuty `resolve`).
    Resolved,
}

/// How bad the sender says the alert is: PagerDuty's scale, which Alertmanager and Grafana
/// rules usually carry in a `severity` label.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AlertSeverity {
    /// For information: recorded, never an outage.
    Info,
    /// Something is degrading.
    Warning,
    /// Something is failing.
    Error,
    /// Something is down.
    Critical,
}

impl AlertSeverity {
    /// Reads a severity label. Besides PagerDuty's four names it accepts what alerting rules
    /// commonly use: `page`/`fatal`/`emergency` (critical), `high`/`major` (error),
    /// `warn`/`minor`/`medium` (warning), `low`/`none`/`informational` (info).
    pub fn parse_label(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" | "crit" | "page" | "fatal" | "emergency" | "disaster" => {
                Some(Self::Critical)
            }
            "error" | "err" | "high" | "major" => Some(Self::Error),
            "warning" | "warn" | "minor" | "medium" | "average" => Some(Self::Warning),
            "info" | "informational" | "information" | "low" | "none" | "notice" => {
                Some(Self::Info)
            }
            _ => None,
        }
    }

    /// The wire form, e.g. `critical`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The component status a firing alert of this severity shows by default: critical →
    /// major outage, error → partial outage, warning → degraded performance, info → none.
    pub fn default_status(self) -> Option<ComponentStatus> {
        match self {
            Self::Critical => Some(ComponentStatus::MajorOutage),
            Self::Error => Some(ComponentStatus::PartialOutage),
            Self::Warning => Some(ComponentStatus::DegradedPerformance),
            Self::Info => None,
        }
    }
}

/// One alert, whatever sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Who sent it.
    pub source: AlertSource,
    /// Its identity for deduplication, prefixed by the source: `alertmanager:<fingerprint>`,
    /// `grafana:<fingerprint>`, `pagerduty:<dedup_key>`.
    pub key: String,
    /// What happened to it.
    pub action: AlertAction,
    /// One line: the `summary` annotation, Grafana's summary, PagerDuty's `payload.summary`,
    /// else the alert name.
    pub summary: String,
    /// How bad it is (from the `severity` label; `error` when absent).
    pub severity: AlertSeverity,
    /// Labels (PagerDuty: `source`, `component`, `group`, `class`, and string custom details).
    pub labels: BTreeMap<String, String>,
    /// When it started firing, if the sender said.
    pub starts_at: Option<DateTime<Utc>>,
    /// When it stopped firing, if it did and the sender said.
    pub ends_at: Option<DateTime<Utc>>,
    /// A link back to the sender (Alertmanager `generatorURL`, Grafana panel, PagerDuty
    /// `client_url`).
    pub url: Option<String>,
}

impl Alert {
    /// The alert's name for people: its `alertname` label, else its summary.
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or(&self.summary)
    }
}

/// Why a payload cannot be read as alerts: the field at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct AlertFormatError {
    /// The field at fault, as a path: `alerts[2].status`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> AlertFormatError {
    AlertFormatError {
        field: field.into(),
        message: message.into(),
    }
}

// ---- Alertmanager and Grafana ---------------------------------------------------------------

/// Alertmanager's webhook body (`version: "4"`), which Grafana's webhook contact point also
/// sends (as `version: "1"`, with a few fields of its own). Unknown fields are ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerWebhook {
    /// `"4"` from Alertmanager, `"1"` from Grafana.
    #[serde(default)]
    pub version: Option<String>,
    /// The group's key.
    #[serde(default)]
    pub group_key: Option<String>,
    /// `firing` or `resolved`, for the group.
    #[serde(default)]
    pub status: Option<String>,
    /// Labels every alert of the group shares.
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    /// Annotations every alert of the group shares.
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// Alertmanager's own URL.
    #[serde(default, rename = "externalURL")]
    pub external_url: Option<String>,
    /// The alerts.
    pub alerts: Vec<WebhookAlert>,
}

/// One alert in an Alertmanager or Grafana webhook body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Its labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Its annotations (`summary`, `description`, …).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// When it ended; Go's zero time (`0001-01-01T00:00:00Z`) while firing.
    #[serde(default)]
    pub ends_at: Option<String>,
    /// The rule's URL.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    /// Its identity: a hash of its labels.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Grafana: the panel's URL.
    #[serde(default, rename = "panelURL")]
    pub panel_url: Option<String>,
    /// Grafana: the dashboard's URL.
    #[serde(default, rename = "dashboardURL")]
    pub dashboard_url: Option<String>,
}

impl AlertmanagerWebhook {
    /// The alerts it carries, as `source` (Alertmanager or Grafana) sent them.
    pub fn into_alerts(self, source: AlertSource) -> Result<Vec<Alert>, AlertFormatError> {
        if let Some(v) = &self.version {
            let expected: &[&str] = match source {
                AlertSource::Grafana => &["1", "4"],
                _ => &["4"],
            };
            if !expected.contains(&v.as_str()) {
                return Err(bad(
                    "version",
                    format!(
                        "unsupported webhook version {v:?}; expected {}",
                        expected
                            .iter()
                            .map(|e| format!("{e:?}"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                ));
            }
        }
        let mut out = Vec::with_capacity(self.alerts.len());
        for (i, a) in self.alerts.into_iter().enumerate() {
            let field = |f: &str| format!("alerts[{i}].{f}");
            let action = match a.status.as_str() {
                "firing" => AlertAction::Firing,
                "resolved" => AlertAction::Resolved,
                other => {
                    return Err(bad(
                        field("status"),
                        format!("unknown status {other:?}; expected \"firing\" or \"resolved\""),
                    ))
                }
            };
            let mut labels = self.common_labels.clone();
            labels.extend(a.labels);
            if labels.is_empty() {
                return Err(bad(field("labels"), "an alert needs at least one label"));
            }
            let mut annotations = self.common_annotations.clone();
            annotations.extend(a.annotations);
            let starts_at = a
                .starts_at
                .as_deref()
                .map(|s| timestamp(&field("startsAt"), s))
                .transpose()?
                .flatten();
            let ends_at = a
                .ends_at
                .as_deref()
                .map(|s| timestamp(&field("endsAt"), s))
                .transpose()?
                .flatten();
            let fingerprint = match a.fingerprint.filter(|f| !f.trim().is_empty()) {
                Some(f) => f,
                None => label_fingerprint(&labels),
            };
            let severity = labels
                .get("severity")
                .and_then(|s| AlertSeverity::parse_label(s))
                .unwrap_or(AlertSeverity::Error);
            let summary = ["summary", "title", "message", "description"]
                .iter()
                .find_map(|k| annotations.get(*k).filter(|s| !s.trim().is_empty()))
                .or_else(|| labels.get("alertname"))
                .cloned()
                .unwrap_or_else(|| format!("{} alert {fingerprint}", source.label()));
            out.push(Alert {
                source,
                key: format!("{}:{fingerprint}", source.as_str()),
                action,
                summary: one_line(&summary),
                severity,
                labels,
                starts_at,
                ends_at: if action == AlertAction::Resolved {
                    ends_at
                } else {
                    None
                },
                url: [a.panel_url, a.dashboard_url, a.generator_url]
                    .into_iter()
                    .flatten()
                    .find(|u| !u.is_empty()),
            });
        }
        Ok(out)
    }
}

/// An RFC 3339 timestamp in UTC; `None` for Go's zero time, which Alertmanager sends as the
/// `endsAt` of a firing alert.
fn timestamp(field: &str, s: &str) -> Result<Option<DateTime<Utc>>, AlertFormatError> {
    let t = DateTime::parse_from_rfc3339(s)
        .map_err(|e| bad(field, format!("not an RFC 3339 timestamp ({e}): {s:?}")))?
        .with_timezone(&Utc);
    Ok((t.timestamp() > 0).then_some(t))
}

/// PagerDuty's timestamps: RFC 3339, or ISO 8601 with a `+0000` offset as in PagerDuty's own
/// examples (`2015-07-17T08:42:58.315+0000`).
pub fn parse_pagerduty_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A stable identity from labels, for senders that leave `fingerprint` out.
fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0xff]);
    }
    hex::encode(&h.finalize()[..8])
}

fn one_line(s: &str) -> String {
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(MAX_SUMMARY_LEN) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

// ---- PagerDuty ----------------------------------------------------------------------------

/// A PagerDuty Events API v2 event (`POST /v2/enqueue`). Unknown fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct PagerDutyEvent {
    /// The integration key; Pharos accepts an admin token here.
    #[serde(default)]
    pub routing_key: Option<String>,
    /// `trigger`, `acknowledge` or `resolve`.
    #[serde(default)]
    pub event_action: Option<String>,
    /// The alert's identity; generated for a trigger that has none.
    #[serde(default)]
    pub dedup_key: Option<String>,
    /// What happened (required for `trigger`).
    #[serde(default)]
    pub payload: Option<PagerDutyPayload>,
    /// A link back to the sender's UI.
    #[serde(default)]
    pub client_url: Option<String>,
}

/// The `payload` of a PagerDuty trigger.
#[derive(Debug, Clone, Deserialize)]
pub struct PagerDutyPayload {
    /// One line: what is wrong.
    #[serde(default)]
    pub summary: Option<String>,
    /// Where it happened (a host, a service).
    #[serde(default)]
    pub source: Option<String>,
    /// `critical`, `error`, `warning` or `info`.
    #[serde(default)]
    pub severity: Option<String>,
    /// When the sender saw it.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// The part of the source that is affected.
    #[serde(default)]
    pub component: Option<String>,
    /// A logical grouping of components.
    #[serde(default)]
    pub group: Option<String>,
    /// The class or type of the event.
    #[serde(default)]
    pub class: Option<String>,
    /// Anything else; string values become labels.
    #[serde(default)]
    pub custom_details: Option<serde_json::Value>,
}

impl PagerDutyEvent {
    /// The alert this event describes. `new_key` makes a dedup key for a trigger without one.
    /// Errors are worded like PagerDuty's own ("'payload.summary' is missing or blank").
    pub fn into_alert(self, new_key: impl FnOnce() -> String) -> Result<Alert, AlertFormatError> {
        let action = match self.event_action.as_deref() {
            Some("trigger") => AlertAction::Firing,
            Some("acknowledge") => AlertAction::Acknowledged,
            Some("resolve") => AlertAction::Resolved,
            Some(other) => {
                return Err(bad(
                    "event_action",
                    format!(
                        "unknown event_action {other:?}; expected trigger, acknowledge or resolve"
                    ),
                ))
            }
            None => return Err(bad("event_action", "'event_action' is missing or blank")),
        };
        let dedup_key = match self.dedup_key.filter(|k| !k.is_empty()) {
            Some(k) if k.chars().count() > MAX_DEDUP_KEY_LEN => {
                return Err(bad(
                    "dedup_key",
                    format!("'dedup_key' is longer than {MAX_DEDUP_KEY_LEN} characters"),
                ))
            }
            Some(k) => k,
            None if action == AlertAction::Firing => new_key(),
            None => {
                return Err(bad(
                    "dedup_key",
                    "'dedup_key' is required to acknowledge or resolve",
                ))
            }
        };
        let mut labels = BTreeMap::new();
        let mut summary = None;
        let mut severity = AlertSeverity::Error;
        let mut starts_at = None;
        match self.payload {
            Some(p) => {
                summary = p.summary.filter(|s| !s.trim().is_empty());
                if action == AlertAction::Firing {
                    if summary.is_none() {
                        return Err(bad(
                            "payload.summary",
                            "'payload.summary' is missing or blank",
                        ));
                    }
                    if p.source.as_deref().is_none_or(|s| s.trim().is_empty()) {
                        return Err(bad(
                            "payload.source",
                            "'payload.source' is missing or blank",
                        ));
                    }
                }
                if let Some(s) = &p.severity {
                    severity = match s.as_str() {
                        "critical" => AlertSeverity::Critical,
                        "error" => AlertSeverity::Error,
                        "warning" => AlertSeverity::Warning,
                        "info" => AlertSeverity::Info,
                        other => {
                            return Err(bad(
                                "payload.severity",
                                format!("unknown severity {other:?}; expected critical, error, warning or info"),
                            ))
                        }
                    };
                } else if action == AlertAction::Firing {
                    return Err(bad(
                        "payload.severity",
                        "'payload.severity' is missing or blank",
                    ));
                }
                starts_at = match p.timestamp.as_deref() {
                    None => None,
                    Some(t) => Some(parse_pagerduty_time(t).ok_or_else(|| {
                        bad(
                            "payload.timestamp",
                            format!("'payload.timestamp' {t:?} is not an ISO 8601 time like 2015-07-17T08:42:58.315+0000"),
                        )
                    })?),
                };
                if let Some(serde_json::Value::Object(details)) = p.custom_details {
                    for (k, v) in details {
                        match v {
                            serde_json::Value::String(s) => {
                                labels.insert(k, s);
                            }
                            serde_json::Value::Number(n) => {
                                labels.insert(k, n.to_string());
                            }
                            serde_json::Value::Bool(b) => {
                                labels.insert(k, b.to_string());
                            }
                            _ => {}
                        }
                    }
                }
                for (k, v) in [
                    ("source", p.source),
                    ("component", p.component),
                    ("group", p.group),
                    ("class", p.class),
                ] {
                    if let Some(v) = v.filter(|v| !v.is_empty()) {
                        labels.insert(k.to_owned(), v);
                    }
                }
                labels.insert("severity".to_owned(), severity.as_str().to_owned());
            }
            None if action == AlertAction::Firing => {
                return Err(bad("payload", "'payload' is missing"))
            }
            None => {}
        }
        Ok(Alert {
            source: AlertSource::Pagerduty,
            key: format!("pagerduty:{dedup_key}"),
            action,
            summary: one_line(summary.as_deref().unwrap_or(&dedup_key)),
            severity,
            labels,
            starts_at,
            ends_at: None,
            url: self.client_url.filter(|u| !u.is_empty()),
        })
    }
}

/// An alert as an incident remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedAlert {
    /// Who sent it.
    pub source: AlertSource,
    /// Its name (the `alertname` label, else its summary).
    pub name: String,
    /// Its latest summary.
    pub summary: String,
    /// Its severity.
    pub severity: AlertSeverity,
    /// The components it was routed to.
    pub components: Vec<ComponentId>,
    /// What those components show while it fires (`None`: recorded without an outage).
    pub status: Option<ComponentStatus>,
    /// Whether it is firing now.
    pub firing: bool,
    /// Whether a person acknowledged it at the sender.
    #[serde(default)]
    pub acknowledged: bool,
    /// When it started firing (the sender's time if it gave one, else when Pharos heard).
    pub first_seen_at: DateTime<Utc>,
    /// When Pharos last heard about it.
    pub last_seen_at: DateTime<Utc>,
    /// How many notifications about it arrived (repeats are deduplicated into this count).
    pub notifications: u32,
    /// A link back to the sender.
    #[serde(default)]
    pub url: Option<String>,
}

/// The dedup key of a PagerDuty alert key (`pagerduty:<dedup_key>` → `<dedup_key>`).
pub fn pagerduty_dedup_key(key: &str) -> &str {
    key.strip_prefix("pagerduty:").unwrap_or(key)
}

// ---- routing ------------------------------------------------------------------------------

/// How alerts find their components (`[alerts]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRouting {
    /// Explicit routes, tried in order; the first whose labels all match wins.
    pub routes: Vec<AlertRoute>,
    /// Label names whose value is taken as a component id when no route matches, tried in
    /// order (default `component`, `service`).
    pub component_labels: Vec<String>,
}

impl Default for AlertRouting {
    fn default() -> Self {
        Self {
            routes: Vec::new(),
            component_labels: vec!["component".to_owned(), "service".to_owned()],
        }
    }
}

/// One explicit route: alerts whose labels hold every `matchers` pair go to `components`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRoute {
    /// Label name → required value.
    pub matchers: BTreeMap<String, String>,
    /// Where matching alerts go.
    pub components: Vec<ComponentId>,
    /// The status the components show while it fires, instead of the severity's default.
    pub status: Option<ComponentStatus>,
}

/// Where an alert goes and what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// Its components; empty when nothing matched.
    pub components: Vec<ComponentId>,
    /// What its components show while it fires; `None` records it without an outage.
    pub status: Option<ComponentStatus>,
    /// Why it went there, for the answer and the logs: `route 1`, `label component=api`.
    pub reason: String,
}

impl AlertRouting {
    /// Routes `alert`: the first matching route, else the first component label naming a
    /// component `known` accepts.
    pub fn route(&self, alert: &Alert, known: impl Fn(&ComponentId) -> bool) -> Routed {
        for (i, r) in self.routes.iter().enumerate() {
            if r.matchers
                .iter()
                .all(|(k, v)| alert.labels.get(k) == Some(v))
            {
                return Routed {
                    components: r.components.clone(),
                    status: r.status.or_else(|| alert.severity.default_status()),
                    reason: format!("route {}", i + 1),
                };
            }
        }
        for name in &self.component_labels {
            let Some(value) = alert.labels.get(name) else {
                continue;
            };
            if let Ok(id) = ComponentId::new(value.trim().to_ascii_lowercase()) {
                if known(&id) {
                    return Routed {
                        reason: format!("label {name}={value}"),
                        components: vec![id],
                        status: alert.severity.default_status(),
                    };
                }
            }
        }
        Routed {
            components: Vec::new(),
            status: None,
            reason: "no route or component label matched".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real Alertmanager v0.27 webhook body (the shape of `notify/webhook/webhook.go`), with
    /// a field from a later release (`notification_reason`) that must be ignored.
    const ALERTMANAGER: &str = r#"{
      "receiver": "pharos",
      "status": "firing",
      "alerts": [
        {
          "status": "firing",
          "labels": {"alertname": "HighErrorRate", "component": "api", "severity": "critical", "instance": "api-1:9100"},
          "annotations": {"summary": "5xx rate above 5% for 5 minutes", "description": "api-1 is failing"},
          "startsAt": "2026-03-04T09:25:00.123+02:00",
          "endsAt": "0001-01-01T00:00:00Z",
          "generatorURL": "http://prometheus:9090/graph?g0.expr=rate",
          "fingerprint": "c6a2b5e4d3f10a9b"
        },
        {
          "status": "resolved",
          "labels": {"alertname": "DiskFull", "service": "db", "severity": "warning"},
          "annotations": {},
          "startsAt": "2026-03-04T08:00:00Z",
          "endsAt": "2026-03-04T09:00:00Z",
          "generatorURL": "",
          "fingerprint": "0b1c2d3e4f5a6b7c"
        }
      ],
      "groupLabels": {"alertname": "HighErrorRate"},
      "commonLabels": {"team": "core"},
      "commonAnnotations": {},
      "externalURL": "http://alertmanager:9093",
      "version": "4",
      "groupKey": "{}:{alertname=\"HighErrorRate\"}",
      "truncatedAlerts": 0,
      "notification_reason": "new_alerts"
    }"#;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn alertmanager_v4_reads_every_alert() {
        let hook: AlertmanagerWebhook = serde_json::from_str(ALERTMANAGER).unwrap();
        let alerts = hook.into_alerts(AlertSource::Alertmanager).unwrap();
        assert_eq!(alerts.len(), 2);
        let a = &alerts[0];
        assert_eq!(a.key, "alertmanager:c6a2b5e4d3f10a9b");
        assert_eq!(a.action, AlertAction::Firing);
        assert_eq!(a.severity, AlertSeverity::Critical);
        assert_eq!(a.summary, "5xx rate above 5% for 5 minutes");
        assert_eq!(a.name(), "HighErrorRate");
        assert_eq!(a.labels.get("team").map(String::as_str), Some("core"));
        assert_eq!(a.starts_at, Some(t("2026-03-04T07:25:00.123Z")));
        assert_eq!(a.ends_at, None, "Go's zero time is no end");
        let b = &alerts[1];
        assert_eq!(b.action, AlertAction::Resolved);
        assert_eq!(b.summary, "DiskFull", "no annotation: the alert name");
        assert_eq!(b.ends_at, Some(t("2026-03-04T09:00:00Z")));
        assert_eq!(b.url, None);
    }

    #[test]
    fn malformed_alerts_name_the_field() {
        let bad_status =
            ALERTMANAGER.replacen("\"status\": \"resolved\"", "\"status\": \"gone\"", 1);
        let hook: AlertmanagerWebhook = serde_json::from_str(&bad_status).unwrap();
        let e = hook.into_alerts(AlertSource::Alertmanager).unwrap_err();
        assert_eq!(e.field, "alerts[1].status");
        let bad_time = ALERTMANAGER.replace("2026-03-04T08:00:00Z", "yesterday");
        let hook: AlertmanagerWebhook = serde_json::from_str(&bad_time).unwrap();
        let e = hook.into_alerts(AlertSource::Alertmanager).unwrap_err();
        assert_eq!(e.field, "alerts[1].startsAt");
        let v3 = ALERTMANAGER.replace("\"version\": \"4\"", "\"version\": \"3\"");
        let hook: AlertmanagerWebhook = serde_json::from_str(&v3).unwrap();
        assert_eq!(
            hook.into_alerts(AlertSource::Alertmanager)
                .unwrap_err()
                .field,
            "version"
        );
    }

    #[test]
    fn missing_fingerprint_hashes_the_labels_stably() {
        let body = r#"{"alerts":[{"status":"firing","labels":{"b":"2","a":"1"}}]}"#;
        let one: AlertmanagerWebhook = serde_json::from_str(body).unwrap();
        let body2 = r#"{"alerts":[{"status":"firing","labels":{"a":"1","b":"2"}}]}"#;
        let two: AlertmanagerWebhook = serde_json::from_str(body2).unwrap();
        let k1 = &one.into_alerts(AlertSource::Grafana).unwrap()[0].key;
        let k2 = &two.into_alerts(AlertSource::Grafana).unwrap()[0].key;
        assert_eq!(k1, k2);
        assert!(k1.starts_with("grafana:"), "{k1}");
    }

    #[test]
    fn pagerduty_trigger_acknowledge_resolve() {
        let trigger: PagerDutyEvent = serde_json::from_str(
            r#"{"routing_key":"x","event_action":"trigger","dedup_key":"db-leak",
                "payload":{"summary":"Connections at 480 of 500","source":"booking-db","severity":"warning",
                           "timestamp":"2026-03-04T16:25:00.000+0000","component":"booking","custom_details":{"open":480,"pool":"booking","nested":{"x":1}}},
                "client":"Grafana","client_url":"https://grafana/d/1","images":[],"links":[]}"#,
        )
        .unwrap();
        let a = trigger.into_alert(|| unreachable!()).unwrap();
        assert_eq!(a.key, "pagerduty:db-leak");
        assert_eq!(pagerduty_dedup_key(&a.key), "db-leak");
        assert_eq!(a.severity, AlertSeverity::Warning);
        assert_eq!(
            a.labels.get("component").map(String::as_str),
            Some("booking")
        );
        assert_eq!(a.labels.get("open").map(String::as_str), Some("480"));
        assert!(!a.labels.contains_key("nested"));
        assert_eq!(a.starts_at, Some(t("2026-03-04T16:25:00Z")));

        let no_key: PagerDutyEvent = serde_json::from_str(
            r#"{"event_action":"trigger","payload":{"summary":"s","source":"h","severity":"critical"}}"#,
        )
        .unwrap();
        assert_eq!(
            no_key.into_alert(|| "generated".into()).unwrap().key,
            "pagerduty:generated"
        );

        let resolve: PagerDutyEvent =
            serde_json::from_str(r#"{"event_action":"resolve","dedup_key":"db-leak"}"#).unwrap();
        assert_eq!(
            resolve.into_alert(|| unreachable!()).unwrap().action,
            AlertAction::Resolved
        );
        for (body, field) in [
            (r#"{"event_action":"resolve"}"#, "dedup_key"),
            (
                r#"{"event_action":"explode","dedup_key":"k"}"#,
                "event_action",
            ),
            (r#"{"dedup_key":"k"}"#, "event_action"),
            (
                r#"{"event_action":"trigger","payload":{"source":"h","severity":"info"}}"#,
                "payload.summary",
            ),
            (
                r#"{"event_action":"trigger","payload":{"summary":"s","source":"h","severity":"bad"}}"#,
                "payload.severity",
            ),
            (r#"{"event_action":"trigger"}"#, "payload"),
        ] {
            let e: PagerDutyEvent = serde_json::from_str(body).unwrap();
            assert_eq!(
                e.into_alert(|| "k".into()).unwrap_err().field,
                field,
                "{body}"
            );
        }
    }

    #[test]
    fn routing_by_route_then_label() {
        let api = ComponentId::new("api").unwrap();
        let db = ComponentId::new("db").unwrap();
        let routing = AlertRouting {
            routes: vec![AlertRoute {
                matchers: BTreeMap::from([("team".into(), "payments".into())]),
                components: vec![db.clone()],
                status: Some(ComponentStatus::PartialOutage),
            }],
            ..AlertRouting::default()
        };
        let hook: AlertmanagerWebhook = serde_json::from_str(ALERTMANAGER).unwrap();
        let mut alerts = hook.into_alerts(AlertSource::Alertmanager).unwrap();
        let known = |c: &ComponentId| *c == api || *c == db;
        let r = routing.route(&alerts[0], known);
        assert_eq!(r.components, vec![api.clone()]);
        assert_eq!(r.status, Some(ComponentStatus::MajorOutage));
        assert_eq!(r.reason, "label component=api");
        let r = routing.route(&alerts[1], known);
        assert_eq!(r.components, vec![db.clone()], "second label: service");
        assert_eq!(r.status, Some(ComponentStatus::DegradedPerformance));
        alerts[0].labels.insert("team".into(), "payments".into());
        let r = routing.route(&alerts[0], known);
        assert_eq!(
            (r.components, r.status),
            (vec![db.clone()], Some(ComponentStatus::PartialOutage))
        );
        alerts[1].labels.insert("service".into(), "unknown".into());
        assert!(routing.route(&alerts[1], known).components.is_empty());
    }
}

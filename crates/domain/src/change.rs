//! Changes: deploys, configuration pushes and other changes to a component, recorded by the
//! pipeline that made them. Records are append-only: a correction is a new record that
//! supersedes the old one, and both stay visible, so a wrong deployment record can be put
//! right without hiding that it was once believed (seed 002).
//!
//! Beside the record itself this module holds the pure rules around it:
//! - [`NewChange::validate`]: a sender's request checked field by field, each refusal a
//!   [`RuleError`] naming its field;
//! - [`related_components`] and [`related_changes`]: which changes an incident lists, and why
//!   (the same component, or one its monitors depend on, with the path);
//! - [`window_stats`] and [`judge`]: the release-regression statistics comparing a component's
//!   checks before and after a change, and the [`Regression`] verdict stored beside it.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use strum::{EnumString, IntoStaticStr};

use crate::incident::rule_de_error;
use crate::request::RequestValue;
use crate::{ComponentId, MonitorId, RuleError};

/// The kinds of change Pharos records.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ChangeKind {
    /// A release of the component's software.
    Deploy,
    /// A configuration push.
    Config,
    /// A feature flag turned on or off.
    FeatureFlag,
    /// Machines, networks, providers.
    Infrastructure,
    /// A schema or data migration.
    Migration,
    /// A release taken back.
    Rollback,
    /// Anything else.
    Other,
}

impl ChangeKind {
    /// Every kind, in the order they are documented.
    pub const ALL: [ChangeKind; 7] = [
        Self::Deploy,
        Self::Config,
        Self::FeatureFlag,
        Self::Infrastructure,
        Self::Migration,
        Self::Rollback,
        Self::Other,
    ];

    /// The wire form, e.g. `"feature_flag"`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// A kind as a sender gives it (surrounding blanks ignored).
impl RequestValue for ChangeKind {
    fn from_request(s: &str) -> Result<Self, String> {
        let kind = s.trim();
        Self::parse(kind).ok_or_else(|| {
            let all: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown kind {kind:?}; expected one of {}", all.join(", "))
        })
    }
}

/// The component a change names, as a sender gives it: surrounding blanks ignored, then an
/// id's syntax (whether it is configured is checked by [`NewChange::validate`]).
pub fn parse_component(s: &str) -> Result<ComponentId, String> {
    ComponentId::new(s.trim()).map_err(|e| e.to_string())
}

/// Deserializes a change's `component` with [`parse_component`], a bad id being a broken rule
/// (`deserialize_with = "pharos_domain::change::component"`).
pub fn component<'de, D: Deserializer<'de>>(d: D) -> Result<ComponentId, D::Error> {
    let s = String::deserialize(d)?;
    parse_component(&s).map_err(rule_de_error)
}
/// Longest summary, as PagerDuty's change events allow.
pub const MAX_SUMMARY_LEN: usize = 1024;
/// Longest `version`, `commit`, `environment`, `author` or `external_id`.
pub const MAX_TEXT_LEN: usize = 255;
/// Longest `url`.
pub const MAX_URL_LEN: usize = 2048;
/// How far in the future a change may say it started or finished (clock skew between the
/// pipeline and Pharos).
pub const MAX_FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);
/// Every change id starts with this.
pub const ID_PREFIX: &str = "chg_";

/// One recorded change, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Pharos's id for the record, e.g. `chg_k3v9x0q2m7ab`.
    pub id: String,
    /// The component it changed.
    pub component: ComponentId,
    /// What kind of change: `deploy`, `config`, `feature_flag`, `infrastructure`,
    /// `migration`, `rollback` or `other`.
    pub kind: String,
    /// One line saying what changed.
    pub summary: String,
    /// The version released, e.g. `1.4.2`.
    pub version: Option<String>,
    /// The commit released.
    pub commit: Option<String>,
    /// Where it went, e.g. `production`.
    pub environment: Option<String>,
    /// Who made it.
    pub author: Option<String>,
    /// A link to the pipeline run, pull request or ticket.
    pub url: Option<String>,
    /// When the change started (UTC); the time it was recorded when the sender gave none.
    pub started_at: DateTime<Utc>,
    /// When it finished, if known.
    pub finished_at: Option<DateTime<Utc>>,
    /// The sender's own id for it (a pipeline run id, PagerDuty's dedup key…).
    pub external_id: Option<String>,
    /// The record this one corrects.
    pub supersedes: Option<String>,
    /// Where it came from: `api`, `pagerduty` or `cli`.
    pub source: String,
    /// When Pharos recorded it (UTC).
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it: the admin token's name.
    pub recorded_by: String,
}

impl Change {
    /// A short name for messages: the kind and the version (else the commit's first 12
    /// characters, else the id), e.g. `deploy 1.4.2`.
    pub fn label(&self) -> String {
        let what = self
            .version
            .clone()
            .or_else(|| self.commit.as_ref().map(|c| c.chars().take(12).collect()))
            .unwrap_or_else(|| self.id.clone());
        format!("{} {what}", self.kind.replace('_', " "))
    }
}

/// A stored change as read back: the record, the record that corrects it (if one does), and
/// the release-regression verdict derived from the checks around it (if one was made).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEntry {
    /// The record, exactly as it was recorded.
    #[serde(flatten)]
    pub change: Change,
    /// The id of the newer record that supersedes this one.
    pub superseded_by: Option<String>,
    /// What the checks before and after it say, once Pharos has looked.
    pub regression: Option<Regression>,
}

/// Whether `s` has the shape of a change id: `chg_` and 1-60 of `[a-z0-9]`.
pub fn is_change_id(s: &str) -> bool {
    s.strip_prefix(ID_PREFIX).is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 60
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// A change as a sender asks to record it: its component and kind parsed (by
/// [`parse_component`] and [`ChangeKind`]'s [`RequestValue`]), the rest checked by
/// [`NewChange::validate`]. Blank optional strings count as absent, so a pipeline variable
/// that is unset does not make the request fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// The component changed.
    pub component: ComponentId,
    /// What kind of change.
    pub kind: ChangeKind,
    /// One line, 1-1024 characters.
    pub summary: String,
    /// Version released.
    pub version: Option<String>,
    /// Commit released.
    pub commit: Option<String>,
    /// Target environment.
    pub environment: Option<String>,
    /// Who made it.
    pub author: Option<String>,
    /// `http(s)://` link.
    pub url: Option<String>,
    /// When it started (default: when it is recorded).
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// The sender's own id.
    pub external_id: Option<String>,
    /// The id of the record this one corrects.
    pub supersedes: Option<String>,
}

/// What a component id names, for [`NewChange::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentKind {
    /// A component on the page.
    Component,
    /// A group row: changes go to one of its components.
    Group,
    /// Nothing configured.
    Unknown,
}

/// Who records a change and when, for [`NewChange::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// The new record's id.
    pub id: String,
    /// `api`, `pagerduty` or `cli`.
    pub source: String,
    /// The admin token's name.
    pub recorded_by: String,
    /// Now.
    pub at: DateTime<Utc>,
}

impl NewChange {
    /// Checks every field and builds the record. `component_kind` says what a component id
    /// names in the configuration. Whether `supersedes` names a stored record that nobody
    /// has superseded yet is the store's to say.
    pub fn validate(
        self,
        recording: Recording,
        component_kind: impl Fn(&ComponentId) -> ComponentKind,
    ) -> Result<Change, RuleError> {
        let component = self.component;
        match component_kind(&component) {
            ComponentKind::Component => {}
            ComponentKind::Group => {
                return Err(RuleError::invalid(
                    "component",
                    format!("{component:?} is a group; name one of its components"),
                ))
            }
            ComponentKind::Unknown => {
                return Err(RuleError::invalid(
                    "component",
                    format!("unknown component {:?}", component.as_str()),
                ))
            }
        }
        let kind = self.kind.as_str().to_owned();
        let summary = self.summary.trim().to_owned();
        if summary.is_empty() {
            return Err(RuleError::invalid("summary", "must not be empty"));
        }
        if summary.contains('\0') {
            return Err(RuleError::invalid(
                "summary",
                "must not contain NUL characters",
            ));
        }
        if summary.chars().count() > MAX_SUMMARY_LEN {
            return Err(RuleError::invalid(
                "summary",
                format!("must be at most {MAX_SUMMARY_LEN} characters"),
            ));
        }
        let version = text("version", self.version)?;
        let commit = text("commit", self.commit)?;
        let environment = text("environment", self.environment)?;
        let author = text("author", self.author)?;
        let external_id = text("external_id", self.external_id)?;
        let url = match blank_is_none(self.url) {
            None => None,
            Some(u) => {
                if !crate::link::is_http_link(&u) {
                    return Err(RuleError::invalid(
                        "url",
                        "must be an http:// or https:// URL",
                    ));
                }
                if u.len() > MAX_URL_LEN {
                    return Err(RuleError::invalid(
                        "url",
                        format!("must be at most {MAX_URL_LEN} characters"),
                    ));
                }
                Some(u)
            }
        };
        let skew = chrono::Duration::from_std(MAX_FUTURE_SKEW).unwrap_or_default();
        let started_at = self.started_at.unwrap_or(recording.at);
        if started_at > recording.at + skew {
            return Err(RuleError::invalid(
                "started_at",
                "is in the future; record a change once it has started",
            ));
        }
        if let Some(f) = self.finished_at {
            if f < started_at {
                return Err(RuleError::invalid(
                    "finished_at",
                    "must not be before started_at",
                ));
            }
            if f > recording.at + skew {
                return Err(RuleError::invalid("finished_at", "is in the future"));
            }
        }
        let supersedes = match blank_is_none(self.supersedes) {
            None => None,
            Some(s) if is_change_id(&s) => Some(s),
            Some(s) => {
                return Err(RuleError::invalid(
                    "supersedes",
                    format!("{s:?} is not a change id (they look like chg_k3v9x0q2m7ab)"),
                ))
            }
        };
        Ok(Change {
            id: recording.id,
            component,
            kind,
            summary,
            version,
            commit,
            environment,
            author,
            url,
            started_at,
            finished_at: self.finished_at,
            external_id,
            supersedes,
            source: recording.source,
            recorded_at: recording.at,
            recorded_by: recording.recorded_by,
        })
    }
}

fn blank_is_none(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn text(field: &str, s: Option<String>) -> Result<Option<String>, RuleError> {
    match blank_is_none(s) {
        Some(s) if s.contains('\0') => {
            Err(RuleError::invalid(field, "must not contain NUL characters"))
        }
        Some(s) if s.chars().count() > MAX_TEXT_LEN => Err(RuleError::invalid(
            field,
            format!("must be at most {MAX_TEXT_LEN} characters"),
        )),
        other => Ok(other),
    }
}

// ---- related changes -------------------------------------------------------------------

/// One step of the path from an incident's component to a component it depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathStep {
    /// A component.
    Component(ComponentId),
    /// A monitor.
    Monitor(MonitorId),
}

/// Why a component's changes are listed for an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Relation {
    /// It is one of the incident's components.
    SameComponent,
    /// One of the incident's components is checked by a monitor that depends (directly or
    /// through others) on a monitor checking this component.
    Dependency {
        /// From the incident's component, through monitors, to this component, e.g.
        /// `api → api-health → db-port → database`.
        path: Vec<PathStep>,
    },
}

impl Relation {
    /// A sentence for people: "api's monitor api-health depends on db-port, which checks
    /// database".
    pub fn explain(&self) -> String {
        match self {
            Relation::SameComponent => "a change to the incident's component".to_owned(),
            Relation::Dependency { path } => {
                let mut out = String::new();
                let mut monitors = 0;
                for (i, step) in path.iter().enumerate() {
                    match step {
                        PathStep::Component(c) if i == 0 => out.push_str(c.as_str()),
                        PathStep::Component(c) => {
                            let _ = write!(out, ", which checks {c}");
                        }
                        PathStep::Monitor(m) if monitors == 0 => {
                            monitors += 1;
                            let _ = write!(out, "'s monitor {m}");
                        }
                        PathStep::Monitor(m) => {
                            monitors += 1;
                            let _ = write!(out, " depends on {m}");
                        }
                    }
                }
                out
            }
        }
    }
}

/// What [`related_components`] needs to know of one monitor.
#[derive(Debug, Clone, Copy)]
pub struct MonitorLinks<'a> {
    /// The monitor.
    pub id: &'a MonitorId,
    /// The components it drives.
    pub components: &'a [ComponentId],
    /// The monitors it depends on.
    pub depends_on: &'a [MonitorId],
}

/// The components whose changes matter to an incident on `incident_components`: those
/// components themselves, and every component driven by a monitor that one of their monitors
/// depends on, directly or through a chain of `depends_on` (the shortest path is kept).
pub fn related_components(
    incident_components: &[ComponentId],
    monitors: &[MonitorLinks<'_>],
) -> BTreeMap<ComponentId, Relation> {
    let mut out: BTreeMap<ComponentId, Relation> = incident_components
        .iter()
        .map(|c| (c.clone(), Relation::SameComponent))
        .collect();
    let by_id: BTreeMap<&MonitorId, &MonitorLinks<'_>> =
        monitors.iter().map(|m| (m.id, m)).collect();
    // Breadth first over monitors, so each component gets its shortest path.
    let mut queue: VecDeque<(&MonitorId, Vec<PathStep>)> = VecDeque::new();
    let mut seen: std::collections::BTreeSet<&MonitorId> = std::collections::BTreeSet::new();
    for c in incident_components {
        for m in monitors.iter().filter(|m| m.components.contains(c)) {
            for d in m.depends_on {
                let path = vec![
                    PathStep::Component(c.clone()),
                    PathStep::Monitor(m.id.clone()),
                    PathStep::Monitor(d.clone()),
                ];
                queue.push_back((d, path));
            }
        }
    }
    while let Some((id, path)) = queue.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        let Some(m) = by_id.get(id) else { continue };
        for c in m.components {
            if !out.contains_key(c) {
                let mut p = path.clone();
                p.push(PathStep::Component(c.clone()));
                out.insert(c.clone(), Relation::Dependency { path: p });
            }
        }
        for d in m.depends_on {
            let mut p = path.clone();
            p.push(PathStep::Monitor(d.clone()));
            queue.push_back((d, p));
        }
    }
    out
}

/// A change listed for an incident, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct RelatedChange {
    /// The change, its correction and its regression verdict.
    pub entry: ChangeEntry,
    /// Why it is listed.
    pub relation: Relation,
    /// Whether it started before the incident did (else during it).
    pub before_incident: bool,
}

/// The changes an incident lists: those to a related component (see [`related_components`])
/// that started between `from` (the incident's start minus the lookback) and `until` (its
/// resolution, or now), newest first. A superseded record stays listed, carrying its
/// `superseded_by`, so a corrected record is visibly corrected.
pub fn related_changes(
    entries: Vec<ChangeEntry>,
    related: &BTreeMap<ComponentId, Relation>,
    incident_started_at: DateTime<Utc>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<RelatedChange> {
    let mut out: Vec<RelatedChange> = entries
        .into_iter()
        .filter(|e| e.change.started_at >= from && e.change.started_at <= until)
        .filter_map(|entry| {
            let relation = related.get(&entry.change.component)?.clone();
            Some(RelatedChange {
                before_incident: entry.change.started_at <= incident_started_at,
                entry,
                relation,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |r: &RelatedChange| (r.entry.change.started_at, r.entry.change.recorded_at);
        key(b)
            .cmp(&key(a))
            .then_with(|| b.entry.change.id.cmp(&a.entry.change.id))
    });
    out
}

// ---- release regressions ---------------------------------------------------------------

/// When a change counts as a release regression (`[changes]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegressionRules {
    /// How long before and after a change its checks are compared.
    pub window: Duration,
    /// p95 latency after ÷ before at or over this is a regression…
    pub latency_ratio: f64,
    /// …when it is also at least this much slower (so 2 ms → 5 ms is no regression).
    pub min_latency_increase: Duration,
    /// Failure rate after − before at or over this (0.05 = 5 points) is a regression, when at
    /// least two checks failed after the change (one failed check is a blip).
    pub failure_rate_increase: f64,
    /// Fewer checks than this on either side: no verdict.
    pub min_samples: u32,
}

impl Default for RegressionRules {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            latency_ratio: 2.0,
            min_latency_increase: Duration::from_millis(100),
            failure_rate_increase: 0.05,
            min_samples: 10,
        }
    }
}

/// Latency and failures of the checks in one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowStats {
    /// How many checks.
    pub samples: u32,
    /// How many of them failed (were `down`).
    pub failures: u32,
    /// Median check duration, ms.
    pub p50_ms: u64,
    /// 95th percentile check duration, ms.
    pub p95_ms: u64,
}

impl WindowStats {
    /// Failed checks ÷ checks (0 when there were none).
    pub fn failure_rate(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            f64::from(self.failures) / f64::from(self.samples)
        }
    }
}

/// The nearest-rank percentile `p` (0–100) of `sorted` (ascending); 0 for no values.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    // Nearest rank: ceil(p/100 × n), at least 1. n is small (a window of checks), so the
    // float holds it exactly.
    let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
    sorted[rank.min(n) - 1]
}

/// The statistics of checks given as `(duration_ms, failed)`.
pub fn window_stats(checks: &[(u64, bool)]) -> WindowStats {
    let mut durations: Vec<u64> = checks.iter().map(|(d, _)| *d).collect();
    durations.sort_unstable();
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    WindowStats {
        samples: count(checks.len()),
        failures: count(checks.iter().filter(|(_, failed)| *failed).count()),
        p50_ms: percentile(&durations, 50.0),
        p95_ms: percentile(&durations, 95.0),
    }
}

/// What comparing two windows found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Judgement {
    /// Too few checks on one side to say anything.
    InsufficientData,
    /// No regression.
    Clear,
    /// A regression: latency, failures, or both.
    Regressed {
        /// p95 latency regressed.
        latency: bool,
        /// The failure rate regressed.
        failures: bool,
    },
}

/// Compares the checks after a change with those before it under `rules`.
pub fn judge(before: &WindowStats, after: &WindowStats, rules: &RegressionRules) -> Judgement {
    if before.samples < rules.min_samples || after.samples < rules.min_samples {
        return Judgement::InsufficientData;
    }
    let min_increase = u64::try_from(rules.min_latency_increase.as_millis()).unwrap_or(u64::MAX);
    let latency = after.p95_ms as f64 >= rules.latency_ratio * before.p95_ms as f64
        && after.p95_ms.saturating_sub(before.p95_ms) >= min_increase;
    let failures = after.failures >= 2
        && after.failure_rate() - before.failure_rate() >= rules.failure_rate_increase;
    if latency || failures {
        Judgement::Regressed { latency, failures }
    } else {
        Judgement::Clear
    }
}

/// Where Pharos is with a change's regression check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RegressionState {
    /// The window after the change has not passed yet.
    Watching,
    /// The checks after it are clearly worse: the change is suspect.
    Suspect,
    /// No regression.
    Clear,
    /// Too few checks (or no monitor) to judge.
    InsufficientData,
    /// Superseded before it was judged: its correction is judged instead.
    Superseded,
}

impl RegressionState {
    /// The wire form, e.g. `suspect`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the verdict is final (the check is over).
    pub fn is_final(self) -> bool {
        self != Self::Watching
    }
}

/// The release-regression verdict for one change: derived from the checks of the monitors that
/// drive its component, stored beside the change (never in it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    /// Where the check is.
    pub state: RegressionState,
    /// Whether the change is suspect.
    pub suspect: bool,
    /// One line for people, e.g. "p95 latency 3.1× higher since deploy 1.4.2 at 09:00 UTC".
    pub summary: String,
    /// The monitors whose checks were compared.
    pub monitors: Vec<MonitorId>,
    /// The window before the change, as first measured.
    pub before: Option<WindowStats>,
    /// The window after it.
    pub after: Option<WindowStats>,
    /// How long each window is.
    pub window_seconds: u64,
    /// When Pharos last looked.
    pub evaluated_at: DateTime<Utc>,
    /// When a later window showed no regression any more (suspect changes only).
    pub recovered_at: Option<DateTime<Utc>>,
}

/// One decimal, e.g. `3.1`.
fn one_decimal(x: f64) -> String {
    format!("{x:.1}")
}

/// A rate as a percentage, e.g. `40%`, `2.5%`.
fn percent(rate: f64) -> String {
    let p = rate * 100.0;
    if (p - p.round()).abs() < 0.05 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// The one-line summary of a judgement of `change`.
pub fn summarize(
    change: &Change,
    before: Option<&WindowStats>,
    after: Option<&WindowStats>,
    judgement: Judgement,
    rules: &RegressionRules,
) -> String {
    let since = format!(
        "{} at {} UTC",
        change.label(),
        change.started_at.format("%H:%M")
    );
    let (Some(b), Some(a)) = (before, after) else {
        return format!("no checks to compare around {since}");
    };
    match judgement {
        Judgement::InsufficientData => format!(
            "too few checks to judge {since}: {} before, {} after (at least {} each)",
            b.samples, a.samples, rules.min_samples
        ),
        Judgement::Clear => format!(
            "no regression after {since}: p95 {} ms (was {} ms), failure rate {} (was {})",
            a.p95_ms,
            b.p95_ms,
            percent(a.failure_rate()),
            percent(b.failure_rate())
        ),
        Judgement::Regressed { latency, failures } => {
            let mut parts = Vec::new();
            if latency {
                let ratio = if b.p95_ms == 0 {
                    a.p95_ms as f64
                } else {
                    a.p95_ms as f64 / b.p95_ms as f64
                };
                parts.push(format!(
                    "p95 latency {}× higher since {since} ({} ms, was {} ms)",
                    one_decimal(ratio),
                    a.p95_ms,
                    b.p95_ms
                ));
            }
            if failures {
                parts.push(format!(
                    "{} of checks failing since {since} (was {})",
                    percent(a.failure_rate()),
                    percent(b.failure_rate())
                ));
            }
            parts.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cid(s: &str) -> ComponentId {
        ComponentId::new(s).unwrap()
    }

    fn mid(s: &str) -> MonitorId {
        MonitorId::new(s).unwrap()
    }

    fn recording() -> Recording {
        Recording {
            id: "chg_abc123".into(),
            source: "api".into(),
            recorded_by: "ci".into(),
            at: t("2026-03-01T09:00:00Z"),
        }
    }

    fn kinds(c: &ComponentId) -> ComponentKind {
        match c.as_str() {
            "api" | "db" => ComponentKind::Component,
            "core" => ComponentKind::Group,
            _ => ComponentKind::Unknown,
        }
    }

    fn valid() -> NewChange {
        NewChange {
            component: cid("api"),
            kind: ChangeKind::Deploy,
            summary: "Deploy 1.4.2".into(),
            version: Some("1.4.2".into()),
            commit: None,
            environment: None,
            author: None,
            url: None,
            started_at: None,
            finished_at: None,
            external_id: None,
            supersedes: None,
        }
    }

    #[test]
    fn the_component_and_kind_are_parsed_as_a_sender_gives_them() {
        assert_eq!(parse_component(" api "), Ok(cid("api")));
        assert!(parse_component("Bad Id")
            .unwrap_err()
            .contains("may only contain"));
        assert_eq!(
            ChangeKind::from_request(" feature_flag"),
            Ok(ChangeKind::FeatureFlag)
        );
        assert_eq!(
            ChangeKind::from_request(" deploymnet "),
            Err("unknown kind \"deploymnet\"; expected one of deploy, config, feature_flag, infrastructure, migration, rollback, other".to_owned())
        );
        // Raised while deserializing, a bad one is a broken rule, not a type error.
        #[derive(Debug, Deserialize)]
        struct Body {
            #[serde(deserialize_with = "component")]
            #[allow(dead_code)]
            component: ComponentId,
        }
        let e = serde_json::from_str::<Body>(r#"{"component": "Bad Id"}"#).unwrap_err();
        let message = crate::incident::rule_message(&e.to_string()).map(str::to_owned);
        assert!(
            message.is_some_and(|m| m.contains("may only contain")),
            "{e}"
        );
    }

    #[test]
    fn a_valid_request_becomes_a_record() {
        let c = valid().validate(recording(), kinds).unwrap();
        assert_eq!(c.id, "chg_abc123");
        assert_eq!(c.component.as_str(), "api");
        assert_eq!(c.started_at, t("2026-03-01T09:00:00Z"));
        assert_eq!(c.recorded_by, "ci");
        assert_eq!(c.label(), "deploy 1.4.2");
        // Blank optional strings are absent, not errors.
        let c = NewChange {
            commit: Some("  ".into()),
            url: Some(String::new()),
            ..valid()
        }
        .validate(recording(), kinds)
        .unwrap();
        assert_eq!((c.commit, c.url), (None, None));
    }

    #[test]
    fn every_refusal_names_its_field() {
        let cases: Vec<(NewChange, &str, &str)> = vec![
            (
                NewChange {
                    component: cid("nope"),
                    ..valid()
                },
                "component",
                "unknown component",
            ),
            (
                NewChange {
                    component: cid("core"),
                    ..valid()
                },
                "component",
                "is a group",
            ),
            // A component that is no id, and an unknown kind, are refused where the request
            // is parsed: `the_component_and_kind_are_parsed_as_a_sender_gives_them`.
            (
                NewChange {
                    summary: " ".into(),
                    ..valid()
                },
                "summary",
                "must not be empty",
            ),
            (
                NewChange {
                    summary: "x".repeat(1025),
                    ..valid()
                },
                "summary",
                "at most 1024",
            ),
            (
                NewChange {
                    version: Some("v".repeat(256)),
                    ..valid()
                },
                "version",
                "at most 255",
            ),
            (
                NewChange {
                    url: Some("ftp://x".into()),
                    ..valid()
                },
                "url",
                "http://",
            ),
            (
                NewChange {
                    url: Some("https://".into()),
                    ..valid()
                },
                "url",
                "http://",
            ),
            (
                NewChange {
                    started_at: Some(t("2026-03-01T09:06:00Z")),
                    ..valid()
                },
                "started_at",
                "in the future",
            ),
            (
                NewChange {
                    started_at: Some(t("2026-03-01T08:00:00Z")),
                    finished_at: Some(t("2026-03-01T07:59:00Z")),
                    ..valid()
                },
                "finished_at",
                "before started_at",
            ),
            (
                NewChange {
                    supersedes: Some("k3v9".into()),
                    ..valid()
                },
                "supersedes",
                "not a change id",
            ),
        ];
        for (req, field, message) in cases {
            let e = req.clone().validate(recording(), kinds).unwrap_err();
            assert_eq!(e.field(), field, "{req:?}");
            assert!(e.to_string().contains(message), "{e} for {req:?}");
        }
        // Within the allowed clock skew is fine.
        assert!(NewChange {
            started_at: Some(t("2026-03-01T09:04:00Z")),
            ..valid()
        }
        .validate(recording(), kinds)
        .is_ok());
    }

    #[test]
    fn change_ids() {
        assert!(is_change_id("chg_k3v9x0q2m7ab"));
        assert!(!is_change_id("chg_"));
        assert!(!is_change_id("chg_ABC"));
        assert!(!is_change_id("k3v9x0q2m7ab"));
    }

    fn links<'a>(
        id: &'a MonitorId,
        components: &'a [ComponentId],
        depends_on: &'a [MonitorId],
    ) -> MonitorLinks<'a> {
        MonitorLinks {
            id,
            components,
            depends_on,
        }
    }

    #[test]
    fn related_components_follow_depends_on_transitively() {
        // api ← api-health → depends on db-port (drives db) → depends on net (drives network).
        let (api_health, db_port, net, web) =
            (mid("api-health"), mid("db-port"), mid("net"), mid("web"));
        let (api, db, network, site) = ([cid("api")], [cid("db")], [cid("network")], [cid("site")]);
        let d1 = [db_port.clone()];
        let d2 = [net.clone()];
        let monitors = [
            links(&api_health, &api, &d1),
            links(&db_port, &db, &d2),
            links(&net, &network, &[]),
            links(&web, &site, &[]),
        ];
        let related = related_components(&[cid("api")], &monitors);
        assert_eq!(related.len(), 3);
        assert_eq!(related[&cid("api")], Relation::SameComponent);
        let Relation::Dependency { path } = &related[&cid("db")] else {
            panic!()
        };
        assert_eq!(
            path,
            &vec![
                PathStep::Component(cid("api")),
                PathStep::Monitor(api_health.clone()),
                PathStep::Monitor(db_port.clone()),
                PathStep::Component(cid("db")),
            ]
        );
        assert_eq!(
            related[&cid("db")].explain(),
            "api's monitor api-health depends on db-port, which checks db"
        );
        let Relation::Dependency { path } = &related[&cid("network")] else {
            panic!()
        };
        assert_eq!(path.len(), 5);
        assert!(!related.contains_key(&cid("site")));
        // A component of the incident stays "same component" even when also a dependency.
        let both = related_components(&[cid("api"), cid("db")], &monitors);
        assert_eq!(both[&cid("db")], Relation::SameComponent);
        // JSON: the reason and the path, tagged.
        let json = serde_json::to_value(&related[&cid("db")]).unwrap();
        assert_eq!(json["reason"], "dependency");
        assert_eq!(json["path"][1]["monitor"], "api-health");
    }

    fn entry(id: &str, component: &str, started: &str) -> ChangeEntry {
        ChangeEntry {
            change: NewChange {
                component: cid(component),
                started_at: Some(t(started)),
                ..valid()
            }
            .validate(
                Recording {
                    id: id.into(),
                    ..recording()
                },
                kinds,
            )
            .unwrap(),
            superseded_by: None,
            regression: None,
        }
    }

    #[test]
    fn related_changes_are_in_the_window_newest_first() {
        let related = BTreeMap::from([(cid("api"), Relation::SameComponent)]);
        let entries = vec![
            entry("chg_old", "api", "2026-03-01T01:00:00Z"),
            entry("chg_a", "api", "2026-03-01T07:00:00Z"),
            entry("chg_b", "api", "2026-03-01T08:30:00Z"),
            entry("chg_during", "api", "2026-03-01T08:55:00Z"),
            entry("chg_other", "db", "2026-03-01T08:40:00Z"),
        ];
        let listed = related_changes(
            entries,
            &related,
            t("2026-03-01T08:50:00Z"),
            t("2026-03-01T02:50:00Z"),
            t("2026-03-01T09:00:00Z"),
        );
        let ids: Vec<&str> = listed.iter().map(|r| r.entry.change.id.as_str()).collect();
        assert_eq!(ids, ["chg_during", "chg_b", "chg_a"]);
        assert!(!listed[0].before_incident);
        assert!(listed[1].before_incident);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&v, 50.0), 10);
        assert_eq!(percentile(&v, 95.0), 19);
        assert_eq!(percentile(&v, 100.0), 20);
        assert_eq!(percentile(&[7], 95.0), 7);
        assert_eq!(percentile(&[], 95.0), 0);
    }

    fn stats(durations: &[u64], failures: usize) -> WindowStats {
        let checks: Vec<(u64, bool)> = durations
            .iter()
            .enumerate()
            .map(|(i, d)| (*d, i < failures))
            .collect();
        window_stats(&checks)
    }

    #[test]
    fn the_regression_table() {
        let rules = RegressionRules::default();
        let fast = [100u64; 20];
        let slow = [310u64; 20];
        let slightly = [150u64; 20];
        let tiny = [2u64; 20];
        let tiny_slow = [9u64; 20];
        let cases: Vec<(&str, WindowStats, WindowStats, Judgement)> = vec![
            ("same", stats(&fast, 0), stats(&fast, 0), Judgement::Clear),
            (
                "3.1x slower",
                stats(&fast, 0),
                stats(&slow, 0),
                Judgement::Regressed {
                    latency: true,
                    failures: false,
                },
            ),
            (
                "1.5x is under the ratio",
                stats(&fast, 0),
                stats(&slightly, 0),
                Judgement::Clear,
            ),
            (
                "4.5x but only 7 ms",
                stats(&tiny, 0),
                stats(&tiny_slow, 0),
                Judgement::Clear,
            ),
            (
                "failures 0% → 20%",
                stats(&fast, 0),
                stats(&fast, 4),
                Judgement::Regressed {
                    latency: false,
                    failures: true,
                },
            ),
            (
                "one failed check is a blip",
                stats(&fast, 0),
                stats(&fast, 1),
                Judgement::Clear,
            ),
            (
                "failing before too",
                stats(&fast, 4),
                stats(&fast, 5),
                Judgement::Clear,
            ),
            (
                "both",
                stats(&fast, 0),
                stats(&slow, 10),
                Judgement::Regressed {
                    latency: true,
                    failures: true,
                },
            ),
            (
                "too few before",
                stats(&fast[..9], 0),
                stats(&slow, 0),
                Judgement::InsufficientData,
            ),
            (
                "too few after",
                stats(&fast, 0),
                stats(&slow[..3], 0),
                Judgement::InsufficientData,
            ),
        ];
        for (name, before, after, want) in cases {
            assert_eq!(judge(&before, &after, &rules), want, "{name}");
        }
    }

    #[test]
    fn summaries_read_well() {
        let rules = RegressionRules::default();
        let change = entry("chg_abc", "api", "2026-03-01T09:00:00Z").change;
        let (b, a) = (stats(&[100; 20], 0), stats(&[310; 20], 0));
        let j = judge(&b, &a, &rules);
        assert_eq!(
            summarize(&change, Some(&b), Some(&a), j, &rules),
            "p95 latency 3.1× higher since deploy 1.4.2 at 09:00 UTC (310 ms, was 100 ms)"
        );
        let a = stats(&[100; 20], 8);
        let j = judge(&b, &a, &rules);
        assert_eq!(
            summarize(&change, Some(&b), Some(&a), j, &rules),
            "40% of checks failing since deploy 1.4.2 at 09:00 UTC (was 0%)"
        );
        let j = judge(&b, &b, &rules);
        assert_eq!(
            summarize(&change, Some(&b), Some(&b), j, &rules),
            "no regression after deploy 1.4.2 at 09:00 UTC: p95 100 ms (was 100 ms), failure rate 0% (was 0%)"
        );
        let few = stats(&[100; 3], 0);
        let j = judge(&b, &few, &rules);
        assert_eq!(
            summarize(&change, Some(&b), Some(&few), j, &rules),
            "too few checks to judge deploy 1.4.2 at 09:00 UTC: 20 before, 3 after (at least 10 each)"
        );
        assert_eq!(
            summarize(&change, None, None, Judgement::InsufficientData, &rules),
            "no checks to compare around deploy 1.4.2 at 09:00 UTC"
        );
    }

    #[test]
    fn an_entry_serializes_flat() {
        let mut e = entry("chg_abc", "api", "2026-03-01T09:00:00Z");
        e.superseded_by = Some("chg_def".into());
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["id"], "chg_abc");
        assert_eq!(json["superseded_by"], "chg_def");
        assert_eq!(serde_json::from_value::<ChangeEntry>(json).unwrap(), e);
    }
}

//! Incidents and scheduled maintenances: their statuses, impact and severity, public updates,
//! the private timeline, and the rules every change must obey. Pure: ids and `now` are passed
//! in, so the engine (which owns the live book of incidents) and its tests decide them.
//!
//! Statuses, impact and the impact rule are Statuspage's: an incident's impact is the worst
//! status among its affected components (major outage → critical, partial outage → major,
//! degraded performance → minor) unless a person overrides it.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr};

use crate::{ComponentId, ComponentStatus, Indicator, MonitorId};

mod transitions;
pub use transitions::{FlapEnd, MaintenanceStep, UpdateStep};

/// Longest incident or maintenance name, as on Statuspage.
pub const MAX_NAME_LEN: usize = 255;
/// Longest update body, as on Statuspage.
pub const MAX_BODY_LEN: usize = 25_000;

/// An incident's (or maintenance's) id: short, random, URL-safe, e.g. `k3v9x0q2m7ab`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(String);

impl IncidentId {
    /// Accepts `[a-z0-9]{1,32}`: the alphabet Pharos generates (and Statuspage uses).
    pub fn new(s: impl Into<String>) -> Option<Self> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        ok.then_some(Self(s))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An incident's status, exactly Statuspage's enum.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum IncidentStatus {
    /// Looking into it.
    Investigating,
    /// Cause found.
    Identified,
    /// Fix applied, watching.
    Monitoring,
    /// Over.
    Resolved,
    /// Over, with a postmortem published.
    Postmortem,
}

impl IncidentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [IncidentStatus; 5] = [
        Self::Investigating,
        Self::Identified,
        Self::Monitoring,
        Self::Resolved,
        Self::Postmortem,
    ];

    /// The wire form, e.g. `"investigating"`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// Whether the incident is still open (`incidents/unresolved.json`).
    pub fn is_unresolved(self) -> bool {
        matches!(
            self,
            Self::Investigating | Self::Identified | Self::Monitoring
        )
    }

    /// A human label: "Investigating".
    pub fn label(self) -> &'static str {
        match self {
            Self::Investigating => "Investigating",
            Self::Identified => "Identified",
            Self::Monitoring => "Monitoring",
            Self::Resolved => "Resolved",
            Self::Postmortem => "Postmortem",
        }
    }
}

/// A scheduled maintenance's status, exactly Statuspage's enum.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum MaintenanceStatus {
    /// Planned, not started.
    Scheduled,
    /// Under way.
    InProgress,
    /// Done, being checked.
    Verifying,
    /// Over.
    Completed,
}

impl MaintenanceStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [MaintenanceStatus; 4] = [
        Self::Scheduled,
        Self::InProgress,
        Self::Verifying,
        Self::Completed,
    ];

    /// The wire form, e.g. `"in_progress"`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// Whether the window is under way: its components show `under_maintenance`
    /// (`scheduled-maintenances/active.json`).
    pub fn is_active(self) -> bool {
        matches!(self, Self::InProgress | Self::Verifying)
    }

    /// Whether the window has not started yet (`scheduled-maintenances/upcoming.json`).
    pub fn is_upcoming(self) -> bool {
        self == Self::Scheduled
    }

    /// A human label: "In progress".
    pub fn label(self) -> &'static str {
        match self {
            Self::Scheduled => "Scheduled",
            Self::InProgress => "In progress",
            Self::Verifying => "Verifying",
            Self::Completed => "Completed",
        }
    }
}

/// An incident's impact, Statuspage's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// No visible impact.
    None,
    /// Some degradation.
    Minor,
    /// A partial outage.
    Major,
    /// A full outage.
    Critical,
}

impl Impact {
    /// Every impact, mildest first.
    pub const ALL: [Impact; 4] = [Self::None, Self::Minor, Self::Major, Self::Critical];

    /// The wire form, e.g. `"critical"`.
    pub fn as_str(self) -> &'static str {
        self.indicator().as_str()
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == s)
    }

    /// Statuspage's rule for one component: major outage → critical, partial outage → major,
    /// degraded performance → minor, anything else → none.
    pub fn of_component(status: ComponentStatus) -> Impact {
        match status {
            ComponentStatus::MajorOutage => Self::Critical,
            ComponentStatus::PartialOutage => Self::Major,
            ComponentStatus::DegradedPerformance => Self::Minor,
            ComponentStatus::Operational | ComponentStatus::UnderMaintenance => Self::None,
        }
    }

    /// The same value on the page-indicator scale.
    pub fn indicator(self) -> Indicator {
        match self {
            Self::None => Indicator::None,
            Self::Minor => Indicator::Minor,
            Self::Major => Indicator::Major,
            Self::Critical => Indicator::Critical,
        }
    }

    /// Words for generated messages: "major outage", "partial outage", "degradation".
    pub fn outage_words(status: ComponentStatus) -> &'static str {
        match status {
            ComponentStatus::MajorOutage => "major outage",
            ComponentStatus::PartialOutage => "partial outage",
            ComponentStatus::DegradedPerformance => "degradation",
            ComponentStatus::Operational | ComponentStatus::UnderMaintenance => "problem",
        }
    }
}

/// An incident's severity for responders, `S1` (worst) to `S4`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
)]
#[strum(ascii_case_insensitive)]
pub enum Severity {
    /// Critical: customer-facing outage, all hands.
    S1,
    /// Major: significant degradation.
    S2,
    /// Minor: limited impact.
    S3,
    /// Low: cosmetic or internal.
    S4,
}

impl Severity {
    /// Every severity, worst first.
    pub const ALL: [Severity; 4] = [Self::S1, Self::S2, Self::S3, Self::S4];

    /// The wire form, e.g. `"S2"`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the wire form (`S1`..`S4`, case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// Who made a change: Pharos itself, or a person through the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum Actor {
    /// Pharos's automation (checks, the maintenance clock).
    Automation,
    /// A person, named by the admin token's label.
    Person(String),
}

impl Actor {
    /// Whether a person made the change.
    pub fn is_person(&self) -> bool {
        matches!(self, Self::Person(_))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Automation => f.write_str("pharos"),
            Self::Person(name) => f.write_str(name),
        }
    }
}

/// One component's status change made by an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedChange {
    /// Which component.
    pub component_id: ComponentId,
    /// Status before the update.
    pub old_status: ComponentStatus,
    /// Status after it.
    pub new_status: ComponentStatus,
}

/// A public update of an incident (`S` = [`IncidentStatus`]) or maintenance
/// (`S` = [`MaintenanceStatus`]): what the page and subscribers see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicUpdate<S> {
    /// Update id.
    pub id: IncidentId,
    /// Status as of this update.
    pub status: S,
    /// Markdown body.
    pub body: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Who wrote it.
    pub actor: Actor,
    /// Component transitions it made.
    pub affected: Vec<AffectedChange>,
}

/// What one timeline entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineKind {
    /// The incident was opened (by a check or a person).
    Opened {
        /// Its name at opening.
        name: String,
    },
    /// A public update was posted.
    PublicUpdate {
        /// The update's id.
        update_id: IncidentId,
        /// Status it set.
        status: String,
        /// Its body.
        body: String,
    },
    /// A private note for responders only.
    Note {
        /// The note.
        body: String,
    },
    /// The incident became public.
    Published,
    /// A monitor was confirmed down.
    MonitorDown {
        /// Which monitor.
        monitor_id: MonitorId,
        /// Why its checks failed.
        error: String,
        /// When its first failing check of the streak started.
        first_failure_at: DateTime<Utc>,
    },
    /// A monitor recovered.
    MonitorUp {
        /// Which monitor.
        monitor_id: MonitorId,
    },
    /// A monitor failed during maintenance; recorded, no incident opened.
    MonitorDownInMaintenance {
        /// Which monitor.
        monitor_id: MonitorId,
        /// Why its checks failed.
        error: String,
    },
    /// A component's status changed while the incident was open.
    ComponentStatus {
        /// Which component.
        component_id: ComponentId,
        /// Before.
        from: ComponentStatus,
        /// After.
        to: ComponentStatus,
    },
    /// The status changed (for maintenances, and automation without a public message).
    StatusChanged {
        /// Before.
        from: String,
        /// After.
        to: String,
    },
    /// The severity changed.
    SeverityChanged {
        /// Before (`None` when unset).
        from: Option<Severity>,
        /// After.
        to: Option<Severity>,
    },
    /// The impact override changed.
    ImpactChanged {
        /// Before.
        from: Impact,
        /// After.
        to: Impact,
    },
    /// The name changed.
    Renamed {
        /// Before.
        from: String,
        /// After.
        to: String,
    },
    /// An alert from another system fired and joined the incident.
    AlertFiring {
        /// Its dedup key, e.g. `alertmanager:c6a2b5e4d3f10a9b`.
        key: String,
        /// Who sent it.
        source: crate::alert::AlertSource,
        /// Its name (the `alertname` label, else its summary).
        name: String,
        /// Its summary.
        summary: String,
        /// Its severity.
        severity: crate::alert::AlertSeverity,
    },
    /// A person acknowledged an alert at its sender.
    AlertAcknowledged {
        /// Its dedup key.
        key: String,
    },
    /// An alert stopped firing.
    AlertResolved {
        /// Its dedup key.
        key: String,
    },
    /// A responder acknowledged the incident (the first time; later ones are not recorded).
    Acknowledged,
    /// A role was assigned (or cleared, with `person: None`).
    RoleAssigned {
        /// The role, e.g. `commander`.
        role: String,
        /// Who holds it now.
        person: Option<String>,
    },
}

/// One entry of an incident's timeline: every event, in order of when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Entry id.
    pub id: IncidentId,
    /// The incident or maintenance it belongs to.
    pub incident_id: IncidentId,
    /// When it happened (UTC).
    pub occurred_at: DateTime<Utc>,
    /// When Pharos recorded it (UTC).
    pub recorded_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: Actor,
    /// What happened.
    #[serde(flatten)]
    pub kind: TimelineKind,
}

impl TimelineEntry {
    /// The storage name of the entry's kind, e.g. `monitor_down`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            TimelineKind::Opened { .. } => "opened",
            TimelineKind::PublicUpdate { .. } => "public_update",
            TimelineKind::Note { .. } => "note",
            TimelineKind::Published => "published",
            TimelineKind::MonitorDown { .. } => "monitor_down",
            TimelineKind::MonitorUp { .. } => "monitor_up",
            TimelineKind::MonitorDownInMaintenance { .. } => "monitor_down_in_maintenance",
            TimelineKind::ComponentStatus { .. } => "component_status",
            TimelineKind::StatusChanged { .. } => "status_changed",
            TimelineKind::SeverityChanged { .. } => "severity_changed",
            TimelineKind::ImpactChanged { .. } => "impact_changed",
            TimelineKind::Renamed { .. } => "renamed",
            TimelineKind::Acknowledged => "acknowledged",
            TimelineKind::RoleAssigned { .. } => "role_assigned",
            TimelineKind::AlertFiring { .. } => "alert_firing",
            TimelineKind::AlertAcknowledged { .. } => "alert_acknowledged",
            TimelineKind::AlertResolved { .. } => "alert_resolved",
        }
    }
}

/// An incident: the live record the page, the API and the automation share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Id.
    pub id: IncidentId,
    /// Title.
    pub name: String,
    /// Current status.
    pub status: IncidentStatus,
    /// A person's impact, replacing the computed one.
    pub impact_override: Option<Impact>,
    /// The worst impact its components have reached (Statuspage's computed impact).
    pub computed_impact: Impact,
    /// Severity for responders.
    pub severity: Option<Severity>,
    /// Affected components and the status the incident last saw for each.
    pub components: BTreeMap<ComponentId, ComponentStatus>,
    /// Component statuses people asked for while the incident is private: held back from
    /// the public page (and from subscribers) until it is published, when they take effect.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending_components: BTreeMap<ComponentId, ComponentStatus>,
    /// Monitors that joined it, and whether each is currently down.
    pub monitors: BTreeMap<MonitorId, bool>,
    /// Whether it is on the public page.
    pub public: bool,
    /// Whether automation opened it.
    pub automated: bool,
    /// Set once a person posted an update or changed its status: from then on automation
    /// records events in the timeline but never changes status or posts messages.
    pub human_owned: bool,
    /// Roles and who holds them, e.g. `commander → alice`.
    pub roles: BTreeMap<String, String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When the trouble started (the first failing check, for automated incidents).
    pub started_at: DateTime<Utc>,
    /// When it last entered `monitoring`.
    pub monitoring_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When the first failing check that opened it started.
    pub first_failure_at: Option<DateTime<Utc>>,
    /// When it first appeared on the public page.
    pub published_at: Option<DateTime<Utc>>,
    /// Since when every joined monitor has been healthy (for auto-resolve).
    pub healthy_since: Option<DateTime<Utc>>,
    /// Public updates, oldest first.
    pub updates: Vec<PublicUpdate<IncidentStatus>>,
    /// Alerts from other systems that joined it, by their dedup key.
    #[serde(default)]
    pub alerts: BTreeMap<String, crate::alert::AttachedAlert>,
    /// Who first said they are on it, and when (SPEC §10's acknowledgement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledgement>,
}

/// A responder saying "I am on it": who, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The person's name, as the timeline records them.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl Incident {
    /// Whether every monitor and alert that joined it is healthy again.
    pub fn all_clear(&self) -> bool {
        self.monitors.values().all(|down| !down) && self.alerts.values().all(|a| !a.firing)
    }

    /// The impact shown: the override if set, else the computed one.
    pub fn impact(&self) -> Impact {
        self.impact_override.unwrap_or(self.computed_impact)
    }

    /// From first failing check to public page, for incidents automation opened and published.
    pub fn time_to_publish(&self) -> Option<chrono::Duration> {
        Some(self.published_at? - self.first_failure_at?)
    }

    /// From the start of the trouble to the incident being declared (never negative: a person
    /// may declare an incident with a start time after the declaration).
    pub fn time_to_detect(&self) -> chrono::Duration {
        (self.created_at - self.started_at).max(chrono::Duration::zero())
    }

    /// From the start of the trouble to the public page, for any published incident.
    pub fn time_to_public(&self) -> Option<chrono::Duration> {
        Some((self.published_at? - self.started_at).max(chrono::Duration::zero()))
    }

    /// From the start of the trouble to resolution, once resolved.
    pub fn time_to_resolve(&self) -> Option<chrono::Duration> {
        Some((self.resolved_at? - self.started_at).max(chrono::Duration::zero()))
    }

    /// Whether a monitor confirmed down on `components` belongs to this incident: it is open
    /// and already holds the monitor or one of the components.
    pub fn covers_failure(&self, monitor: &MonitorId, components: &[ComponentId]) -> bool {
        self.status.is_unresolved()
            && (self.monitors.contains_key(monitor)
                || components.iter().any(|c| self.components.contains_key(c)))
    }

    /// Whether a failure confirmed at `now` on other components joins this incident anyway,
    /// because failures that begin together belong together: it is open, automation opened it,
    /// it is not yet back to `monitoring`, and it opened at most `window` before (a zero
    /// window never groups).
    pub fn groups_failure_at(&self, now: DateTime<Utc>, window: std::time::Duration) -> bool {
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        self.automated
            && matches!(
                self.status,
                IncidentStatus::Investigating | IncidentStatus::Identified
            )
            && window > chrono::Duration::zero()
            && now >= self.created_at
            && now - self.created_at <= window
    }

    /// Records `status` for `component` and raises the computed impact if it is worse.
    pub fn note_component(&mut self, component: ComponentId, status: ComponentStatus) {
        self.computed_impact = self.computed_impact.max(Impact::of_component(status));
        self.components.insert(component, status);
    }
}

/// A scheduled maintenance window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Maintenance {
    /// Id.
    pub id: IncidentId,
    /// The `[[maintenances]]` id it came from, when it was declared in the configuration.
    pub config_id: Option<String>,
    /// Title.
    pub name: String,
    /// Current status.
    pub status: MaintenanceStatus,
    /// Components under maintenance while it is active.
    pub components: Vec<ComponentId>,
    /// Start of the window.
    pub scheduled_for: DateTime<Utc>,
    /// End of the window.
    pub scheduled_until: DateTime<Utc>,
    /// Move to `in_progress` at `scheduled_for` by itself.
    pub auto_start: bool,
    /// Move to `completed` at `scheduled_until` by itself.
    pub auto_complete: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it started, if it did.
    pub started_at: Option<DateTime<Utc>>,
    /// When it completed, if it did.
    pub completed_at: Option<DateTime<Utc>>,
    /// Public updates, oldest first.
    pub updates: Vec<PublicUpdate<MaintenanceStatus>>,
}

/// Why a requested change was refused. Each names the field at fault, for a 422 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// A field's value is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The request field at fault, e.g. `status` or `components.api`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl RuleError {
    /// A refusal naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The field at fault.
    pub fn field(&self) -> &str {
        match self {
            Self::Invalid { field, .. } => field,
        }
    }

    /// What is wrong, without the field.
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid { message, .. } => message,
        }
    }
}

// ---- rules broken while a request body is deserialized ----------------------------------
//
// A request body is deserialized straight into domain values (see `crate::request`), so a
// value that breaks a rule (`"severity": "S9"`) is found by serde. Every serde error looks
// alike to the caller (serde_json calls them all `Category::Data`), yet a broken rule must
// answer 422 like any other `RuleError`, while a wrong type or an unknown key is a 400. These
// two functions are the whole bridge: `rule_de_error` wraps the rule's message between two
// private markers, and `rule_message` finds it again at the start of the error's text
// (whatever the deserializer adds after it, such as serde_json's " at line 1 column 20") and
// returns it without them. The field is not carried: the deserializer's path names it.

/// Wraps a refused value's message; never shown to anyone.
const RULE_MARK: &str = "\u{1}rule\u{1}";

/// A serde error saying a value breaks a rule (`message` says how): raise it from a
/// `Deserialize` impl, and [`rule_message`] tells it apart from a type error.
pub fn rule_de_error<E: serde::de::Error>(message: impl fmt::Display) -> E {
    E::custom(format_args!("{RULE_MARK}{message}{RULE_MARK}"))
}

/// The message of a rule a deserializer refused with [`rule_de_error`], found in the text of
/// its error (`err.to_string()`); `None` for any other error (a wrong type, a missing or
/// unknown key, malformed input).
pub fn rule_message(error_text: &str) -> Option<&str> {
    // Only at the start: a client's own text quoted in an error (an unknown key) never counts.
    let (message, _) = error_text.strip_prefix(RULE_MARK)?.split_once(RULE_MARK)?;
    Some(message)
}

/// Checks an incident or maintenance name.
pub fn check_name(field: &str, name: &str) -> Result<(), RuleError> {
    if name.trim().is_empty() {
        return Err(RuleError::invalid(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(RuleError::invalid(
            field,
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(())
}

/// Checks an update body.
pub fn check_body(field: &str, body: &str) -> Result<(), RuleError> {
    if body.chars().count() > MAX_BODY_LEN {
        return Err(RuleError::invalid(
            field,
            format!("must be at most {MAX_BODY_LEN} characters"),
        ));
    }
    Ok(())
}

/// Parses an incident status a person asked for. `postmortem` is refused: it is set by
/// publishing a postmortem, never by hand. A maintenance status gets its own message.
pub fn parse_incident_status(field: &str, s: &str) -> Result<IncidentStatus, RuleError> {
    match IncidentStatus::parse(s) {
        Some(st) => check_requested_status(field, st).map(|()| st),
        None if MaintenanceStatus::parse(s).is_some() => Err(RuleError::invalid(
            field,
            format!("{s:?} is a maintenance status; an incident is investigating, identified, monitoring or resolved"),
        )),
        None => Err(RuleError::invalid(
            field,
            format!("unknown status {s:?}; expected investigating, identified, monitoring or resolved"),
        )),
    }
}

/// Checks an incident status a person asks for: `postmortem` is set by publishing a
/// postmortem, never by hand.
pub fn check_requested_status(field: &str, status: IncidentStatus) -> Result<(), RuleError> {
    if status == IncidentStatus::Postmortem {
        return Err(RuleError::invalid(
            field,
            "\"postmortem\" is set by publishing a postmortem, not by an update",
        ));
    }
    Ok(())
}

/// Parses an impact a person asked for.
pub fn parse_impact(field: &str, s: &str) -> Result<Impact, RuleError> {
    Impact::parse(s).ok_or_else(|| {
        RuleError::invalid(
            field,
            format!("unknown impact {s:?}; expected none, minor, major or critical"),
        )
    })
}

/// Parses a severity a person asked for (`S1`..`S4`, case-insensitive).
pub fn parse_severity(field: &str, s: &str) -> Result<Severity, RuleError> {
    Severity::parse(s).ok_or_else(|| {
        RuleError::invalid(
            field,
            format!("unknown severity {s:?}; expected S1, S2, S3 or S4"),
        )
    })
}

/// Parses a component status a person asked for.
pub fn parse_component_status(field: &str, s: &str) -> Result<ComponentStatus, RuleError> {
    ComponentStatus::parse(s).ok_or_else(|| {
        RuleError::invalid(
            field,
            format!("unknown component status {s:?}; expected operational, degraded_performance, partial_outage, major_outage or under_maintenance"),
        )
    })
}

/// Parses a maintenance status a person asked for, refusing incident statuses by name.
pub fn parse_maintenance_status(field: &str, s: &str) -> Result<MaintenanceStatus, RuleError> {
    match MaintenanceStatus::parse(s) {
        Some(st) => Ok(st),
        None if IncidentStatus::parse(s).is_some() => Err(RuleError::invalid(
            field,
            format!("{s:?} is an incident status; a maintenance is scheduled, in_progress, verifying or completed"),
        )),
        None => Err(RuleError::invalid(
            field,
            format!("unknown status {s:?}; expected scheduled, in_progress, verifying or completed"),
        )),
    }
}

/// Checks a maintenance status change: a window moves forward only
/// (`scheduled → in_progress → verifying → completed`, steps may be skipped), and a completed
/// one is closed for good.
pub fn check_maintenance_transition(
    from: MaintenanceStatus,
    to: MaintenanceStatus,
) -> Result<(), RuleError> {
    let rank = |s: MaintenanceStatus| MaintenanceStatus::ALL.iter().position(|x| *x == s);
    if from == MaintenanceStatus::Completed && to != MaintenanceStatus::Completed {
        return Err(RuleError::invalid(
            "status",
            "the maintenance is completed and cannot be reopened",
        ));
    }
    if rank(to) < rank(from) {
        return Err(RuleError::invalid(
            "status",
            format!(
                "a maintenance cannot go back from {} to {}",
                from.as_str(),
                to.as_str()
            ),
        ));
    }
    Ok(())
}

/// Checks a maintenance window: it must end after it starts.
pub fn check_window(
    scheduled_for: DateTime<Utc>,
    scheduled_until: DateTime<Utc>,
) -> Result<(), RuleError> {
    if scheduled_until <= scheduled_for {
        return Err(RuleError::invalid(
            "scheduled_until",
            "must be after scheduled_for",
        ));
    }
    Ok(())
}

/// The status a maintenance should have at `now` by its own clock, if it should move.
pub fn maintenance_due(m: &Maintenance, now: DateTime<Utc>) -> Option<MaintenanceStatus> {
    match m.status {
        MaintenanceStatus::Scheduled if m.auto_complete && now >= m.scheduled_until => {
            // Pharos was down through the whole window: close it rather than start it late.
            Some(MaintenanceStatus::Completed)
        }
        MaintenanceStatus::Scheduled if m.auto_start && now >= m.scheduled_for => {
            Some(MaintenanceStatus::InProgress)
        }
        MaintenanceStatus::InProgress | MaintenanceStatus::Verifying
            if m.auto_complete && now >= m.scheduled_until =>
        {
            Some(MaintenanceStatus::Completed)
        }
        _ => None,
    }
}

/// The generated public message for an incident automation opens, e.g. "We are
/// investigating a major outage of API: 3 consecutive checks failed: connection refused".
pub fn opening_message(
    status: ComponentStatus,
    component_names: &[&str],
    failures: u32,
    error: &str,
) -> String {
    let what = Impact::outage_words(status);
    let names = join_names(component_names);
    let checks = if failures == 1 {
        "1 check failed".to_owned()
    } else {
        format!("{failures} consecutive checks failed")
    };
    if error.is_empty() {
        format!("We are investigating a {what} of {names}: {checks}.")
    } else {
        format!("We are investigating a {what} of {names}: {checks}: {error}")
    }
}

/// The first update of an incident automation opens for a monitor checked from several
/// locations: "We are investigating a partial outage of App: failing from Europe (France);
/// US East and Local see it up. Europe (France): connection refused"; `where_words` is
/// [`crate::location::Verdict::where_words`], `error` the last failure with its location.
pub fn regional_message(
    status: ComponentStatus,
    component_names: &[&str],
    where_words: &str,
    error: &str,
) -> String {
    let what = Impact::outage_words(status);
    let names = join_names(component_names);
    if error.is_empty() {
        format!("We are investigating a {what} of {names}: {where_words}.")
    } else {
        format!("We are investigating a {what} of {names}: {where_words}. {error}")
    }
}

/// The generated title for an incident automation opens: "Major outage of API".
pub fn opening_name(status: ComponentStatus, component_names: &[&str]) -> String {
    let what = Impact::outage_words(status);
    let mut title = format!("{what} of {}", join_names(component_names));
    if let Some(first) = title.get(..1) {
        title = first.to_uppercase() + &title[1..];
    }
    title
}

/// "A", "A and B", "A, B and C".
pub fn join_names(names: &[&str]) -> String {
    match names {
        [] => "the service".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn impact_follows_statuspage_rules() {
        use ComponentStatus::*;
        assert_eq!(Impact::of_component(MajorOutage), Impact::Critical);
        assert_eq!(Impact::of_component(PartialOutage), Impact::Major);
        assert_eq!(Impact::of_component(DegradedPerformance), Impact::Minor);
        assert_eq!(Impact::of_component(Operational), Impact::None);
        assert_eq!(Impact::of_component(UnderMaintenance), Impact::None);
    }

    #[derive(Debug, serde::Deserialize)]
    struct Rated(#[allow(dead_code)] u8);

    #[derive(Debug)]
    struct Checked;

    impl<'de> serde::Deserialize<'de> for Checked {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let n = u8::deserialize(d)?;
            if n > 5 {
                return Err(rule_de_error(format!("{n} is more than 5")));
            }
            Ok(Checked)
        }
    }

    #[test]
    fn a_rule_broken_while_deserializing_is_told_from_a_type_error() {
        let e = serde_json::from_str::<Checked>("7").unwrap_err();
        let text = e.to_string();
        assert_eq!(rule_message(&text), Some("7 is more than 5"), "{text}");
        // Whatever the deserializer adds after the message.
        let e = serde_json::from_str::<Vec<Checked>>("[1,\n 9]").unwrap_err();
        assert_eq!(rule_message(&e.to_string()), Some("9 is more than 5"));
        // A client's text quoted in an error is not a rule, markers or not.
        let quoted = format!("unknown field `{RULE_MARK}x{RULE_MARK}`");
        assert_eq!(rule_message(&quoted), None);
        // A wrong type, or any other error, carries no rule.
        let e = serde_json::from_str::<Checked>("\"x\"").unwrap_err();
        assert_eq!(rule_message(&e.to_string()), None);
        let e = serde_json::from_str::<Rated>("300").unwrap_err();
        assert_eq!(rule_message(&e.to_string()), None);
        assert_eq!(rule_message("\u{1}rule\u{1}unterminated"), None);
        assert!(serde_json::from_str::<Checked>("5").is_ok());
    }

    #[test]
    fn requested_values_parse_with_their_messages() {
        assert_eq!(parse_severity("severity", "s2"), Ok(Severity::S2));
        assert_eq!(
            parse_severity("severity", "S9").unwrap_err().message(),
            "unknown severity \"S9\"; expected S1, S2, S3 or S4"
        );
        assert_eq!(
            parse_impact("impact", "x").unwrap_err().message(),
            "unknown impact \"x\"; expected none, minor, major or critical"
        );
        assert_eq!(parse_impact("impact", "major"), Ok(Impact::Major));
        let e = parse_component_status("components.api", "on_fire").unwrap_err();
        assert_eq!(e.field(), "components.api");
        assert!(
            e.message()
                .starts_with("unknown component status \"on_fire\""),
            "{e}"
        );
    }

    #[test]
    fn statuses_parse_and_refuse_the_other_kind_by_name() {
        assert_eq!(
            parse_incident_status("status", "monitoring"),
            Ok(IncidentStatus::Monitoring)
        );
        let e = parse_incident_status("status", "in_progress").unwrap_err();
        assert!(e.to_string().contains("maintenance status"), "{e}");
        let e = parse_incident_status("status", "postmortem").unwrap_err();
        assert!(e.to_string().contains("publishing a postmortem"), "{e}");
        let e = parse_maintenance_status("status", "resolved").unwrap_err();
        assert!(e.to_string().contains("incident status"), "{e}");
        assert_eq!(e.field(), "status");
    }

    fn automated_incident(opened: &str, status: IncidentStatus) -> Incident {
        let at = t(opened);
        let mut i = Incident {
            id: IncidentId::new("inc1").unwrap(),
            name: "Major outage of API".into(),
            status,
            impact_override: None,
            computed_impact: Impact::None,
            severity: None,
            components: BTreeMap::new(),
            pending_components: BTreeMap::new(),
            monitors: BTreeMap::new(),
            public: true,
            automated: true,
            human_owned: false,
            roles: BTreeMap::new(),
            created_at: at,
            updated_at: at,
            started_at: at,
            monitoring_at: None,
            resolved_at: None,
            first_failure_at: Some(at),
            published_at: Some(at),
            healthy_since: None,
            updates: Vec::new(),
            alerts: BTreeMap::new(),
            acknowledged: None,
        };
        i.monitors
            .insert(MonitorId::new("api-health").unwrap(), true);
        i.note_component(
            ComponentId::new("api").unwrap(),
            ComponentStatus::MajorOutage,
        );
        i
    }

    #[test]
    fn a_failure_joins_the_incident_that_covers_it_or_began_with_it() {
        use IncidentStatus::*;
        let api = ComponentId::new("api").unwrap();
        let sync = ComponentId::new("sync").unwrap();
        let health = MonitorId::new("api-health").unwrap();
        let job = MonitorId::new("sync-job").unwrap();
        let minute = std::time::Duration::from_secs(60);
        // (status, automated, seconds after opening, window, covers sync-job on sync, groups it)
        let table = [
            (Investigating, true, 0.35, minute, false, true),
            (Investigating, true, 60.0, minute, false, true),
            (Investigating, true, 60.5, minute, false, false),
            (Identified, true, 10.0, minute, false, true),
            (Monitoring, true, 10.0, minute, false, false),
            (Resolved, true, 10.0, minute, false, false),
            (Investigating, false, 10.0, minute, false, false),
            (
                Investigating,
                true,
                10.0,
                std::time::Duration::ZERO,
                false,
                false,
            ),
        ];
        for (status, automated, after, window, covers, groups) in table {
            let mut i = automated_incident("2026-12-07T10:00:00Z", status);
            i.automated = automated;
            let now = i.created_at + chrono::Duration::milliseconds((after * 1000.0) as i64);
            let case = format!("{status:?} automated={automated} +{after}s window={window:?}");
            assert_eq!(
                i.covers_failure(&job, std::slice::from_ref(&sync)),
                covers,
                "{case}"
            );
            assert_eq!(i.groups_failure_at(now, window), groups, "{case}");
            // Its own monitor or component is always covered while it is open.
            assert_eq!(
                i.covers_failure(&health, &[]),
                status.is_unresolved(),
                "{case}"
            );
            assert_eq!(
                i.covers_failure(&job, std::slice::from_ref(&api)),
                status.is_unresolved(),
                "{case}"
            );
        }
    }

    #[test]
    fn maintenance_moves_forward_only() {
        use MaintenanceStatus::*;
        assert!(check_maintenance_transition(Scheduled, InProgress).is_ok());
        assert!(check_maintenance_transition(Scheduled, Completed).is_ok());
        assert!(check_maintenance_transition(Verifying, InProgress).is_err());
        assert!(check_maintenance_transition(Completed, Scheduled).is_err());
    }

    #[test]
    fn window_must_end_after_it_starts() {
        let a = t("2026-01-01T10:00:00Z");
        assert!(check_window(a, a).is_err());
        assert_eq!(
            check_window(a, a - chrono::Duration::hours(1))
                .unwrap_err()
                .field(),
            "scheduled_until"
        );
        assert!(check_window(a, a + chrono::Duration::hours(1)).is_ok());
    }

    #[test]
    fn the_maintenance_clock() {
        let m = Maintenance {
            id: IncidentId::new("m1").unwrap(),
            config_id: None,
            name: "DB upgrade".into(),
            status: MaintenanceStatus::Scheduled,
            components: vec![],
            scheduled_for: t("2026-01-01T10:00:00Z"),
            scheduled_until: t("2026-01-01T11:00:00Z"),
            auto_start: true,
            auto_complete: true,
            created_at: t("2026-01-01T00:00:00Z"),
            updated_at: t("2026-01-01T00:00:00Z"),
            started_at: None,
            completed_at: None,
            updates: vec![],
        };
        assert_eq!(maintenance_due(&m, t("2026-01-01T09:59:59Z")), None);
        assert_eq!(
            maintenance_due(&m, t("2026-01-01T10:00:00Z")),
            Some(MaintenanceStatus::InProgress)
        );
        assert_eq!(
            maintenance_due(&m, t("2026-01-01T11:00:00Z")),
            Some(MaintenanceStatus::Completed)
        );
        let started = Maintenance {
            status: MaintenanceStatus::InProgress,
            ..m.clone()
        };
        assert_eq!(maintenance_due(&started, t("2026-01-01T10:30:00Z")), None);
        assert_eq!(
            maintenance_due(&started, t("2026-01-01T11:00:00Z")),
            Some(MaintenanceStatus::Completed)
        );
        let manual = Maintenance {
            auto_start: false,
            auto_complete: false,
            ..m
        };
        assert_eq!(maintenance_due(&manual, t("2026-01-02T00:00:00Z")), None);
    }

    #[test]
    fn generated_messages_read_well() {
        assert_eq!(
            opening_message(
                ComponentStatus::MajorOutage,
                &["API"],
                3,
                "connection refused"
            ),
            "We are investigating a major outage of API: 3 consecutive checks failed: connection refused"
        );
        assert_eq!(
            opening_name(ComponentStatus::PartialOutage, &["API", "Web", "CDN"]),
            "Partial outage of API, Web and CDN"
        );
    }

    #[test]
    fn timeline_entries_round_trip_as_json() {
        let e = TimelineEntry {
            id: IncidentId::new("e1").unwrap(),
            incident_id: IncidentId::new("i1").unwrap(),
            occurred_at: t("2026-01-01T10:00:00Z"),
            recorded_at: t("2026-01-01T10:00:01Z"),
            actor: Actor::Person("alice".into()),
            kind: TimelineKind::SeverityChanged {
                from: None,
                to: Some(Severity::S2),
            },
        };
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("\"kind\":\"severity_changed\""), "{json}");
        assert_eq!(serde_json::from_str::<TimelineEntry>(&json).unwrap(), e);
        assert_eq!(e.kind_name(), "severity_changed");
    }
}

//! The Statuspage-compatible public API v2: its objects and responses, exactly as Atlassian
//! Statuspage writes them (field names, field order, enums, nullability), and the domain's
//! incidents and maintenances converted into them ([`IncidentOf::from_incident`],
//! [`ScheduledMaintenance::from_maintenance`]).
//!
//! Shapes follow real published payloads (Discord 2019, Payfast 2022, GitHub 2024, HashiCorp
//! 2021). Every type here both serializes and deserializes, so the same types parse real
//! Statuspage payloads too.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use pharos_domain::incident::{AffectedChange, PublicUpdate};
use pharos_domain::{ComponentId, ComponentStatus, Indicator, PageStatus};
use serde::{Deserialize, Serialize};

use crate::ApiTime;

/// An incident's status and a maintenance's status: the domain's enums, which already carry
/// Statuspage's wire names.
pub use pharos_domain::{IncidentStatus, MaintenanceStatus};

/// Most items a list endpoint returns, as on Statuspage ("the 50 most recent").
pub const LIST_LIMIT: usize = 50;

/// `page`: the page's identity, first in every response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// Page id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Public URL of the page.
    pub url: String,
    /// IANA time-zone name, e.g. `Etc/UTC`.
    pub time_zone: String,
    /// When anything visible last changed.
    pub updated_at: ApiTime,
}

/// `status`: the page indicator and one of the seven fixed descriptions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// `none | minor | major | critical | maintenance`.
    pub indicator: Indicator,
    /// E.g. "All Systems Operational".
    pub description: String,
}

impl From<PageStatus> for Status {
    fn from(p: PageStatus) -> Self {
        Self {
            indicator: p.indicator,
            description: p.description.to_owned(),
        }
    }
}

/// A component or a component group, one row of the flat `components` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// Component id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Current status; for a group, the worst of its children.
    pub status: ComponentStatus,
    /// When the component was created.
    pub created_at: ApiTime,
    /// When it last changed.
    pub updated_at: ApiTime,
    /// 1-based order on the page.
    pub position: u32,
    /// Description, `null` when none.
    pub description: Option<String>,
    /// Whether the page shows uptime bars for it.
    pub showcase: bool,
    /// First day of uptime history (`YYYY-MM-DD`), or `null`. Absent on some 2019 payloads.
    #[serde(default)]
    pub start_date: Option<NaiveDate>,
    /// The group this component belongs to.
    pub group_id: Option<String>,
    /// Page id.
    pub page_id: String,
    /// Whether this row is a group.
    pub group: bool,
    /// Whether it is hidden while operational (always `false` in Pharos).
    pub only_show_if_degraded: bool,
    /// Child component ids; present on group rows only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
}

/// One component's transition in an incident update.
///
/// Pharos always fills every field. Statuspage may also send the sentinel
/// `{"name":"No components were affected by this update."}` with nothing else, so the other
/// fields are optional on input and left out on output when absent (which makes such payloads
/// round-trip unchanged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedComponent {
    /// The component's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// "Group - Group :: Component" for a grouped component, else its name.
    pub name: String,
    /// Status before the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_status: Option<ComponentStatus>,
    /// Status after the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_status: Option<ComponentStatus>,
}

impl AffectedComponent {
    /// The domain's transition `change`, its component called `name` (see
    /// [`AffectedComponent::display_name`]).
    pub fn new(change: &AffectedChange, name: String) -> Self {
        Self {
            code: Some(change.component_id.to_string()),
            name,
            old_status: Some(change.old_status),
            new_status: Some(change.new_status),
        }
    }

    /// How Statuspage names a component here: "Component - Group :: Component" for a grouped one
    /// (Payfast: "Credit & Cheque Cards - Payments :: Credit & Cheque Cards"), else its name.
    pub fn display_name(component: &str, group: Option<&str>) -> String {
        match group {
            Some(group) => format!("{component} - {group} :: {component}"),
            None => component.to_owned(),
        }
    }
}

/// One update of an incident or maintenance; `S` is [`IncidentStatus`] or
/// [`MaintenanceStatus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentUpdateOf<S> {
    /// Update id.
    pub id: String,
    /// The incident's status as of this update.
    pub status: S,
    /// Plain text or Markdown; may contain `\r\n`.
    pub body: String,
    /// The incident it belongs to.
    pub incident_id: String,
    /// When it was written.
    pub created_at: ApiTime,
    /// When it was last edited.
    pub updated_at: ApiTime,
    /// The time shown for it (may be back-dated).
    pub display_at: ApiTime,
    /// Component transitions it made, `null` when none.
    pub affected_components: Option<Vec<AffectedComponent>>,
    /// Whether subscribers were notified.
    pub deliver_notifications: bool,
    /// Legacy Twitter text, always `null` in Pharos.
    pub custom_tweet: Option<String>,
    /// Legacy Twitter id, always `null` in Pharos.
    pub tweet_id: Option<String>,
}

/// An incident (or, with `S` = [`MaintenanceStatus`], the common part of a maintenance).
///
/// `C` is how its affected components are written: the full [`Component`] in the API, the
/// webhook's shorter [`crate::webhook::Component`] in a payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentOf<S, C = Component> {
    /// Incident id.
    pub id: String,
    /// Title.
    pub name: String,
    /// Current status.
    pub status: S,
    /// When it was created.
    pub created_at: ApiTime,
    /// When it last changed.
    pub updated_at: ApiTime,
    /// When it entered `monitoring`, if it did.
    pub monitoring_at: Option<ApiTime>,
    /// When it was resolved, if it was.
    pub resolved_at: Option<ApiTime>,
    /// `none | minor | major | critical`, `maintenance` for maintenances.
    pub impact: Indicator,
    /// A short public URL of the incident.
    pub shortlink: String,
    /// When it started.
    pub started_at: ApiTime,
    /// Page id.
    pub page_id: String,
    /// Updates, newest first.
    pub incident_updates: Vec<IncidentUpdateOf<S>>,
    /// Component objects of the affected components.
    pub components: Vec<C>,
}

/// An incident update.
pub type IncidentUpdate = IncidentUpdateOf<IncidentStatus>;
/// An incident.
pub type Incident = IncidentOf<IncidentStatus>;
/// A maintenance update.
pub type MaintenanceUpdate = IncidentUpdateOf<MaintenanceStatus>;

/// A scheduled maintenance: an incident with maintenance statuses plus its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledMaintenance<C = Component> {
    /// Everything an incident has, with [`MaintenanceStatus`].
    #[serde(flatten)]
    pub incident: IncidentOf<MaintenanceStatus, C>,
    /// Start of the window.
    pub scheduled_for: ApiTime,
    /// End of the window.
    pub scheduled_until: ApiTime,
}

/// `GET /api/v2/summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryResponse {
    /// The page.
    pub page: Page,
    /// All components, flat, in position order.
    pub components: Vec<Component>,
    /// Unresolved incidents.
    pub incidents: Vec<Incident>,
    /// Upcoming and active maintenances.
    pub scheduled_maintenances: Vec<ScheduledMaintenance>,
    /// The page status.
    pub status: Status,
}

/// `GET /api/v2/status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusResponse {
    /// The page.
    pub page: Page,
    /// The page status.
    pub status: Status,
}

/// `GET /api/v2/components.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentsResponse {
    /// The page.
    pub page: Page,
    /// All components, flat, in position order.
    pub components: Vec<Component>,
}

/// `GET /api/v2/incidents.json` and `incidents/unresolved.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentsResponse {
    /// The page.
    pub page: Page,
    /// Incidents, newest first, at most [`LIST_LIMIT`].
    pub incidents: Vec<Incident>,
}

/// `GET /api/v2/scheduled-maintenances.json`, `…/upcoming.json` and `…/active.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaintenancesResponse {
    /// The page.
    pub page: Page,
    /// Maintenances, newest first, at most [`LIST_LIMIT`].
    pub scheduled_maintenances: Vec<ScheduledMaintenance>,
}

/// What an incident object takes from its page: the page id it repeats, the public URL its
/// short link starts with, and the time zone its times are written in.
#[derive(Debug, Clone, Copy)]
pub struct PageRef<'a> {
    /// Page id.
    pub id: &'a str,
    /// Public base URL (a trailing slash is ignored).
    pub url: &'a str,
    /// The page's time zone.
    pub time_zone: Tz,
}

impl PageRef<'_> {
    /// `t` in the page's time zone.
    pub fn time(&self, t: DateTime<Utc>) -> ApiTime {
        ApiTime::in_zone(t, self.time_zone)
    }

    /// The public page of incident (or maintenance) `id`, which is also its short link.
    pub fn shortlink(&self, id: &str) -> String {
        shortlink(self.url, id)
    }
}

/// The public page of incident (or maintenance) `id` on the page at `page_url`:
/// `<page_url>/incidents/<id>`.
pub fn shortlink(page_url: &str, id: &str) -> String {
    format!("{}/incidents/{id}", page_url.trim_end_matches('/'))
}

impl<C> IncidentOf<IncidentStatus, C> {
    /// Incident `i` as Statuspage writes it on `page`: updates newest first, each affected
    /// component named by `name_of`, and `components` as the affected components' objects.
    pub fn from_incident(
        page: PageRef<'_>,
        i: &pharos_domain::Incident,
        name_of: impl Fn(&ComponentId) -> String,
        components: Vec<C>,
    ) -> Self {
        Self {
            id: i.id.to_string(),
            name: i.name.clone(),
            status: i.status,
            created_at: page.time(i.created_at),
            updated_at: page.time(i.updated_at),
            monitoring_at: i.monitoring_at.map(|t| page.time(t)),
            resolved_at: i.resolved_at.map(|t| page.time(t)),
            impact: i.impact().indicator(),
            shortlink: page.shortlink(i.id.as_str()),
            started_at: page.time(i.started_at),
            page_id: page.id.to_owned(),
            incident_updates: updates(page, i.id.as_str(), &i.updates, &name_of),
            components,
        }
    }
}

impl<C> ScheduledMaintenance<C> {
    /// Maintenance `m` as Statuspage writes it on `page`, like
    /// [`IncidentOf::from_incident`]: impact `maintenance`, `resolved_at` when it completed,
    /// `started_at` the window's start until it actually starts.
    pub fn from_maintenance(
        page: PageRef<'_>,
        m: &pharos_domain::Maintenance,
        name_of: impl Fn(&ComponentId) -> String,
        components: Vec<C>,
    ) -> Self {
        ScheduledMaintenance {
            incident: IncidentOf {
                id: m.id.to_string(),
                name: m.name.clone(),
                status: m.status,
                created_at: page.time(m.created_at),
                updated_at: page.time(m.updated_at),
                monitoring_at: None,
                resolved_at: m.completed_at.map(|t| page.time(t)),
                impact: Indicator::Maintenance,
                shortlink: page.shortlink(m.id.as_str()),
                started_at: page.time(m.started_at.unwrap_or(m.scheduled_for)),
                page_id: page.id.to_owned(),
                incident_updates: updates(page, m.id.as_str(), &m.updates, &name_of),
                components,
            },
            scheduled_for: page.time(m.scheduled_for),
            scheduled_until: page.time(m.scheduled_until),
        }
    }
}

/// `list` (oldest first) as the API writes it: newest first, created, updated and displayed
/// at the moment it was written, `affected_components` `null` when it changed no component.
fn updates<S: Copy>(
    page: PageRef<'_>,
    incident_id: &str,
    list: &[PublicUpdate<S>],
    name_of: &impl Fn(&ComponentId) -> String,
) -> Vec<IncidentUpdateOf<S>> {
    list.iter()
        .rev()
        .map(|u| {
            let created = page.time(u.created_at);
            IncidentUpdateOf {
                id: u.id.to_string(),
                status: u.status,
                body: u.body.clone(),
                incident_id: incident_id.to_owned(),
                created_at: created,
                updated_at: created,
                display_at: created,
                affected_components: (!u.affected.is_empty()).then(|| {
                    u.affected
                        .iter()
                        .map(|a| AffectedComponent::new(a, name_of(&a.component_id)))
                        .collect()
                }),
                deliver_notifications: true,
                custom_tweet: None,
                tweet_id: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_use_the_wire_names() {
        assert_eq!(
            serde_json::to_value(MaintenanceStatus::InProgress).unwrap(),
            "in_progress"
        );
        assert_eq!(
            serde_json::to_value(IncidentStatus::Postmortem).unwrap(),
            "postmortem"
        );
        assert!(IncidentStatus::Monitoring.is_unresolved());
        assert!(!IncidentStatus::Postmortem.is_unresolved());
        assert!(MaintenanceStatus::Verifying.is_active());
        assert!(!MaintenanceStatus::Completed.is_active());
        assert!(MaintenanceStatus::Scheduled.is_upcoming());
    }

    #[test]
    fn grouped_components_are_named_as_statuspage_names_them() {
        assert_eq!(
            AffectedComponent::display_name("Credit & Cheque Cards", Some("Payments")),
            "Credit & Cheque Cards - Payments :: Credit & Cheque Cards"
        );
        assert_eq!(AffectedComponent::display_name("API", None), "API");
    }

    #[test]
    fn shortlinks_ignore_a_trailing_slash() {
        assert_eq!(
            shortlink("https://status.example.com/", "abc"),
            "https://status.example.com/incidents/abc"
        );
        assert_eq!(
            shortlink("https://status.example.com", "abc"),
            "https://status.example.com/incidents/abc"
        );
    }
}

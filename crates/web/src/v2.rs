//! The Statuspage-compatible public API v2: its wire types, exactly as Atlassian Statuspage
//! writes them (field names, field order, enums, nullability), and the conversion of a
//! [`StatusView`] into them.
//!
//! Shapes follow real published payloads (Discord 2019, Payfast 2022, GitHub 2024, HashiCorp
//! 2021); `tests/compat.rs` proves them key for key against those fixtures. Every type here both
//! serializes and deserializes, so the same types parse real Statuspage payloads too.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, SecondsFormat, TimeZone, Utc};
use chrono_tz::{OffsetName, Tz};
use pharos_domain::{ComponentStatus, Indicator, PageStatus};
use pharos_engine::{ComponentView, StatusView};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most items a list endpoint returns, as on Statuspage ("the 50 most recent").
pub const LIST_LIMIT: usize = 50;

/// A timestamp as Statuspage writes it: RFC 3339 with exactly three millisecond digits, in the
/// page's time-zone offset, e.g. `2019-06-24T06:07:14.473-07:00`.
///
/// Statuspage (Rails) writes `Z` instead of `+00:00` when the zone's abbreviation at that instant
/// is `UTC` (GitHub's `Etc/UTC` page: `2019-12-30T08:15:33.297Z`), but `+00:00` for zones that
/// merely sit at offset zero, such as `Europe/London` in winter (abbreviation `GMT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiTime {
    at: DateTime<FixedOffset>,
    zulu: bool,
}

impl ApiTime {
    /// `t` written in the page's time zone `tz`.
    pub fn in_zone(t: DateTime<Utc>, tz: Tz) -> Self {
        let offset = tz.offset_from_utc_datetime(&t.naive_utc());
        let zulu = matches!(offset.abbreviation(), Some("UTC" | "UCT"));
        Self {
            at: t.with_timezone(&offset.fix()),
            zulu,
        }
    }

    /// The instant with the offset it is written in.
    pub fn datetime(&self) -> DateTime<FixedOffset> {
        self.at
    }

    /// The instant in UTC.
    pub fn utc(&self) -> DateTime<Utc> {
        self.at.with_timezone(&Utc)
    }
}

impl fmt::Display for ApiTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.at.to_rfc3339_opts(SecondsFormat::Millis, self.zulu))
    }
}

impl Serialize for ApiTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ApiTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let at = DateTime::parse_from_rfc3339(&s).map_err(serde::de::Error::custom)?;
        Ok(Self {
            at,
            zulu: s.ends_with(['Z', 'z']),
        })
    }
}

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

/// An incident's status and a maintenance's status: the domain's enums, which already carry
/// Statuspage's wire names.
pub use pharos_domain::{IncidentStatus, MaintenanceStatus};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentOf<S> {
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
    /// Full component objects of the affected components.
    pub components: Vec<Component>,
}

/// An incident update.
pub type IncidentUpdate = IncidentUpdateOf<IncidentStatus>;
/// An incident.
pub type Incident = IncidentOf<IncidentStatus>;
/// A maintenance update.
pub type MaintenanceUpdate = IncidentUpdateOf<MaintenanceStatus>;

/// A scheduled maintenance: an incident with maintenance statuses plus its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledMaintenance {
    /// Everything an incident has, with [`MaintenanceStatus`].
    #[serde(flatten)]
    pub incident: IncidentOf<MaintenanceStatus>,
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

/// The `page` object of a view.
pub fn page(view: &StatusView) -> Page {
    let tz = view.page.time_zone;
    Page {
        id: view.page.id.clone(),
        name: view.page.name.clone(),
        url: view.page.url.clone(),
        time_zone: tz.name().to_owned(),
        updated_at: ApiTime::in_zone(view.updated_at, tz),
    }
}

/// One component row as the API shows it.
///
/// `position` is the row's 1-based place in the page's flat order, so sorting by it (globally or
/// among siblings) gives the page order. Statuspage numbers positions per sibling level instead;
/// both sort the same.
pub fn component(view: &StatusView, c: &ComponentView) -> Component {
    let tz = view.page.time_zone;
    Component {
        id: c.id.to_string(),
        name: c.name.clone(),
        status: c.status,
        created_at: ApiTime::in_zone(c.created_at, tz),
        updated_at: ApiTime::in_zone(c.updated_at, tz),
        position: c.position.saturating_add(1),
        description: c.description.clone(),
        showcase: !c.is_group,
        start_date: c.start_date,
        group_id: c.group_id.as_ref().map(|g| g.to_string()),
        page_id: view.page.id.clone(),
        group: c.is_group,
        only_show_if_degraded: false,
        components: c
            .is_group
            .then(|| c.children.iter().map(|id| id.to_string()).collect()),
    }
}

/// All component rows, flat, in position order.
pub fn components(view: &StatusView) -> Vec<Component> {
    let mut rows: Vec<&ComponentView> = view.components.iter().collect();
    rows.sort_by_key(|c| c.position);
    rows.into_iter().map(|c| component(view, c)).collect()
}

/// The page status: the rollup of leaf components, raised by unresolved incidents.
///
/// This is the hook for incidents. Atlassian documents `status.json` as "an indicator … as well
/// as a human description of the blended component status": an open incident raises the
/// indicator to its impact when that is worse, while the description keeps describing the
/// components. An incident with impact `none` changes nothing (Discord's real summary shows
/// `indicator:"none"` with an open incident of impact `none`).
pub fn page_status(view: &StatusView, unresolved: &[Incident]) -> Status {
    let open = unresolved.iter().filter(|i| i.status.is_unresolved());
    Status::from(PageStatus::rollup(&view.leaf_statuses()).raised_by(open.map(|i| i.impact)))
}

/// The lists every endpoint draws from, already filtered and capped.
#[derive(Debug, Clone, PartialEq)]
pub struct Lists {
    /// `incidents.json`: newest first.
    pub incidents: Vec<Incident>,
    /// `incidents/unresolved.json` and `summary.incidents`.
    pub unresolved: Vec<Incident>,
    /// `scheduled-maintenances.json`: newest first.
    pub maintenances: Vec<ScheduledMaintenance>,
    /// `scheduled-maintenances/upcoming.json`.
    pub upcoming: Vec<ScheduledMaintenance>,
    /// `scheduled-maintenances/active.json`.
    pub active: Vec<ScheduledMaintenance>,
    /// `summary.scheduled_maintenances`: upcoming and active, newest first.
    pub summary_maintenances: Vec<ScheduledMaintenance>,
}

impl Lists {
    /// Sorts newest first (incidents by `created_at`, maintenances by `scheduled_for`), filters
    /// by status, and keeps at most [`LIST_LIMIT`] of each.
    ///
    /// Only what is kept is cloned, so passing every incident ever recorded stays cheap.
    pub fn new(incidents: &[Incident], maintenances: &[ScheduledMaintenance]) -> Self {
        let mut incidents: Vec<&Incident> = incidents.iter().collect();
        incidents.sort_by_key(|i| std::cmp::Reverse(i.created_at.utc()));
        let mut maintenances: Vec<&ScheduledMaintenance> = maintenances.iter().collect();
        maintenances.sort_by_key(|m| std::cmp::Reverse(m.scheduled_for.utc()));
        let pick_i = |f: fn(&Incident) -> bool| -> Vec<Incident> {
            incidents
                .iter()
                .filter(|i| f(i))
                .take(LIST_LIMIT)
                .map(|i| (*i).clone())
                .collect()
        };
        let pick_m = |f: fn(&ScheduledMaintenance) -> bool| -> Vec<ScheduledMaintenance> {
            maintenances
                .iter()
                .filter(|m| f(m))
                .take(LIST_LIMIT)
                .map(|m| (*m).clone())
                .collect()
        };
        Self {
            incidents: pick_i(|_| true),
            unresolved: pick_i(|i| i.status.is_unresolved()),
            maintenances: pick_m(|_| true),
            upcoming: pick_m(|m| m.incident.status.is_upcoming()),
            active: pick_m(|m| m.incident.status.is_active()),
            summary_maintenances: pick_m(|m| {
                m.incident.status.is_upcoming() || m.incident.status.is_active()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn times_use_the_page_offset_and_three_millisecond_digits() {
        let t = utc("2019-06-24T13:07:14.473Z");
        assert_eq!(
            ApiTime::in_zone(t, chrono_tz::America::Tijuana).to_string(),
            "2019-06-24T06:07:14.473-07:00"
        );
        assert_eq!(
            ApiTime::in_zone(utc("2022-01-20T14:05:42Z"), chrono_tz::Africa::Johannesburg)
                .to_string(),
            "2022-01-20T16:05:42.000+02:00"
        );
    }

    #[test]
    fn utc_zones_write_z_but_gmt_zones_write_an_offset() {
        let t = utc("2019-12-30T08:15:33.297Z");
        assert_eq!(
            ApiTime::in_zone(t, chrono_tz::Etc::UTC).to_string(),
            "2019-12-30T08:15:33.297Z"
        );
        assert_eq!(
            ApiTime::in_zone(t, chrono_tz::UTC).to_string(),
            "2019-12-30T08:15:33.297Z"
        );
        assert_eq!(
            ApiTime::in_zone(t, chrono_tz::Europe::London).to_string(),
            "2019-12-30T08:15:33.297+00:00"
        );
    }

    #[test]
    fn times_round_trip() {
        for s in [
            "2019-12-30T08:15:33.297Z",
            "2016-10-16T16:57:00.000-07:00",
            "2022-01-20T16:05:42.914+02:00",
        ] {
            let t: ApiTime = serde_json::from_value(serde_json::json!(s)).unwrap();
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(s));
        }
    }

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
}

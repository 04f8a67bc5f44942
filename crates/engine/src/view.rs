//! The engine's published picture of the world: everything the public page and the
//! Statuspage-compatible API show, as plain data. A new [`StatusView`] is published whenever
//! something visible changes; the web layer renders it once into its snapshot.
//!
//! A view is plain data with a JSON form (serde), so the leader of several nodes can publish
//! it for its followers to serve as they would their own.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use pharos_domain::uptime::DayUptime;
use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use pharos_domain::{ComponentId, ComponentStatus, Health, Incident, Maintenance, MonitorId};

/// The page's identity, from `[page]` and `[server] public_url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageInfo {
    /// `page.id` in the public API.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Public base URL without a trailing slash, e.g. `https://status.example.com`.
    pub url: String,
    /// Time zone API timestamps are written in and the page shows by default.
    #[serde(with = "tz_name")]
    pub time_zone: Tz,
    /// Whether the page offers e-mail subscriptions (an SMTP server is configured); set by
    /// [`crate::start`] from [`crate::EngineConfig::smtp`].
    pub email_subscriptions: bool,
    /// Logo, favicon, accent colour and links, from `[page]`.
    pub branding: Branding,
}

/// How the public pages look and where they link, from `[page]`. Every field is optional; the
/// configuration checks each value, and the web layer checks again before printing one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Branding {
    /// The logo shown instead of the page name in the header: an `https://` or `http://` URL,
    /// or a path on the page's own origin starting with `/`.
    pub logo_url: Option<String>,
    /// The favicon, in the same forms as the logo.
    pub favicon_url: Option<String>,
    /// The accent colour of links, buttons and focus rings, as `#rrggbb` (lower case).
    pub accent_color: Option<String>,
    /// The organisation's own site, linked from the logo or name.
    pub home_url: Option<String>,
    /// Where people get help (`https://`, `http://` or `mailto:`), linked from the header.
    pub support_url: Option<String>,
}

/// One row of the component list: a component, or a group of components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentView {
    /// Stable id.
    pub id: ComponentId,
    /// Display name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Order on the page and in the API (0-based, groups and components interleaved).
    pub position: u32,
    /// Current status; for a group, the worst of its children.
    pub status: ComponentStatus,
    /// When the component was first configured.
    pub created_at: DateTime<Utc>,
    /// When its status last changed (or it was last edited).
    pub updated_at: DateTime<Utc>,
    /// The group this component belongs to.
    pub group_id: Option<ComponentId>,
    /// Whether this row is a group.
    pub is_group: bool,
    /// For a group: its children's ids, in position order.
    pub children: Vec<ComponentId>,
    /// Daily uptime for the last 90 local days, oldest first (empty for groups).
    pub uptime_days: Vec<DayUptime>,
    /// Weighted uptime over those days, `None` when nothing was tracked.
    pub uptime_ratio: Option<f64>,
    /// The first local date with tracked history.
    pub start_date: Option<NaiveDate>,
    /// Where the monitors checked from several locations see it failing, by location name
    /// in configuration order (empty when none does, or when a person's status or a
    /// maintenance is shown instead).
    pub failing_from: Vec<String>,
}

/// A monitor's live state, for `/metrics` and the admin API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorView {
    /// Stable id.
    pub id: MonitorId,
    /// `http`, `tcp`, …
    pub type_name: &'static str,
    /// Confirmed health.
    pub health: Health,
    /// When the last check started.
    pub last_check_at: Option<DateTime<Utc>>,
    /// Why the last check failed, if it did.
    pub last_error: Option<String>,
    /// Components it drives.
    pub components: Vec<ComponentId>,
    /// Since when it has been flapping (changing state too often to report each change),
    /// if it is.
    pub flapping_since: Option<DateTime<Utc>>,
    /// For a monitor checked from several locations, each location's own state, in its
    /// `locations` order; empty for one checked by the server alone.
    pub locations: Vec<crate::world::LocationState>,
}

/// Everything visible, at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// The page's identity.
    pub page: PageInfo,
    /// When this view was built.
    pub generated_at: DateTime<Utc>,
    /// When anything visible last changed (`page.updated_at`).
    pub updated_at: DateTime<Utc>,
    /// Groups and components, flat, in position order.
    pub components: Vec<ComponentView>,
    /// Monitors, in configuration order.
    pub monitors: Vec<MonitorView>,
    /// Every incident, oldest first (public and private: the web layer shows only public ones).
    pub incidents: Arc<[Incident]>,
    /// Every maintenance, oldest first.
    pub maintenances: Arc<[Maintenance]>,
}

impl StatusView {
    /// For each component some monitor drives, those monitors' ids in configuration order.
    /// A component missing from the map is driven by nothing (groups never are: their
    /// components are).
    pub fn drivers(&self) -> HashMap<&ComponentId, Vec<&MonitorId>> {
        let mut out: HashMap<&ComponentId, Vec<&MonitorId>> = HashMap::new();
        for m in &self.monitors {
            for c in &m.components {
                out.entry(c).or_default().push(&m.id);
            }
        }
        out
    }

    /// Whether something would notice `component` going down: a component when at least one
    /// monitor drives it, a group when each of its components is watched. `drivers` is
    /// [`StatusView::drivers`].
    pub fn is_watched(
        component: &ComponentView,
        drivers: &HashMap<&ComponentId, Vec<&MonitorId>>,
    ) -> bool {
        if component.is_group {
            !component.children.is_empty()
                && component.children.iter().all(|c| drivers.contains_key(c))
        } else {
            drivers.contains_key(&component.id)
        }
    }

    /// Components (never groups) that no monitor drives, in page order: the ones
    /// `pharos validate` warns about, since nothing will notice if they go down.
    pub fn unwatched_components(&self) -> Vec<&ComponentView> {
        let drivers = self.drivers();
        self.components
            .iter()
            .filter(|c| !c.is_group && !drivers.contains_key(&c.id))
            .collect()
    }

    /// Statuses of leaf components (never groups), the input of the page rollup.
    pub fn leaf_statuses(&self) -> Vec<ComponentStatus> {
        self.components
            .iter()
            .filter(|c| !c.is_group)
            .map(|c| c.status)
            .collect()
    }
}

/// A time zone as its IANA name.
mod tz_name {
    use chrono_tz::Tz;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown time zone {name:?}")))
    }
}

/// The monitor types a view names, so a deserialized one keeps a `&'static str`.
const MONITOR_TYPES: &[&str] = &[
    "http",
    "tcp",
    "heartbeat",
    "prometheus",
    "dns",
    "tls",
    "icmp",
];

/// [`MonitorView`] as read back from JSON, its type name owned.
#[derive(Deserialize)]
struct MonitorDoc {
    id: MonitorId,
    type_name: String,
    health: Health,
    last_check_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    components: Vec<ComponentId>,
    flapping_since: Option<DateTime<Utc>>,
    #[serde(default)]
    locations: Vec<crate::world::LocationState>,
}

impl<'de> Deserialize<'de> for MonitorView {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        MonitorDoc::deserialize(d).map(MonitorView::from)
    }
}

impl From<MonitorDoc> for MonitorView {
    /// The type name becomes one of [`MONITOR_TYPES`], or `"unknown"` for a type this
    /// version does not know (a newer leader's).
    fn from(m: MonitorDoc) -> MonitorView {
        MonitorView {
            id: m.id,
            type_name: MONITOR_TYPES
                .iter()
                .find(|t| **t == m.type_name)
                .copied()
                .unwrap_or("unknown"),
            health: m.health,
            last_check_at: m.last_check_at,
            last_error: m.last_error,
            components: m.components,
            flapping_since: m.flapping_since,
            locations: m.locations,
        }
    }
}

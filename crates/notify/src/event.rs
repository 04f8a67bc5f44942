//! What happened, captured with everything a message needs when it happened, so a delivery
//! sent minutes later (after retries, or after a restart) still says what was true then.

use chrono::{DateTime, Utc};
use pharos_domain::incident::AffectedChange;
use pharos_domain::{ComponentId, ComponentStatus, Incident, Indicator, Maintenance, Severity};
use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr};

/// The kind of event, which routes select on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EventKind {
    /// An incident was opened (or published, if it opened private).
    IncidentOpened,
    /// A public update was posted to an open incident.
    IncidentUpdated,
    /// An incident was resolved.
    IncidentResolved,
    /// A maintenance was scheduled.
    MaintenanceScheduled,
    /// A maintenance started.
    MaintenanceStarted,
    /// A maintenance got an update that neither started nor completed it.
    MaintenanceUpdated,
    /// A maintenance completed.
    MaintenanceCompleted,
    /// A component's status changed.
    ComponentStatus,
    /// A location's probes fell silent: its checks count as unknown. For responders only.
    ProbeOffline,
    /// A location's probes are heard from again. For responders only.
    ProbeOnline,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 10] = [
        Self::IncidentOpened,
        Self::IncidentUpdated,
        Self::IncidentResolved,
        Self::MaintenanceScheduled,
        Self::MaintenanceStarted,
        Self::MaintenanceUpdated,
        Self::MaintenanceCompleted,
        Self::ComponentStatus,
        Self::ProbeOffline,
        Self::ProbeOnline,
    ];

    /// The configuration and storage form, e.g. `incident_opened`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the configuration form.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// Whether it is about an incident.
    pub fn is_incident(self) -> bool {
        matches!(
            self,
            Self::IncidentOpened | Self::IncidentUpdated | Self::IncidentResolved
        )
    }

    /// Whether it is about a location's probes: news for responders, never for the public.
    pub fn is_probe(self) -> bool {
        matches!(self, Self::ProbeOffline | Self::ProbeOnline)
    }

    /// Whether it is about a maintenance.
    pub fn is_maintenance(self) -> bool {
        matches!(
            self,
            Self::MaintenanceScheduled
                | Self::MaintenanceStarted
                | Self::MaintenanceUpdated
                | Self::MaintenanceCompleted
        )
    }
}

/// The page, as it stood when the event happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageContext {
    /// `page.id`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Public base URL without a trailing slash.
    pub url: String,
    /// IANA time zone messages show times in.
    pub time_zone: String,
    /// The page indicator right after the event.
    pub status_indicator: Indicator,
    /// One of Statuspage's seven descriptions, right after the event.
    pub status_description: String,
}

/// A component named in the event, with what a message shows of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentContext {
    /// Id.
    pub id: ComponentId,
    /// Display name.
    pub name: String,
    /// Its group's name, if it is in one.
    pub group: Option<String>,
    /// Status right after the event.
    pub status: ComponentStatus,
    /// When the component was created.
    pub created_at: DateTime<Utc>,
}

/// One event, everything included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Event id (unique; deliveries derive their ids from it).
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// The page right after.
    pub page: PageContext,
    /// The incident as it stood right after, for incident events.
    pub incident: Option<Incident>,
    /// The maintenance as it stood right after, for maintenance events.
    pub maintenance: Option<Maintenance>,
    /// The change, for component events.
    pub component_change: Option<AffectedChange>,
    /// Every component the event names (affected components, the changed one).
    pub components: Vec<ComponentContext>,
    /// The location, for probe events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationContext>,
}

/// A location named in a probe event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationContext {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When its probes were last heard from.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// How many monitors are checked from there.
    pub monitors: usize,
}

impl Event {
    /// A test event for `pharos notify test`: an incident opened "just now", clearly marked as
    /// a test, on `page`.
    pub fn test(page: PageContext, now: DateTime<Utc>) -> Event {
        use pharos_domain::incident::{Actor, Impact, IncidentId, IncidentStatus, PublicUpdate};
        // Short lowercase alphanumerics: always valid ids.
        let id = |s: &str| IncidentId::new(s).unwrap_or_else(|| unreachable!("valid id {s}"));
        let incident = Incident {
            id: id("pharostest"),
            name: "Test notification from Pharos".to_owned(),
            status: IncidentStatus::Investigating,
            impact_override: None,
            computed_impact: Impact::Minor,
            severity: None,
            components: Default::default(),
            pending_components: Default::default(),
            monitors: Default::default(),
            public: false,
            automated: false,
            human_owned: true,
            roles: Default::default(),
            created_at: now,
            updated_at: now,
            started_at: now,
            monitoring_at: None,
            resolved_at: None,
            first_failure_at: None,
            published_at: None,
            healthy_since: None,
            alerts: Default::default(),
            acknowledged: None,
            updates: vec![PublicUpdate {
                id: id("pharostestupdate"),
                status: IncidentStatus::Investigating,
                body: "This is a test sent by `pharos notify test`. Nothing is wrong.".to_owned(),
                created_at: now,
                actor: Actor::Person("pharos notify test".to_owned()),
                affected: Vec::new(),
            }],
        };
        Event {
            id: format!("test{}", now.timestamp_micros()),
            kind: EventKind::IncidentOpened,
            at: now,
            page,
            incident: Some(incident),
            maintenance: None,
            component_change: None,
            components: Vec::new(),
            location: None,
        }
    }

    /// The components the event is about (for routes that select by component).
    pub fn component_ids(&self) -> Vec<&ComponentId> {
        self.components.iter().map(|c| &c.id).collect()
    }

    /// The incident's severity, if this is an incident event and one is set.
    pub fn severity(&self) -> Option<Severity> {
        self.incident.as_ref().and_then(|i| i.severity)
    }

    /// The public page of the incident or maintenance, if there is one.
    pub fn link(&self) -> Option<String> {
        let id = match (&self.incident, &self.maintenance) {
            (Some(i), _) => i.id.to_string(),
            (_, Some(m)) => m.id.to_string(),
            _ => return None,
        };
        Some(pharos_wire::v2::shortlink(&self.page.url, &id))
    }

    /// A component's name, or its id when the event does not carry it.
    pub fn component_name(&self, id: &ComponentId) -> String {
        self.components
            .iter()
            .find(|c| &c.id == id)
            .map_or_else(|| id.to_string(), |c| c.name.clone())
    }
}

/// Which events a notifier receives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Kinds it receives; empty means every incident, maintenance and probe event (component
    /// status changes are opt-in: they are many).
    pub events: Vec<EventKind>,
    /// Components it cares about; empty means all.
    pub components: Vec<ComponentId>,
    /// Only incidents at least this severe (`S1` is the most severe). Incidents without a
    /// severity pass. Does not filter maintenance or component events.
    pub min_severity: Option<Severity>,
}

impl Route {
    /// Whether `event` goes to a notifier with this route.
    pub fn matches(&self, event: &Event) -> bool {
        let kind_ok = if self.events.is_empty() {
            event.kind != EventKind::ComponentStatus
        } else {
            self.events.contains(&event.kind)
        };
        if !kind_ok {
            return false;
        }
        if !self.components.is_empty() {
            let ids = event.component_ids();
            if !ids.iter().any(|c| self.components.contains(c)) {
                return false;
            }
        }
        match (self.min_severity, event.severity()) {
            (Some(min), Some(sev)) if event.kind.is_incident() => sev <= min,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_written_and_read_as_serde_names_them() {
        for kind in EventKind::ALL {
            let name = kind.as_str();
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
            assert_eq!(EventKind::parse(name), Some(kind));
        }
        assert_eq!(EventKind::IncidentOpened.as_str(), "incident_opened");
        assert_eq!(EventKind::parse("IncidentOpened"), None);
        assert_eq!(EventKind::parse("bogus"), None);
    }
}

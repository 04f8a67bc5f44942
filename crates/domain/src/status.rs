//! Component statuses and the page-level rollup, with Statuspage's exact enums and the seven
//! fixed description strings that clients switch on.
//!
//! Enum wire strings are derived, never written out: serde's `rename_all = "snake_case"` for
//! JSON and strum's `serialize_all = "snake_case"` for `as_str` and parsing, from the same
//! variant names (`tests::enum_strings_are_serde_names` holds the two to the same strings).

use std::fmt;

use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr};

/// A component's public status, exactly Statuspage's enum.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ComponentStatus {
    /// Working normally.
    Operational,
    /// Slower or flakier than it should be.
    DegradedPerformance,
    /// Partly down.
    PartialOutage,
    /// Down.
    MajorOutage,
    /// In a planned maintenance window.
    UnderMaintenance,
}

impl ComponentStatus {
    /// Every status, in the order they are documented.
    pub const ALL: [ComponentStatus; 5] = [
        Self::Operational,
        Self::DegradedPerformance,
        Self::PartialOutage,
        Self::MajorOutage,
        Self::UnderMaintenance,
    ];

    /// The wire form, e.g. `"major_outage"`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// A human label for pages: "Degraded performance".
    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::DegradedPerformance => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
            Self::UnderMaintenance => "Under maintenance",
        }
    }

    /// How bad a status is, for "the worst wins": maintenance ranks above operational but
    /// below any real trouble, so an outage during maintenance still shows as an outage.
    pub fn severity(self) -> u8 {
        match self {
            Self::Operational => 0,
            Self::UnderMaintenance => 1,
            Self::DegradedPerformance => 2,
            Self::PartialOutage => 3,
            Self::MajorOutage => 4,
        }
    }

    /// The worse of two statuses.
    pub fn worst(self, other: Self) -> Self {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// The worst of many statuses; operational when there are none. Used for group rows.
    pub fn worst_of(statuses: impl IntoIterator<Item = Self>) -> Self {
        statuses
            .into_iter()
            .fold(Self::Operational, ComponentStatus::worst)
    }
}

impl fmt::Display for ComponentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component's status moving from one value to another at one instant: what the world
/// computes, the store records in its status history, and incidents and reports read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentTransition {
    /// Which component.
    pub component_id: crate::ComponentId,
    /// Status before.
    pub from: ComponentStatus,
    /// Status after.
    pub to: ComponentStatus,
    /// When it changed.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The page indicator (`status.indicator`) and incident impact scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Indicator {
    /// Nothing wrong.
    None,
    /// Minor trouble.
    Minor,
    /// Major trouble.
    Major,
    /// Critical trouble.
    Critical,
    /// Planned maintenance in progress.
    Maintenance,
}

impl Indicator {
    /// How bad it is, for "the worst wins": maintenance above none, below any trouble.
    pub fn rank(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Maintenance => 1,
            Self::Minor => 2,
            Self::Major => 3,
            Self::Critical => 4,
        }
    }

    /// The wire form, e.g. `"critical"`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// An impact in words, for pages and messages: "Critical", "None".
    pub fn label(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Minor => "Minor",
            Self::Major => "Major",
            Self::Critical => "Critical",
            Self::Maintenance => "Maintenance",
        }
    }
}

/// The page's rolled-up status: `status.indicator` and `status.description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PageStatus {
    /// Machine-readable indicator.
    pub indicator: Indicator,
    /// One of the seven fixed description strings.
    pub description: &'static str,
}

/// "All Systems Operational".
pub const ALL_OPERATIONAL: &str = "All Systems Operational";
/// "Major System Outage".
pub const MAJOR_SYSTEM_OUTAGE: &str = "Major System Outage";
/// "Partial System Outage".
pub const PARTIAL_SYSTEM_OUTAGE: &str = "Partial System Outage";
/// "Minor Service Outage".
pub const MINOR_SERVICE_OUTAGE: &str = "Minor Service Outage";
/// "Degraded System Service".
pub const DEGRADED_SYSTEM_SERVICE: &str = "Degraded System Service";
/// "Partially Degraded Service".
pub const PARTIALLY_DEGRADED_SERVICE: &str = "Partially Degraded Service";
/// "Service Under Maintenance".
pub const SERVICE_UNDER_MAINTENANCE: &str = "Service Under Maintenance";

impl PageStatus {
    /// This status raised by open incidents' impacts: Statuspage's indicator rises to the worst
    /// open incident's impact when that is worse, while the description keeps describing the
    /// components (an incident of impact `none` changes nothing).
    pub fn raised_by(self, open_impacts: impl IntoIterator<Item = Indicator>) -> PageStatus {
        let indicator = open_impacts.into_iter().fold(self.indicator, |worst, i| {
            if i.rank() > worst.rank() {
                i
            } else {
                worst
            }
        });
        PageStatus { indicator, ..self }
    }

    /// Rolls leaf component statuses (never group rows) up into the page status, following
    /// Atlassian's published top-level status rules:
    ///
    /// | components | description | indicator |
    /// |---|---|---|
    /// | all operational (or none) | All Systems Operational | none |
    /// | all major_outage | Major System Outage | critical |
    /// | some major_outage, or all partial_outage | Partial System Outage | major |
    /// | some partial_outage | Minor Service Outage | minor |
    /// | all degraded | Degraded System Service | minor |
    /// | some degraded | Partially Degraded Service | minor |
    /// | some under_maintenance, nothing worse | Service Under Maintenance | maintenance |
    ///
    /// With one component, "all" and "some" coincide, which yields the single-component rule
    /// (major_outage → Major System Outage, partial → Partial System Outage, and so on).
    pub fn rollup(leaves: &[ComponentStatus]) -> PageStatus {
        use ComponentStatus::*;
        let n = leaves.len();
        let count = |s: ComponentStatus| leaves.iter().filter(|&&x| x == s).count();
        let (major, partial, degraded, maint) = (
            count(MajorOutage),
            count(PartialOutage),
            count(DegradedPerformance),
            count(UnderMaintenance),
        );
        let page = |indicator, description| PageStatus {
            indicator,
            description,
        };
        if n == 0 || (major == 0 && partial == 0 && degraded == 0 && maint == 0) {
            page(Indicator::None, ALL_OPERATIONAL)
        } else if major == n {
            page(Indicator::Critical, MAJOR_SYSTEM_OUTAGE)
        } else if major > 0 || partial == n {
            page(Indicator::Major, PARTIAL_SYSTEM_OUTAGE)
        } else if partial > 0 {
            page(Indicator::Minor, MINOR_SERVICE_OUTAGE)
        } else if degraded == n {
            page(Indicator::Minor, DEGRADED_SYSTEM_SERVICE)
        } else if degraded > 0 {
            page(Indicator::Minor, PARTIALLY_DEGRADED_SERVICE)
        } else {
            page(Indicator::Maintenance, SERVICE_UNDER_MAINTENANCE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ComponentStatus::*;
    use super::*;

    #[test]
    fn open_incidents_raise_the_indicator_but_not_the_description() {
        let calm = PageStatus::rollup(&[Operational, Operational]);
        assert_eq!(calm.raised_by([Indicator::None]), calm);
        let raised = calm.raised_by([Indicator::Minor, Indicator::Critical]);
        assert_eq!(raised.indicator, Indicator::Critical);
        assert_eq!(raised.description, ALL_OPERATIONAL);
        let worse = PageStatus::rollup(&[MajorOutage, MajorOutage]);
        assert_eq!(
            worse.raised_by([Indicator::Minor]).indicator,
            Indicator::Critical
        );
    }

    fn roll(s: &[ComponentStatus]) -> (&'static str, &'static str) {
        let p = PageStatus::rollup(s);
        (p.indicator.as_str(), p.description)
    }

    #[test]
    fn follows_the_published_table() {
        assert_eq!(roll(&[]), ("none", ALL_OPERATIONAL));
        assert_eq!(roll(&[Operational, Operational]), ("none", ALL_OPERATIONAL));
        assert_eq!(
            roll(&[MajorOutage, MajorOutage]),
            ("critical", MAJOR_SYSTEM_OUTAGE)
        );
        assert_eq!(
            roll(&[MajorOutage, Operational]),
            ("major", PARTIAL_SYSTEM_OUTAGE)
        );
        assert_eq!(
            roll(&[PartialOutage, PartialOutage]),
            ("major", PARTIAL_SYSTEM_OUTAGE)
        );
        assert_eq!(
            roll(&[PartialOutage, Operational]),
            ("minor", MINOR_SERVICE_OUTAGE)
        );
        assert_eq!(
            roll(&[DegradedPerformance, DegradedPerformance]),
            ("minor", DEGRADED_SYSTEM_SERVICE)
        );
        assert_eq!(
            roll(&[DegradedPerformance, Operational]),
            ("minor", PARTIALLY_DEGRADED_SERVICE)
        );
        assert_eq!(
            roll(&[UnderMaintenance, Operational]),
            ("maintenance", SERVICE_UNDER_MAINTENANCE)
        );
        assert_eq!(
            roll(&[UnderMaintenance, DegradedPerformance]),
            ("minor", PARTIALLY_DEGRADED_SERVICE)
        );
    }

    #[test]
    fn single_component_maps_directly() {
        assert_eq!(roll(&[MajorOutage]), ("critical", MAJOR_SYSTEM_OUTAGE));
        assert_eq!(roll(&[PartialOutage]), ("major", PARTIAL_SYSTEM_OUTAGE));
        assert_eq!(
            roll(&[DegradedPerformance]),
            ("minor", DEGRADED_SYSTEM_SERVICE)
        );
        assert_eq!(
            roll(&[UnderMaintenance]),
            ("maintenance", SERVICE_UNDER_MAINTENANCE)
        );
    }

    /// Every variant's `as_str` is its serde name, and `parse` reads it back (and nothing else).
    fn assert_wire_names<T>(
        all: &[T],
        as_str: fn(T) -> &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) where
        T: Copy + PartialEq + fmt::Debug + Serialize,
    {
        for &v in all {
            let name = as_str(v);
            assert_eq!(serde_json::to_value(v).unwrap(), name, "{v:?}");
            assert_eq!(parse(name), Some(v), "{name}");
            let debug = format!("{v:?}");
            if debug != name {
                assert_eq!(parse(&debug), None, "{debug}");
            }
        }
        assert_eq!(parse(""), None);
    }

    #[test]
    fn enum_strings_are_serde_names() {
        use crate::alert::{AlertSeverity, AlertSource};
        use crate::change::RegressionState;
        use crate::postmortem::ActionKind;
        use crate::similar::PostmortemState;
        use crate::{CheckOutcome, Health, IncidentStatus, MaintenanceStatus, Severity};
        assert_wire_names(
            &ComponentStatus::ALL,
            ComponentStatus::as_str,
            ComponentStatus::parse,
        );
        assert_eq!(MajorOutage.to_string(), "major_outage");
        let indicators = [
            Indicator::None,
            Indicator::Minor,
            Indicator::Major,
            Indicator::Critical,
            Indicator::Maintenance,
        ];
        assert_wire_names(&indicators, Indicator::as_str, |s| {
            indicators.into_iter().find(|i| i.as_str() == s)
        });
        assert_wire_names(
            &IncidentStatus::ALL,
            IncidentStatus::as_str,
            IncidentStatus::parse,
        );
        assert_wire_names(
            &MaintenanceStatus::ALL,
            MaintenanceStatus::as_str,
            MaintenanceStatus::parse,
        );
        assert_wire_names(&Severity::ALL, Severity::as_str, Severity::parse);
        assert_wire_names(&crate::Role::ALL, crate::Role::as_str, crate::Role::parse);
        assert_wire_names(
            &crate::Permission::ALL,
            crate::Permission::as_str,
            crate::Permission::parse,
        );
        assert_wire_names(
            &crate::change::ChangeKind::ALL,
            crate::change::ChangeKind::as_str,
            crate::change::ChangeKind::parse,
        );
        assert_eq!(Severity::parse("s2"), Some(Severity::S2));
        assert_wire_names(
            &[CheckOutcome::Up, CheckOutcome::Degraded, CheckOutcome::Down],
            CheckOutcome::as_str,
            CheckOutcome::parse,
        );
        assert_wire_names(
            &[Health::Unknown, Health::Up, Health::Degraded, Health::Down],
            Health::as_str,
            Health::parse,
        );
        let sources = [
            AlertSource::Alertmanager,
            AlertSource::Grafana,
            AlertSource::Pagerduty,
        ];
        assert_wire_names(&sources, AlertSource::as_str, |s| {
            sources.into_iter().find(|x| x.as_str() == s)
        });
        let severities = [
            AlertSeverity::Info,
            AlertSeverity::Warning,
            AlertSeverity::Error,
            AlertSeverity::Critical,
        ];
        assert_wire_names(&severities, AlertSeverity::as_str, |s| {
            severities.into_iter().find(|x| x.as_str() == s)
        });
        let states = [
            RegressionState::Watching,
            RegressionState::Suspect,
            RegressionState::Clear,
            RegressionState::InsufficientData,
            RegressionState::Superseded,
        ];
        assert_wire_names(&states, RegressionState::as_str, |s| {
            states.into_iter().find(|x| x.as_str() == s)
        });
        assert_eq!(
            RegressionState::InsufficientData.as_str(),
            "insufficient_data"
        );
        assert_wire_names(&ActionKind::ALL, ActionKind::as_str, ActionKind::parse);
        let postmortems = [PostmortemState::Draft, PostmortemState::Published];
        assert_wire_names(&postmortems, PostmortemState::as_str, |s| {
            postmortems.into_iter().find(|x| x.as_str() == s)
        });
        assert_eq!(MaintenanceStatus::InProgress.as_str(), "in_progress");
        assert_eq!(DegradedPerformance.as_str(), "degraded_performance");
    }

    #[test]
    fn worst_wins_with_maintenance_below_trouble() {
        assert_eq!(
            ComponentStatus::worst_of([Operational, UnderMaintenance]),
            UnderMaintenance
        );
        assert_eq!(
            ComponentStatus::worst_of([UnderMaintenance, DegradedPerformance]),
            DegradedPerformance
        );
        assert_eq!(ComponentStatus::worst_of([]), Operational);
    }
}

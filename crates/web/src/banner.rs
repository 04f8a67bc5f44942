//! The banner at the top of `/`: its colour, icon and words, decided by one rule so they can
//! never contradict each other or the API.
//!
//! The inputs are the page status exactly as `status.json` reports it (Statuspage's indicator
//! and one of its seven fixed descriptions, [`crate::v2::page_status`]) and the open incidents.
//! The description describes the components; the indicator may be raised above it by an open
//! incident's impact. The rule:
//!
//! | case | colour | icon | words |
//! |---|---|---|---|
//! | the indicator is what the description implies | the indicator | by the indicator | the description |
//! | an open incident raised the indicator | the indicator | by the indicator | what the incidents that raised it are doing |
//!
//! Icons: a check mark for `none`, a gear for `maintenance`, an exclamation mark for `minor`,
//! `major` and `critical`. So a monitoring incident of critical impact on a page whose
//! components are all operational reads "Fix applied, monitoring" on red, never "All Systems
//! Operational".

use std::borrow::Cow;

use pharos_domain::status::{
    ALL_OPERATIONAL, DEGRADED_SYSTEM_SERVICE, MAJOR_SYSTEM_OUTAGE, MINOR_SERVICE_OUTAGE,
    PARTIALLY_DEGRADED_SERVICE, PARTIAL_SYSTEM_OUTAGE, SERVICE_UNDER_MAINTENANCE,
};
use pharos_domain::{IncidentStatus, Indicator};

use crate::v2::{Incident, Status};

/// What the banner shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Banner {
    /// CSS class: the indicator's wire name (`none`, `minor`, `major`, `critical`,
    /// `maintenance`).
    pub(crate) class: &'static str,
    /// The icon, a single character drawn in a circle (decorative: the words carry the meaning).
    pub(crate) icon: &'static str,
    /// The sentence.
    pub(crate) words: Cow<'static, str>,
}

/// The icon of an indicator.
fn icon(indicator: Indicator) -> &'static str {
    match indicator {
        Indicator::None => "\u{2713}",
        // U+FE0E asks for the text (not emoji) form, so it takes the banner's colour.
        Indicator::Maintenance => "\u{2699}\u{FE0E}",
        Indicator::Minor | Indicator::Major | Indicator::Critical => "!",
    }
}

/// The indicator a fixed description stands for when nothing raised it (Atlassian's rollup
/// table); `None` for a string that is not one of the seven.
fn described(description: &str) -> Option<Indicator> {
    Some(match description {
        ALL_OPERATIONAL => Indicator::None,
        MAJOR_SYSTEM_OUTAGE => Indicator::Critical,
        PARTIAL_SYSTEM_OUTAGE => Indicator::Major,
        MINOR_SERVICE_OUTAGE | DEGRADED_SYSTEM_SERVICE | PARTIALLY_DEGRADED_SERVICE => {
            Indicator::Minor
        }
        SERVICE_UNDER_MAINTENANCE => Indicator::Maintenance,
        _ => return None,
    })
}

/// The banner for `status` (as `status.json` reports it) with the open `incidents`.
pub(crate) fn banner(status: &Status, incidents: &[Incident]) -> Banner {
    let indicator = status.indicator;
    let raised = described(&status.description).is_none_or(|d| d.rank() < indicator.rank());
    let words = if raised {
        // The incidents that set the colour: open ones whose impact is the indicator.
        let mut responsible = incidents
            .iter()
            .filter(|i| i.status.is_unresolved() && i.impact == indicator);
        match (responsible.next(), responsible.count()) {
            (None, _) => Cow::Borrowed(fallback(indicator)),
            (Some(_), more) if more > 0 => Cow::Owned(format!("{} open incidents", more + 1)),
            (Some(_), _) if indicator == Indicator::Maintenance => {
                Cow::Borrowed("Maintenance in progress")
            }
            (Some(i), _) => Cow::Borrowed(match i.status {
                IncidentStatus::Investigating => "Incident under investigation",
                IncidentStatus::Identified => "Issue identified, fix in progress",
                IncidentStatus::Monitoring => "Fix applied, monitoring",
                // Not open: filtered out above.
                IncidentStatus::Resolved | IncidentStatus::Postmortem => fallback(indicator),
            }),
        }
    } else {
        Cow::Owned(status.description.clone())
    };
    Banner {
        class: indicator.as_str(),
        icon: icon(indicator),
        words,
    }
}

/// Words for an indicator raised by nothing visible (never the case when the inputs come from
/// one snapshot): the description Statuspage gives that indicator.
fn fallback(indicator: Indicator) -> &'static str {
    match indicator {
        Indicator::None => ALL_OPERATIONAL,
        Indicator::Minor => MINOR_SERVICE_OUTAGE,
        Indicator::Major => PARTIAL_SYSTEM_OUTAGE,
        Indicator::Critical => MAJOR_SYSTEM_OUTAGE,
        Indicator::Maintenance => SERVICE_UNDER_MAINTENANCE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(indicator: Indicator, description: &str) -> Status {
        Status {
            indicator,
            description: description.to_owned(),
        }
    }

    #[test]
    fn components_speak_when_nothing_raised_the_indicator() {
        let b = banner(&status(Indicator::Major, PARTIAL_SYSTEM_OUTAGE), &[]);
        assert_eq!(
            b,
            Banner {
                class: "major",
                icon: "!",
                words: Cow::Borrowed(PARTIAL_SYSTEM_OUTAGE)
            }
        );
        let b = banner(&status(Indicator::None, ALL_OPERATIONAL), &[]);
        assert_eq!((b.class, b.icon), ("none", "\u{2713}"));
    }

    #[test]
    fn an_unexplained_raise_falls_back_to_the_indicators_own_words() {
        let b = banner(&status(Indicator::Critical, ALL_OPERATIONAL), &[]);
        assert_eq!(b.words, MAJOR_SYSTEM_OUTAGE);
        let b = banner(&status(Indicator::Minor, "Something else"), &[]);
        assert_eq!(b.words, MINOR_SERVICE_OUTAGE);
    }
}

//! The words of a notification, the same on every channel: a title such as
//! "\[Investigating\] Major outage of API", the status and impact, the latest public update,
//! the affected components, the time in the page's zone (with its abbreviation), a link, and a
//! [`Tone`] that chat channels turn into a colour and ntfy into a priority.
//!
//! Titles by event:
//!
//! | event | title |
//! |---|---|
//! | incident opened / updated / resolved | `[Investigating] Major outage of API`, `[Resolved] …` |
//! | maintenance scheduled | `Maintenance scheduled: Database upgrade` |
//! | maintenance started | `Maintenance started: Database upgrade` |
//! | maintenance updated | `Maintenance update: Database upgrade` |
//! | maintenance completed | `Maintenance completed: Database upgrade` |
//! | component status | `API is now Major outage (was Operational)` |
//! | probe offline | `Probe offline: Europe (France)` |
//! | probe online | `Probe back online: Europe (France)` |

use pharos_domain::{ComponentStatus, Impact, IncidentStatus, MaintenanceStatus};

use crate::event::{Event, EventKind};
use crate::render::RenderError;
use crate::time;

/// How alarming a message is: the colour of a chat message, the priority of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tone {
    /// A full outage: incident impact critical, a component in major outage. Red.
    Critical,
    /// A partial outage: impact major, a component in partial outage. Orange.
    Major,
    /// Degradation: impact minor, degraded performance. Yellow.
    Minor,
    /// Planned maintenance. Blue.
    Maintenance,
    /// Over: resolved, completed, back to operational. Green.
    Good,
    /// An open incident without impact. Grey.
    Neutral,
}

impl Tone {
    /// The colour as `0xRRGGBB` (Statuspage's palette).
    pub fn rgb(self) -> u32 {
        match self {
            Self::Critical => 0xE7_4C_3C,
            Self::Major => 0xE6_7E_22,
            Self::Minor => 0xF1_C4_0F,
            Self::Maintenance => 0x34_98_DB,
            Self::Good => 0x2E_CC_71,
            Self::Neutral => 0x95_A5_A6,
        }
    }

    /// The tone of an open incident with `impact`.
    pub fn of_impact(impact: Impact) -> Tone {
        match impact {
            Impact::Critical => Self::Critical,
            Impact::Major => Self::Major,
            Impact::Minor => Self::Minor,
            Impact::None => Self::Neutral,
        }
    }

    /// The tone of a component now in `status`.
    pub fn of_component(status: ComponentStatus) -> Tone {
        match status {
            ComponentStatus::MajorOutage => Self::Critical,
            ComponentStatus::PartialOutage => Self::Major,
            ComponentStatus::DegradedPerformance => Self::Minor,
            ComponentStatus::UnderMaintenance => Self::Maintenance,
            ComponentStatus::Operational => Self::Good,
        }
    }
}

/// What every channel shows of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The headline, e.g. `[Investigating] Major outage of API`.
    pub title: String,
    /// The status label, e.g. `Investigating`, `In progress`, `Major outage`.
    pub status: String,
    /// The impact label for incidents (`Critical`, `Major`, `Minor`, `None`) and
    /// `Maintenance` for maintenances; `None` for component events.
    pub impact: Option<String>,
    /// The latest public update's text, if there is one.
    pub body: Option<String>,
    /// The maintenance window, e.g. `Jan 6, 2026 02:00 – 04:00 MST`.
    pub window: Option<String>,
    /// Affected components, each `Name — Status` (`API — Major outage`).
    pub components: Vec<String>,
    /// When the event happened, in the page's zone: `Jan 5, 2026 14:03 MST`.
    pub when: String,
    /// Where to read more: the incident's or maintenance's page, else the status page.
    pub link: String,
    /// The link's label: `View incident`, `View maintenance` or `View status page`.
    pub link_text: &'static str,
    /// How alarming it is.
    pub tone: Tone,
}

impl Message {
    /// The words for `event`. Fails only when the event lacks what its kind needs.
    pub fn of(event: &Event) -> Result<Message, RenderError> {
        let tz = time::zone(&event.page.time_zone);
        let when = time::human(event.at, tz);
        let page_link = event.page.url.trim_end_matches('/').to_owned();
        let missing = |missing| RenderError::Incomplete {
            kind: event.kind.as_str(),
            missing,
        };
        if event.kind.is_incident() {
            let i = event.incident.as_ref().ok_or_else(|| missing("incident"))?;
            let components = i
                .components
                .iter()
                .map(|(id, st)| format!("{} — {}", event.component_name(id), st.label()))
                .collect();
            let tone = if i.status.is_unresolved() {
                Tone::of_impact(i.impact())
            } else {
                Tone::Good
            };
            return Ok(Message {
                title: format!("[{}] {}", i.status.label(), i.name),
                status: i.status.label().to_owned(),
                impact: Some(impact_label(i.impact()).to_owned()),
                body: latest_body(i.updates.last().map(|u| u.body.as_str())),
                window: None,
                components,
                when,
                link: event.link().unwrap_or(page_link),
                link_text: "View incident",
                tone,
            });
        }
        if event.kind.is_maintenance() {
            let m = event
                .maintenance
                .as_ref()
                .ok_or_else(|| missing("maintenance"))?;
            let verb = match event.kind {
                EventKind::MaintenanceScheduled => "Maintenance scheduled",
                EventKind::MaintenanceStarted => "Maintenance started",
                EventKind::MaintenanceCompleted => "Maintenance completed",
                _ => "Maintenance update",
            };
            let components = m
                .components
                .iter()
                .map(|id| {
                    let status = event
                        .components
                        .iter()
                        .find(|c| &c.id == id)
                        .map(|c| c.status);
                    match status {
                        Some(st) => format!("{} — {}", event.component_name(id), st.label()),
                        None => event.component_name(id),
                    }
                })
                .collect();
            return Ok(Message {
                title: format!("{verb}: {}", m.name),
                status: m.status.label().to_owned(),
                impact: Some("Maintenance".to_owned()),
                body: latest_body(m.updates.last().map(|u| u.body.as_str())),
                window: Some(time::human_window(m.scheduled_for, m.scheduled_until, tz)),
                components,
                when,
                link: event.link().unwrap_or(page_link),
                link_text: "View maintenance",
                tone: if m.status == MaintenanceStatus::Completed {
                    Tone::Good
                } else {
                    Tone::Maintenance
                },
            });
        }
        if event.kind.is_probe() {
            let l = event.location.as_ref().ok_or_else(|| missing("location"))?;
            let online = event.kind == EventKind::ProbeOnline;
            let checks = match l.monitors {
                1 => "its 1 monitor".to_owned(),
                n => format!("its {n} monitors"),
            };
            let body = if online {
                format!(
                    "The probes of {} are heard from again; {checks} count again.",
                    l.name
                )
            } else {
                let since = l
                    .last_seen_at
                    .map(|t| format!(" since {}", time::human(t, tz)))
                    .unwrap_or_default();
                format!(
                    "Nothing heard from the probes of {}{since}. Until they return, {checks} there count as unknown, never as down: the status page is not affected. Check the probe process and its way to this server.",
                    l.name
                )
            };
            return Ok(Message {
                title: if online {
                    format!("Probe back online: {}", l.name)
                } else {
                    format!("Probe offline: {}", l.name)
                },
                status: if online { "Online" } else { "Offline" }.to_owned(),
                impact: None,
                body: Some(body),
                window: None,
                components: Vec::new(),
                when,
                link: page_link,
                link_text: "View status page",
                tone: if online { Tone::Good } else { Tone::Major },
            });
        }
        let change = event
            .component_change
            .as_ref()
            .ok_or_else(|| missing("component change"))?;
        let name = event.component_name(&change.component_id);
        Ok(Message {
            title: format!(
                "{name} is now {} (was {})",
                change.new_status.label(),
                change.old_status.label()
            ),
            status: change.new_status.label().to_owned(),
            impact: None,
            body: None,
            window: None,
            components: vec![format!("{name} — {}", change.new_status.label())],
            when,
            link: page_link,
            link_text: "View status page",
            tone: Tone::of_component(change.new_status),
        })
    }

    /// The text under the title: the latest update, else the maintenance window.
    pub fn detail(&self) -> Option<String> {
        match (&self.body, &self.window) {
            (Some(b), _) => Some(b.clone()),
            (None, Some(w)) => Some(format!("Scheduled for {w}")),
            (None, None) => None,
        }
    }

    /// One line for notifications and plain-text fallbacks: `[Investigating] Major outage of
    /// API — We are investigating a major outage of API: …`.
    pub fn fallback(&self) -> String {
        match self.detail() {
            Some(d) => format!("{} — {}", self.title, d),
            None => self.title.clone(),
        }
    }
}

/// `Critical`, `Major`, `Minor`, `None`.
pub fn impact_label(impact: Impact) -> &'static str {
    impact.indicator().label()
}

/// Whether an incident in `status` is over, which PagerDuty resolves.
pub(crate) fn incident_over(status: IncidentStatus) -> bool {
    !status.is_unresolved()
}

fn latest_body(body: Option<&str>) -> Option<String> {
    body.map(str::trim)
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
}

/// `s` cut to at most `max` characters, ending in `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `s` cut to at most `max` bytes on a character boundary, ending in `…` when cut.
pub(crate) fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let ellipsis = '…'.len_utf8();
    let mut end = max.saturating_sub(ellipsis);
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("ééé", 2), "é…");
        assert_eq!(truncate_bytes("ééé", 6), "ééé");
        let cut = truncate_bytes("ééé", 5);
        assert!(cut.len() <= 5, "{cut}");
        assert_eq!(cut, "é…");
    }
}

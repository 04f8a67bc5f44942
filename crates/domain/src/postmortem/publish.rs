//! What must hold before a postmortem is published: every section written ([`missing`] lists
//! the gaps) and a rendering short enough for one public update.

use serde::Serialize;

use super::{ActionKind, Postmortem};
use crate::incident::RuleError;

/// One gap that keeps a postmortem from being published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// The section or field at fault, as named in `PUT …/postmortem`: `root_cause`,
    /// `remediation`, `actions`, `actions[0].owner`, `services_impacted`, …
    pub section: String,
    /// What to do about it.
    pub message: String,
}

/// Everything that keeps `pm` from being published, in document order; empty when it is
/// complete. An empty section, no action items, no preventative action, and an action
/// without an owner or a due date are each listed.
pub fn missing(pm: &Postmortem) -> Vec<Missing> {
    let mut out = Vec::new();
    let mut gap = |section: String, message: &str| {
        out.push(Missing {
            section,
            message: message.to_owned(),
        })
    };
    if pm.description.text.trim().is_empty() {
        gap("description".into(), "the description is empty");
    }
    if pm.event_type.text.trim().is_empty() {
        gap("event_type".into(), "the type of event is empty");
    }
    if pm.services_impacted.is_empty() && pm.services_note.is_none() {
        gap(
            "services_impacted".into(),
            "no component was recorded on the incident; name the services impacted",
        );
    }
    if pm.timeline.is_empty() {
        gap("timeline".into(), "the timeline is empty");
    }
    if pm.total_duration.is_none() {
        gap(
            "total_duration".into(),
            "the incident is not resolved yet, so its duration is unknown",
        );
    }
    if pm.root_cause.trim().is_empty() {
        gap("root_cause".into(), "write the root cause: why it happened");
    }
    if pm.remediation.trim().is_empty() {
        gap(
            "remediation".into(),
            "write the remediation: what was done to end it",
        );
    }
    if pm.actions.is_empty() {
        gap(
            "actions".into(),
            "add at least one action item, with an owner and a due date",
        );
    } else if !pm.actions.iter().any(|a| a.kind == ActionKind::Prevent) {
        gap(
            "actions".into(),
            "add at least one action of kind \"prevent\": what keeps this from happening again",
        );
    }
    for (i, a) in pm.actions.iter().enumerate() {
        if a.owner.is_none() {
            gap(
                format!("actions[{i}].owner"),
                &format!("action {} has no owner", a.id),
            );
        }
        if a.due.is_none() {
            gap(
                format!("actions[{i}].due"),
                &format!("action {} has no due date", a.id),
            );
        }
    }
    out
}

/// Checks that a rendered postmortem fits in one public update.
pub fn check_publishable_length(markdown: &str) -> Result<(), RuleError> {
    let len = markdown.chars().count();
    if len > crate::incident::MAX_BODY_LEN {
        return Err(RuleError::invalid(
            "postmortem",
            format!(
                "the published postmortem would be {len} characters; a public update holds at most {}",
                crate::incident::MAX_BODY_LEN
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postmortem::fixtures::*;
    use crate::postmortem::*;

    #[test]
    fn a_fresh_draft_needs_only_the_human_parts() {
        let (inc, timeline) = outage();
        let pm = build(&inc, &timeline, &PostmortemEdits::default(), chrono_tz::UTC);
        let gaps: Vec<String> = missing(&pm).into_iter().map(|m| m.section).collect();
        assert_eq!(gaps, ["root_cause", "remediation", "actions"]);

        let pm = build(&inc, &timeline, &complete_edits(), chrono_tz::UTC);
        assert_eq!(missing(&pm), vec![]);

        let mut open = inc.clone();
        open.resolved_at = None;
        open.status = IncidentStatus::Identified;
        let pm = build(&open, &timeline, &complete_edits(), chrono_tz::UTC);
        let gaps: Vec<String> = missing(&pm).into_iter().map(|m| m.section).collect();
        assert_eq!(gaps, ["total_duration"]);
    }

    #[test]
    fn actions_without_owner_or_due_date_or_prevention_are_flagged() {
        let (inc, timeline) = outage();
        let edits = parse_edits(
            EditsInput {
                root_cause: Some("x".into()),
                remediation: Some("y".into()),
                actions: vec![
                    ActionInput {
                        description: "Runbook for the pool".into(),
                        kind: Some(super::ActionKind::Process),
                        owner: Some("sre".into()),
                        ..ActionInput::default()
                    },
                    ActionInput {
                        description: "Review alerts".into(),
                        kind: Some(super::ActionKind::Mitigate),
                        due: chrono::NaiveDate::from_ymd_opt(2026, 5, 1),
                        ..ActionInput::default()
                    },
                ],
                ..EditsInput::default()
            },
            &PostmortemEdits::default(),
        )
        .unwrap();
        let pm = build(&inc, &timeline, &edits, chrono_tz::UTC);
        let gaps = missing(&pm);
        let sections: Vec<&str> = gaps.iter().map(|m| m.section.as_str()).collect();
        assert_eq!(sections, ["actions", "actions[0].due", "actions[1].owner"]);
        assert!(gaps[0].message.contains("prevent"), "{gaps:?}");
        assert_eq!(gaps[2].message, "action A2 has no owner");
        let md = render_markdown(&pm, Audience::Internal);
        assert!(md.contains("> **Draft — incomplete.**"), "{md}");
        assert!(
            md.contains("> - `actions[1].owner`: action A2 has no owner"),
            "{md}"
        );
        assert!(
            md.contains("- A2 (mitigate): Review alerts. Owner: **none yet**. Due: 2026-05-01."),
            "{md}"
        );
    }
}

//! The postmortem as Markdown, for responders or for the public page. The wording and the
//! layout are the template's (`templates/postmortem.md`); this module picks, for the
//! audience, which variant of each text is shown (named or anonymous, public or private)
//! and writes the times.

use askama::Template;
use chrono::{DateTime, Utc};

use super::words::{stamp, until, when};
use super::{missing, Missing, Postmortem};

/// Who a rendering is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Responders: the whole draft, with a banner listing what is missing, private notes and
    /// similar incidents.
    Internal,
    /// The public page: no private notes, no gaps, no similar incidents, no change authors
    /// or record ids; sections start at level 4 because the page shows the text under the
    /// incident's and the update's headings.
    Public {
        /// Whether it may name responders (who declared it, posted updates, owns an action
        /// item): `[page] show_responders`, off by default.
        show_responders: bool,
    },
}

/// The postmortem as Markdown, section by section: description, type of event, services
/// impacted, timeline (its zone named once in the heading, UTC beside each line), total
/// duration, detection, changes, root cause, remediation, action items (and, for
/// responders, similar incidents). Text people wrote is kept as written.
pub fn render_markdown(pm: &Postmortem, audience: Audience) -> String {
    let mut md = String::new();
    // Writing to a String cannot fail, and no value or filter in the template does.
    let _ = Document::new(pm, audience).render_into(&mut md);
    // Every section ends with a blank line; the document ends with one line break.
    while md.ends_with("\n\n") {
        md.pop();
    }
    md
}

/// What `templates/postmortem.md` is rendered from: the postmortem, and the texts chosen for
/// the audience.
#[derive(Template)]
#[template(path = "postmortem.md", escape = "none")]
struct Document<'a> {
    /// The postmortem.
    pm: &'a Postmortem,
    /// For responders: the title, the gaps, private notes, change authors and record ids,
    /// similar incidents.
    internal: bool,
    /// Whether responders may be named (who declared it, posted updates, owns an action).
    named: bool,
    /// Section headings: `##` for responders, `####` on the public page.
    h: &'static str,
    /// What keeps it from being published (responders only; empty otherwise).
    gaps: Vec<Missing>,
    /// The description as the audience reads it.
    description: &'a str,
    /// The timeline lines the audience sees: when (local, with UTC beside) and what.
    timeline: Vec<(String, &'a str)>,
    /// Whether the document is written in UTC (the heading then says nothing about UTC).
    in_utc: bool,
    /// When the trouble started, in the document's zone.
    start: String,
    /// How long it lasted and when it ended, once resolved.
    lasted: Option<(&'a str, String)>,
    /// What detected it, as the audience may read it.
    source: &'a str,
}

impl<'a> Document<'a> {
    /// The values for `pm` as `audience` reads it.
    fn new(pm: &'a Postmortem, audience: Audience) -> Document<'a> {
        let (internal, named) = match audience {
            Audience::Internal => (true, true),
            Audience::Public { show_responders } => (false, show_responders),
        };
        let description = match &pm.anonymous_description {
            Some(anonymous) if !named => anonymous,
            _ => &pm.description.text,
        };
        let timeline = pm
            .timeline
            .iter()
            .filter(|l| internal || !l.private)
            .map(|l| {
                let text = match (&l.anonymous_text, &l.public_text) {
                    _ if internal => &l.text,
                    (Some(anonymous), _) if !named => anonymous,
                    (_, Some(public)) => public,
                    _ => &l.text,
                };
                (when(&l.local, &l.utc), text.as_str())
            })
            .collect();
        let d = &pm.detection;
        Document {
            pm,
            internal,
            named,
            h: if internal { "##" } else { "####" },
            gaps: if internal { missing(pm) } else { Vec::new() },
            description,
            timeline,
            in_utc: pm.tz.name() == "UTC" || pm.tz.name() == "Etc/UTC",
            start: stamp(pm.started_at, pm.tz).0,
            lasted: match (&pm.total_duration, pm.resolved_at) {
                (Some(d), Some(end)) => Some((d.text.as_str(), until(pm.started_at, end, pm.tz))),
                _ => None,
            },
            source: if named {
                &d.source
            } else {
                &d.anonymous_source
            },
        }
    }

    /// `at` in the document's zone, e.g. `2026-03-04 09:25 MST`.
    fn local(&self, at: &DateTime<Utc>) -> String {
        stamp(*at, self.pm.tz).0
    }
}

/// The template's own filters.
mod filters {
    use std::fmt::Display;

    use super::super::words;

    /// The text on one line, shortened (see [`words::excerpt`]).
    #[askama::filter_fn]
    pub fn excerpt(s: impl Display, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(words::excerpt(&s.to_string()))
    }

    /// The text trimmed, ending with a full stop (see [`words::with_stop`]).
    #[askama::filter_fn]
    pub fn with_stop(s: impl Display, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(words::with_stop(&s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{Actor, IncidentStatus, Severity, TimelineKind};
    use crate::postmortem::fixtures::*;
    use crate::postmortem::*;
    use crate::similar::SimilarIncident;
    use crate::ComponentStatus;

    #[test]
    fn the_public_text_names_no_responder_unless_the_page_says_so() {
        let inc = incident(
            "inc1",
            "Payments failing",
            "2026-07-10T20:34:00Z",
            "2026-07-10T20:34:00Z",
            Some("2026-07-10T23:05:00Z"),
            &[("api", "partial_outage")],
        );
        let token = || Actor::Person("token-1".into());
        let timeline = vec![
            entry(
                1,
                "2026-07-10T20:34:00Z",
                alice(),
                TimelineKind::Opened {
                    name: "Payments failing".into(),
                },
            ),
            entry(
                2,
                "2026-07-10T20:35:00Z",
                alice(),
                TimelineKind::SeverityChanged {
                    from: None,
                    to: Some(Severity::S2),
                },
            ),
            entry(
                3,
                "2026-07-10T20:36:00Z",
                token(),
                TimelineKind::RoleAssigned {
                    role: "commander".into(),
                    person: Some("bob".into()),
                },
            ),
            entry(
                4,
                "2026-07-10T20:37:00Z",
                token(),
                TimelineKind::Renamed {
                    from: "Payments failing".into(),
                    to: "Payments failing in EU".into(),
                },
            ),
            update(
                5,
                "2026-07-10T21:00:00Z",
                token(),
                "identified",
                "Found it.",
            ),
            update(6, "2026-07-10T23:05:00Z", alice(), "resolved", "Fixed."),
            update(7, "2026-07-11T09:00:00Z", alice(), "postmortem", "…"),
        ];
        let pm = build(&inc, &timeline, &complete_edits(), chrono_tz::UTC);
        // Responders' draft: complete, with names.
        let internal = render_markdown(&pm, Audience::Internal);
        for name in ["alice", "token-1", "bob"] {
            assert!(internal.contains(name), "{name} missing from:\n{internal}");
        }
        assert_eq!(pm.detection.source, "alice (declared by hand)");

        let public = render_markdown(
            &pm,
            Audience::Public {
                show_responders: false,
            },
        );
        for name in ["alice", "token-1", "bob"] {
            assert!(!public.contains(name), "{name} named in:\n{public}");
        }
        for line in [
            "It was declared by a responder.",
            "Detected by a responder (declared by hand).",
            "— A responder declared the incident: Payments failing",
            "— Severity set to S2\n",
            "— The commander role was assigned\n",
            "— Renamed from “Payments failing” to “Payments failing in EU”\n",
            "— Identified: public update: Found it.",
            "— Postmortem published\n",
            "- A1 (prevent): Alert on open connections. Due: 2026-04-30.",
        ] {
            assert!(public.contains(line), "{line:?} missing from:\n{public}");
        }

        let named = render_markdown(
            &pm,
            Audience::Public {
                show_responders: true,
            },
        );
        for line in [
            "It was declared by alice.",
            "— alice declared the incident",
            "— bob is the commander (set by token-1)",
            "— Identified: public update by token-1: Found it.",
            "Owner: alice.",
        ] {
            assert!(named.contains(line), "{line:?} missing from:\n{named}");
        }
        assert!(!named.contains("Private note"), "{named}");
    }

    #[test]
    fn markdown_has_every_section_in_order_and_the_public_text_hides_private_parts() {
        let (inc, timeline) = outage();
        let mut edits = complete_edits();
        edits.event_type = Some("Service disruption".into());
        let mut pm = build(&inc, &timeline, &edits, chrono_tz::America::Denver);
        pm.similar_incidents.push(SimilarIncident {
            id: id("old1"),
            name: "Major outage of API".into(),
            status: IncidentStatus::Postmortem,
            started_at: t("2026-02-01T10:00:00Z"),
            resolved_at: None,
            score: 0.5,
            shared_components: vec![cid("api")],
            postmortem: Some(crate::similar::PostmortemState::Published),
            root_cause: Some("Leak".into()),
            open_actions: vec![],
        });
        let md = render_markdown(&pm, Audience::Internal);
        let order = [
            "# Postmortem: Major outage of API",
            "> Complete: ready to publish.",
            "## Description",
            "## Type of event\n\nService disruption",
            "## Services impacted\n\n- API: major outage",
            "## Timeline",
            "## Total duration\n\n1h 28m, from 2026-03-04 09:25 MST to 10:53 MST.",
            "## Detection\n\nDetected by the api-health check.",
            "- Time to resolve: 1h 28m",
            "## Changes before the incident\n\nNo changes were recorded",
            "## Root cause\n\nA connection leak.",
            "## Remediation\n\nRestarted the pool.",
            "## Preventative actions\n\n- A1 (prevent): Alert on open connections. Owner: alice. Due: 2026-04-30.",
            "## Similar incidents\n\n- Major outage of API (old1)",
        ];
        let mut from = 0;
        for part in order {
            let at = md[from..]
                .find(part)
                .unwrap_or_else(|| panic!("{part:?} missing or out of order in:\n{md}"));
            from += at + part.len();
        }
        assert!(md.contains("Private note by alice: Paged the database on-call."));

        let public = render_markdown(
            &pm,
            Audience::Public {
                show_responders: false,
            },
        );
        assert!(public.starts_with("#### Description\n"), "{public}");
        assert!(!public.contains("Paged the database"), "{public}");
        assert!(!public.contains("Similar incidents"), "{public}");
        assert!(!public.contains("Postmortem:"), "{public}");
        assert!(!public.contains("Draft"), "{public}");
        assert!(public.contains("#### Preventative actions"), "{public}");
        assert!(check_publishable_length(&public).is_ok());
        assert_eq!(
            check_publishable_length(&"x".repeat(crate::incident::MAX_BODY_LEN + 1))
                .unwrap_err()
                .field(),
            "postmortem"
        );
    }

    /// A postmortem that reaches every branch of the renderer: a zone with UTC beside, changes
    /// (corrected, suspect, during the incident, by a named author), actions (done, linked,
    /// without owner or due date), similar incidents (with and without a postmortem, a long
    /// root cause, open actions), a private note and a person's updates.
    fn everything() -> Postmortem {
        use crate::change::{Change, Regression, RegressionState};
        let (mut inc, mut timeline) = outage();
        inc.components
            .insert(cid("db"), ComponentStatus::DegradedPerformance);
        timeline.push(entry(
            7,
            "2026-03-04T16:40:00Z",
            alice(),
            TimelineKind::SeverityChanged {
                from: None,
                to: Some(Severity::S1),
            },
        ));
        timeline.push(entry(
            8,
            "2026-03-04T16:41:00Z",
            Actor::Person("token-1".into()),
            TimelineKind::RoleAssigned {
                role: "commander".into(),
                person: Some("bob".into()),
            },
        ));
        let pool = |id_: &str, component: &str, at: &str| Change {
            summary: "Pool settings".into(),
            ..change(id_, component, at)
        };
        let mut released = related(
            Change {
                version: Some("1.4.2".into()),
                author: Some("carol".into()),
                ..pool("chg_b", "api", "2026-03-04T15:00:00Z")
            },
            inc.started_at,
            None,
        );
        released.entry.regression = Some(Regression {
            state: RegressionState::Suspect,
            suspect: true,
            summary: "p95 latency 3.1× higher since deploy 1.4.2 at 15:00 UTC".into(),
            monitors: vec![],
            before: None,
            after: None,
            window_seconds: 900,
            evaluated_at: t("2026-03-04T15:15:00Z"),
            recovered_at: None,
        });
        let changes = vec![
            released,
            related(
                pool("chg_a", "db", "2026-03-03T15:00:00Z"),
                inc.started_at,
                Some("chg_c"),
            ),
            related(
                pool("chg_d", "db", "2026-03-04T17:00:00Z"),
                inc.started_at,
                None,
            ),
        ];
        let mut edits = complete_edits();
        edits.actions.push(ActionItem {
            id: "A2".into(),
            description: "Runbook for the pool!".into(),
            owner: None,
            due: None,
            kind: ActionKind::Process,
            done: true,
            url: Some("https://tracker.example.com/T-1".into()),
        });
        let mut pm = build_with_changes(
            &inc,
            &timeline,
            &changes,
            &edits,
            chrono_tz::America::Denver,
        );
        pm.similar_incidents = vec![
            SimilarIncident {
                id: id("old1"),
                name: "Major outage of API".into(),
                status: IncidentStatus::Postmortem,
                started_at: t("2026-02-01T10:00:00Z"),
                resolved_at: None,
                score: 0.456,
                shared_components: vec![cid("api")],
                postmortem: Some(crate::similar::PostmortemState::Published),
                root_cause: Some(format!(
                    "A leak\nin the pool. {}",
                    "Long words. ".repeat(30)
                )),
                open_actions: vec![
                    ActionItem {
                        due: None,
                        owner: None,
                        ..edits.actions[1].clone()
                    },
                    edits.actions[0].clone(),
                ],
            },
            SimilarIncident {
                id: id("old2"),
                name: "Slow API".into(),
                status: IncidentStatus::Resolved,
                started_at: t("2026-01-01T10:00:00Z"),
                resolved_at: None,
                score: 0.3,
                shared_components: vec![cid("api")],
                postmortem: None,
                root_cause: None,
                open_actions: vec![],
            },
        ];
        pm
    }

    /// An incident still open, with nothing written yet, no component and no timeline, in
    /// `Etc/UTC`: every "not yet" wording.
    fn bare() -> Postmortem {
        let mut inc = incident(
            "inc2",
            "Calendar sync removed",
            "2026-07-10T20:30:00Z",
            "2026-07-10T20:34:00Z",
            None,
            &[],
        );
        inc.published_at = None;
        let mut pm = build(&inc, &[], &PostmortemEdits::default(), chrono_tz::Etc::UTC);
        assert_eq!(pm.timeline.len(), 1, "only the start of the trouble");
        pm.timeline.clear();
        pm
    }

    /// Every rendering, byte for byte, against the documents in `golden/` (set
    /// `PHAROS_BLESS_GOLDEN=1` to rewrite them after a deliberate change in wording).
    #[test]
    fn renderings_match_the_golden_documents() {
        let (inc, timeline) = outage();
        let bare_with_note = build(
            &incident(
                "inc2",
                "Calendar sync removed",
                "2026-07-10T20:30:00Z",
                "2026-07-10T20:34:00Z",
                None,
                &[],
            ),
            &[],
            &PostmortemEdits {
                services_impacted: Some("Calendar sync, for every customer.".into()),
                ..PostmortemEdits::default()
            },
            chrono_tz::UTC,
        );
        let public = Audience::Public {
            show_responders: false,
        };
        let named = Audience::Public {
            show_responders: true,
        };
        let cases = [
            ("everything_internal", everything(), Audience::Internal),
            ("everything_public", everything(), public),
            ("everything_public_named", everything(), named),
            ("bare_internal", bare(), Audience::Internal),
            ("bare_public", bare(), public),
            ("note_internal", bare_with_note, Audience::Internal),
            (
                "outage_internal",
                build(&inc, &timeline, &PostmortemEdits::default(), chrono_tz::UTC),
                Audience::Internal,
            ),
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/postmortem/golden");
        let bless = std::env::var_os("PHAROS_BLESS_GOLDEN").is_some();
        for (name, pm, audience) in cases {
            let md = render_markdown(&pm, audience);
            let path = dir.join(format!("{name}.md"));
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &md).unwrap();
            }
            let golden = std::fs::read_to_string(&path).unwrap();
            assert_eq!(md, golden, "{name} differs from {}", path.display());
        }
    }
}

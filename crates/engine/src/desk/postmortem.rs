//! Publishing a postmortem. As on Statuspage, publishing is a public update with status
//! `postmortem` whose body is the postmortem: the incident moves to `postmortem`, the update
//! shows on the incident page and in the v2 API, and subscribers and notifiers hear of it like
//! any update. Publishing again (after the human part was edited) revises that update's text
//! in place, without a second notification, and notes the revision in the timeline.
//!
//! Only a resolved incident's postmortem is published; `parse_incident_status` keeps people
//! from setting `postmortem` by hand, so this is the one way in. The completeness check is the
//! caller's (`pharos_domain::postmortem::missing`): the desk sees only the rendered text.

use chrono::{DateTime, Utc};
use pharos_domain::incident::TimelineKind;
use pharos_domain::postmortem::{check_publishable_length, PostmortemEdits};
use pharos_domain::{Actor, IncidentId, IncidentStatus, RuleError};

use super::{not_found, to_doc, Desk, DeskError};

/// What publishing a postmortem did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    /// Posted the `postmortem` update: the incident moved from `resolved` to `postmortem`.
    First,
    /// Replaced the text of the postmortem already published.
    Revised,
    /// The published text was already this one: nothing changed.
    Unchanged,
}

/// An incident's postmortem as stored: the human part, and when it was saved and published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredPostmortem {
    /// The human part (empty when nothing was saved).
    pub edits: PostmortemEdits,
    /// When the human part was last saved; `None` when it never was.
    pub updated_at: Option<DateTime<Utc>>,
    /// When it was last published; `None` when it never was.
    pub published_at: Option<DateTime<Utc>>,
}

impl StoredPostmortem {
    /// Reads a stored record. A document that no longer parses is logged and read as empty,
    /// so one bad row never hides the incident.
    pub fn from_record(r: pharos_store::PostmortemRecord) -> StoredPostmortem {
        let edits = match serde_json::from_str(&r.doc) {
            Ok(e) => e,
            Err(error) => {
                tracing::error!(incident = %r.incident_id, %error, "a stored postmortem could not be read; it is shown empty");
                PostmortemEdits::default()
            }
        };
        let saved = r.doc != "{}" || r.published_at.is_none();
        StoredPostmortem {
            edits,
            updated_at: saved.then_some(r.updated_at),
            published_at: r.published_at,
        }
    }
}

/// The stored form of the human part.
pub(crate) fn edits_doc(edits: &PostmortemEdits) -> String {
    to_doc(edits)
}

impl Desk {
    /// Publishes `body` (the rendered postmortem) on incident `id`: the first time as a public
    /// update with status `postmortem`, later by replacing that update's text. The incident
    /// must be resolved (or already `postmortem`); the text must fit in one update.
    pub fn publish_postmortem(
        &mut self,
        id: &IncidentId,
        body: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Publication, DeskError> {
        let ii = self
            .incidents
            .position(id)
            .ok_or_else(|| not_found("incident", id.as_str()))?;
        let status = self.incidents[ii].status;
        if status.is_unresolved() {
            return Err(RuleError::invalid(
                "status",
                format!(
                    "the incident is still {}; resolve it before publishing its postmortem",
                    status.as_str()
                ),
            )
            .into());
        }
        if body.trim().is_empty() {
            return Err(RuleError::invalid("postmortem", "the postmortem is empty").into());
        }
        check_publishable_length(&body)?;

        let inc = &mut self.incidents[ii];
        inc.hand_over();
        if status == IncidentStatus::Postmortem {
            if let Some(update) = inc
                .updates
                .iter_mut()
                .rev()
                .find(|u| u.status == IncidentStatus::Postmortem)
            {
                if update.body == body {
                    return Ok(Publication::Unchanged);
                }
                update.body = body;
                inc.updated_at = now;
                self.touch_incident(id);
                self.event(
                    id,
                    now,
                    now,
                    actor,
                    TimelineKind::Note {
                        body: "Revised the published postmortem.".to_owned(),
                    },
                );
                return Ok(Publication::Revised);
            }
        }
        self.post_as(ii, IncidentStatus::Postmortem, body, Vec::new(), actor, now);
        Ok(Publication::First)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::{IncidentRules, NewIncident, NewUpdate};
    use crate::test_support::t;

    fn desk_and_world() -> (Desk, crate::world::World) {
        let mut n = 0;
        let desk = Desk::new(
            IncidentRules::default(),
            Box::new(move || {
                n += 1;
                IncidentId::new(format!("id{n}")).unwrap()
            }),
            0,
        );
        let world = crate::world::World::new(
            crate::view::PageInfo {
                id: "p".into(),
                name: "P".into(),
                url: "http://x".into(),
                time_zone: chrono_tz::UTC,
                email_subscriptions: false,
                branding: Default::default(),
            },
            Vec::new(),
            Vec::new(),
            Default::default(),
            Default::default(),
            t(0),
        );
        (desk, world)
    }

    fn alice() -> Actor {
        Actor::Person("alice".into())
    }

    #[test]
    fn a_resolved_incident_gets_a_postmortem_update_once_then_revisions() {
        let (mut desk, mut world) = desk_and_world();
        let id = desk
            .create_incident(
                &mut world,
                NewIncident {
                    name: "API down".into(),
                    body: "Looking".into(),
                    ..NewIncident::default()
                },
                alice(),
                t(0),
            )
            .unwrap();
        let refused = desk
            .publish_postmortem(&id, "## Root cause".into(), alice(), t(1))
            .unwrap_err();
        assert!(
            matches!(&refused, DeskError::Rule(r) if r.field() == "status"),
            "{refused:?}"
        );
        desk.post_update(
            &mut world,
            &id,
            NewUpdate {
                status: Some(IncidentStatus::Resolved),
                body: "Fixed".into(),
                ..NewUpdate::default()
            },
            alice(),
            t(60),
        )
        .unwrap();
        let _ = desk.take_writes();
        let _ = desk.take_notices();

        let empty = desk
            .publish_postmortem(&id, "  ".into(), alice(), t(61))
            .unwrap_err();
        assert!(matches!(&empty, DeskError::Rule(r) if r.field() == "postmortem"));
        let too_long = "x".repeat(pharos_domain::incident::MAX_BODY_LEN + 1);
        assert!(desk
            .publish_postmortem(&id, too_long, alice(), t(61))
            .is_err());

        assert_eq!(
            desk.publish_postmortem(&id, "Text v1".into(), alice(), t(100)),
            Ok(Publication::First)
        );
        let inc = desk.incident(&id).unwrap();
        assert_eq!(inc.status, IncidentStatus::Postmortem);
        assert_eq!(inc.resolved_at, Some(t(60)), "resolution time is kept");
        let last = inc.updates.last().unwrap();
        assert_eq!(
            (last.status, last.body.as_str()),
            (IncidentStatus::Postmortem, "Text v1")
        );
        assert_eq!(desk.take_notices().len(), 1, "subscribers hear of it once");
        let writes = desk.take_writes();
        assert_eq!(writes.incidents.len(), 1);
        assert!(writes
            .incident_events
            .iter()
            .any(|e| e.kind == "public_update"));

        assert_eq!(
            desk.publish_postmortem(&id, "Text v1".into(), alice(), t(200)),
            Ok(Publication::Unchanged)
        );
        assert_eq!(
            desk.publish_postmortem(&id, "Text v2".into(), alice(), t(300)),
            Ok(Publication::Revised)
        );
        let inc = desk.incident(&id).unwrap();
        let postmortems: Vec<&str> = inc
            .updates
            .iter()
            .filter(|u| u.status == IncidentStatus::Postmortem)
            .map(|u| u.body.as_str())
            .collect();
        assert_eq!(postmortems, ["Text v2"], "revised in place");
        assert!(desk.take_notices().is_empty(), "a revision notifies nobody");
        let writes = desk.take_writes();
        assert!(writes.incident_events.iter().any(|e| e.kind == "note"));

        assert!(matches!(
            desk.publish_postmortem(
                &IncidentId::new("nope").unwrap(),
                "x".into(),
                alice(),
                t(400)
            ),
            Err(DeskError::NotFound { .. })
        ));
    }

    #[test]
    fn stored_records_read_back_and_an_unreadable_one_is_empty() {
        let edits = PostmortemEdits {
            root_cause: "Leak".into(),
            ..PostmortemEdits::default()
        };
        let read = StoredPostmortem::from_record(pharos_store::PostmortemRecord {
            incident_id: "i".into(),
            doc: edits_doc(&edits),
            updated_at: t(5),
            published_at: None,
        });
        assert_eq!(read.edits, edits);
        assert_eq!(read.updated_at, Some(t(5)));
        let bad = StoredPostmortem::from_record(pharos_store::PostmortemRecord {
            incident_id: "i".into(),
            doc: "[1,2]".into(),
            updated_at: t(5),
            published_at: Some(t(6)),
        });
        assert_eq!(bad.edits, PostmortemEdits::default());
        assert_eq!(bad.published_at, Some(t(6)));
    }
}

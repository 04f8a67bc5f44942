//! Turns what the desk and the world report (incident and maintenance notices, component
//! status changes) into notification events, routes each to the notifiers that want it, and
//! makes the outbox rows the writer stores in the same transaction as the change itself.

use chrono::{DateTime, Utc};
use pharos_domain::{ComponentId, PageStatus};
use pharos_notify::event::ComponentChange;
use pharos_notify::{Event, EventKind, Notifier, PageContext};
use pharos_store::OutboxRecord;

use crate::desk::{Desk, Subject};
use crate::view::PageInfo;
use crate::world::{StatusChangeRecord, World};

/// The configured notifiers, and how events reach them.
pub struct Notices {
    page: PageInfo,
    notifiers: Vec<Notifier>,
    wants_component_events: bool,
    next: u64,
    stamp: i64,
}

impl Notices {
    /// Routes events for `page` to `notifiers`.
    pub fn new(page: PageInfo, notifiers: Vec<Notifier>, now: DateTime<Utc>) -> Notices {
        let wants_component_events = notifiers
            .iter()
            .any(|n| n.route.events.contains(&EventKind::ComponentStatus));
        Notices {
            page,
            notifiers,
            wants_component_events,
            next: 0,
            stamp: now.timestamp_micros(),
        }
    }

    /// The outbox rows for everything the desk noticed and every component change, with the
    /// state as it stands now.
    pub fn outbox(
        &mut self,
        world: &World,
        desk: &mut Desk,
        changes: &[StatusChangeRecord],
        now: DateTime<Utc>,
    ) -> Vec<OutboxRecord> {
        let notices = desk.take_notices();
        if self.notifiers.is_empty() || (notices.is_empty() && changes.is_empty()) {
            return Vec::new();
        }
        let page = self.page_context(world, desk);
        let mut events = Vec::new();
        for (kind, subject) in notices {
            let (incident, maintenance, ids) = match &subject {
                Subject::Incident(id) => {
                    let Some(i) = desk.incident(id) else { continue };
                    let ids: Vec<ComponentId> = i.components.keys().cloned().collect();
                    (Some(i.clone()), None, ids)
                }
                Subject::Maintenance(id) => {
                    let Some(m) = desk.maintenance(id) else {
                        continue;
                    };
                    (None, Some(m.clone()), m.components.clone())
                }
            };
            events.push(Event {
                id: self.event_id(),
                kind,
                at: now,
                page: page.clone(),
                incident,
                maintenance,
                component_change: None,
                components: ids
                    .iter()
                    .filter_map(|c| world.component_context(c))
                    .collect(),
            });
        }
        if self.wants_component_events {
            for ch in changes {
                events.push(Event {
                    id: self.event_id(),
                    kind: EventKind::ComponentStatus,
                    at: ch.at,
                    page: page.clone(),
                    incident: None,
                    maintenance: None,
                    component_change: Some(ComponentChange {
                        component_id: ch.component_id.clone(),
                        old_status: ch.from,
                        new_status: ch.to,
                    }),
                    components: world
                        .component_context(&ch.component_id)
                        .into_iter()
                        .collect(),
                });
            }
        }
        let mut rows = Vec::new();
        for event in &events {
            let payload = match serde_json::to_string(event) {
                Ok(p) => p,
                Err(error) => {
                    tracing::error!(%error, "serializing a notification failed; it is not sent");
                    continue;
                }
            };
            for n in self.notifiers.iter().filter(|n| n.route.matches(event)) {
                rows.push(OutboxRecord {
                    id: format!("{}-{}", event.id, n.id),
                    destination: destination(&n.id),
                    event_kind: event.kind.as_str().to_owned(),
                    payload: payload.clone(),
                    created_at: now,
                    due_at: now,
                });
            }
        }
        rows
    }

    fn event_id(&mut self) -> String {
        self.next += 1;
        format!("ev{}x{}", self.stamp, self.next)
    }

    /// The page as the public sees it right now: the component rollup, raised by open public
    /// incidents' impact (as the v2 API computes it).
    fn page_context(&self, world: &World, desk: &mut Desk) -> PageContext {
        let rollup = PageStatus::rollup(&world.leaf_statuses());
        let (incidents, _) = desk.lists();
        let mut indicator = rollup.indicator;
        for i in incidents
            .iter()
            .filter(|i| i.public && i.status.is_unresolved())
        {
            let impact = i.impact().indicator();
            if impact.rank() > indicator.rank() {
                indicator = impact;
            }
        }
        PageContext {
            id: self.page.id.clone(),
            name: self.page.name.clone(),
            url: self.page.url.clone(),
            time_zone: self.page.time_zone.name().to_owned(),
            status_indicator: indicator,
            status_description: rollup.description.to_owned(),
        }
    }
}

/// The outbox destination of a notifier.
pub fn destination(notifier_id: &str) -> String {
    format!("notifier:{notifier_id}")
}

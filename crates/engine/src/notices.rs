//! Turns what the desk and the world report (incident and maintenance notices, component
//! status changes) into notification events, routes each to the notifiers that want it and
//! to the public subscribers that follow it, and makes the outbox rows the writer stores in
//! the same transaction as the change itself.
//!
//! Subscribers get public events only (never a private incident): e-mail subscribers every
//! incident and maintenance event, webhook subscribers those and component status changes
//! too, as Statuspage sends them; each only for the components it follows (a chosen group
//! covers its components) or for the whole page. Each notice says who hears of it
//! ([`Reach`]): news of a private incident reaches the notifiers only, and its publication
//! the subscribers only (one message with the incident as it stands).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pharos_domain::incident::AffectedChange;
use pharos_domain::{ComponentId, PageStatus};
use pharos_notify::{Event, EventKind, Notifier, PageContext};
use pharos_store::{OutboxPayload, OutboxRecord};

use crate::desk::{Desk, Reach, Subject};
use crate::subscribers::{self, SubscriberKind, Subscribers};
use crate::view::PageInfo;
use crate::world::World;
use pharos_domain::ComponentTransition;

/// The configured notifiers, and how events reach them.
pub struct Notices {
    page: PageInfo,
    notifiers: Vec<Notifier>,
    /// Each grouped component's group, so a subscriber to a group hears of its components.
    groups: HashMap<ComponentId, ComponentId>,
    wants_component_events: bool,
    next: u64,
    stamp: i64,
    /// Locations whose probes went offline or came back, waiting for the next outbox.
    probe_news: Vec<(pharos_notify::LocationContext, bool, DateTime<Utc>)>,
}

impl Notices {
    /// Routes events for `page` to `notifiers` (and to subscribers); `groups` maps each
    /// grouped component to its group.
    pub fn new(
        page: PageInfo,
        notifiers: Vec<Notifier>,
        groups: HashMap<ComponentId, ComponentId>,
        now: DateTime<Utc>,
    ) -> Notices {
        let wants_component_events = notifiers
            .iter()
            .any(|n| n.route.events.contains(&EventKind::ComponentStatus));
        Notices {
            page,
            notifiers,
            groups,
            wants_component_events,
            next: 0,
            stamp: now.timestamp_micros(),
            probe_news: Vec::new(),
        }
    }

    /// Notes that a location's probes went offline (`online` false) or came back at `at`:
    /// responders hear of it with the next outbox, the public never.
    pub(crate) fn probe_news(
        &mut self,
        location: pharos_notify::LocationContext,
        online: bool,
        at: DateTime<Utc>,
    ) {
        self.probe_news.push((location, online, at));
    }

    /// The outbox rows for everything the desk noticed and every component change, with the
    /// state as it stands now: one per notifier whose route matches, and one per active
    /// subscriber who follows it.
    pub(crate) fn outbox(
        &mut self,
        world: &World,
        desk: &mut Desk,
        subscribers: &Subscribers,
        changes: &[ComponentTransition],
        now: DateTime<Utc>,
    ) -> Vec<OutboxRecord> {
        let notices = desk.take_notices();
        let probe_news = std::mem::take(&mut self.probe_news);
        let to_subscribers = subscribers.active().next().is_some();
        if (self.notifiers.is_empty() && !to_subscribers)
            || (notices.is_empty() && changes.is_empty() && probe_news.is_empty())
        {
            return Vec::new();
        }
        let page = self.page_context(world, desk);
        let mut events = Vec::new();
        for (location, online, at) in probe_news {
            let event = Event {
                id: self.event_id(),
                kind: if online {
                    EventKind::ProbeOnline
                } else {
                    EventKind::ProbeOffline
                },
                at,
                page: page.clone(),
                incident: None,
                maintenance: None,
                component_change: None,
                components: Vec::new(),
                location: Some(location),
            };
            // Never the public's business: a probe's silence is no outage.
            events.push((event, Reach::Responders));
        }
        for notice in notices {
            let (incident, maintenance, ids) = match &notice.subject {
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
            let event = Event {
                id: self.event_id(),
                kind: notice.kind,
                at: now,
                page: page.clone(),
                incident,
                maintenance,
                component_change: None,
                components: ids
                    .iter()
                    .filter_map(|c| world.component_context(c))
                    .collect(),
                location: None,
            };
            events.push((event, notice.reach));
        }
        if self.wants_component_events || subscribers.wants_component_events() {
            for ch in changes {
                let event = Event {
                    id: self.event_id(),
                    kind: EventKind::ComponentStatus,
                    at: ch.at,
                    page: page.clone(),
                    incident: None,
                    maintenance: None,
                    component_change: Some(AffectedChange {
                        component_id: ch.component_id.clone(),
                        old_status: ch.from,
                        new_status: ch.to,
                    }),
                    components: world
                        .component_context(&ch.component_id)
                        .into_iter()
                        .collect(),
                    location: None,
                };
                events.push((event, Reach::Everyone));
            }
        }
        let mut rows = Vec::new();
        for (event, reach) in &events {
            // Stored once, however many deliveries carry it.
            let payload = match serde_json::to_string(event) {
                Ok(p) => OutboxPayload::shared(event.id.clone(), p),
                Err(error) => {
                    tracing::error!(%error, "serializing a notification failed; it is not sent");
                    continue;
                }
            };
            let notifiers = self
                .notifiers
                .iter()
                .filter(|n| *reach != Reach::Public && n.route.matches(event));
            for n in notifiers {
                rows.push(OutboxRecord {
                    id: format!("{}-{}", event.id, n.id),
                    destination: destination(&n.id),
                    event_kind: event.kind.as_str().to_owned(),
                    payload: payload.clone(),
                    created_at: now,
                    due_at: now,
                });
            }
            if !to_subscribers || *reach == Reach::Responders || !is_public(event) {
                continue;
            }
            let followed = self.followed(event);
            for s in subscribers.active() {
                let takes_kind = match s.kind {
                    SubscriberKind::Webhook => true,
                    SubscriberKind::Email => event.kind != EventKind::ComponentStatus,
                };
                if takes_kind && s.follows_any(followed.iter()) {
                    // Notifier ids never contain a dot: the two kinds of ids cannot collide.
                    rows.push(OutboxRecord {
                        id: format!("{}.{}", event.id, s.id),
                        destination: subscribers::destination(&s.id),
                        event_kind: event.kind.as_str().to_owned(),
                        payload: payload.clone(),
                        created_at: now,
                        due_at: now,
                    });
                }
            }
        }
        rows
    }

    /// The components an event is about, with the groups they are in.
    fn followed(&self, event: &Event) -> Vec<ComponentId> {
        let mut ids: Vec<ComponentId> = event.component_ids().into_iter().cloned().collect();
        let groups: Vec<ComponentId> = ids
            .iter()
            .filter_map(|c| self.groups.get(c).cloned())
            .collect();
        for g in groups {
            if !ids.contains(&g) {
                ids.push(g);
            }
        }
        ids
    }

    fn event_id(&mut self) -> String {
        self.next += 1;
        format!("ev{}x{}", self.stamp, self.next)
    }

    /// The page as the public sees it right now: the component rollup, raised by open public
    /// incidents' impact (as the v2 API computes it).
    fn page_context(&self, world: &World, desk: &Desk) -> PageContext {
        // Not `desk.lists()`: taking the published lists would mark the desk unchanged and
        // delay publishing this very change to the next flush.
        let open = desk
            .incidents()
            .iter()
            .filter(|i| i.public && i.status.is_unresolved());
        let status = PageStatus::rollup(&world.leaf_statuses())
            .raised_by(open.map(|i| i.impact().indicator()));
        PageContext {
            id: self.page.id.clone(),
            name: self.page.name.clone(),
            url: self.page.url.clone(),
            time_zone: self.page.time_zone.name().to_owned(),
            status_indicator: status.indicator,
            status_description: status.description.to_owned(),
        }
    }
}

/// Whether the public may hear of `event`: not of a private incident.
fn is_public(event: &Event) -> bool {
    event.incident.as_ref().is_none_or(|i| i.public)
}

/// The outbox destination of a notifier.
pub fn destination(notifier_id: &str) -> String {
    format!("notifier:{notifier_id}")
}

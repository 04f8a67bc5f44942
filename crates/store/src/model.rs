//! The values the store takes and gives back. Domain types (ids, statuses, check results,
//! monitor state) come from `pharos-domain`; the types here are shaped for storage: what the
//! configuration says should exist, what one write batch carries, and what rolls up.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use pharos_domain::{
    CheckResult, ComponentId, ComponentStatus, ComponentTransition, Health, MonitorId, MonitorState,
};

/// How many raw results the store keeps per monitor; older ones are overwritten.
pub const RING_SIZE: u32 = 100;

/// A component (or group row) as the configuration declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRecord {
    /// Stable id.
    pub id: ComponentId,
    /// Display name.
    pub name: String,
    /// Optional description shown on the page.
    pub description: Option<String>,
    /// The group this component belongs to, if any.
    pub group_id: Option<ComponentId>,
    /// Whether this row is a group of other components.
    pub is_group: bool,
    /// Order on the page, ascending.
    pub position: u32,
}

/// A monitor as the configuration declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorRecord {
    /// Stable id.
    pub id: MonitorId,
    /// The monitor's `type` (`http`, `tcp`, …).
    pub type_name: String,
    /// The whole definition as JSON, compared verbatim to detect a change.
    pub definition_json: String,
    /// The components it drives. Each must be among the reconciled components (an archived
    /// one is allowed).
    pub components: Vec<ComponentId>,
}

/// What [`Store::reconcile`](crate::Store::reconcile) did. Entries are ids prefixed with
/// their kind, `"component:<id>"` or `"monitor:<id>"`, components first, each list in the
/// order the input gave (archived ones in id order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Rows created, and archived rows brought back because their id reappeared.
    pub added: Vec<String>,
    /// Live rows whose declared fields changed.
    pub changed: Vec<String>,
    /// Rows no longer declared, now archived (their history is kept).
    pub archived: Vec<String>,
}

impl ReconcileReport {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.archived.is_empty()
    }
}

/// A monitor the configuration no longer declares: archived by
/// [`Store::reconcile`](crate::Store::reconcile), with its results, rollups and last state
/// kept, so it can be reported rather than silently dropped (and comes back whole if its id
/// is declared again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedMonitor {
    /// Stable id.
    pub id: MonitorId,
    /// Its `type` (`http`, `tcp`, …) when it was last declared.
    pub type_name: String,
    /// The components it drove when it was archived, in id order (some may be archived too).
    pub components: Vec<ComponentId>,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
    /// When it left the configuration.
    pub archived_at: DateTime<Utc>,
    /// Its last confirmed health; [`Health::Unknown`] when it was never confirmed.
    pub health: Health,
    /// Since when it had that health, if known.
    pub health_since: Option<DateTime<Utc>>,
    /// When its last check started, if it was ever checked.
    pub last_check_at: Option<DateTime<Utc>>,
    /// Why its last check failed, if it did.
    pub last_error: Option<String>,
}

/// A live component as stored, with its current status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredComponent {
    /// Stable id.
    pub id: ComponentId,
    /// Display name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// The group it belongs to, if any.
    pub group_id: Option<ComponentId>,
    /// Whether this row is a group.
    pub is_group: bool,
    /// Order on the page.
    pub position: u32,
    /// Current status.
    pub status: ComponentStatus,
    /// When the component was first stored.
    pub created_at: DateTime<Utc>,
    /// When its status or its declared fields last changed.
    pub updated_at: DateTime<Utc>,
}

/// Everything one pipeline flush writes, in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// New check results, any order; they go into the ring and the rollups.
    pub results: Vec<CheckResult>,
    /// New monitor states; for a monitor listed twice the last entry wins.
    pub monitor_states: Vec<(MonitorId, MonitorState)>,
    /// Component status changes, applied in time order.
    pub component_changes: Vec<ComponentTransition>,
    /// Incidents and maintenances to upsert by id, in order (a later record for the same id
    /// replaces the earlier one's kind, status, `updated_at` and document; `created_at` stays
    /// as first stored). Written before [`incident_events`](Batch::incident_events).
    pub incidents: Vec<IncidentRecord>,
    /// Timeline events to append. An event whose id is already stored is ignored, so a
    /// retried batch does not duplicate them. Each must name an incident that is stored or
    /// in [`incidents`](Batch::incidents).
    pub incident_events: Vec<IncidentEventRecord>,
    /// Component overrides to set or clear, applied in order.
    pub overrides: Vec<OverrideChange>,
    /// Alerts held outside any incident to upsert or remove, applied in order.
    pub held_alerts: Vec<HeldAlertChange>,
    /// Notification deliveries to enqueue, written last, in the same transaction as the
    /// state changes that caused them. A delivery whose id is already stored (or appears
    /// earlier in the batch) is ignored, so a retried batch enqueues it once.
    pub outbox: Vec<OutboxRecord>,
    /// Public subscribers to upsert or remove, applied in order, before the outbox (so a
    /// confirmation e-mail commits with the subscriber it is for).
    pub subscribers: Vec<SubscriberChange>,
    /// Audit entries for what this batch changes on someone's behalf (an incident a person
    /// created, an update a token posted), appended in order, in the same transaction: an
    /// entry is stored if and only if the change it records is.
    pub audit: Vec<AuditRecord>,
}

impl Batch {
    /// Whether the batch holds nothing to write.
    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
            && self.monitor_states.is_empty()
            && self.component_changes.is_empty()
            && self.incidents.is_empty()
            && self.incident_events.is_empty()
            && self.overrides.is_empty()
            && self.held_alerts.is_empty()
            && self.outbox.is_empty()
            && self.subscribers.is_empty()
            && self.audit.is_empty()
    }

    /// Adds a later batch after this one, as if both had been queued in order: lists keep
    /// their order, and a later record of an incident replaces the earlier one where it stands
    /// (monitor states need no merge: the last entry wins when written).
    pub fn append(&mut self, later: Batch) {
        self.results.extend(later.results);
        self.monitor_states.extend(later.monitor_states);
        self.component_changes.extend(later.component_changes);
        for record in later.incidents {
            match self.incidents.iter_mut().find(|x| x.id == record.id) {
                Some(slot) => *slot = record,
                None => self.incidents.push(record),
            }
        }
        self.incident_events.extend(later.incident_events);
        self.overrides.extend(later.overrides);
        self.held_alerts.extend(later.held_alerts);
        self.outbox.extend(later.outbox);
        self.subscribers.extend(later.subscribers);
        self.audit.extend(later.audit);
    }
}

/// Which kind of record an incident row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentKind {
    /// An unplanned incident.
    Incident,
    /// A scheduled maintenance.
    Maintenance,
}

impl IncidentKind {
    /// Both kinds.
    pub const ALL: [IncidentKind; 2] = [IncidentKind::Incident, IncidentKind::Maintenance];

    /// Storage form: `"incident"` or `"maintenance"`.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Incident => "incident",
            IncidentKind::Maintenance => "maintenance",
        }
    }

    /// The kind whose [`as_str`](IncidentKind::as_str) is `s`, if any.
    pub fn parse(s: &str) -> Option<IncidentKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An incident or maintenance as stored. The store keeps `doc` verbatim and never reads into
/// it; the other fields are copies the engine makes for ordering and filtering.
///
/// Times are stored as unix milliseconds: finer precision is cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    /// Stable id, chosen by the engine.
    pub id: String,
    /// Incident or maintenance.
    pub kind: IncidentKind,
    /// The engine's status string, stored as given and not interpreted.
    pub status: String,
    /// When it was created; kept from the first write of this id.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The whole record as JSON, serialized by the engine.
    pub doc: String,
}

/// One entry of an incident's append-only timeline.
///
/// Times are stored as unix milliseconds: finer precision is cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentEventRecord {
    /// Stable id, chosen by the engine; a second write of the same id is ignored.
    pub id: String,
    /// The incident it belongs to.
    pub incident_id: String,
    /// Order among events with the same `occurred_at`.
    pub seq: i64,
    /// When it happened (may be back-dated).
    pub occurred_at: DateTime<Utc>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The engine's event kind, stored as given and not interpreted.
    pub kind: String,
    /// The whole event as JSON, serialized by the engine.
    pub doc: String,
}

/// A status set on a component by hand, overriding what its monitors say.
///
/// Times are stored as unix milliseconds: finer precision is cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideRecord {
    /// The component; it must have been stored by
    /// [`Store::reconcile`](crate::Store::reconcile) (an archived one is accepted).
    pub component_id: ComponentId,
    /// The status to show.
    pub status: ComponentStatus,
    /// When the override ends by itself, or `None` until it is cleared.
    pub until: Option<DateTime<Utc>>,
    /// When it was set.
    pub set_at: DateTime<Utc>,
    /// The whole override as JSON, serialized by the engine.
    pub doc: String,
}

/// A change to a component's override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideChange {
    /// Sets the override, replacing any already set on that component.
    Set(OverrideRecord),
    /// Removes the component's override, if any.
    Clear(ComponentId),
}

/// An alert held outside any incident, by its dedup key.
///
/// Times are stored as unix milliseconds: finer precision is cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldAlertRecord {
    /// The alert's dedup key (`alertmanager:…`, `grafana:…`, `pagerduty:…`).
    pub key: String,
    /// When Pharos last heard of it.
    pub updated_at: DateTime<Utc>,
    /// The whole alert as JSON, serialized by the engine.
    pub doc: String,
}

/// A change to the alerts held outside incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldAlertChange {
    /// Holds the alert, replacing what was held under its key.
    Upsert(HeldAlertRecord),
    /// Lets go of the alert with this key, if held.
    Remove(String),
}

/// The width of a rollup bucket. Buckets are aligned to UTC (a day starts at 00:00 UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Granularity {
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One UTC day.
    Day,
}

impl Granularity {
    /// Every granularity, narrowest first.
    pub const ALL: [Granularity; 3] = [Granularity::Minute, Granularity::Hour, Granularity::Day];

    /// Bucket width in milliseconds.
    pub fn millis(self) -> i64 {
        match self {
            Granularity::Minute => 60_000,
            Granularity::Hour => 3_600_000,
            Granularity::Day => 86_400_000,
        }
    }

    /// The start of the bucket holding the instant `ms` (unix milliseconds).
    pub fn bucket_start_ms(self, ms: i64) -> i64 {
        ms - ms.rem_euclid(self.millis())
    }

    /// The start of the bucket holding `at`.
    pub fn bucket_start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let ms = self.bucket_start_ms(at.timestamp_millis());
        DateTime::from_timestamp_millis(ms).unwrap_or(at)
    }

    /// Storage form.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Granularity::Minute => "m",
            Granularity::Hour => "h",
            Granularity::Day => "d",
        }
    }
}

/// Counts of one monitor's checks in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollup {
    /// Which monitor.
    pub monitor_id: MonitorId,
    /// Bucket width.
    pub granularity: Granularity,
    /// Start of the bucket (UTC).
    pub bucket_start: DateTime<Utc>,
    /// Checks that started in the bucket.
    pub checks: u64,
    /// Of which `Up`.
    pub up: u64,
    /// Of which `Degraded`.
    pub degraded: u64,
    /// Of which `Down`.
    pub down: u64,
    /// Sum of check durations, in milliseconds.
    pub duration_sum_ms: u64,
    /// Longest check duration, in milliseconds.
    pub duration_max_ms: u64,
}

impl Rollup {
    /// Mean check duration in milliseconds, or `None` for an empty bucket.
    pub fn mean_duration_ms(&self) -> Option<f64> {
        (self.checks > 0).then(|| self.duration_sum_ms as f64 / self.checks as f64)
    }

    /// Share of checks that were not `Down`, or `None` for an empty bucket.
    pub fn availability(&self) -> Option<f64> {
        (self.checks > 0).then(|| 1.0 - self.down as f64 / self.checks as f64)
    }
}

/// How many rows [`Store::prune`](crate::Store::prune) deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Minute rollups older than 48 hours.
    pub minute_rollups: u64,
    /// Hour rollups older than 90 days.
    pub hour_rollups: u64,
    /// Day rollups older than 400 days.
    pub day_rollups: u64,
    /// Deliveries sent more than 7 days ago.
    pub sent_deliveries: u64,
    /// Deliveries given up more than 30 days ago.
    pub dead_deliveries: u64,
    /// Payloads no delivery names any more.
    pub payloads: u64,
    /// Console sessions past their `expires_at`.
    pub sessions: u64,
}

/// A notification delivery to enqueue in the outbox, as part of a [`Batch`].
///
/// The store never interprets `destination`, `event_kind` or `payload`. Times are stored as
/// unix milliseconds: finer precision is cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    /// Stable delivery id, chosen by the engine; also the Idempotency-Key the receiver sees.
    /// A second enqueue of the same id is ignored.
    pub id: String,
    /// Where it goes, e.g. `notifier:ops` or `subscriber:<id>`; opaque to the store.
    pub destination: String,
    /// The engine's event kind (what happened), stored as given.
    pub event_kind: String,
    /// What to send. Deliveries of one event share one payload (the same id), which is
    /// stored once: the first stored body for an id is kept.
    pub payload: Arc<OutboxPayload>,
    /// When the delivery was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it may first be sent.
    pub due_at: DateTime<Utc>,
}

/// What deliveries send: the engine's JSON, stored verbatim once however many deliveries
/// name it, and pruned when none does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutboxPayload {
    /// Stable id, chosen by the engine (one per event).
    pub id: String,
    /// The JSON to send.
    pub body: String,
}

impl OutboxPayload {
    /// A payload to share between deliveries.
    pub fn shared(id: impl Into<String>, body: impl Into<String>) -> Arc<OutboxPayload> {
        Arc::new(OutboxPayload {
            id: id.into(),
            body: body.into(),
        })
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Not sent yet: waiting for `due_at`, claimed by a dispatcher, or waiting to be retried.
    Pending,
    /// Sent successfully; final.
    Sent,
    /// Given up after a permanent failure or too many attempts; final.
    Dead,
}

impl DeliveryState {
    /// Every state, in the order above.
    pub const ALL: [DeliveryState; 3] = [
        DeliveryState::Pending,
        DeliveryState::Sent,
        DeliveryState::Dead,
    ];

    /// Storage form: `"pending"`, `"sent"` or `"dead"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sent => "sent",
            DeliveryState::Dead => "dead",
        }
    }

    /// The state whose [`as_str`](DeliveryState::as_str) is `s`, if any.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A delivery as stored in the outbox, with its progress.
///
/// Times are stored as unix milliseconds: finer precision is cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Stable delivery id; also the Idempotency-Key.
    pub id: String,
    /// Where it goes, as enqueued.
    pub destination: String,
    /// The engine's event kind, as enqueued.
    pub event_kind: String,
    /// What to send, as enqueued. Rows claimed together that name one payload share it.
    pub payload: Arc<OutboxPayload>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it may next be sent: as enqueued, or the retry time of the last failure.
    pub due_at: DateTime<Utc>,
    /// How many sends were attempted and reported (successful or not).
    pub attempts: u32,
    /// Pending, sent or dead.
    pub state: DeliveryState,
    /// The last failure's message, cut to
    /// [`OUTBOX_ERROR_MAX_CHARS`](crate::OUTBOX_ERROR_MAX_CHARS) characters.
    pub last_error: Option<String>,
    /// When the last attempt was reported.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When it was sent, once it was.
    pub sent_at: Option<DateTime<Utc>>,
}

/// How a public subscriber is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriberKind {
    /// By e-mail; needs confirming (double opt-in) before anything is sent.
    Email,
    /// By webhook (Statuspage's subscriber payload POSTed to a URL); active at once.
    Webhook,
}

impl SubscriberKind {
    /// Both kinds.
    pub const ALL: [SubscriberKind; 2] = [SubscriberKind::Email, SubscriberKind::Webhook];

    /// Storage (and API) form: `"email"` or `"webhook"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberKind::Email => "email",
            SubscriberKind::Webhook => "webhook",
        }
    }

    /// The kind whose [`as_str`](SubscriberKind::as_str) is `s`, if any.
    pub fn parse(s: &str) -> Option<SubscriberKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a subscriber stands, derived from its times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriberState {
    /// Waiting for its e-mail address to be confirmed; nothing is sent to it but the
    /// confirmation.
    Pending,
    /// Confirmed and not unsubscribed: it receives updates.
    Active,
    /// Unsubscribed; kept for the record, never sent anything again.
    Unsubscribed,
}

impl SubscriberState {
    /// The state a subscriber with these times is in: unsubscribing wins, then confirming.
    pub fn of(
        confirmed_at: Option<DateTime<Utc>>,
        unsubscribed_at: Option<DateTime<Utc>>,
    ) -> SubscriberState {
        match (unsubscribed_at, confirmed_at) {
            (Some(_), _) => Self::Unsubscribed,
            (None, Some(_)) => Self::Active,
            (None, None) => Self::Pending,
        }
    }

    /// Every state, in the order above.
    pub const ALL: [SubscriberState; 3] = [
        SubscriberState::Pending,
        SubscriberState::Active,
        SubscriberState::Unsubscribed,
    ];

    /// API form: `"pending"`, `"active"` or `"unsubscribed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberState::Pending => "pending",
            SubscriberState::Active => "active",
            SubscriberState::Unsubscribed => "unsubscribed",
        }
    }

    /// The state whose [`as_str`](SubscriberState::as_str) is `s`, if any.
    pub fn parse(s: &str) -> Option<SubscriberState> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A public subscriber as stored.
///
/// The store keeps `address` and `doc` verbatim and never reads into `doc`. Times are stored
/// as unix milliseconds: finer precision is cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberRecord {
    /// Stable id, chosen by the engine.
    pub id: String,
    /// E-mail or webhook.
    pub kind: SubscriberKind,
    /// The e-mail address or the webhook URL.
    pub address: String,
    /// The components it follows; empty means the whole page.
    pub components: Vec<ComponentId>,
    /// When it subscribed.
    pub created_at: DateTime<Utc>,
    /// When it was confirmed (at once for webhooks), if it was.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// When it unsubscribed, if it did.
    pub unsubscribed_at: Option<DateTime<Utc>>,
    /// The engine's own data as JSON, stored verbatim.
    pub doc: String,
}

impl SubscriberRecord {
    /// Pending, active or unsubscribed.
    pub fn state(&self) -> SubscriberState {
        SubscriberState::of(self.confirmed_at, self.unsubscribed_at)
    }

    /// Whether it follows `component`: it follows the whole page, or names it.
    pub fn follows(&self, component: &ComponentId) -> bool {
        self.components.is_empty() || self.components.contains(component)
    }
}

/// A change to the subscribers, carried by a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriberChange {
    /// Inserts the subscriber, or replaces every field of the stored one with that id but
    /// `created_at`.
    Upsert(SubscriberRecord),
    /// Deletes the subscriber with this id, if there is one.
    Remove(String),
}

/// Which subscribers [`Store::subscribers`](crate::Store::subscribers) lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriberFilter {
    /// Only those in one of these states; empty means every state.
    pub states: Vec<SubscriberState>,
    /// Only those following this component (the whole page, or naming it).
    pub component: Option<ComponentId>,
}

/// Who did something the audit trail records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// A person (or service account) signed in to the console; `actor_id` is the user's id.
    User,
    /// An API token; `actor_id` is the token's id.
    Token,
    /// A token from the configuration's `[admin] tokens`; `actor_id` is its name.
    ConfigToken,
    /// Pharos itself (monitors, alerts, the clock).
    Automation,
    /// Someone not signed in (a failed sign-in, a public request).
    Anonymous,
}

impl ActorKind {
    /// Every kind.
    pub const ALL: [ActorKind; 5] = [
        ActorKind::User,
        ActorKind::Token,
        ActorKind::ConfigToken,
        ActorKind::Automation,
        ActorKind::Anonymous,
    ];

    /// Storage form: `"user"`, `"token"`, `"config_token"`, `"automation"` or `"anonymous"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Token => "token",
            ActorKind::ConfigToken => "config_token",
            ActorKind::Automation => "automation",
            ActorKind::Anonymous => "anonymous",
        }
    }

    /// The kind whose [`as_str`](ActorKind::as_str) is `s`, if any.
    pub fn parse(s: &str) -> Option<ActorKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of the audit trail, as the caller describes it: written in the same
/// transaction as the change it records (every people, session and token write takes one,
/// and [`Batch::audit`] carries those of a batch), and never changed or removed afterwards.
///
/// The store keeps every field as given; `before` and `after` must be JSON (the store checks
/// they parse, nothing more) and must not carry secrets: the caller leaves out password hashes,
/// TOTP secrets and token secrets. Times are stored as unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it.
    pub actor_kind: ActorKind,
    /// The actor's id (a user id, a token id, a configuration token's name), if it has one.
    pub actor_id: Option<String>,
    /// The actor's name as shown when the entry was written (kept even if it changes later).
    pub actor_name: String,
    /// What was done, dotted: `incident.create`, `user.add`, `signin.failed`…
    pub action: String,
    /// What it was done to (an incident id, a user id, a token id), if anything.
    pub subject: Option<String>,
    /// The subject before, as JSON; `None` for a creation or when nothing is worth showing.
    pub before: Option<String>,
    /// The subject after, as JSON; `None` for a removal or when nothing is worth showing.
    pub after: Option<String>,
    /// The id of the request that did it, if it came in a request.
    pub request_id: Option<String>,
    /// The client's address, if it came in a request.
    pub address: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_align_to_utc() {
        let at = DateTime::parse_from_rfc3339("2026-03-04T05:06:07.890Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = |g: Granularity| g.bucket_start(at).to_rfc3339();
        assert_eq!(s(Granularity::Minute), "2026-03-04T05:06:00+00:00");
        assert_eq!(s(Granularity::Hour), "2026-03-04T05:00:00+00:00");
        assert_eq!(s(Granularity::Day), "2026-03-04T00:00:00+00:00");
        assert_eq!(Granularity::Minute.bucket_start_ms(-1), -60_000);
    }

    #[test]
    fn delivery_states_round_trip() {
        for state in DeliveryState::ALL {
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
        }
        assert_eq!(DeliveryState::parse("Pending"), None);
    }

    #[test]
    fn actor_kinds_round_trip() {
        for kind in ActorKind::ALL {
            assert_eq!(ActorKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ActorKind::parse("User"), None);
    }
}

//! Statuspage's subscriber webhook payload, so receivers written for Statuspage (or Instatus,
//! which copies it) work unchanged:
//!
//! - incident and maintenance events: [`IncidentPayload`], `{"meta", "page", "incident"}`;
//!   the [`Incident`] is the v2 incident ([`crate::v2::IncidentOf`]) with the legacy fields
//!   Statuspage's webhook still carries (`scheduled_*`, `metadata`, twitter), in the webhook's
//!   own field order; a maintenance uses the same `incident` key with the `scheduled_*` fields
//!   filled in and impact `maintenance`;
//! - component status events: [`ComponentPayload`],
//!   `{"meta", "page", "component_update", "component"}`.
//!
//! Timestamps are [`ApiTime`]s, as the v2 API writes them. Components are written as far as a
//! webhook carries them (id, name, status, creation time, page id).

use pharos_domain::{ComponentStatus, Impact, IncidentStatus, Indicator, MaintenanceStatus};
use serde::Serialize;

use crate::v2::{AffectedComponent, IncidentOf, IncidentUpdateOf, ScheduledMaintenance};
use crate::ApiTime;

/// Statuspage's documentation link, sent in `meta.documentation`.
pub const DOCUMENTATION: &str = "https://doers.statuspage.io/customer-notifications/webhooks/";

/// `meta`: where to unsubscribe and what the payload is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meta<'a> {
    /// The receiver's unsubscribe link.
    pub unsubscribe: &'a str,
    /// Always [`DOCUMENTATION`].
    pub documentation: &'static str,
}

impl<'a> Meta<'a> {
    /// `meta` with the unsubscribe link `unsubscribe`.
    pub fn new(unsubscribe: &'a str) -> Self {
        Self {
            unsubscribe,
            documentation: DOCUMENTATION,
        }
    }
}

/// `page`: the page and its status right after the event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<'a> {
    /// Page id.
    pub id: &'a str,
    /// The page indicator.
    pub status_indicator: Indicator,
    /// One of Statuspage's seven descriptions.
    pub status_description: &'a str,
}

/// The payload of an incident event (`S` = [`IncidentStatus`]) or a maintenance event
/// (`S` = [`MaintenanceStatus`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentPayload<'a, S> {
    /// `meta`.
    pub meta: Meta<'a>,
    /// `page`.
    pub page: Page<'a>,
    /// The incident or maintenance as it stands after the event.
    pub incident: Incident<S>,
}

/// The payload of a component status event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentPayload<'a> {
    /// `meta`.
    pub meta: Meta<'a>,
    /// `page`.
    pub page: Page<'a>,
    /// The transition.
    pub component_update: ComponentUpdate,
    /// The component after it.
    pub component: ComponentObject,
}

/// A webhook's `incident`: every field of the v2 incident, plus the legacy ones, in the order
/// Statuspage's webhook writes them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident<S> {
    /// Title.
    pub name: String,
    /// Current status.
    pub status: S,
    /// When it was created.
    pub created_at: ApiTime,
    /// When it last changed.
    pub updated_at: ApiTime,
    /// When it entered `monitoring`, if it did.
    pub monitoring_at: Option<ApiTime>,
    /// When it was resolved (a maintenance: completed), if it was.
    pub resolved_at: Option<ApiTime>,
    /// `none | minor | major | critical`, `maintenance` for maintenances.
    pub impact: Indicator,
    /// The incident's public page.
    pub shortlink: String,
    /// A maintenance's window start; `null` for incidents.
    pub scheduled_for: Option<ApiTime>,
    /// A maintenance's window end; `null` for incidents.
    pub scheduled_until: Option<ApiTime>,
    /// Legacy reminder flag, always `false`.
    pub scheduled_remind_prior: bool,
    /// Legacy reminder time, always `null`.
    pub scheduled_reminded_at: Option<ApiTime>,
    /// The impact a person set, overriding the computed one.
    pub impact_override: Option<Impact>,
    /// Whether a maintenance starts by itself.
    pub scheduled_auto_in_progress: bool,
    /// Whether a maintenance completes by itself.
    pub scheduled_auto_completed: bool,
    /// Always `{}`.
    pub metadata: Metadata,
    /// When it started.
    pub started_at: ApiTime,
    /// Legacy reminder intervals, always `null`.
    pub reminder_intervals: Option<String>,
    /// Incident id.
    pub id: String,
    /// Page id.
    pub page_id: String,
    /// Updates, newest first.
    pub incident_updates: Vec<Update<S>>,
    /// The affected components.
    pub components: Vec<Component>,
}

/// `metadata`: always the empty object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Metadata {}

/// What a webhook incident has beyond the v2 incident.
struct Extra {
    scheduled: Option<(ApiTime, ApiTime)>,
    impact_override: Option<Impact>,
    auto_start: bool,
    auto_complete: bool,
}

impl Incident<IncidentStatus> {
    /// The v2 incident `i` as a webhook writes it, with the impact a person set, if any.
    pub fn from_incident(
        i: IncidentOf<IncidentStatus, Component>,
        impact_override: Option<Impact>,
    ) -> Self {
        Self::new(
            i,
            Extra {
                scheduled: None,
                impact_override,
                auto_start: false,
                auto_complete: false,
            },
        )
    }
}

impl Incident<MaintenanceStatus> {
    /// The v2 maintenance `m` as a webhook writes it, with whether it starts and completes by
    /// itself.
    pub fn from_maintenance(
        m: ScheduledMaintenance<Component>,
        auto_start: bool,
        auto_complete: bool,
    ) -> Self {
        Self::new(
            m.incident,
            Extra {
                scheduled: Some((m.scheduled_for, m.scheduled_until)),
                impact_override: None,
                auto_start,
                auto_complete,
            },
        )
    }
}

impl<S> Incident<S> {
    fn new(i: IncidentOf<S, Component>, extra: Extra) -> Self {
        Self {
            name: i.name,
            status: i.status,
            created_at: i.created_at,
            updated_at: i.updated_at,
            monitoring_at: i.monitoring_at,
            resolved_at: i.resolved_at,
            impact: i.impact,
            shortlink: i.shortlink,
            scheduled_for: extra.scheduled.map(|(from, _)| from),
            scheduled_until: extra.scheduled.map(|(_, until)| until),
            scheduled_remind_prior: false,
            scheduled_reminded_at: None,
            impact_override: extra.impact_override,
            scheduled_auto_in_progress: extra.auto_start,
            scheduled_auto_completed: extra.auto_complete,
            metadata: Metadata {},
            started_at: i.started_at,
            reminder_intervals: None,
            id: i.id,
            page_id: i.page_id,
            incident_updates: i.incident_updates.into_iter().map(Update::from).collect(),
            components: i.components,
        }
    }
}

/// A webhook's incident update: the v2 update's fields plus the legacy twitter ones, in the
/// webhook's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Update<S> {
    /// The incident's status as of this update.
    pub status: S,
    /// Plain text or Markdown.
    pub body: String,
    /// When it was written.
    pub created_at: ApiTime,
    /// Legacy, always `false`.
    pub wants_twitter_update: bool,
    /// Legacy, always `null`.
    pub twitter_updated_at: Option<ApiTime>,
    /// When it was last edited.
    pub updated_at: ApiTime,
    /// The time shown for it.
    pub display_at: ApiTime,
    /// Component transitions it made, `null` when none.
    pub affected_components: Option<Vec<AffectedComponent>>,
    /// Whether subscribers were notified.
    pub deliver_notifications: bool,
    /// Legacy Twitter text, always `null`.
    pub custom_tweet: Option<String>,
    /// Legacy Twitter id, always `null`.
    pub tweet_id: Option<String>,
    /// Update id.
    pub id: String,
    /// The incident it belongs to.
    pub incident_id: String,
}

impl<S> From<IncidentUpdateOf<S>> for Update<S> {
    fn from(u: IncidentUpdateOf<S>) -> Self {
        Self {
            status: u.status,
            body: u.body,
            created_at: u.created_at,
            wants_twitter_update: false,
            twitter_updated_at: None,
            updated_at: u.updated_at,
            display_at: u.display_at,
            affected_components: u.affected_components,
            deliver_notifications: u.deliver_notifications,
            custom_tweet: u.custom_tweet,
            tweet_id: u.tweet_id,
            id: u.id,
            incident_id: u.incident_id,
        }
    }
}

/// An affected component in a webhook's `incident.components`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// When the component was created.
    pub created_at: ApiTime,
    /// Component id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Status right after the event.
    pub status: ComponentStatus,
    /// Page id.
    pub page_id: String,
}

/// `component_update`: one component's status transition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentUpdate {
    /// When it happened.
    pub created_at: ApiTime,
    /// Status after.
    pub new_status: ComponentStatus,
    /// Status before.
    pub old_status: ComponentStatus,
    /// The event's id.
    pub id: String,
    /// Which component.
    pub component_id: String,
}

/// `component`: the component a status event is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentObject {
    /// When the component was created.
    pub created_at: ApiTime,
    /// Component id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Status after the event.
    pub status: ComponentStatus,
}

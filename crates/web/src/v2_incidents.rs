//! The engine's incidents and maintenances in Statuspage's v2 shape: updates newest first,
//! `affected_components` with old and new status, full component objects, and a `shortlink`
//! to our own `/incidents/{id}` page. Private incidents never leave here.

use pharos_domain::incident::{AffectedChange, PublicUpdate};
use pharos_domain::{ComponentId, Incident, Maintenance};
use pharos_engine::StatusView;

use crate::v2::{
    self, AffectedComponent, ApiTime, Component, IncidentOf, IncidentUpdateOf, ScheduledMaintenance,
};

/// Public incidents, in the engine's order (oldest first; [`v2::Lists`] sorts).
pub fn incidents(view: &StatusView) -> Vec<v2::Incident> {
    view.incidents
        .iter()
        .filter(|i| i.public)
        .map(|i| incident(view, i))
        .collect()
}

/// Every maintenance, in the engine's order.
pub fn maintenances(view: &StatusView) -> Vec<ScheduledMaintenance> {
    view.maintenances
        .iter()
        .map(|m| maintenance(view, m))
        .collect()
}

/// One incident as the v2 API writes it.
pub fn incident(view: &StatusView, i: &Incident) -> v2::Incident {
    let tz = view.page.time_zone;
    let at = |t| ApiTime::in_zone(t, tz);
    let affected_ids: Vec<&ComponentId> = i.components.keys().collect();
    IncidentOf {
        id: i.id.to_string(),
        name: i.name.clone(),
        status: i.status,
        created_at: at(i.created_at),
        updated_at: at(i.updated_at),
        monitoring_at: i.monitoring_at.map(at),
        resolved_at: i.resolved_at.map(at),
        impact: i.impact().indicator(),
        shortlink: shortlink(view, i.id.as_str()),
        started_at: at(i.started_at),
        page_id: view.page.id.clone(),
        incident_updates: updates(view, i.id.as_str(), &i.updates),
        components: component_objects(view, &affected_ids),
    }
}

/// One maintenance as the v2 API writes it.
pub fn maintenance(view: &StatusView, m: &Maintenance) -> ScheduledMaintenance {
    let tz = view.page.time_zone;
    let at = |t| ApiTime::in_zone(t, tz);
    let ids: Vec<&ComponentId> = m.components.iter().collect();
    ScheduledMaintenance {
        incident: IncidentOf {
            id: m.id.to_string(),
            name: m.name.clone(),
            status: m.status,
            created_at: at(m.created_at),
            updated_at: at(m.updated_at),
            monitoring_at: None,
            resolved_at: m.completed_at.map(at),
            impact: pharos_domain::Indicator::Maintenance,
            shortlink: shortlink(view, m.id.as_str()),
            started_at: at(m.started_at.unwrap_or(m.scheduled_for)),
            page_id: view.page.id.clone(),
            incident_updates: updates(view, m.id.as_str(), &m.updates),
            components: component_objects(view, &ids),
        },
        scheduled_for: at(m.scheduled_for),
        scheduled_until: at(m.scheduled_until),
    }
}

/// The public page of an incident, which is also its short link.
fn shortlink(view: &StatusView, id: &str) -> String {
    format!("{}/incidents/{id}", view.page.url.trim_end_matches('/'))
}

fn updates<S: Copy>(
    view: &StatusView,
    incident_id: &str,
    list: &[PublicUpdate<S>],
) -> Vec<IncidentUpdateOf<S>> {
    let tz = view.page.time_zone;
    list.iter()
        .rev()
        .map(|u| {
            let created = ApiTime::in_zone(u.created_at, tz);
            IncidentUpdateOf {
                id: u.id.to_string(),
                status: u.status,
                body: u.body.clone(),
                incident_id: incident_id.to_owned(),
                created_at: created,
                updated_at: created,
                display_at: created,
                affected_components: (!u.affected.is_empty())
                    .then(|| u.affected.iter().map(|a| affected(view, a)).collect()),
                deliver_notifications: true,
                custom_tweet: None,
                tweet_id: None,
            }
        })
        .collect()
}

fn affected(view: &StatusView, a: &AffectedChange) -> AffectedComponent {
    AffectedComponent {
        code: Some(a.component_id.to_string()),
        name: affected_name(view, &a.component_id),
        old_status: Some(a.old_status),
        new_status: Some(a.new_status),
    }
}

/// Statuspage names a grouped component in `affected_components` as
/// "Component - Group :: Component" (Payfast: "Credit & Cheque Cards - Payments :: Credit &
/// Cheque Cards"), and a top-level one by its name.
fn affected_name(view: &StatusView, id: &ComponentId) -> String {
    let Some(c) = view.components.iter().find(|c| &c.id == id) else {
        return id.to_string();
    };
    let group = c
        .group_id
        .as_ref()
        .and_then(|g| view.components.iter().find(|x| &x.id == g));
    match group {
        Some(g) => format!("{} - {} :: {}", c.name, g.name, c.name),
        None => c.name.clone(),
    }
}

fn component_objects(view: &StatusView, ids: &[&ComponentId]) -> Vec<Component> {
    let mut rows: Vec<_> = view
        .components
        .iter()
        .filter(|c| ids.contains(&&c.id))
        .collect();
    rows.sort_by_key(|c| c.position);
    rows.into_iter().map(|c| v2::component(view, c)).collect()
}

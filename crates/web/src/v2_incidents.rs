//! The engine's incidents and maintenances in Statuspage's v2 shape (built by `pharos-wire`,
//! as the webhook payload is): here the view supplies the affected components' names and their
//! full component objects. Private incidents never leave here.

use pharos_domain::{ComponentId, Incident, Maintenance};
use pharos_engine::StatusView;

use crate::v2::{self, AffectedComponent, Component, IncidentOf, PageRef, ScheduledMaintenance};

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
    let affected_ids: Vec<&ComponentId> = i.components.keys().collect();
    IncidentOf::from_incident(
        page(view),
        i,
        |id| affected_name(view, id),
        component_objects(view, &affected_ids),
    )
}

/// One maintenance as the v2 API writes it.
pub fn maintenance(view: &StatusView, m: &Maintenance) -> ScheduledMaintenance {
    let ids: Vec<&ComponentId> = m.components.iter().collect();
    ScheduledMaintenance::from_maintenance(
        page(view),
        m,
        |id| affected_name(view, id),
        component_objects(view, &ids),
    )
}

fn page(view: &StatusView) -> PageRef<'_> {
    PageRef {
        id: &view.page.id,
        url: &view.page.url,
        time_zone: view.page.time_zone,
    }
}

/// A component's name in `affected_components`; its id when the view no longer has it.
fn affected_name(view: &StatusView, id: &ComponentId) -> String {
    let Some(c) = view.components.iter().find(|c| &c.id == id) else {
        return id.to_string();
    };
    let group = c
        .group_id
        .as_ref()
        .and_then(|g| view.components.iter().find(|x| &x.id == g));
    AffectedComponent::display_name(&c.name, group.map(|g| g.name.as_str()))
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

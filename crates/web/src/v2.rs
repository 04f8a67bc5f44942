//! The Statuspage-compatible public API v2: the [`StatusView`] converted into Statuspage's v2
//! objects. The objects themselves (field names, field order, enums, nullability) are
//! `pharos-wire`'s, shared with the webhook payload, and re-exported here.
//!
//! `tests/compat.rs` proves them key for key against real published payloads.

use pharos_domain::PageStatus;
use pharos_engine::{ComponentView, StatusView};

pub use pharos_wire::v2::*;
pub use pharos_wire::ApiTime;

/// The `page` object of a view.
pub fn page(view: &StatusView) -> Page {
    let tz = view.page.time_zone;
    Page {
        id: view.page.id.clone(),
        name: view.page.name.clone(),
        url: view.page.url.clone(),
        time_zone: tz.name().to_owned(),
        updated_at: ApiTime::in_zone(view.updated_at, tz),
    }
}

/// One component row as the API shows it.
///
/// `position` is the row's 1-based place in the page's flat order, so sorting by it (globally or
/// among siblings) gives the page order. Statuspage numbers positions per sibling level instead;
/// both sort the same.
pub fn component(view: &StatusView, c: &ComponentView) -> Component {
    let tz = view.page.time_zone;
    Component {
        id: c.id.to_string(),
        name: c.name.clone(),
        status: c.status,
        created_at: ApiTime::in_zone(c.created_at, tz),
        updated_at: ApiTime::in_zone(c.updated_at, tz),
        position: c.position.saturating_add(1),
        description: c.description.clone(),
        showcase: !c.is_group,
        start_date: c.start_date,
        group_id: c.group_id.as_ref().map(|g| g.to_string()),
        page_id: view.page.id.clone(),
        group: c.is_group,
        only_show_if_degraded: false,
        components: c
            .is_group
            .then(|| c.children.iter().map(|id| id.to_string()).collect()),
    }
}

/// All component rows, flat, in position order.
pub fn components(view: &StatusView) -> Vec<Component> {
    let mut rows: Vec<&ComponentView> = view.components.iter().collect();
    rows.sort_by_key(|c| c.position);
    rows.into_iter().map(|c| component(view, c)).collect()
}

/// The page status: the rollup of leaf components, raised by unresolved incidents.
///
/// This is the hook for incidents. Atlassian documents `status.json` as "an indicator … as well
/// as a human description of the blended component status": an open incident raises the
/// indicator to its impact when that is worse, while the description keeps describing the
/// components. An incident with impact `none` changes nothing (Discord's real summary shows
/// `indicator:"none"` with an open incident of impact `none`).
pub fn page_status(view: &StatusView, unresolved: &[Incident]) -> Status {
    let open = unresolved.iter().filter(|i| i.status.is_unresolved());
    Status::from(PageStatus::rollup(&view.leaf_statuses()).raised_by(open.map(|i| i.impact)))
}

/// The lists every endpoint draws from, already filtered and capped.
#[derive(Debug, Clone, PartialEq)]
pub struct Lists {
    /// `incidents.json`: newest first.
    pub incidents: Vec<Incident>,
    /// `incidents/unresolved.json` and `summary.incidents`.
    pub unresolved: Vec<Incident>,
    /// `scheduled-maintenances.json`: newest first.
    pub maintenances: Vec<ScheduledMaintenance>,
    /// `scheduled-maintenances/upcoming.json`.
    pub upcoming: Vec<ScheduledMaintenance>,
    /// `scheduled-maintenances/active.json`.
    pub active: Vec<ScheduledMaintenance>,
    /// `summary.scheduled_maintenances`: upcoming and active, newest first.
    pub summary_maintenances: Vec<ScheduledMaintenance>,
}

impl Lists {
    /// Sorts newest first (incidents by `created_at`, maintenances by `scheduled_for`), filters
    /// by status, and keeps at most [`LIST_LIMIT`] of each.
    ///
    /// Only what is kept is cloned, so passing every incident ever recorded stays cheap.
    pub fn new(incidents: &[Incident], maintenances: &[ScheduledMaintenance]) -> Self {
        let mut incidents: Vec<&Incident> = incidents.iter().collect();
        incidents.sort_by_key(|i| std::cmp::Reverse(i.created_at.utc()));
        let mut maintenances: Vec<&ScheduledMaintenance> = maintenances.iter().collect();
        maintenances.sort_by_key(|m| std::cmp::Reverse(m.scheduled_for.utc()));
        let pick_i = |f: fn(&Incident) -> bool| -> Vec<Incident> {
            incidents
                .iter()
                .filter(|i| f(i))
                .take(LIST_LIMIT)
                .map(|i| (*i).clone())
                .collect()
        };
        let pick_m = |f: fn(&ScheduledMaintenance) -> bool| -> Vec<ScheduledMaintenance> {
            maintenances
                .iter()
                .filter(|m| f(m))
                .take(LIST_LIMIT)
                .map(|m| (*m).clone())
                .collect()
        };
        Self {
            incidents: pick_i(|_| true),
            unresolved: pick_i(|i| i.status.is_unresolved()),
            maintenances: pick_m(|_| true),
            upcoming: pick_m(|m| m.incident.status.is_upcoming()),
            active: pick_m(|m| m.incident.status.is_active()),
            summary_maintenances: pick_m(|m| {
                m.incident.status.is_upcoming() || m.incident.status.is_active()
            }),
        }
    }
}

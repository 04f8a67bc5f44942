//! Component overrides: a status set by a person (or by an incident update) and shown instead
//! of what the monitors say, until it expires, is cleared, or its incident resolves.

use chrono::{DateTime, Utc};
use pharos_domain::incident::check_body;
use pharos_domain::{Actor, ComponentId, ComponentStatus, IncidentId, RuleError};
use pharos_store::{OverrideChange, OverrideRecord};
use serde::{Deserialize, Serialize};

use super::{not_found, to_doc, Desk, DeskError};
use crate::world::World;

/// A component status set by a person (or by an incident update), shown instead of what the
/// monitors say until it expires or is cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentOverride {
    /// Which component.
    pub component_id: ComponentId,
    /// The status shown.
    pub status: ComponentStatus,
    /// When it lapses by itself; `None` lasts until cleared.
    pub until: Option<DateTime<Utc>>,
    /// The incident whose update set it; cleared when that incident resolves.
    pub incident_id: Option<IncidentId>,
    /// Who set it.
    pub actor: Actor,
    /// When.
    pub set_at: DateTime<Utc>,
    /// Why, in the setter's words.
    pub reason: Option<String>,
}

/// `PUT /api/v1/components/{id}/override`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideRequest {
    /// Status to show.
    pub status: ComponentStatus,
    /// When it lapses; `None` until cleared.
    pub until: Option<DateTime<Utc>>,
    /// Why.
    pub reason: Option<String>,
}

impl Desk {
    /// Shows `status` for a component regardless of its monitors.
    pub fn set_override(
        &mut self,
        world: &mut World,
        component: &str,
        req: OverrideRequest,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let cid = ComponentId::new(component).map_err(|_| not_found("component", component))?;
        match world.component(&cid) {
            None => return Err(not_found("component", component)),
            Some((_, true)) => {
                return Err(RuleError::invalid(
                    "component",
                    "is a group; set the status of its components",
                )
                .into())
            }
            Some(_) => {}
        }
        let status = req.status;
        if req.until.is_some_and(|u| u <= now) {
            return Err(RuleError::invalid("until", "is in the past").into());
        }
        if let Some(r) = &req.reason {
            check_body("reason", r)?;
        }
        let o = ComponentOverride {
            component_id: cid.clone(),
            status,
            until: req.until,
            incident_id: None,
            actor,
            set_at: now,
            reason: req.reason,
        };
        self.put_override(world, o, now);
        Ok(())
    }

    /// Clears a component's override; its monitors decide again.
    pub fn clear_override(
        &mut self,
        world: &mut World,
        component: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let cid = ComponentId::new(component).map_err(|_| not_found("component", component))?;
        if world.component(&cid).is_none() {
            return Err(not_found("component", component));
        }
        self.remove_override(world, &cid, now);
        Ok(())
    }

    pub(super) fn put_override(
        &mut self,
        world: &mut World,
        o: ComponentOverride,
        now: DateTime<Utc>,
    ) {
        let change = world.set_override(&o.component_id, Some(o.status), now);
        self.writes
            .overrides
            .push(OverrideChange::Set(OverrideRecord {
                component_id: o.component_id.clone(),
                status: o.status,
                until: o.until,
                set_at: o.set_at,
                doc: to_doc(&o),
            }));
        self.overrides.insert(o.component_id.clone(), o);
        if let Some(ch) = change {
            self.note_component_changes(std::slice::from_ref(&ch), now);
            self.record_change(Some(ch));
        }
    }

    pub(super) fn remove_override(
        &mut self,
        world: &mut World,
        c: &ComponentId,
        now: DateTime<Utc>,
    ) {
        if self.overrides.remove(c).is_none() {
            return;
        }
        self.writes.overrides.push(OverrideChange::Clear(c.clone()));
        if let Some(ch) = world.set_override(c, None, now) {
            self.note_component_changes(std::slice::from_ref(&ch), now);
            self.record_change(Some(ch));
        }
    }

    pub(super) fn clear_incident_overrides(
        &mut self,
        world: &mut World,
        id: &IncidentId,
        now: DateTime<Utc>,
    ) {
        let owned: Vec<ComponentId> = self
            .overrides
            .values()
            .filter(|o| o.incident_id.as_ref() == Some(id))
            .map(|o| o.component_id.clone())
            .collect();
        for c in owned {
            self.remove_override(world, &c, now);
        }
        self.release_alerts(world, id, now);
    }

    /// Lifts overrides whose time is up.
    pub(super) fn expire_overrides(&mut self, world: &mut World, now: DateTime<Utc>) {
        let expired: Vec<ComponentId> = self
            .overrides
            .values()
            .filter(|o| o.until.is_some_and(|u| u <= now))
            .map(|o| o.component_id.clone())
            .collect();
        for c in expired {
            self.remove_override(world, &c, now);
            tracing::info!(component = %c, "component status override expired");
        }
    }
}

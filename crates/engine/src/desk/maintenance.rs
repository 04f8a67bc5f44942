//! Maintenance windows at the desk: those the configuration declares and those people
//! schedule, and the clock that starts and completes them. While one is in progress its
//! components show `under_maintenance`.

use chrono::{DateTime, Utc};
use pharos_domain::incident::{
    self, check_body, check_name, AffectedChange, MaintenanceStep, PublicUpdate, TimelineKind,
};
use pharos_domain::{
    Actor, ComponentId, ComponentStatus, Health, IncidentId, Maintenance, MaintenanceStatus,
    MonitorId, RuleError,
};

use super::{leaf_component, not_found, Desk, DeskError, Notice, Reach, Subject};
use crate::world::World;
use pharos_notify::EventKind;

/// A maintenance window declared in the configuration (`[[maintenances]]`), as the
/// configuration layer checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceDef {
    /// The entry's `id` in the file (`[a-z0-9_-]+`, unique among maintenances), used to find
    /// the window again on the next start.
    pub config_id: String,
    /// Title: non-empty, at most 255 characters.
    pub name: String,
    /// Markdown body of its first update (default empty), at most 25,000 characters.
    pub body: String,
    /// Components under maintenance during the window: declared ids, at least one, no repeats.
    pub components: Vec<ComponentId>,
    /// When the window starts.
    pub scheduled_for: DateTime<Utc>,
    /// When it ends; always after `scheduled_for`.
    pub scheduled_until: DateTime<Utc>,
    /// Moves to "in progress" at `scheduled_for` without anyone acting (default true).
    pub auto_start: bool,
    /// Moves to "completed" at `scheduled_until` without anyone acting (default true).
    pub auto_complete: bool,
}

/// `POST /api/v1/maintenances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMaintenance {
    /// Title.
    pub name: String,
    /// Markdown body of the first update.
    pub body: String,
    /// Components under maintenance (each must be configured and not a group).
    pub components: Vec<ComponentId>,
    /// Start.
    pub scheduled_for: DateTime<Utc>,
    /// End.
    pub scheduled_until: DateTime<Utc>,
    /// Start by itself (default true).
    pub auto_start: Option<bool>,
    /// Complete by itself (default true).
    pub auto_complete: Option<bool>,
}

/// `POST /api/v1/maintenances/{id}/updates`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMaintenanceUpdate {
    /// New status (default: unchanged); it may only move forward.
    pub status: Option<MaintenanceStatus>,
    /// Markdown body.
    pub body: String,
}

/// `PATCH /api/v1/maintenances/{id}`: what may change in a window that has not started.
/// Absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenancePatch {
    /// Title.
    pub name: Option<String>,
    /// Components under maintenance (each must be configured and not a group).
    pub components: Option<Vec<ComponentId>>,
    /// Start.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// End.
    pub scheduled_until: Option<DateTime<Utc>>,
    /// Start by itself.
    pub auto_start: Option<bool>,
    /// Complete by itself.
    pub auto_complete: Option<bool>,
}

impl Desk {
    /// Brings the configuration's `[[maintenances]]` into the book: new ones are created,
    /// ones not yet started take the configuration's current fields, started ones are left
    /// alone.
    pub fn reconcile_config(
        &mut self,
        world: &mut World,
        defs: &[MaintenanceDef],
        now: DateTime<Utc>,
    ) {
        for def in defs {
            let existing = self
                .maintenances
                .iter()
                .position(|m| m.config_id.as_deref() == Some(def.config_id.as_str()));
            match existing {
                Some(mi) => {
                    let m = &mut self.maintenances[mi];
                    if m.status != MaintenanceStatus::Scheduled {
                        continue;
                    }
                    let before = m.clone();
                    m.name.clone_from(&def.name);
                    m.components.clone_from(&def.components);
                    m.scheduled_for = def.scheduled_for;
                    m.scheduled_until = def.scheduled_until;
                    m.auto_start = def.auto_start;
                    m.auto_complete = def.auto_complete;
                    if *m != before {
                        m.updated_at = now;
                        let id = m.id.clone();
                        self.touch_maintenance(&id);
                    }
                }
                None => {
                    let id = self.insert_maintenance(
                        Some(def.config_id.clone()),
                        def.name.clone(),
                        def.body.clone(),
                        def.components.clone(),
                        def.scheduled_for,
                        def.scheduled_until,
                        def.auto_start,
                        def.auto_complete,
                        Actor::Automation,
                        now,
                    );
                    tracing::info!(maintenance = %id, config_id = %def.config_id, "maintenance from the configuration scheduled");
                }
            }
        }
        self.tick(world, now);
    }

    /// Schedules a maintenance window.
    pub fn create_maintenance(
        &mut self,
        world: &mut World,
        req: NewMaintenance,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<IncidentId, DeskError> {
        check_name("name", &req.name)?;
        check_body("body", &req.body)?;
        if req.components.is_empty() {
            return Err(
                RuleError::invalid("components", "must name at least one component").into(),
            );
        }
        let mut components = Vec::new();
        for (i, c) in req.components.iter().enumerate() {
            leaf_component(world, &format!("components[{i}]"), c)?;
            if !components.contains(c) {
                components.push(c.clone());
            }
        }
        incident::check_window(req.scheduled_for, req.scheduled_until)?;
        if req.scheduled_until <= now {
            return Err(RuleError::invalid("scheduled_until", "is in the past").into());
        }
        let id = self.insert_maintenance(
            None,
            req.name.trim().to_owned(),
            req.body,
            components,
            req.scheduled_for,
            req.scheduled_until,
            req.auto_start.unwrap_or(true),
            req.auto_complete.unwrap_or(true),
            actor,
            now,
        );
        self.tick(world, now);
        Ok(id)
    }

    /// Changes a window that has not started: its name, components, times, and whether it
    /// starts and completes by itself. A renaming is in its timeline; the whole change is in
    /// the audit trail. A window under way or over is refused (post an update instead).
    pub fn edit_maintenance(
        &mut self,
        world: &mut World,
        id: &IncidentId,
        patch: MaintenancePatch,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let mi = self
            .maintenances
            .position(id)
            .ok_or_else(|| not_found("maintenance", id.as_str()))?;
        if self.maintenances[mi].status != MaintenanceStatus::Scheduled {
            return Err(RuleError::invalid(
                "status",
                "only a window that has not started can be edited; post an update instead",
            )
            .into());
        }
        if let Some(name) = &patch.name {
            check_name("name", name)?;
        }
        let components = match &patch.components {
            None => None,
            Some(list) if list.is_empty() => {
                return Err(
                    RuleError::invalid("components", "must name at least one component").into(),
                )
            }
            Some(list) => {
                let mut out = Vec::new();
                for (i, c) in list.iter().enumerate() {
                    leaf_component(world, &format!("components[{i}]"), c)?;
                    if !out.contains(c) {
                        out.push(c.clone());
                    }
                }
                Some(out)
            }
        };
        let m = &self.maintenances[mi];
        let scheduled_for = patch.scheduled_for.unwrap_or(m.scheduled_for);
        let scheduled_until = patch.scheduled_until.unwrap_or(m.scheduled_until);
        incident::check_window(scheduled_for, scheduled_until)?;
        if scheduled_until <= now {
            return Err(RuleError::invalid("scheduled_until", "is in the past").into());
        }
        let m = &mut self.maintenances[mi];
        let before = m.clone();
        let renamed = patch
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| *n != m.name)
            .map(|n| (std::mem::replace(&mut m.name, n.clone()), n));
        if let Some(c) = components {
            m.components = c;
        }
        m.scheduled_for = scheduled_for;
        m.scheduled_until = scheduled_until;
        m.auto_start = patch.auto_start.unwrap_or(m.auto_start);
        m.auto_complete = patch.auto_complete.unwrap_or(m.auto_complete);
        if *m == before {
            return Ok(());
        }
        m.updated_at = now;
        let id = m.id.clone();
        self.touch_maintenance(&id);
        if let Some((from, to)) = renamed {
            self.event(&id, now, now, actor, TimelineKind::Renamed { from, to });
        }
        self.tick(world, now);
        Ok(())
    }

    /// Posts an update to a maintenance, moving its status forward.
    pub fn update_maintenance(
        &mut self,
        world: &mut World,
        id: &IncidentId,
        req: NewMaintenanceUpdate,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let mi = self
            .maintenances
            .position(id)
            .ok_or_else(|| not_found("maintenance", id.as_str()))?;
        check_body("body", &req.body)?;
        let from = self.maintenances[mi].status;
        let to = req.status.unwrap_or(from);
        incident::check_maintenance_transition(from, to)?;
        if to == from && req.body.trim().is_empty() {
            return Err(
                RuleError::invalid("body", "an update needs a body or a new status").into(),
            );
        }
        self.move_maintenance(world, mi, to, req.body, actor, now);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert_maintenance(
        &mut self,
        config_id: Option<String>,
        name: String,
        body: String,
        components: Vec<ComponentId>,
        scheduled_for: DateTime<Utc>,
        scheduled_until: DateTime<Utc>,
        auto_start: bool,
        auto_complete: bool,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> IncidentId {
        let id = (self.ids)();
        let update = PublicUpdate {
            id: (self.ids)(),
            status: MaintenanceStatus::Scheduled,
            body: body.clone(),
            created_at: now,
            actor: actor.clone(),
            affected: Vec::new(),
        };
        let m = Maintenance {
            id: id.clone(),
            config_id,
            name: name.clone(),
            status: MaintenanceStatus::Scheduled,
            components,
            scheduled_for,
            scheduled_until,
            auto_start,
            auto_complete,
            created_at: now,
            updated_at: now,
            started_at: None,
            completed_at: None,
            updates: vec![update.clone()],
        };
        self.maintenances.insert(m);
        self.published = None;
        self.notices.push(Notice {
            kind: EventKind::MaintenanceScheduled,
            subject: Subject::Maintenance(id.clone()),
            reach: Reach::Everyone,
        });
        self.event(&id, now, now, actor.clone(), TimelineKind::Opened { name });
        self.event(
            &id,
            now,
            now,
            actor,
            TimelineKind::PublicUpdate {
                update_id: update.id,
                status: MaintenanceStatus::Scheduled.as_str().to_owned(),
                body,
            },
        );
        id
    }

    pub(super) fn move_maintenance(
        &mut self,
        world: &mut World,
        mi: usize,
        to: MaintenanceStatus,
        body: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) {
        let from = self.maintenances[mi].status;
        let id = self.maintenances[mi].id.clone();
        let components = self.maintenances[mi].components.clone();
        let mut affected = Vec::new();
        if from.is_active() != to.is_active() {
            for c in &components {
                let old = world
                    .component_status(c)
                    .unwrap_or(ComponentStatus::Operational);
                let change = world.set_maintenance(c, to.is_active(), now);
                let new = world.component_status(c).unwrap_or(old);
                affected.push(AffectedChange {
                    component_id: c.clone(),
                    old_status: old,
                    new_status: new,
                });
                self.record_change(change);
            }
        }
        let update = PublicUpdate {
            id: (self.ids)(),
            status: to,
            body: body.clone(),
            created_at: now,
            actor: actor.clone(),
            affected,
        };
        let update_id = update.id.clone();
        let kind = match self.maintenances[mi].record_update(update) {
            MaintenanceStep::Started => EventKind::MaintenanceStarted,
            MaintenanceStep::Completed => EventKind::MaintenanceCompleted,
            MaintenanceStep::Updated => EventKind::MaintenanceUpdated,
        };
        self.notices.push(Notice {
            kind,
            subject: Subject::Maintenance(id.clone()),
            reach: Reach::Everyone,
        });
        self.touch_maintenance(&id);
        self.event(
            &id,
            now,
            now,
            actor,
            TimelineKind::PublicUpdate {
                update_id,
                status: to.as_str().to_owned(),
                body,
            },
        );
        tracing::info!(maintenance = %id, from = from.as_str(), to = to.as_str(), "maintenance status changed");
        if from.is_active() && !to.is_active() {
            // Monitors that went down during the window and are still down are an outage now.
            let down: Vec<MonitorId> = world
                .monitors()
                .filter(|(spec, state)| {
                    state.health == Health::Down
                        && spec.components.iter().any(|c| components.contains(c))
                })
                .map(|(spec, _)| spec.id.clone())
                .collect();
            for m in down {
                self.on_down(world, &m, &[], None, now);
            }
            // Monitors failing at some of their locations, short of the quorum, were only
            // recorded on the window (`on_down` holds back what is under maintenance), and no
            // verdict will tell of them again while they keep failing where they do: their
            // regional incident opens now, saying where, as if the failure began now.
            let regional: Vec<(MonitorId, ComponentStatus, String)> = world
                .monitors()
                .filter(|(spec, _)| spec.components.iter().any(|c| components.contains(c)))
                .filter_map(|(spec, _)| {
                    let words = world.regional_words(&spec.id)?;
                    Some((spec.id.clone(), spec.placement.on_regional_failure, words))
                })
                .collect();
            for (m, status, words) in regional {
                self.on_down(world, &m, &[], Some((status, words)), now);
            }
        }
    }

    /// Starts and completes the windows that are due by themselves.
    pub(super) fn run_maintenance_clock(&mut self, world: &mut World, now: DateTime<Utc>) {
        let moves: Vec<(usize, MaintenanceStatus)> = self
            .maintenances
            .iter()
            .enumerate()
            .filter_map(|(i, m)| incident::maintenance_due(m, now).map(|to| (i, to)))
            .collect();
        for (mi, to) in moves {
            let body = match to {
                MaintenanceStatus::InProgress => {
                    "Scheduled maintenance is currently in progress. We will provide updates as necessary."
                }
                _ => "The scheduled maintenance has been completed.",
            };
            self.move_maintenance(world, mi, to, body.to_owned(), Actor::Automation, now);
        }
    }
}

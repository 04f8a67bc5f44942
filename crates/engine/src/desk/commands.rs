//! Commands people send through the admin API about incidents: declare one, post an update,
//! add a private note, change its fields. They arrive typed (the edge parsed statuses,
//! impacts, severities and component ids); what needs the desk's state or a length rule is
//! checked here, every field before anything changes, and a refusal names its field.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pharos_domain::incident::{
    check_body, check_name, check_requested_status, AffectedChange, TimelineKind,
};
use pharos_domain::{
    Actor, ComponentId, ComponentStatus, Impact, Incident, IncidentId, IncidentStatus, RuleError,
    Severity,
};

use super::{check_component_statuses, not_found, Desk, DeskError};
use crate::world::World;

/// `POST /api/v1/incidents`: a person declares an incident.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewIncident {
    /// Title.
    pub name: String,
    /// Initial status (default `investigating`); never `postmortem`.
    pub status: Option<IncidentStatus>,
    /// Markdown body of the first update.
    pub body: String,
    /// Component → status to show while the incident is open.
    pub components: BTreeMap<ComponentId, ComponentStatus>,
    /// Impact override.
    pub impact: Option<Impact>,
    /// Severity.
    pub severity: Option<Severity>,
    /// Whether it shows on the public page (default true).
    pub public: Option<bool>,
}

/// `POST /api/v1/incidents/{id}/updates`: a public update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUpdate {
    /// New status (default: unchanged); never `postmortem`.
    pub status: Option<IncidentStatus>,
    /// Markdown body.
    pub body: String,
    /// Component → status.
    pub components: BTreeMap<ComponentId, ComponentStatus>,
    /// `Some(true)` publishes a private incident with this update (a person's explicit act);
    /// `Some(false)` is refused on a published one. `None` leaves the visibility alone:
    /// posting an update never publishes.
    pub public: Option<bool>,
}

/// `PATCH /api/v1/incidents/{id}`. For the `Option<Option<_>>` fields, `None` keeps the value
/// and `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentPatch {
    /// New title.
    pub name: Option<String>,
    /// Severity.
    pub severity: Option<Option<Severity>>,
    /// Impact override.
    pub impact: Option<Option<Impact>>,
    /// Role → person (or `None` to clear the role).
    pub roles: BTreeMap<String, Option<String>>,
    /// Publish a private incident.
    pub public: Option<bool>,
}

impl Desk {
    /// Declares an incident. Every field is checked before anything changes.
    pub fn create_incident(
        &mut self,
        world: &mut World,
        req: NewIncident,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<IncidentId, DeskError> {
        check_name("name", &req.name)?;
        check_body("body", &req.body)?;
        let status = req.status.unwrap_or(IncidentStatus::Investigating);
        check_requested_status("status", status)?;
        let components = check_component_statuses(world, &req.components)?;
        let impact = req.impact;
        let severity = req.severity;

        let id = (self.ids)();
        let incident = Incident {
            id: id.clone(),
            name: req.name.trim().to_owned(),
            status,
            impact_override: impact,
            computed_impact: Impact::None,
            severity,
            components: BTreeMap::new(),
            pending_components: BTreeMap::new(),
            monitors: BTreeMap::new(),
            public: false,
            automated: false,
            human_owned: true,
            roles: BTreeMap::new(),
            created_at: now,
            updated_at: now,
            started_at: now,
            monitoring_at: None,
            resolved_at: None,
            first_failure_at: None,
            published_at: None,
            healthy_since: None,
            alerts: Default::default(),
            acknowledged: None,
            updates: Vec::new(),
        };
        let ii = self.insert_incident(incident);
        let opened = TimelineKind::Opened {
            name: self.incidents[ii].name.clone(),
        };
        self.event(&id, now, now, actor.clone(), opened);
        if severity.is_some() {
            self.event(
                &id,
                now,
                now,
                actor.clone(),
                TimelineKind::SeverityChanged {
                    from: None,
                    to: severity,
                },
            );
        }
        let public = req.public.unwrap_or(true);
        let affected = if public {
            self.apply_components(world, ii, &components, &actor, now)
        } else {
            self.hold_components(world, ii, &components)
        };
        self.post_as(ii, status, req.body, affected, actor.clone(), now);
        if status == IncidentStatus::Resolved {
            self.clear_incident_overrides(world, &id, now);
        }
        if public {
            self.publish(ii, actor, now);
        }
        Ok(id)
    }

    /// Posts a public update. The incident is human-owned from now on. It stays private if it
    /// was, unless the update asks to publish it; a private incident's component statuses are
    /// held until then.
    pub fn post_update(
        &mut self,
        world: &mut World,
        id: &IncidentId,
        req: NewUpdate,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let ii = self
            .incidents
            .position(id)
            .ok_or_else(|| not_found("incident", id.as_str()))?;
        check_body("body", &req.body)?;
        if req.body.trim().is_empty() && req.status.is_none() && req.components.is_empty() {
            return Err(RuleError::invalid(
                "body",
                "an update needs a body, a status or components",
            )
            .into());
        }
        if let Some(s) = req.status {
            check_requested_status("status", s)?;
        }
        let status = match req.status {
            Some(s) => s,
            None if self.incidents[ii].status == IncidentStatus::Postmortem => {
                IncidentStatus::Resolved
            }
            None => self.incidents[ii].status,
        };
        let components = check_component_statuses(world, &req.components)?;
        let was_public = self.incidents[ii].public;
        if req.public == Some(false) && was_public {
            return Err(
                RuleError::invalid("public", "a published incident cannot be unpublished").into(),
            );
        }

        self.incidents[ii].hand_over();
        let affected = if status.is_unresolved() && was_public {
            self.apply_components(world, ii, &components, &actor, now)
        } else if status.is_unresolved() {
            self.hold_components(world, ii, &components)
        } else {
            // Resolving: the components go back to what their monitors say; a status asked
            // for in the same update is recorded, not pinned.
            let mut affected = Vec::new();
            for (c, new) in &components {
                let old = world.component_status(c).unwrap_or(*new);
                affected.push(AffectedChange {
                    component_id: c.clone(),
                    old_status: old,
                    new_status: *new,
                });
                self.incidents[ii].note_component(c.clone(), *new);
            }
            affected
        };
        self.post_as(ii, status, req.body, affected, actor.clone(), now);
        if !status.is_unresolved() {
            self.clear_incident_overrides(world, id, now);
        }
        if req.public == Some(true) {
            self.publish_by_person(world, ii, actor, now);
        }
        Ok(())
    }

    /// Adds a private note to the timeline.
    pub fn add_note(
        &mut self,
        id: &IncidentId,
        body: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let exists = self.incidents.contains(id) || self.maintenances.contains(id);
        if !exists {
            return Err(not_found("incident", id.as_str()));
        }
        if body.trim().is_empty() {
            return Err(RuleError::invalid("body", "must not be empty").into());
        }
        check_body("body", &body)?;
        self.event(id, now, now, actor, TimelineKind::Note { body });
        Ok(())
    }

    /// Records that a responder is on the incident (SPEC §10): the first acknowledgement of
    /// an open incident is kept, with its timeline entry; a later one changes nothing. A
    /// resolved incident is refused.
    pub fn acknowledge_incident(
        &mut self,
        id: &IncidentId,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let ii = self
            .incidents
            .position(id)
            .ok_or_else(|| not_found("incident", id.as_str()))?;
        let inc = &mut self.incidents[ii];
        if !inc.status.is_unresolved() {
            return Err(RuleError::invalid(
                "status",
                "the incident is resolved; there is nothing to acknowledge",
            )
            .into());
        }
        if inc.acknowledged.is_some() {
            return Ok(());
        }
        let by = match &actor {
            Actor::Person(p) => p.clone(),
            Actor::Automation => "Pharos".to_owned(),
        };
        inc.acknowledged = Some(pharos_domain::incident::Acknowledgement { by, at: now });
        inc.updated_at = now;
        self.event(id, now, now, actor, TimelineKind::Acknowledged);
        self.touch_incident(id);
        Ok(())
    }

    /// Changes name, severity, impact, roles or visibility. Publishing a private incident
    /// shows the component statuses held for it, if it is still open.
    pub fn patch_incident(
        &mut self,
        world: &mut World,
        id: &IncidentId,
        patch: IncidentPatch,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let ii = self
            .incidents
            .position(id)
            .ok_or_else(|| not_found("incident", id.as_str()))?;
        if let Some(name) = &patch.name {
            check_name("name", name)?;
        }
        let severity = patch.severity;
        let impact = patch.impact;
        for (role, person) in &patch.roles {
            let ok = !role.is_empty()
                && role.len() <= 32
                && role
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-');
            if !ok {
                return Err(RuleError::invalid(
                    format!("roles.{role}"),
                    "a role name is 1-32 lowercase letters, '-' or '_'",
                )
                .into());
            }
            if let Some(p) = person {
                if p.trim().is_empty() || p.chars().count() > 64 {
                    return Err(RuleError::invalid(
                        format!("roles.{role}"),
                        "a person is named by 1-64 characters",
                    )
                    .into());
                }
            }
        }
        if patch.public == Some(false) && self.incidents[ii].public {
            return Err(
                RuleError::invalid("public", "a published incident cannot be unpublished").into(),
            );
        }

        let mut events = Vec::new();
        let inc = &mut self.incidents[ii];
        if let Some(name) = patch.name {
            let name = name.trim().to_owned();
            if name != inc.name {
                events.push(TimelineKind::Renamed {
                    from: std::mem::replace(&mut inc.name, name.clone()),
                    to: name,
                });
            }
        }
        if let Some(s) = severity {
            if s != inc.severity {
                events.push(TimelineKind::SeverityChanged {
                    from: inc.severity,
                    to: s,
                });
                inc.severity = s;
            }
        }
        if let Some(i) = impact {
            if i != inc.impact_override {
                let from = inc.impact();
                inc.impact_override = i;
                events.push(TimelineKind::ImpactChanged {
                    from,
                    to: inc.impact(),
                });
            }
        }
        for (role, person) in patch.roles {
            let person = person.map(|p| p.trim().to_owned());
            let current = inc.roles.get(&role).cloned();
            if current == person {
                continue;
            }
            match &person {
                Some(p) => inc.roles.insert(role.clone(), p.clone()),
                None => inc.roles.remove(&role),
            };
            events.push(TimelineKind::RoleAssigned { role, person });
        }
        if !events.is_empty() {
            inc.updated_at = now;
        }
        for e in events {
            self.event(id, now, now, actor.clone(), e);
        }
        if patch.public == Some(true) {
            self.publish_by_person(world, ii, actor, now);
        }
        self.touch_incident(id);
        Ok(())
    }
}

//! Audit entries for what people change through the engine's commands (SPEC §9): declaring
//! and updating incidents, notes, maintenances, overrides, publishing postmortems, removing
//! subscribers. A command sent on someone's behalf ([`crate::EngineControl::on_behalf`])
//! travels wrapped with its [`AuditContext`]; the pipeline notes the subject as it was before
//! the command, and once the command succeeds, the entry (who, what, the subject before and
//! after) joins the same batch as the change, so both are stored in one transaction or
//! neither is. A refused command leaves no entry. A postmortem's edits, written by the store
//! directly, take their entry ([`record`]) into that write's transaction.

use std::any::Any;

use pharos_domain::{Incident, Maintenance};
use pharos_store::{ActorKind, AuditRecord};

use crate::control::Command;
use crate::desk::ComponentOverride;
use crate::Live;

/// Who sends a command, and the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    /// A user, an API token, a configured token.
    pub actor_kind: ActorKind,
    /// The user's or token's id, when there is one.
    pub actor_id: Option<String>,
    /// The name recorded as the author.
    pub actor_name: String,
    /// The request's id.
    pub request_id: Option<String>,
    /// The client's address.
    pub address: Option<String>,
}

/// What kind of thing a command changes, to read it before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Incident,
    Maintenance,
    Override,
    Subscriber,
}

/// A command being applied on someone's behalf: who, what, and the subject before.
pub(crate) struct Auditing {
    ctx: AuditContext,
    action: &'static str,
    kind: Kind,
    subject: Option<String>,
    before: Option<String>,
}

/// The action name and the subject of `command`, or `None` for a command that changes
/// nothing a person decides (reads, subscribing from the public page, automation).
fn describe(command: &Command) -> Option<(&'static str, Kind, Option<String>)> {
    let incident = |action, id: &pharos_domain::IncidentId| {
        Some((action, Kind::Incident, Some(id.to_string())))
    };
    match command {
        Command::CreateIncident(..) => Some(("incident.create", Kind::Incident, None)),
        Command::PostUpdate(id, ..) => incident("incident.update", id),
        Command::AddNote(id, ..) => incident("incident.note", id),
        Command::PatchIncident(id, ..) => incident("incident.edit", id),
        Command::Acknowledge(id, ..) => incident("incident.acknowledge", id),
        Command::PublishPostmortem(id, ..) => incident("postmortem.publish", id),
        Command::CreateMaintenance(..) => Some(("maintenance.create", Kind::Maintenance, None)),
        Command::UpdateMaintenance(id, ..) => Some((
            "maintenance.update",
            Kind::Maintenance,
            Some(id.to_string()),
        )),
        Command::EditMaintenance(id, ..) => {
            Some(("maintenance.edit", Kind::Maintenance, Some(id.to_string())))
        }
        Command::SetOverride(c, ..) => Some(("override.set", Kind::Override, Some(c.clone()))),
        Command::ClearOverride(c, ..) => Some(("override.clear", Kind::Override, Some(c.clone()))),
        Command::RemoveSubscriber(id, ..) => {
            Some(("subscriber.remove", Kind::Subscriber, Some(id.clone())))
        }
        _ => None,
    }
}

/// `subject` of `kind` as it stands, as JSON; `None` when it does not exist.
fn snapshot(live: &Live, kind: Kind, subject: &str) -> Option<String> {
    let json = match kind {
        Kind::Incident => {
            let id = pharos_domain::IncidentId::new(subject)?;
            serde_json::to_string(live.desk.incident(&id)?)
        }
        Kind::Maintenance => {
            let id = pharos_domain::IncidentId::new(subject)?;
            serde_json::to_string(live.desk.maintenance(&id)?)
        }
        Kind::Override => serde_json::to_string(
            live.desk
                .overrides()
                .values()
                .find(|o| o.component_id.as_str() == subject)?,
        ),
        // A subscriber's address is personal: the trail says who was removed, by id only.
        Kind::Subscriber => return None,
    };
    json.ok()
}

/// Starts auditing `command` for `ctx`: notes the subject as it is now.
pub(crate) fn start(command: &Command, ctx: AuditContext, live: &Live) -> Option<Auditing> {
    let (action, kind, subject) = describe(command)?;
    let before = subject.as_deref().and_then(|s| snapshot(live, kind, s));
    Some(Auditing {
        ctx,
        action,
        kind,
        subject,
        before,
    })
}

/// An entry of `action` by `ctx`, now, for a change written outside the pipeline (in its
/// own transaction, by the store).
pub(crate) fn record(
    ctx: &AuditContext,
    action: &str,
    subject: Option<String>,
    before: Option<String>,
    after: Option<String>,
) -> AuditRecord {
    AuditRecord {
        at: crate::clock::now(),
        actor_kind: ctx.actor_kind,
        actor_id: ctx.actor_id.clone(),
        actor_name: ctx.actor_name.clone(),
        action: action.to_owned(),
        subject,
        before,
        after,
        request_id: ctx.request_id.clone(),
        address: ctx.address.clone(),
    }
}

/// The entry for a command that succeeded with `value`: the subject after it (read again, or,
/// for what it created, taken from its answer).
pub(crate) fn finish(a: Auditing, value: &dyn Any, live: &Live) -> AuditRecord {
    let created = value
        .downcast_ref::<Incident>()
        .map(|i| i.id.to_string())
        .or_else(|| {
            value
                .downcast_ref::<Maintenance>()
                .map(|m| m.id.to_string())
        })
        .or_else(|| {
            value
                .downcast_ref::<(Incident, crate::desk::postmortem::Publication)>()
                .map(|(i, _)| i.id.to_string())
        });
    let subject = a.subject.or(created);
    let after = match a.kind {
        Kind::Override => value
            .downcast_ref::<Option<ComponentOverride>>()
            .and_then(|o| o.as_ref())
            .and_then(|o| serde_json::to_string(o).ok()),
        kind => subject.as_deref().and_then(|s| snapshot(live, kind, s)),
    };
    AuditRecord {
        at: crate::clock::now(),
        actor_kind: a.ctx.actor_kind,
        actor_id: a.ctx.actor_id,
        actor_name: a.ctx.actor_name,
        action: a.action.to_owned(),
        subject,
        before: a.before,
        after,
        request_id: a.ctx.request_id,
        address: a.ctx.address,
    }
}

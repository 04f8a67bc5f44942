//! Commands from responders (the admin API) and from the public (subscribing, confirming,
//! unsubscribing) to the running engine, and the reads that go with them. A command is
//! applied by the pipeline task, in order with check results, so a person and the automation
//! never race; the caller gets its answer once the change is committed to storage, so a
//! `201 Created` always means stored.

use chrono::Utc;
use pharos_domain::incident::TimelineEntry;
use pharos_domain::{Actor, CheckResult, Incident, IncidentId, Maintenance, MonitorId};
use tokio::sync::oneshot;

pub use pharos_store::ArchivedMonitor;

use crate::desk::{
    ComponentOverride, Desk, DeskError, IncidentPatch, NewIncident, NewMaintenance,
    NewMaintenanceUpdate, NewUpdate, OverrideRequest,
};
use crate::metrics::Metrics;
use crate::subscribers::{
    self, LinkError, NewSubscriber, Purpose, Subscribed, Subscriber, SubscriberError,
    SubscriberState, Tokens, SUBSCRIBE_LOOKUP_TIMEOUT,
};
use crate::writer::Pending;
use crate::Live;
use crate::StatusView;

/// Why a command or read failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The request was refused; nothing changed.
    #[error(transparent)]
    Desk(#[from] DeskError),
    /// The change was applied but storage did not confirm it in time (it is retried), or the
    /// engine is stopping.
    #[error("{0}")]
    Unavailable(String),
}

/// Why a dead delivery was not sent again ([`EngineControl::retry_delivery`]).
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    /// No delivery has this id.
    #[error("no delivery with id {0:?}")]
    NotFound(String),
    /// The delivery is pending (it will be tried anyway) or sent: only a dead one is retried.
    #[error("the delivery is {}, not dead: only a dead delivery can be retried", .0.as_str())]
    NotDead(pharos_store::DeliveryState),
    /// Storage did not answer; nothing changed.
    #[error("{0}")]
    Unavailable(String),
}

/// The answer, with the write sequence number that makes it durable.
type Reply<T> = oneshot::Sender<(Result<T, DeskError>, u64)>;

/// One command for the pipeline.
pub(crate) enum Command {
    CreateIncident(NewIncident, Actor, Reply<Incident>),
    PostUpdate(IncidentId, NewUpdate, Actor, Reply<Incident>),
    AddNote(IncidentId, String, Actor, Reply<()>),
    PatchIncident(IncidentId, IncidentPatch, Actor, Reply<Incident>),
    Acknowledge(IncidentId, Actor, Reply<Incident>),
    CreateMaintenance(NewMaintenance, Actor, Reply<Maintenance>),
    UpdateMaintenance(IncidentId, NewMaintenanceUpdate, Actor, Reply<Maintenance>),
    EditMaintenance(
        IncidentId,
        crate::desk::MaintenancePatch,
        Actor,
        Reply<Maintenance>,
    ),
    SetOverride(
        String,
        OverrideRequest,
        Actor,
        Reply<Option<ComponentOverride>>,
    ),
    ClearOverride(String, Reply<Option<ComponentOverride>>),
    Overrides(oneshot::Sender<Vec<ComponentOverride>>),
    Monitor(MonitorId, oneshot::Sender<Option<crate::MonitorView>>),
    Subscribe(NewSubscriber, Reply<Subscribed>),
    ConfirmSubscriber(String, Reply<Subscriber>),
    Unsubscribe(String, Reply<Option<Subscriber>>),
    RemoveSubscriber(String, Reply<()>),
    PublishPostmortem(
        IncidentId,
        String,
        Actor,
        Reply<(Incident, crate::desk::postmortem::Publication)>,
    ),
    IngestAlerts(
        Vec<pharos_domain::alert::Alert>,
        Actor,
        Reply<Vec<crate::desk::AlertOutcome>>,
    ),
    Alerts(oneshot::Sender<Vec<crate::desk::AlertListing>>),
    Regression(Box<crate::changes::RegressionEvent>),
    /// Answers once everything applied before it is stored.
    Sync(Reply<()>),
    /// A command sent on someone's behalf: it leaves an audit entry when it succeeds.
    Audited(Box<Command>, Box<crate::audit::AuditContext>),
}

impl Command {
    /// Applies the command, queues its writes, and answers it with their sequence number.
    /// A command that changes what the page shows is published (`publish`) before it is
    /// answered, so whoever sent it reads the view with its change. Returns whether anything
    /// may have changed that is not published yet.
    pub(crate) fn apply(
        self,
        live: &mut Live,
        pending: &Pending,
        metrics: &Metrics,
        publish: &dyn Fn(&mut Live),
    ) -> bool {
        let now = crate::clock::now();
        /// Answers `reply`; `publish` is given for a command the page shows.
        fn answer<T: 'static>(
            reply: Reply<T>,
            r: Result<T, DeskError>,
            live: &mut Live,
            pending: &Pending,
            metrics: &Metrics,
            publish: Option<&dyn Fn(&mut Live)>,
        ) -> bool {
            if let (Ok(value), Some(auditing)) = (&r, live.auditing.take()) {
                let entry = crate::audit::finish(auditing, value as &dyn std::any::Any, live);
                live.audit_out.push(entry);
            }
            let seq = live.queue(pending, metrics, Vec::new(), Vec::new(), Vec::new());
            pending.write_soon();
            // A refused command changed nothing: no view to rebuild.
            if let (Ok(_), Some(publish)) = (&r, publish) {
                publish(live);
            }
            let _ = reply.send((r, seq));
            false
        }
        fn incident_of(desk: &Desk, id: &IncidentId) -> Result<Incident, DeskError> {
            desk.incident(id)
                .cloned()
                .ok_or_else(|| DeskError::NotFound {
                    what: "incident",
                    id: id.to_string(),
                })
        }
        fn maintenance_of(desk: &Desk, id: &IncidentId) -> Result<Maintenance, DeskError> {
            desk.maintenance(id)
                .cloned()
                .ok_or_else(|| DeskError::NotFound {
                    what: "maintenance",
                    id: id.to_string(),
                })
        }
        match self {
            Command::Audited(inner, ctx) => {
                live.auditing = crate::audit::start(&inner, *ctx, live);
                let changed = inner.apply(live, pending, metrics, publish);
                // Refused, or a command that answers otherwise: no entry.
                live.auditing = None;
                changed
            }
            Command::CreateIncident(req, actor, reply) => {
                let r = live
                    .desk
                    .create_incident(&mut live.world, req, actor, now)
                    .and_then(|id| incident_of(&live.desk, &id));
                answer(reply, r, live, pending, metrics, Some(publish))
            }
            Command::PostUpdate(id, req, actor, reply) => {
                let r = live
                    .desk
                    .post_update(&mut live.world, &id, req, actor, now)
                    .and_then(|()| incident_of(&live.desk, &id));
                answer(reply, r, live, pending, metrics, Some(publish))
            }
            Command::AddNote(id, body, actor, reply) => {
                let r = live.desk.add_note(&id, body, actor, now);
                answer(reply, r, live, pending, metrics, Some(publish))
            }
            Command::PatchIncident(id, patch, actor, reply) => {
                let r = live
                    .desk
                    .patch_incident(&mut live.world, &id, patch, actor, now)
                    .and_then(|()| incident_of(&live.desk, &id));
                answer(reply, r, live, pending, metrics, Some(publish))
            }
            Command::CreateMaintenance(req, actor, reply) => {
                let r = live
                    .desk
                    .create_maintenance(&mut live.world, req, actor, now)
                    .and_then(|id| maintenance_of(&live.desk, &id));
                answer(reply, r, live, pending, metrics, Some(publish))
            }
            Command::UpdateMaintenance(id, req, actor, reply) => {
                let r = live
                    .desk
                    .update_maintenance(&mut live.world, &id, req, actor, now)
                    .and_then(|()| maintenance_of(&live.desk, &id));
                answer(reply, r, live, pending, metrics, Some(publish))
            }
            Command::Acknowledge(id, actor, reply) => {
                let r = live
                    .desk
                    .acknowledge_incident(&id, actor, now)
                    .and_then(|()| incident_of(&live.desk, &id));
                answer(reply, r, live, pending, metrics, Some(publish))
            }
            Command::EditMaintenance(id, patch, actor, reply) => {
                let r = live
                    .desk
                    .edit_maintenance(&mut live.world, &id, patch, actor, now)
                    .and_then(|()| maintenance_of(&live.desk, &id));
                answer(reply, r, live, pending, metrics, Some(publish))
            }
            Command::SetOverride(component, req, actor, reply) => {
                let r = live
                    .desk
                    .set_override(&mut live.world, &component, req, actor, now)
                    .map(|()| override_of(&live.desk, &component));
                answer(reply, r, live, pending, metrics, Some(publish))
            }
            Command::ClearOverride(component, reply) => {
                let r = live
                    .desk
                    .clear_override(&mut live.world, &component, now)
                    .map(|()| override_of(&live.desk, &component));
                answer(reply, r, live, pending, metrics, Some(publish))
            }
            Command::Overrides(reply) => {
                let _ = reply.send(live.desk.overrides().values().cloned().collect());
                false
            }
            Command::Monitor(id, reply) => {
                let _ = reply.send(live.world.monitor_view(&id, now));
                false
            }
            // Subscribers are not on the page: nothing to publish.
            Command::Subscribe(req, reply) => {
                let r = live.subscribers.subscribe(&live.world, req, now);
                answer(reply, r, live, pending, metrics, None);
                false
            }
            Command::ConfirmSubscriber(id, reply) => {
                let r = live.subscribers.confirm(&id, now);
                answer(reply, r, live, pending, metrics, None);
                false
            }
            Command::Unsubscribe(id, reply) => {
                let r = Ok(live.subscribers.unsubscribe(&id, now));
                answer(reply, r, live, pending, metrics, None);
                false
            }
            Command::IngestAlerts(alerts, actor, reply) => {
                let Live {
                    world,
                    desk,
                    alert_routing,
                    ..
                } = live;
                let outcomes: Vec<_> = alerts
                    .iter()
                    .map(|alert| {
                        let routed = alert_routing.route(alert, |c| {
                            world.component(c).is_some_and(|(_, is_group)| !is_group)
                        });
                        let outcome = desk.on_alert(world, alert, &routed, &actor, now);
                        tracing::info!(
                            alert = %outcome.key,
                            result = outcome.result,
                            incident = ?outcome.incident_id.as_ref().map(|i| i.as_str()),
                            routing = %outcome.routing,
                            "alert received"
                        );
                        outcome
                    })
                    .collect();
                answer(reply, Ok(outcomes), live, pending, metrics, Some(publish))
            }
            Command::Sync(reply) => {
                answer(reply, Ok(()), live, pending, metrics, None);
                false
            }
            Command::Alerts(reply) => {
                let _ = reply.send(live.desk.alerts());
                false
            }
            Command::Regression(event) => crate::changes::apply(*event, live, pending, metrics),
            Command::PublishPostmortem(id, body, actor, reply) => {
                let r = live
                    .desk
                    .publish_postmortem(&id, body, actor, now)
                    .and_then(|p| incident_of(&live.desk, &id).map(|i| (i, p)));
                answer(reply, r, live, pending, metrics, Some(publish))
            }
            Command::RemoveSubscriber(id, reply) => {
                live.subscribers.remove(&id);
                answer(reply, Ok(()), live, pending, metrics, None);
                false
            }
        }
    }
}

/// A failed subscriber command, for the caller.
fn subscriber_error(e: CommandError) -> SubscriberError {
    match e {
        CommandError::Desk(DeskError::Rule(rule)) => {
            let field = rule.field().to_owned();
            let message = match rule {
                pharos_domain::RuleError::Invalid { message, .. } => message,
            };
            SubscriberError::Invalid { field, message }
        }
        CommandError::Desk(DeskError::NotFound { id, .. }) => SubscriberError::NotFound(id),
        CommandError::Unavailable(s) => SubscriberError::Unavailable(s),
    }
}

fn override_of(desk: &Desk, component: &str) -> Option<ComponentOverride> {
    desk.overrides()
        .values()
        .find(|o| o.component_id.as_str() == component)
        .cloned()
}

/// A cheap, clonable handle for responders' commands and reads, for the admin API.
#[derive(Clone)]
pub struct EngineControl {
    pub(crate) commands: tokio::sync::mpsc::Sender<Command>,
    pub(crate) committed: tokio::sync::watch::Receiver<u64>,
    pub(crate) view: tokio::sync::watch::Receiver<std::sync::Arc<StatusView>>,
    pub(crate) store: pharos_store::Store,
    pub(crate) tokens: Tokens,
    pub(crate) webhooks: pharos_notify::guard::WebhookGuard,
    pub(crate) email_subscriptions: bool,
    pub(crate) heartbeats: crate::heartbeats::Heartbeats,
    pub(crate) self_check: crate::self_check::Gate,
    pub(crate) changes: std::sync::Arc<crate::changes::ChangeContext>,
    pub(crate) locations: std::sync::Arc<crate::locations::Registry>,
    pub(crate) recent: std::sync::Arc<crate::recent::RecentChecks>,
    /// Who the commands sent through this handle are on behalf of (see [`Self::on_behalf`]).
    pub(crate) audit: Option<std::sync::Arc<crate::audit::AuditContext>>,
    /// The key TOTP secrets are sealed under ([`EngineConfig::seal_key`](crate::EngineConfig)).
    pub(crate) seal_key: Option<std::sync::Arc<crate::people::SealKey>>,
}

impl EngineControl {
    /// Where heartbeat pings go (`/ping/{token}`).
    pub fn heartbeats(&self) -> &crate::heartbeats::Heartbeats {
        &self.heartbeats
    }

    /// The locations and their probes: probes authenticate and send results through it,
    /// and `GET /api/v1/locations` lists it.
    pub fn locations(&self) -> &crate::locations::Registry {
        &self.locations
    }

    /// Each monitor's last checks, kept in memory (the console's sparklines).
    pub fn recent(&self) -> &crate::recent::RecentChecks {
        &self.recent
    }

    /// Who credentials belong to: API tokens read from storage.
    pub fn directory(&self) -> crate::people::Directory {
        crate::people::Directory::new(self.store.clone()).with_seal_key(self.seal_key.clone())
    }

    /// What the self-check last saw (`GET /api/v1/self-check`).
    pub fn self_check(&self) -> crate::self_check::SelfCheckStatus {
        self.self_check.status()
    }

    /// The view as it changes: a receiver that wakes whenever a new view is published.
    pub fn watch_view(&self) -> tokio::sync::watch::Receiver<std::sync::Arc<StatusView>> {
        self.view.clone()
    }

    /// The current view: components, monitors, incidents and maintenances.
    pub fn view(&self) -> std::sync::Arc<StatusView> {
        self.view.borrow().clone()
    }

    /// This handle, sending its commands on behalf of `ctx`: each change a person makes
    /// leaves an audit entry, stored with the change.
    pub fn on_behalf(&self, ctx: crate::audit::AuditContext) -> EngineControl {
        EngineControl {
            audit: Some(std::sync::Arc::new(ctx)),
            ..self.clone()
        }
    }

    async fn send<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, CommandError> {
        let stopping = || CommandError::Unavailable("Pharos is shutting down".into());
        let (tx, rx) = oneshot::channel();
        let committed = self.committed.clone();
        let command = match &self.audit {
            Some(ctx) => Command::Audited(Box::new(make(tx)), Box::new((**ctx).clone())),
            None => make(tx),
        };
        self.commands.send(command).await.map_err(|_| stopping())?;
        let (value, seq) = rx.await.map_err(|_| stopping())?;
        let value = value?;
        match crate::stored::committed(committed, seq).await {
            Ok(()) => Ok(value),
            Err(crate::stored::NotStored::Stopping) => Err(stopping()),
            Err(crate::stored::NotStored::Unconfirmed) => Err(CommandError::Unavailable(
                "the change is applied but the database has not confirmed it yet; it will be retried".into(),
            )),
        }
    }

    /// Applies alerts from another system (already read from its wire format), in order, and
    /// says what each did. Answers once the changes are stored.
    pub async fn ingest_alerts(
        &self,
        alerts: Vec<pharos_domain::alert::Alert>,
        actor: Actor,
    ) -> Result<Vec<crate::desk::AlertOutcome>, CommandError> {
        self.send(|reply| Command::IngestAlerts(alerts, actor, reply))
            .await
    }

    /// Every alert Pharos holds: in open incidents, and kept without one.
    pub async fn alerts(&self) -> Result<Vec<crate::desk::AlertListing>, CommandError> {
        let (tx, rx) = oneshot::channel();
        let stopping = || CommandError::Unavailable("Pharos is shutting down".into());
        self.commands
            .send(Command::Alerts(tx))
            .await
            .map_err(|_| stopping())?;
        rx.await.map_err(|_| stopping())
    }

    /// Declares an incident.
    pub async fn create_incident(
        &self,
        req: NewIncident,
        actor: Actor,
    ) -> Result<Incident, CommandError> {
        self.send(|r| Command::CreateIncident(req, actor, r)).await
    }

    /// Posts a public update to an incident.
    pub async fn post_update(
        &self,
        id: IncidentId,
        req: NewUpdate,
        actor: Actor,
    ) -> Result<Incident, CommandError> {
        self.send(|r| Command::PostUpdate(id, req, actor, r)).await
    }

    /// Adds a private note to an incident's (or maintenance's) timeline.
    pub async fn add_note(
        &self,
        id: IncidentId,
        body: String,
        actor: Actor,
    ) -> Result<(), CommandError> {
        self.send(|r| Command::AddNote(id, body, actor, r)).await
    }

    /// Changes an incident's name, severity, impact, roles or visibility.
    pub async fn patch_incident(
        &self,
        id: IncidentId,
        patch: IncidentPatch,
        actor: Actor,
    ) -> Result<Incident, CommandError> {
        self.send(|r| Command::PatchIncident(id, patch, actor, r))
            .await
    }

    /// Schedules a maintenance.
    pub async fn create_maintenance(
        &self,
        req: NewMaintenance,
        actor: Actor,
    ) -> Result<Maintenance, CommandError> {
        self.send(|r| Command::CreateMaintenance(req, actor, r))
            .await
    }

    /// Posts an update to a maintenance.
    pub async fn update_maintenance(
        &self,
        id: IncidentId,
        req: NewMaintenanceUpdate,
        actor: Actor,
    ) -> Result<Maintenance, CommandError> {
        self.send(|r| Command::UpdateMaintenance(id, req, actor, r))
            .await
    }

    /// Acknowledges an open incident on `actor`'s behalf (the first acknowledgement stays).
    pub async fn acknowledge(
        &self,
        id: IncidentId,
        actor: Actor,
    ) -> Result<Incident, CommandError> {
        self.send(|r| Command::Acknowledge(id, actor, r)).await
    }

    /// Changes a maintenance window that has not started.
    pub async fn edit_maintenance(
        &self,
        id: IncidentId,
        patch: crate::desk::MaintenancePatch,
        actor: Actor,
    ) -> Result<Maintenance, CommandError> {
        self.send(|r| Command::EditMaintenance(id, patch, actor, r))
            .await
    }

    /// Overrides a component's status.
    pub async fn set_override(
        &self,
        component: String,
        req: OverrideRequest,
        actor: Actor,
    ) -> Result<Option<ComponentOverride>, CommandError> {
        self.send(|r| Command::SetOverride(component, req, actor, r))
            .await
    }

    /// Clears a component's override.
    pub async fn clear_override(
        &self,
        component: String,
    ) -> Result<Option<ComponentOverride>, CommandError> {
        self.send(|r| Command::ClearOverride(component, r)).await
    }

    /// Current component overrides.
    pub async fn overrides(&self) -> Result<Vec<ComponentOverride>, CommandError> {
        let (tx, rx) = oneshot::channel();
        let stopping = || CommandError::Unavailable("Pharos is shutting down".into());
        self.commands
            .send(Command::Overrides(tx))
            .await
            .map_err(|_| stopping())?;
        rx.await.map_err(|_| stopping())
    }

    /// Monitor `id` as the engine sees it now (the published view is rebuilt only when
    /// something visible changes, or every minute); `None` for an unknown monitor.
    pub async fn monitor(
        &self,
        id: &MonitorId,
    ) -> Result<Option<crate::MonitorView>, CommandError> {
        let (tx, rx) = oneshot::channel();
        let stopping = || CommandError::Unavailable("Pharos is shutting down".into());
        self.commands
            .send(Command::Monitor(id.clone(), tx))
            .await
            .map_err(|_| stopping())?;
        rx.await.map_err(|_| stopping())
    }

    /// An incident's (or maintenance's) full timeline, in order of when things happened.
    pub async fn timeline(&self, id: &IncidentId) -> Result<Vec<TimelineEntry>, CommandError> {
        // The timeline is read from storage, which the writer reaches a moment after the live
        // incident changes: wait for what is already applied, so an incident resolved a
        // moment ago is never read without its resolution.
        self.send(Command::Sync).await?;
        let records =
            self.store.incident_events(id.as_str()).await.map_err(|e| {
                CommandError::Unavailable(format!("reading the timeline failed: {e}"))
            })?;
        Ok(records
            .into_iter()
            .filter_map(|r| match serde_json::from_str::<TimelineEntry>(&r.doc) {
                Ok(e) => Some(e),
                Err(error) => {
                    tracing::warn!(event = %r.id, %error, "unreadable timeline entry skipped");
                    None
                }
            })
            .collect())
    }

    /// Notification deliveries, newest first, optionally only those in `state`: what was sent,
    /// what is waiting for a retry and why, and what was given up.
    pub async fn deliveries(
        &self,
        state: Option<pharos_store::DeliveryState>,
        limit: usize,
    ) -> Result<Vec<pharos_store::OutboxRow>, CommandError> {
        self.store
            .outbox_rows(state, limit)
            .await
            .map_err(|e| CommandError::Unavailable(format!("reading deliveries failed: {e}")))
    }

    /// Sends a dead delivery again: it becomes pending, due now, and the dispatcher tries it
    /// as any other (a failure is retried while the delivery is younger than
    /// [`crate::dispatch::MAX_AGE`], else it is dead again). On someone's behalf
    /// ([`Self::on_behalf`]) the change and its audit entry (`delivery.retry`) are stored in
    /// one transaction. Refused, changing nothing, for an unknown id or a delivery that is
    /// not dead.
    pub async fn retry_delivery(&self, id: &str) -> Result<pharos_store::OutboxRow, RetryError> {
        let now = crate::clock::now();
        let audit = self.audit.as_ref().map(|ctx| {
            crate::audit::record(
                ctx,
                "delivery.retry",
                Some(id.to_owned()),
                Some(serde_json::json!({ "state": "dead" }).to_string()),
                Some(
                    serde_json::json!({ "state": "pending", "due_at": now.to_rfc3339() })
                        .to_string(),
                ),
            )
        });
        match self
            .store
            .requeue_dead_delivery(id, now, audit.as_ref())
            .await
        {
            Ok(pharos_store::Requeue::Queued(row)) => {
                tracing::info!(delivery = %row.id, destination = %row.destination, "dead delivery queued again");
                Ok(row)
            }
            Ok(pharos_store::Requeue::NotDead(state)) => Err(RetryError::NotDead(state)),
            Ok(pharos_store::Requeue::Unknown) => Err(RetryError::NotFound(id.to_owned())),
            Err(error) => {
                tracing::warn!(delivery = id, %error, "retrying a dead delivery failed");
                Err(RetryError::Unavailable(
                    "storage is unavailable; the delivery was not retried, try again shortly"
                        .into(),
                ))
            }
        }
    }

    /// Monitors removed from the configuration (archived at a start-up, their history kept),
    /// most recently removed first, with the components they drove and their last state.
    pub async fn removed_monitors(&self) -> Result<Vec<ArchivedMonitor>, CommandError> {
        self.store
            .archived_monitors()
            .await
            .map_err(|e| CommandError::Unavailable(format!("reading removed monitors failed: {e}")))
    }

    /// Whether the page offers e-mail subscriptions (an SMTP server is configured).
    pub fn email_subscriptions(&self) -> bool {
        self.email_subscriptions
    }

    /// Subscribes the public: an e-mail address (sent a confirmation e-mail; nothing else
    /// until it is confirmed) or a webhook (active at once). For an address already
    /// subscribed, answers with that subscriber and creates nothing (an unconfirmed one is
    /// sent a new confirmation e-mail, at most every 10 minutes). Every field is checked
    /// before anything changes; the answer comes once the subscriber and its confirmation
    /// e-mail are stored.
    ///
    /// A webhook must reach a public address (or one `[subscriptions]` allows): an IP
    /// literal that is not, or a name that already resolves only to such addresses, is
    /// refused naming `endpoint`. The lookup happens here, in the caller's task and within
    /// [`SUBSCRIBE_LOOKUP_TIMEOUT`], never in the pipeline; a name that does not resolve
    /// (yet) is accepted, since every delivery checks again on the address it connects to.
    pub async fn subscribe(&self, req: NewSubscriber) -> Result<Subscribed, SubscriberError> {
        let endpoint = req.endpoint.as_deref().map(str::trim).unwrap_or_default();
        // A malformed URL is left to the full check of every field, in the command.
        if let Ok(url) = subscribers::check_url(endpoint) {
            self.webhooks
                .check_endpoint(&url, SUBSCRIBE_LOOKUP_TIMEOUT)
                .await
                .map_err(|refusal| {
                    tracing::info!(%refusal, "a webhook subscription was refused");
                    SubscriberError::Invalid {
                        field: "endpoint".to_owned(),
                        message: refusal.to_string(),
                    }
                })?;
        }
        self.send(|r| Command::Subscribe(req, r))
            .await
            .map_err(subscriber_error)
    }

    /// Whether `token` is a genuine, unexpired link made for `purpose`, without changing
    /// anything (the page a link opens, before its button is pressed).
    /// [`SubscriberError::InvalidLink`] when it is not.
    pub fn check_link(&self, token: &str, purpose: Purpose) -> Result<(), SubscriberError> {
        self.verify(token, purpose).map(drop)
    }

    /// Confirms the e-mail subscription a confirmation link's `token` names. A forged,
    /// damaged or expired token, or one for a subscription that was cancelled, is
    /// [`SubscriberError::InvalidLink`] and changes nothing.
    pub async fn confirm_subscription(&self, token: &str) -> Result<Subscriber, SubscriberError> {
        let id = self.verify(token, Purpose::Confirm)?;
        match self.send(|r| Command::ConfirmSubscriber(id, r)).await {
            Err(CommandError::Desk(DeskError::NotFound { .. })) => {
                Err(SubscriberError::InvalidLink)
            }
            other => other.map_err(subscriber_error),
        }
    }

    /// Ends the subscription an unsubscribe link's `token` names; `None` when it had already
    /// ended (or was removed). A forged or damaged token is
    /// [`SubscriberError::InvalidLink`] and changes nothing.
    pub async fn unsubscribe(&self, token: &str) -> Result<Option<Subscriber>, SubscriberError> {
        let id = self.verify(token, Purpose::Unsubscribe)?;
        self.send(|r| Command::Unsubscribe(id, r))
            .await
            .map_err(subscriber_error)
    }

    /// The signer of subscribers' links, which also vouches for the client address of a
    /// request another node of a cluster forwarded ([`Tokens::sign_client`]).
    pub fn link_tokens(&self) -> &Tokens {
        &self.tokens
    }

    fn verify(&self, token: &str, purpose: Purpose) -> Result<String, SubscriberError> {
        self.tokens
            .verify(token, purpose, crate::clock::now())
            .map_err(|e: LinkError| {
                tracing::info!(reason = %e, "a subscriber link was refused");
                SubscriberError::InvalidLink
            })
    }

    /// Every stored subscriber (only those in `state`, when given), oldest first.
    pub async fn subscribers(
        &self,
        state: Option<SubscriberState>,
    ) -> Result<Vec<Subscriber>, CommandError> {
        let filter = pharos_store::SubscriberFilter {
            states: state.into_iter().collect(),
            component: None,
        };
        let records =
            self.store.subscribers(&filter).await.map_err(|e| {
                CommandError::Unavailable(format!("reading subscribers failed: {e}"))
            })?;
        Ok(records.into_iter().map(Subscriber::from_record).collect())
    }

    /// Deletes a subscriber for good, whatever its state; its pending deliveries are given
    /// up. [`SubscriberError::NotFound`] when no subscriber has this id.
    pub async fn remove_subscriber(&self, id: &str) -> Result<(), SubscriberError> {
        let stored = self.store.subscriber(id).await.map_err(|e| {
            SubscriberError::Unavailable(format!("reading subscribers failed: {e}"))
        })?;
        if stored.is_none() {
            return Err(SubscriberError::NotFound(id.to_owned()));
        }
        let id = id.to_owned();
        self.send(|r| Command::RemoveSubscriber(id, r))
            .await
            .map_err(subscriber_error)
    }

    /// A monitor's most recent results, newest first.
    pub async fn recent_results(
        &self,
        monitor: &MonitorId,
        limit: usize,
    ) -> Result<Vec<CheckResult>, CommandError> {
        self.store
            .recent_results(monitor, limit)
            .await
            .map_err(|e| CommandError::Unavailable(format!("reading recent results failed: {e}")))
    }

    /// Every live component's (never a group's) status timeline from `since` on, read from
    /// storage, which keeps status changes forever: the input of reports over windows longer
    /// than the page's 90 days ([`pharos_domain::report::uptime`]). Each timeline is sorted
    /// and starts with the status in force at `since` (clamped to it) when the component
    /// existed then. Changes made in the last moments may not be stored yet.
    pub async fn status_history(
        &self,
        since: chrono::DateTime<Utc>,
    ) -> Result<
        std::collections::HashMap<
            pharos_domain::ComponentId,
            Vec<pharos_domain::uptime::StatusChange>,
        >,
        CommandError,
    > {
        self.store
            .status_timeline(since)
            .await
            .map_err(|e| CommandError::Unavailable(format!("reading status history failed: {e}")))
    }

    /// Publishes an incident's postmortem `body` (rendered Markdown): the first time as a
    /// public update with status `postmortem`, later by revising that update's text. The
    /// incident must be resolved. Answers once stored, with the incident as it is now.
    pub async fn publish_postmortem(
        &self,
        id: IncidentId,
        body: String,
        actor: Actor,
    ) -> Result<(Incident, crate::desk::postmortem::Publication), CommandError> {
        self.send(|r| Command::PublishPostmortem(id, body, actor, r))
            .await
    }

    /// An incident's stored postmortem (empty when none was saved).
    pub async fn postmortem(
        &self,
        id: &IncidentId,
    ) -> Result<crate::desk::postmortem::StoredPostmortem, CommandError> {
        let record = self.store.postmortem(id.as_str()).await.map_err(|e| {
            CommandError::Unavailable(format!("reading the postmortem failed: {e}"))
        })?;
        Ok(record
            .map(crate::desk::postmortem::StoredPostmortem::from_record)
            .unwrap_or_default())
    }

    /// Every stored postmortem, by incident id.
    pub async fn postmortems(
        &self,
    ) -> Result<
        std::collections::HashMap<IncidentId, crate::desk::postmortem::StoredPostmortem>,
        CommandError,
    > {
        let records =
            self.store.postmortems().await.map_err(|e| {
                CommandError::Unavailable(format!("reading postmortems failed: {e}"))
            })?;
        Ok(records
            .into_iter()
            .filter_map(|r| {
                let id = IncidentId::new(r.incident_id.clone())?;
                Some((
                    id,
                    crate::desk::postmortem::StoredPostmortem::from_record(r),
                ))
            })
            .collect())
    }

    /// Saves the human part of an incident's postmortem (replacing what was saved), or, with
    /// `published_at`, records that it was published then.
    pub async fn save_postmortem(
        &self,
        id: &IncidentId,
        edits: Option<&pharos_domain::postmortem::PostmortemEdits>,
        published_at: Option<chrono::DateTime<Utc>>,
    ) -> Result<crate::desk::postmortem::StoredPostmortem, CommandError> {
        let now = crate::clock::now();
        let mut record = None;
        if let Some(edits) = edits {
            let doc = crate::desk::postmortem::edits_doc(edits);
            // On someone's behalf: the edit and its audit entry are stored together.
            let audit = match &self.audit {
                Some(ctx) => {
                    let before = match self.store.postmortem(id.as_str()).await {
                        Ok(previous) => previous.map(|p| p.doc),
                        Err(_) => None,
                    };
                    Some(crate::audit::record(
                        ctx,
                        "postmortem.save",
                        Some(id.to_string()),
                        before,
                        Some(doc.clone()),
                    ))
                }
                None => None,
            };
            record = Some(
                self.store
                    .save_postmortem(id.as_str(), &doc, now, audit.as_ref())
                    .await,
            );
        }
        if let Some(at) = published_at {
            record = Some(self.store.mark_postmortem_published(id.as_str(), at).await);
        }
        match record {
            Some(Ok(r)) => Ok(crate::desk::postmortem::StoredPostmortem::from_record(r)),
            Some(Err(pharos_store::StoreError::InvalidInput { .. })) => {
                Err(CommandError::Unavailable(
                    "the incident is not stored yet; try again shortly".into(),
                ))
            }
            Some(Err(error)) => {
                tracing::warn!(incident = %id, %error, "saving a postmortem failed");
                Err(CommandError::Unavailable(
                    "storage is unavailable; the postmortem was not saved, try again shortly"
                        .into(),
                ))
            }
            None => self.postmortem(id).await,
        }
    }
}

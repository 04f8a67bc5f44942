//! The dispatcher: claims due deliveries from the outbox, sends each on its notifier's
//! channel or to its subscriber, and records the outcome. Failures are retried with
//! exponential backoff and full jitter until a delivery is [`MAX_AGE`] old, then it is dead
//! with its last error. Each notifier has its own concurrency limit and timeout, and so do
//! subscribers' webhooks ([`SUBSCRIBER_WEBHOOK_CONCURRENCY`]) and e-mails
//! ([`SUBSCRIBER_EMAIL_CONCURRENCY`]), so a slow or failing channel delays nothing else;
//! checks never wait for any of it.
//!
//! A subscriber's delivery (`subscriber:<id>`) looks the subscriber up when it is claimed,
//! a moment before it is sent (a claim's subscribers in one query): one that unsubscribed or
//! was removed meanwhile gets nothing (the delivery is dead with that reason). A webhook
//! subscriber is POSTed Statuspage's payload with its own unsubscribe link in
//! `meta.unsubscribe`, through [`WebhookGuard`]: to public addresses only (checked on the
//! address connected to, after DNS), so a webhook whose host is or resolves to a private,
//! loopback or other non-public address is dead at once, with a reason that says so; an e-mail subscriber is sent the e-mail through `[smtp]`, with the
//! link in the body and in `List-Unsubscribe`. Confirmation e-mails go the same way.
//!
//! Outcomes are recorded by one task, a batch per transaction ([`OUTCOMES_PER_COMMIT`]), so
//! a burst of thousands of deliveries does not cost a commit each.
//!
//! Claims carry a lease: a dispatcher that dies mid-send leaves rows that come back when the
//! lease ends, so every delivery is sent at least once, with the same `Idempotency-Key`.
//!
//! On the leader of several nodes, the store carries the leader's fence: a claim is refused
//! once another node leads, and each send first checks that this node's lease was renewed
//! less than its length ago (`Senders::may_send`), so a leader paused past its lease sends
//! nothing when it wakes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_notify::email::{Email, Mailer, SmtpSettings};
use pharos_notify::guard::WebhookGuard;
use pharos_notify::{Event, Notifier, Outcome};
use pharos_store::{OutboxRow, Settlement, Store, SubscriberRecord};
use rand::RngExt as _;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use crate::metrics::Metrics;
use crate::notices::destination;
use crate::subscribers::{
    self, ConfirmationPayload, Subscriber, SubscriberKind, SubscriberState, Tokens,
};

/// A delivery still failing this long after it was made is given up (dead).
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The first retry waits up to this long; each further one doubles it.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// No retry waits longer than this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How often the outbox is polled when nothing wakes the dispatcher.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// Most deliveries in flight at once, over all notifiers.
pub const MAX_IN_FLIGHT: usize = 256;
/// Most subscriber webhooks in flight at once.
pub const SUBSCRIBER_WEBHOOK_CONCURRENCY: usize = 64;
/// Most subscriber e-mails in flight at once.
pub const SUBSCRIBER_EMAIL_CONCURRENCY: usize = 8;
/// Most outcomes recorded in one transaction.
pub const OUTCOMES_PER_COMMIT: usize = 512;
/// Outcomes waiting to be recorded before senders wait for the recorder.
const OUTCOME_QUEUE: usize = 4 * MAX_IN_FLIGHT;
/// Longest a subscriber's webhook may take to answer (Statuspage's limit).
pub const SUBSCRIBER_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything deliveries can go out on.
#[derive(Debug, Clone)]
pub struct Channels {
    /// Responders' notifiers.
    pub notifiers: Vec<Notifier>,
    /// The mail server subscribers' e-mails go through, if one is configured.
    pub smtp: Option<SmtpSettings>,
    /// Signs subscribers' unsubscribe and confirmation links.
    pub tokens: Tokens,
    /// Sends subscribers' webhooks, to allowed (public) addresses only.
    pub webhooks: WebhookGuard,
}

struct Destination {
    notifier: Notifier,
    slots: Arc<Semaphore>,
}

/// Where deliveries go, with their concurrency limits.
struct Senders {
    notifiers: HashMap<String, Destination>,
    /// Where outcomes go to be recorded (see [`record_outcomes`]).
    outcomes: mpsc::Sender<Settlement>,
    /// Subscribers' mail server, its connections shared by every e-mail.
    mailer: Option<Mailer>,
    tokens: Tokens,
    webhooks: WebhookGuard,
    webhook_slots: Semaphore,
    email_slots: Semaphore,
    /// The store the deliveries were claimed from: its fence, when this node leads several,
    /// says whether it may still send ([`Store::may_act`]).
    store: Store,
}

impl Senders {
    /// Whether a claimed delivery may still go out: always on a single node; for the leader
    /// of several, only while its lease was renewed less than its length ago. A leader paused
    /// past its lease sends nothing when it wakes: the delivery stays claimed, its claim runs
    /// out and the new leader sends it (with the same `Idempotency-Key`).
    fn may_send(&self, row: &OutboxRow) -> bool {
        let may = self.store.may_act();
        if !may {
            tracing::warn!(delivery = %row.id, "not sending: this node no longer holds the leader's lease");
        }
        may
    }
}

/// The wait before retry number `attempt` (1-based): full jitter over an exponentially growing
/// window, so receivers that failed together do not get hammered together.
pub fn backoff(attempt: u32, unit_random: f64) -> Duration {
    let window = FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)))
        .min(MAX_BACKOFF);
    window
        .mul_f64(unit_random.clamp(0.0, 1.0))
        .max(Duration::from_millis(100))
}

/// Runs until `stop`, then lets in-flight sends finish (the caller bounds the wait).
pub async fn run(
    store: Store,
    channels: Channels,
    metrics: Arc<Metrics>,
    mut wake: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let Channels {
        notifiers,
        smtp,
        tokens,
        webhooks,
    } = channels;
    // The operator's notifiers are trusted: this client follows the system's proxy settings
    // and resolver. Subscribers' webhooks go through `webhooks`, which reaches allowed
    // addresses only.
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Pharos/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(error) => {
            tracing::error!(%error, "notification client could not be built; nothing will be sent");
            let _ = stop.changed().await;
            return;
        }
    };
    let lease = notifiers
        .iter()
        .map(|n| n.timeout)
        .chain([SUBSCRIBER_WEBHOOK_TIMEOUT])
        .chain(smtp.iter().map(|s| s.timeout))
        .max()
        .unwrap_or(SUBSCRIBER_WEBHOOK_TIMEOUT)
        // A send is cut off 5 s after its timeout (see `deliver`); the rest covers recording it.
        + Duration::from_secs(10);
    let (outcomes, recorded) = mpsc::channel(OUTCOME_QUEUE);
    let recorder = tokio::spawn(record_outcomes(store.clone(), recorded));
    let destinations = Arc::new(Senders {
        outcomes,
        notifiers: notifiers
            .into_iter()
            .map(|n| {
                let slots = Arc::new(Semaphore::new(n.concurrency.max(1)));
                (destination(&n.id), Destination { notifier: n, slots })
            })
            .collect(),
        // As many kept connections as e-mails in flight: each send finds one open.
        mailer: smtp.map(|smtp| Mailer::new(smtp, SUBSCRIBER_EMAIL_CONCURRENCY)),
        tokens,
        webhooks,
        webhook_slots: Semaphore::new(SUBSCRIBER_WEBHOOK_CONCURRENCY),
        email_slots: Semaphore::new(SUBSCRIBER_EMAIL_CONCURRENCY),
        store: store.clone(),
    });
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = JoinSet::new();
    // Claim when woken (a commit stored deliveries, or the poll timer), and otherwise only
    // when the last claim was full and a quarter of the slots are free again: a burst of
    // thousands of deliveries then costs a claim per batch, not one per finished send.
    let mut claim_now = true;
    let mut more_due = false;
    loop {
        while tasks.try_join_next().is_some() {}
        let free = in_flight.available_permits();
        if free > 0 && (claim_now || (more_due && free >= MAX_IN_FLIGHT / 4)) {
            match store.claim_due(crate::clock::now(), lease, free).await {
                Ok(rows) => {
                    more_due = rows.len() == free;
                    // Each payload is read once per claim, however many rows carry it, and
                    // the claim's subscribers are looked up together.
                    let mut parsed: HashMap<String, Arc<Parsed>> = HashMap::new();
                    let followers = Arc::new(look_up_subscribers(&store, &rows).await);
                    for row in rows {
                        let payload = parsed
                            .entry(row.payload.id.clone())
                            .or_insert_with(|| Arc::new(Parsed::of(&row)))
                            .clone();
                        let Ok(permit) = in_flight.clone().acquire_owned().await else {
                            return;
                        };
                        let followers = followers.clone();
                        let destinations = destinations.clone();
                        let client = client.clone();
                        let metrics = metrics.clone();
                        tasks.spawn(async move {
                            let senders = &*destinations;
                            deliver(senders, &client, &metrics, row, &payload, &followers).await;
                            drop(permit);
                        });
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "claiming due notifications failed; will retry");
                }
            }
        }
        claim_now = tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY) => true,
            _ = wake.changed() => true,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => false,
            _ = stop.changed() => break,
        };
    }
    while tasks.join_next().await.is_some() {}
    // The last outcomes are recorded once every sender is gone.
    drop(destinations);
    if let Err(error) = recorder.await {
        tracing::warn!(%error, "recording delivery outcomes stopped abnormally");
    }
}

/// Records outcomes as they come, each batch that is waiting in one transaction: thousands
/// of deliveries then cost a commit per batch, not one each. Ends when every sender is gone.
/// A batch that cannot be recorded is lost from here, but not lost: its deliveries' leases
/// run out and they are sent again, with the same `Idempotency-Key`.
async fn record_outcomes(store: Store, mut outcomes: mpsc::Receiver<Settlement>) {
    let mut batch = Vec::with_capacity(OUTCOMES_PER_COMMIT);
    while outcomes.recv_many(&mut batch, OUTCOMES_PER_COMMIT).await > 0 {
        if let Err(error) = store.settle(&batch).await {
            tracing::warn!(%error, count = batch.len(), "recording delivery outcomes failed; those deliveries will be sent again");
        }
        batch.clear();
    }
}

/// The subscribers a claim's rows are for, read in one go, or why they could not be read.
type Followers = Result<HashMap<String, SubscriberRecord>, String>;

async fn look_up_subscribers(store: &Store, rows: &[OutboxRow]) -> Followers {
    let ids: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.destination.strip_prefix(subscribers::DESTINATION_PREFIX))
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    store
        .subscribers_by_id(&ids)
        .await
        .map_err(|error| format!("reading the subscriber failed: {error}"))
}

/// A delivery's payload as read: an event, a confirmation e-mail's details, or why it could
/// not be read.
enum Parsed {
    Event(Box<Event>),
    Confirmation(ConfirmationPayload),
    Unreadable(String),
}

impl Parsed {
    /// Reads `row`'s payload as what its event kind says it is.
    fn of(row: &OutboxRow) -> Parsed {
        let body = &row.payload.body;
        let read = if row.event_kind == subscribers::CONFIRMATION_EVENT_KIND {
            serde_json::from_str(body).map(Parsed::Confirmation)
        } else {
            serde_json::from_str(body).map(|e| Parsed::Event(Box::new(e)))
        };
        read.unwrap_or_else(|error| Parsed::Unreadable(format!("unreadable payload: {error}")))
    }
}

async fn deliver(
    senders: &Senders,
    client: &reqwest::Client,
    metrics: &Metrics,
    row: OutboxRow,
    payload: &Parsed,
    followers: &Followers,
) {
    let now = crate::clock::now();
    if let Some(id) = row
        .destination
        .strip_prefix(subscribers::DESTINATION_PREFIX)
    {
        let sub = match followers {
            Ok(found) => Ok(found.get(id).cloned().map(Subscriber::from_record)),
            Err(reason) => Err(reason.clone()),
        };
        deliver_to_subscriber(senders, metrics, sub, row, payload).await;
        return;
    }
    let Some(dest) = senders.notifiers.get(&row.destination) else {
        give_up(senders, &row, now, "its notifier is no longer configured").await;
        return;
    };
    let event = match payload {
        Parsed::Event(e) => e,
        Parsed::Unreadable(reason) => return give_up(senders, &row, now, reason).await,
        Parsed::Confirmation(_) => {
            return give_up(
                senders,
                &row,
                now,
                "a confirmation e-mail is not for a notifier",
            )
            .await
        }
    };
    let Ok(_slot) = dest.slots.acquire().await else {
        return;
    };
    if !senders.may_send(&row) {
        return;
    }
    let notifier = &dest.notifier;
    // The notifier honours its own timeout; this bounds any bug there.
    let outcome = match tokio::time::timeout(
        notifier.timeout + Duration::from_secs(5),
        notifier.send(client, &row.id, event),
    )
    .await
    {
        Ok(o) => o,
        Err(_) => Outcome::Failed {
            reason: format!(
                "timed out after {}",
                pharos_domain::duration::format_duration(notifier.timeout)
            ),
        },
    };
    settle(senders, metrics, &notifier.id, &row, outcome).await;
}

/// Records how an attempt went: sent, failed and retried later, or given up when too old.
async fn settle(
    senders: &Senders,
    metrics: &Metrics,
    label: &str,
    row: &OutboxRow,
    outcome: Outcome,
) {
    let at = crate::clock::now();
    let result = match outcome {
        Outcome::Sent => {
            metrics.record_delivery(label, "sent");
            tracing::debug!(delivery = %row.id, notifier = %label, "notification sent");
            Settlement::sent(&row.id, at)
        }
        Outcome::Failed { reason } => {
            let attempt = row.attempts.saturating_add(1);
            let age = (at - row.created_at).to_std().unwrap_or_default();
            let retry_at = (age < MAX_AGE).then(|| {
                let wait = backoff(attempt, rand::rng().random());
                at + chrono::Duration::from_std(wait).unwrap_or_default()
            });
            if retry_at.is_some() {
                metrics.record_delivery(label, "failed");
                tracing::warn!(delivery = %row.id, notifier = %label, attempt, %reason, "notification failed; will retry");
            } else {
                metrics.record_delivery(label, "dead");
                tracing::error!(delivery = %row.id, notifier = %label, attempt, %reason, "notification given up");
            }
            Settlement::failed(&row.id, at, &reason, retry_at)
        }
    };
    record(senders, result).await;
}

/// Queues an outcome for [`record_outcomes`].
async fn record(senders: &Senders, settlement: Settlement) {
    if senders.outcomes.send(settlement).await.is_err() {
        // The lease runs out and the row is claimed again: at least once, never lost.
        tracing::warn!("delivery outcomes are no longer recorded; the delivery will be sent again");
    }
}

/// One delivery to a public subscriber, as read when the delivery was claimed (a moment
/// before sending), so one that left before then gets nothing.
async fn deliver_to_subscriber(
    senders: &Senders,
    metrics: &Metrics,
    sub: Result<Option<Subscriber>, String>,
    row: OutboxRow,
    payload: &Parsed,
) {
    let now = crate::clock::now();
    let sub = match sub {
        Ok(Some(sub)) => sub,
        Ok(None) => return give_up(senders, &row, now, "the subscriber was removed").await,
        Err(reason) => {
            let label = "subscribers";
            return settle(senders, metrics, label, &row, Outcome::Failed { reason }).await;
        }
    };
    let label = match sub.kind {
        SubscriberKind::Email => "subscribers:email",
        SubscriberKind::Webhook => "subscribers:webhook",
    };
    let confirmation = row.event_kind == subscribers::CONFIRMATION_EVENT_KIND;
    let refused = match sub.state() {
        SubscriberState::Unsubscribed => Some("the subscriber unsubscribed"),
        SubscriberState::Pending if !confirmation => Some("the subscriber has not confirmed"),
        SubscriberState::Active if confirmation => Some("the subscriber is already confirmed"),
        _ => None,
    };
    if let Some(reason) = refused {
        return give_up(senders, &row, now, reason).await;
    }
    let email = match payload {
        Parsed::Unreadable(reason) => Err(reason.clone()),
        Parsed::Confirmation(p) => {
            let link = senders
                .tokens
                .confirm_link(&p.page_url, &sub.id, p.expires_at);
            Ok(subscribers::confirmation_email(p, &sub.address, &link))
        }
        Parsed::Event(event) => {
            let unsubscribe = senders.tokens.unsubscribe_link(&event.page.url, &sub.id);
            match sub.kind {
                SubscriberKind::Webhook => {
                    let outcome = match pharos_notify::channels::webhook::body(event, &unsubscribe)
                    {
                        Ok(body) => {
                            let Ok(_slot) = senders.webhook_slots.acquire().await else {
                                return;
                            };
                            if !senders.may_send(&row) {
                                return;
                            }
                            let request = pharos_notify::RenderedRequest {
                                url: sub.address.clone(),
                                headers: vec![
                                    ("Content-Type", "application/json".to_owned()),
                                    ("User-Agent", pharos_notify::channels::USER_AGENT.to_owned()),
                                    ("Idempotency-Key", row.id.clone()),
                                    (
                                        pharos_notify::channels::webhook::EVENT_HEADER,
                                        event.kind.as_str().to_owned(),
                                    ),
                                ],
                                body,
                            };
                            let sent = senders
                                .webhooks
                                .post(&request, SUBSCRIBER_WEBHOOK_TIMEOUT, &[&sub.address])
                                .await;
                            match sent {
                                Ok(outcome) => outcome,
                                // Permanent: retrying does not make an address public.
                                Err(refusal) => {
                                    let reason = format!("refused: {refusal}");
                                    return give_up(senders, &row, now, &reason).await;
                                }
                            }
                        }
                        Err(error) => {
                            return give_up(senders, &row, now, &error.to_string()).await;
                        }
                    };
                    return settle(senders, metrics, label, &row, outcome).await;
                }
                SubscriberKind::Email => {
                    subscribers::event_email(event, &sub.address, &unsubscribe)
                        .map_err(|e| e.to_string())
                }
            }
        }
    };
    let email: Email = match email {
        Ok(e) => e,
        Err(reason) => return give_up(senders, &row, now, &reason).await,
    };
    let Some(mailer) = &senders.mailer else {
        return give_up(senders, &row, now, "no [smtp] server is configured").await;
    };
    let Ok(_slot) = senders.email_slots.acquire().await else {
        return;
    };
    if !senders.may_send(&row) {
        return;
    }
    let smtp = mailer.settings();
    // The mail client honours its own timeout; this bounds any bug there.
    let outcome = match tokio::time::timeout(
        smtp.timeout + Duration::from_secs(5),
        mailer.send(&email),
    )
    .await
    {
        Ok(o) => o,
        Err(_) => Outcome::Failed {
            reason: format!(
                "timed out after {}",
                pharos_domain::duration::format_duration(smtp.timeout)
            ),
        },
    };
    settle(senders, metrics, label, &row, outcome).await;
}

async fn give_up(senders: &Senders, row: &OutboxRow, at: DateTime<Utc>, reason: &str) {
    tracing::error!(delivery = %row.id, destination = %row.destination, reason, "notification given up");
    record(senders, Settlement::failed(&row.id, at, reason, None)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_full_jitter_and_a_cap() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(2, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(5, 1.0), Duration::from_secs(16));
        assert_eq!(backoff(40, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(5, 0.5), Duration::from_secs(8));
        // Never a hot loop, even with a zero draw.
        assert_eq!(backoff(3, 0.0), Duration::from_millis(100));
    }
}

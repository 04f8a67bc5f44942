//! The dispatcher: claims due deliveries from the outbox, sends each on its notifier's
//! channel, and records the outcome. Failures are retried with exponential backoff and full
//! jitter until a delivery is [`MAX_AGE`] old, then it is dead with its last error. Each
//! notifier has its own concurrency limit and timeout, so a slow or failing channel delays
//! nothing else; checks never wait for any of it.
//!
//! Claims carry a lease: a dispatcher that dies mid-send leaves rows that come back when the
//! lease ends, so every delivery is sent at least once, with the same `Idempotency-Key`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_notify::{Event, Notifier, Outcome};
use pharos_store::{OutboxRow, Store};
use rand::RngExt as _;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::metrics::Metrics;
use crate::notices::destination;

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

struct Destination {
    notifier: Notifier,
    slots: Arc<Semaphore>,
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
    notifiers: Vec<Notifier>,
    metrics: Arc<Metrics>,
    mut wake: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    if notifiers.is_empty() {
        // Nothing can be sent; leave any stored rows for a configuration that has notifiers.
        let _ = stop.changed().await;
        return;
    }
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
        .max()
        .unwrap_or(Duration::from_secs(10))
        + Duration::from_secs(30);
    let destinations: Arc<HashMap<String, Destination>> = Arc::new(
        notifiers
            .into_iter()
            .map(|n| {
                let slots = Arc::new(Semaphore::new(n.concurrency.max(1)));
                (destination(&n.id), Destination { notifier: n, slots })
            })
            .collect(),
    );
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let free = in_flight.available_permits();
        if free > 0 {
            match store.claim_due(Utc::now(), lease, free).await {
                Ok(rows) => {
                    for row in rows {
                        let Ok(permit) = in_flight.clone().acquire_owned().await else {
                            return;
                        };
                        let store = store.clone();
                        let destinations = destinations.clone();
                        let client = client.clone();
                        let metrics = metrics.clone();
                        tasks.spawn(async move {
                            deliver(&store, &destinations, &client, &metrics, row).await;
                            drop(permit);
                        });
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "claiming due notifications failed; will retry");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = wake.changed() => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    while tasks.join_next().await.is_some() {}
}

async fn deliver(
    store: &Store,
    destinations: &HashMap<String, Destination>,
    client: &reqwest::Client,
    metrics: &Metrics,
    row: OutboxRow,
) {
    let now = Utc::now();
    let Some(dest) = destinations.get(&row.destination) else {
        give_up(store, &row, now, "its notifier is no longer configured").await;
        return;
    };
    let event: Event = match serde_json::from_str(&row.payload) {
        Ok(e) => e,
        Err(error) => {
            give_up(store, &row, now, &format!("unreadable payload: {error}")).await;
            return;
        }
    };
    let Ok(_slot) = dest.slots.acquire().await else {
        return;
    };
    let notifier = &dest.notifier;
    // The notifier honours its own timeout; this bounds any bug there.
    let outcome = match tokio::time::timeout(
        notifier.timeout + Duration::from_secs(5),
        notifier.send(client, &row.id, &event),
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
    let at = Utc::now();
    let result = match outcome {
        Outcome::Sent => {
            metrics.record_delivery(&notifier.id, "sent");
            tracing::debug!(delivery = %row.id, notifier = %notifier.id, "notification sent");
            store.mark_sent(&row.id, at).await
        }
        Outcome::Failed { reason } => {
            let attempt = row.attempts.saturating_add(1);
            let age = (at - row.created_at).to_std().unwrap_or_default();
            let retry_at = (age < MAX_AGE).then(|| {
                let wait = backoff(attempt, rand::rng().random());
                at + chrono::Duration::from_std(wait).unwrap_or_default()
            });
            if retry_at.is_some() {
                metrics.record_delivery(&notifier.id, "failed");
                tracing::warn!(delivery = %row.id, notifier = %notifier.id, attempt, %reason, "notification failed; will retry");
            } else {
                metrics.record_delivery(&notifier.id, "dead");
                tracing::error!(delivery = %row.id, notifier = %notifier.id, attempt, %reason, "notification given up");
            }
            store.mark_failed(&row.id, at, &reason, retry_at).await
        }
    };
    if let Err(error) = result {
        // The lease runs out and the row is claimed again: at least once, never lost.
        tracing::warn!(delivery = %row.id, %error, "recording a delivery outcome failed; it will be retried");
    }
}

async fn give_up(store: &Store, row: &OutboxRow, at: DateTime<Utc>, reason: &str) {
    tracing::error!(delivery = %row.id, destination = %row.destination, reason, "notification given up");
    if let Err(error) = store.mark_failed(&row.id, at, reason, None).await {
        tracing::warn!(delivery = %row.id, %error, "recording a dead delivery failed");
    }
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

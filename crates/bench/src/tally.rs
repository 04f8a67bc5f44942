//! [`Tally`]: the deliveries a sink has seen, counted by a distinct key (a webhook's
//! `Idempotency-Key`, an e-mail's recipient), with the time the first and the last new key
//! arrived. Repeats (the same key again, which an at-least-once outbox allows) are counted
//! apart.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// Deliveries seen by a sink. Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Debug, Default)]
pub struct Tally {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    keys: HashSet<String>,
    total: u64,
    messages: u64,
    bytes: u64,
    unkeyed: u64,
    first: Option<Instant>,
    last_new: Option<Instant>,
}

/// A copy of a [`Tally`]'s figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Distinct keys seen.
    pub distinct: u64,
    /// Keyed deliveries seen, repeats included (for e-mail: accepted recipients).
    pub total: u64,
    /// Requests (webhook) or accepted messages (e-mail), whatever they carried.
    pub messages: u64,
    /// Body bytes received (webhook bodies, e-mail `DATA`).
    pub bytes: u64,
    /// Requests that carried no key at all (webhook without `Idempotency-Key`).
    pub unkeyed: u64,
    /// When the first keyed delivery arrived.
    pub first: Option<Instant>,
    /// When the last new (distinct) key arrived.
    pub last_new: Option<Instant>,
}

impl Counts {
    /// Deliveries that repeated a key already seen.
    pub fn repeats(&self) -> u64 {
        self.total.saturating_sub(self.distinct)
    }
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Tally {
        Tally::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the counters inconsistent in a way
        // that matters for a benchmark; keep counting.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records one request or message of `bytes` body bytes carrying the deliveries `keys`
    /// (none for a request without a key), all arriving at `at`.
    pub fn record<'a>(&self, keys: impl IntoIterator<Item = &'a str>, bytes: u64, at: Instant) {
        let mut inner = self.lock();
        inner.messages += 1;
        inner.bytes += bytes;
        let mut keyed = false;
        for key in keys {
            keyed = true;
            inner.total += 1;
            inner.first.get_or_insert(at);
            if !inner.keys.contains(key) {
                inner.keys.insert(key.to_owned());
                inner.last_new = Some(at);
            }
        }
        if !keyed {
            inner.unkeyed += 1;
        }
    }

    /// The figures now.
    pub fn counts(&self) -> Counts {
        let inner = self.lock();
        Counts {
            distinct: inner.keys.len() as u64,
            total: inner.total,
            messages: inner.messages,
            bytes: inner.bytes,
            unkeyed: inner.unkeyed,
            first: inner.first,
            last_new: inner.last_new,
        }
    }
}

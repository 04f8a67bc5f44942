//! The results a probe has not delivered yet: bounded, oldest first. When it is full the
//! oldest result goes (the newest say more about now), and the loss is counted so the sender
//! can say so in the log once a minute.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pharos_domain::CheckResult;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Results kept while the server is unreachable before the oldest are dropped.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// How often at most a loss is written to the log.
pub(crate) const LOSS_REPORT_EVERY: Duration = Duration::from_secs(60);

/// Undelivered results, shared by the check tasks (which push) and the sender (which takes).
#[derive(Debug)]
pub(crate) struct Buffer {
    inner: Mutex<Inner>,
    capacity: usize,
    /// Woken on every push, so the sender can wait for work.
    pushed: Notify,
    /// Results taken by the sender and not yet answered by the server.
    in_flight: AtomicUsize,
}

#[derive(Debug, Default)]
struct Inner {
    queue: VecDeque<CheckResult>,
    /// Dropped since the last report.
    unreported: u64,
    /// When the last report was made.
    last_report: Option<Instant>,
}

impl Buffer {
    /// An empty buffer holding at most `capacity` results (at least one).
    pub(crate) fn new(capacity: usize) -> Buffer {
        Buffer {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            pushed: Notify::new(),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a queue that is still a valid queue.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a result at the end, dropping the oldest one when full.
    pub(crate) fn push(&self, result: CheckResult) {
        {
            let mut inner = self.lock();
            if inner.queue.len() >= self.capacity {
                inner.queue.pop_front();
                inner.unreported += 1;
            }
            inner.queue.push_back(result);
        }
        self.pushed.notify_one();
    }

    /// Removes and returns up to `max` of the oldest results, oldest first; they count as in
    /// flight until [`Buffer::settled`].
    pub(crate) fn take(&self, max: usize) -> Vec<CheckResult> {
        let mut inner = self.lock();
        let n = max.min(inner.queue.len());
        self.in_flight.fetch_add(n, Ordering::Relaxed);
        inner.queue.drain(..n).collect()
    }

    /// `n` results taken earlier were answered (delivered or refused for good).
    pub(crate) fn settled(&self, n: usize) {
        self.in_flight.fetch_sub(n, Ordering::Relaxed);
    }

    /// Results not delivered yet: waiting, and in flight.
    pub(crate) fn undelivered(&self) -> usize {
        self.len() + self.in_flight.load(Ordering::Relaxed)
    }

    /// Results waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Waits for the next push (returns at once if one happened since the last wait).
    pub(crate) async fn pushed(&self) {
        self.pushed.notified().await;
    }

    /// Results dropped since the last report, if there are any and the last report is at
    /// least [`LOSS_REPORT_EVERY`] old (or there was none); counts them as reported.
    pub(crate) fn loss_to_report(&self, now: Instant) -> Option<u64> {
        let mut inner = self.lock();
        if inner.unreported == 0 {
            return None;
        }
        if inner
            .last_report
            .is_some_and(|at| now.saturating_duration_since(at) < LOSS_REPORT_EVERY)
        {
            return None;
        }
        inner.last_report = Some(now);
        Some(std::mem::take(&mut inner.unreported))
    }

    /// Writes a warning for results dropped since the last report, at most once per
    /// [`LOSS_REPORT_EVERY`].
    pub(crate) fn report_loss(&self) {
        if let Some(dropped) = self.loss_to_report(Instant::now()) {
            tracing::warn!(
                dropped,
                capacity = self.capacity,
                "the result buffer is full: dropped the oldest undelivered results"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tests::result;

    fn ids(results: &[CheckResult]) -> Vec<u64> {
        results.iter().map(|r| r.duration_ms).collect()
    }

    #[test]
    fn keeps_order_and_drops_the_oldest_when_full() {
        let buffer = Buffer::new(3);
        for n in 0..5 {
            buffer.push(result(n));
        }
        assert_eq!(buffer.len(), 3);
        assert_eq!(ids(&buffer.take(2)), vec![2, 3]);
        buffer.push(result(5));
        assert_eq!(ids(&buffer.take(10)), vec![4, 5]);
        assert!(buffer.take(10).is_empty());
    }

    #[test]
    fn a_loss_is_reported_once_a_minute_with_its_count() {
        let buffer = Buffer::new(2);
        let start = Instant::now();
        assert_eq!(buffer.loss_to_report(start), None);
        for n in 0..5 {
            buffer.push(result(n));
        }
        assert_eq!(buffer.loss_to_report(start), Some(3));
        buffer.push(result(5));
        buffer.push(result(6));
        assert_eq!(buffer.loss_to_report(start + Duration::from_secs(30)), None);
        assert_eq!(
            buffer.loss_to_report(start + LOSS_REPORT_EVERY),
            Some(2),
            "what was dropped meanwhile is reported a minute later"
        );
        assert_eq!(buffer.loss_to_report(start + 3 * LOSS_REPORT_EVERY), None);
    }
}

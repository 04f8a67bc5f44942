//! Sending results: batches of up to `pharos_wire::probe::MAX_BATCH`, each with a key `<instance>-<counter>`,
//! strictly in order. A batch is sent again with the same key until the server answers, so
//! nothing newer overtakes it and nothing is counted twice; one the server refuses for good
//! (400, 413) is dropped, since it could never pass.

use std::sync::Arc;
use std::time::Duration;

use pharos_wire::probe::ResultBatch;
use rand::RngExt as _;
use tokio::sync::watch;
use tokio::time::Instant;

use super::buffer::Buffer;
use super::link::{Link, Posted, Transient};
use super::{Fatal, Tuning};

/// Waits between attempts: doubling from `first` up to `max`, each with jitter (between half
/// and all of the step), so probes that lost the server together do not return together.
#[derive(Debug)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    /// Starts at `first`.
    pub(crate) fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            step: first,
        }
    }

    /// The next wait.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        step.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// Back to the first step, after a success.
    pub(crate) fn reset(&mut self) {
        self.step = self.first;
    }
}

/// The sender: takes batches from the buffer and delivers them one at a time.
pub(crate) struct Sender {
    pub(crate) link: Arc<Link>,
    pub(crate) buffer: Arc<Buffer>,
    pub(crate) instance: String,
    pub(crate) tuning: Tuning,
    /// Set when the probe stops: send what is left without waiting to fill a batch, and
    /// return once the buffer is empty.
    pub(crate) draining: watch::Receiver<bool>,
    /// The next batch's counter.
    pub(crate) counter: u64,
}

impl Sender {
    /// Runs until the buffer is empty after draining began, or a fatal answer.
    pub(crate) async fn run(mut self) -> Result<(), Fatal> {
        loop {
            self.buffer.report_loss();
            if self.buffer.len() == 0 {
                if *self.draining.borrow() {
                    return Ok(());
                }
                tokio::select! {
                    _ = self.buffer.pushed() => {}
                    _ = self.draining.changed() => {}
                    // Wakes now and then to report a loss the last push caused.
                    _ = tokio::time::sleep(self.tuning.flush) => {}
                }
                continue;
            }
            // Something is waiting: send it within `flush`, sooner if a batch fills.
            let deadline = Instant::now() + self.tuning.flush;
            while self.buffer.len() < self.tuning.max_batch && !*self.draining.borrow() {
                tokio::select! {
                    _ = self.buffer.pushed() => {}
                    _ = self.draining.changed() => {}
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
            let results = self.buffer.take(self.tuning.max_batch);
            if results.is_empty() {
                continue;
            }
            let key = format!("{}-{}", self.instance, self.counter);
            self.counter += 1;
            let batch = ResultBatch {
                key,
                version: env!("CARGO_PKG_VERSION").to_owned(),
                sent_at: pharos_engine::clock::now(),
                results,
            };
            let n = batch.results.len();
            self.deliver(batch).await?;
            self.buffer.settled(n);
        }
    }

    /// Sends `batch` until the server answers it (or refuses it for good).
    async fn deliver(&self, mut batch: ResultBatch) -> Result<(), Fatal> {
        let mut backoff = Backoff::new(self.tuning.retry_first, self.tuning.retry_max);
        loop {
            // The key stays; the clock reading is the one of this attempt.
            batch.sent_at = pharos_engine::clock::now();
            match self.link.post(&batch).await? {
                Ok(Posted::Taken(answer)) => {
                    self.link.restored();
                    self.link.clock_offset(answer.clock_offset_ms);
                    if let Some(first) = answer.refused.first() {
                        tracing::warn!(
                            batch = %batch.key,
                            refused = answer.refused.len(),
                            monitor = %first.monitor_id,
                            reason = %first.reason,
                            "the server did not count some results"
                        );
                    }
                    tracing::debug!(
                        batch = %batch.key,
                        results = batch.results.len(),
                        accepted = answer.accepted,
                        duplicate = answer.duplicate,
                        "results delivered"
                    );
                    return Ok(());
                }
                Ok(Posted::Rejected(reason)) => {
                    // Received, so the connection is fine; the batch itself can never pass.
                    self.link.restored();
                    tracing::error!(
                        batch = %batch.key,
                        results = batch.results.len(),
                        error = %reason,
                        "the server refused a batch of results; dropped it"
                    );
                    return Ok(());
                }
                Err(Transient(reason)) => {
                    self.link.lost("results", &reason);
                    tracing::debug!(batch = %batch.key, error = %reason, "batch not delivered; retrying");
                    tokio::time::sleep(backoff.next_wait()).await;
                    self.buffer.report_loss();
                }
            }
        }
    }
}

//! Answering a caller only once what it handed over is stored.
//!
//! Commands wait for the write that carries them ([`crate::control`]). Check results come
//! from many tasks over one channel and are written in batches, so a caller that needs the
//! same promise (a probe's batch, a heartbeat ping) puts a [`Input::Marker`] on the results
//! channel right after its results: the pipeline answers the marker with the sequence number
//! of the write that carries everything before it, and the caller waits for that write to
//! commit. A leader that loses its database therefore never acknowledges what it cannot
//! store; the sender keeps it and tries again, perhaps at the next leader.

use std::time::Duration;

use pharos_domain::CheckResult;
use tokio::sync::{oneshot, watch};

/// How long a caller waits for its write to be committed before it is told to try again.
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What goes down the results channel to the pipeline.
#[derive(Debug)]
pub(crate) enum Input {
    /// A check result, from a check here, a heartbeat or a probe.
    Result(CheckResult),
    /// Asks for the write sequence number that carries every result sent before it.
    Marker(oneshot::Sender<u64>),
}

/// Why something handed over was not confirmed as stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotStored {
    /// The database did not confirm the write within [`COMMIT_TIMEOUT`]; it is retried.
    #[error("the database has not confirmed the write yet; send it again later")]
    Unconfirmed,
    /// The engine stopped (shutting down, or no longer the leader) before the write.
    #[error("Pharos is shutting down or no longer leads; send it again")]
    Stopping,
}

/// A claim on the write that stores what its holder handed over.
#[derive(Debug)]
pub struct Receipt {
    marker: oneshot::Receiver<u64>,
    committed: watch::Receiver<u64>,
}

impl Receipt {
    /// A receipt for `marker`, answered by the pipeline, settled by `committed`.
    pub(crate) fn new(marker: oneshot::Receiver<u64>, committed: watch::Receiver<u64>) -> Receipt {
        Receipt { marker, committed }
    }

    /// Waits until what was handed over is committed to storage.
    pub async fn stored(self) -> Result<(), NotStored> {
        let seq = self.marker.await.map_err(|_| NotStored::Stopping)?;
        committed(self.committed, seq).await
    }
}

/// Waits, at most [`COMMIT_TIMEOUT`], for the write numbered `seq` to commit.
pub(crate) async fn committed(
    mut committed: watch::Receiver<u64>,
    seq: u64,
) -> Result<(), NotStored> {
    match tokio::time::timeout(COMMIT_TIMEOUT, committed.wait_for(|&c| c >= seq)).await {
        Ok(Ok(_)) => Ok(()),
        // The writer is gone: the engine stopped.
        Ok(Err(_)) => Err(NotStored::Stopping),
        Err(_) => Err(NotStored::Unconfirmed),
    }
}

/// Moves the results of `inputs` into `results` and returns the markers among them.
pub(crate) fn split(
    inputs: &mut Vec<Input>,
    results: &mut Vec<CheckResult>,
) -> Vec<oneshot::Sender<u64>> {
    let mut markers = Vec::new();
    for input in inputs.drain(..) {
        match input {
            Input::Result(r) => results.push(r),
            Input::Marker(m) => markers.push(m),
        }
    }
    markers
}

/// Answers `markers` with `seq`, the write that carries what came before them, and hurries
/// that write along because someone waits for it.
pub(crate) fn answer(
    markers: Vec<oneshot::Sender<u64>>,
    seq: u64,
    pending: &crate::writer::Pending,
) {
    if markers.is_empty() {
        return;
    }
    for m in markers {
        // The caller may have given up waiting; nothing to do then.
        let _ = m.send(seq);
    }
    pending.write_soon();
}

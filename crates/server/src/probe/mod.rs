//! `pharos probe`: checks a location's monitors from where it runs and sends the results to
//! the server (SPEC §7, protocol in `pharos_wire::probe`).
//!
//! Three parts run side by side:
//! - the **poller** long-polls `GET /api/v1/probe/monitors` with the version it runs and
//!   hands each new assignment to the main loop;
//! - the **checks** (`checks`), one task per monitor, run the server's own per-monitor loop
//!   and push results into a bounded buffer (`buffer`);
//! - the **sender** (`delivery`) sends the buffer in ordered batches with idempotency keys,
//!   retrying a batch with its key until the server answers.
//!
//! The server being unreachable stops nothing: the checks go on with the last assignment and
//! results wait in the buffer (the oldest dropped past its capacity). A refused token (401)
//! ends the probe with an error at once. On SIGTERM/SIGINT the checks stop and what is
//! buffered gets [`DRAIN_GRACE`] to be delivered.

mod buffer;
mod checks;
mod delivery;
mod link;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pharos_domain::{LocationId, Secret};
use pharos_wire::probe::MAX_BATCH;
use rand::RngExt as _;
use reqwest::Url;
use tokio::sync::{mpsc, watch};

pub use buffer::DEFAULT_CAPACITY;

use buffer::Buffer;
use checks::Checks;
use delivery::{Backoff, Sender};
use link::{Link, Polled, Transient};

/// The environment variable holding the location's token when `--token-file` is not given.
pub const TOKEN_VAR: &str = "PHAROS_PROBE_TOKEN";

/// Least time between two assignment requests that found nothing new.
const MIN_POLL_SPACING: Duration = Duration::from_secs(1);

/// How long a stopping probe keeps trying to deliver what it buffered.
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// What `pharos probe` was told.
#[derive(Debug)]
pub struct ProbeSettings {
    /// The server, e.g. `https://status.example.com` (http or https, with a host).
    pub server: Url,
    /// The location this probe checks from.
    pub location: LocationId,
    /// The location's token.
    pub token: Secret,
}

impl ProbeSettings {
    /// Checks the command line's values: the server URL, the location id and where the token
    /// comes from (`token_file`, else `token_env`, the value of [`TOKEN_VAR`]). The message of
    /// an error is meant for the operator and never contains the token.
    pub fn from_args(
        server: &str,
        location: &str,
        token_file: Option<&Path>,
        token_env: Option<String>,
    ) -> Result<ProbeSettings, String> {
        let server = parse_server(server)?;
        let location = LocationId::new(location)
            .map_err(|e| format!("--location {location:?} is not a location id: {e}"))?;
        let token = read_token(token_file, token_env)?;
        Ok(ProbeSettings {
            server,
            location,
            token,
        })
    }
}

fn parse_server(server: &str) -> Result<Url, String> {
    let url = Url::parse(server).map_err(|e| format!("--server {server:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "--server {server:?} must be an http:// or https:// URL"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("--server {server:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "--server {server:?} must be the server's address, without a query or fragment"
        ));
    }
    Ok(url)
}

/// The token from `file` (trimmed), else from `env`; an error when neither has one.
fn read_token(file: Option<&Path>, env: Option<String>) -> Result<Secret, String> {
    let token = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
            let token = text.trim().to_owned();
            if token.is_empty() {
                return Err(format!("the token file {} is empty", path.display()));
            }
            token
        }
        None => {
            let token = env.unwrap_or_default().trim().to_owned();
            if token.is_empty() {
                return Err(format!(
                    "no token for the location: pass --token-file FILE or set {TOKEN_VAR}"
                ));
            }
            token
        }
    };
    Ok(Secret::new(token))
}

/// Why a probe stopped with an error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Fatal {
    /// The server answered 401: a wrong token, or a location it does not know.
    #[error(
        "the server refused this probe's token for location `{location}` (a wrong token, or no such location in the server's configuration)"
    )]
    Refused {
        /// The location asked for.
        location: String,
    },
    /// The probe could not set itself up.
    #[error("{0}")]
    Setup(String),
}

/// Timings and sizes, fixed in production and shortened by tests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    /// Results kept undelivered before the oldest are dropped.
    pub(crate) capacity: usize,
    /// Most results in one batch.
    pub(crate) max_batch: usize,
    /// Longest a result waits for its batch to fill.
    pub(crate) flush: Duration,
    /// First wait before a failed request is tried again.
    pub(crate) retry_first: Duration,
    /// Longest wait between two attempts.
    pub(crate) retry_max: Duration,
    /// How long a stopping probe tries to deliver what is left.
    pub(crate) drain: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            capacity: DEFAULT_CAPACITY,
            max_batch: MAX_BATCH,
            flush: Duration::from_secs(1),
            retry_first: Duration::from_secs(1),
            retry_max: Duration::from_secs(10),
            drain: DRAIN_GRACE,
        }
    }
}

/// This process's instance id, `<hostname>-<6 random characters>`, sent as `probe=`.
pub fn instance_id() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let host = if host.is_empty() {
        "probe".to_owned()
    } else {
        host
    };
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..6)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("{host}-{suffix}")
}

/// Runs the probe until `shutdown` resolves (then stops its checks, delivers what it can
/// within [`DRAIN_GRACE`] and returns `Ok`) or the server refuses its token (logged here as
/// an error naming the location, and returned).
pub async fn run(
    settings: ProbeSettings,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Fatal> {
    run_with(settings, instance_id(), Tuning::default(), shutdown).await
}

/// [`run`] with a chosen instance id and [`Tuning`] (tests shorten the waits).
pub(crate) async fn run_with(
    settings: ProbeSettings,
    instance: String,
    tuning: Tuning,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Fatal> {
    let location = settings.location.as_str().to_owned();
    let link = Arc::new(Link::new(
        &settings.server,
        &location,
        &instance,
        settings.token,
    )?);
    let prober = Arc::new(pharos_probe::Prober::new().map_err(|e| Fatal::Setup(e.to_string()))?);
    let buffer = Arc::new(Buffer::new(tuning.capacity));
    let server = pharos_domain::fingerprint::redact_userinfo(settings.server.as_str()).into_owned();
    tracing::info!(
        location = %location,
        server = %server,
        probe = %instance,
        "probe started: location {location}, server {server}"
    );

    let (fatal_tx, mut fatal_rx) = mpsc::channel::<Fatal>(2);
    let (assign_tx, mut assign_rx) = mpsc::channel(1);
    let poller = tokio::spawn(poll(link.clone(), tuning, assign_tx, fatal_tx.clone()));
    let (drain_tx, drain_rx) = watch::channel(false);
    let sender = Sender {
        link: link.clone(),
        buffer: buffer.clone(),
        instance: instance.clone(),
        tuning,
        draining: drain_rx,
        counter: 0,
    };
    let mut sender = tokio::spawn({
        let fatal_tx = fatal_tx.clone();
        async move {
            let outcome = sender.run().await;
            if let Err(fatal) = &outcome {
                let _ = fatal_tx.send(fatal.clone()).await;
            }
            outcome
        }
    });
    drop(fatal_tx);

    let mut checks = Checks::new(prober, buffer.clone());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut running_version: Option<String> = None;
    let ended = loop {
        tokio::select! {
            () = &mut shutdown => break None,
            Some(fatal) = fatal_rx.recv() => break Some(fatal),
            Some(assignment) = assign_rx.recv() => {
                let assignment: pharos_wire::probe::Assignment = assignment;
                let version = assignment.version;
                let changes = checks.apply(assignment.monitors);
                if changes.started + changes.restarted + changes.stopped > 0
                    || running_version.as_deref() != Some(version.as_str())
                {
                    tracing::info!(
                        monitors = changes.running,
                        started = changes.started,
                        restarted = changes.restarted,
                        stopped = changes.stopped,
                        skipped = changes.skipped,
                        version = %version,
                        "assignment changed: {} monitor{} to run",
                        changes.running,
                        if changes.running == 1 { "" } else { "s" }
                    );
                }
                running_version = Some(version);
            }
        }
    };
    poller.abort();
    checks.stop_all().await;
    if let Some(fatal) = ended {
        sender.abort();
        tracing::error!(location = %location, "{fatal}");
        return Err(fatal);
    }
    // Deliver what is left, for a while.
    let _ = drain_tx.send(true);
    let outcome = tokio::time::timeout(tuning.drain, &mut sender).await;
    let left = buffer.undelivered();
    match outcome {
        Ok(Ok(Ok(()))) => {
            tracing::info!(probe = %instance, "probe stopped; every result was delivered");
            Ok(())
        }
        Ok(Ok(Err(fatal))) => {
            tracing::error!(location = %location, "{fatal}");
            Err(fatal)
        }
        Ok(Err(_)) | Err(_) => {
            sender.abort();
            tracing::warn!(
                probe = %instance,
                undelivered = left,
                "probe stopped; some results could not be delivered in time"
            );
            Ok(())
        }
    }
}

/// Long-polls the assignment, handing each new one on; sends a [`Fatal`] on 401.
async fn poll(
    link: Arc<Link>,
    tuning: Tuning,
    assignments: mpsc::Sender<pharos_wire::probe::Assignment>,
    fatal: mpsc::Sender<Fatal>,
) {
    let mut version: Option<String> = None;
    let mut backoff = Backoff::new(tuning.retry_first, tuning.retry_max);
    loop {
        let asked = tokio::time::Instant::now();
        match link.poll(version.as_deref()).await {
            Err(refused) => {
                let _ = fatal.send(refused).await;
                return;
            }
            Ok(Ok(polled)) => {
                link.restored();
                backoff.reset();
                match polled {
                    Polled::Changed(assignment) => {
                        link.clock_from(&assignment);
                        version = Some(assignment.version.clone());
                        if assignments.send(*assignment).await.is_err() {
                            return;
                        }
                    }
                    // The server holds an unchanged answer; something between that does not
                    // (a proxy answering at once) must not make this a busy loop.
                    Polled::Unchanged => {
                        tokio::time::sleep_until(asked + MIN_POLL_SPACING).await;
                    }
                }
            }
            Ok(Err(Transient(reason))) => {
                link.lost("monitors", &reason);
                tracing::debug!(error = %reason, "asking for the monitors failed; retrying");
                tokio::time::sleep(backoff.next_wait()).await;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;

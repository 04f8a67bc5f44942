//! Pharos probes: run one check against the outside world and report what it saw.
//!
//! A [`Prober`] turns a [`MonitorSpec`] into an [`Observation`]. A target that is down,
//! slow, refusing connections or presenting a bad certificate is *data*: the observation
//! carries the reason in `error` and the conditions judge it later. `Err` is kept for
//! Pharos's own faults (such as failing to build the HTTP client at start-up), so those can
//! never be mistaken for a target outage.
//!
//! One module per check kind ([`MonitorKind`]): `http`, `tcp`, `dns`, `tls` and `icmp`. Every kind honours
//! `spec.timeout` for the whole check (connection to last body byte) and words its failure
//! reasons the same way (see `reason`).

use std::time::Duration;

use pharos_domain::duration::format_duration;
use pharos_domain::{MonitorKind, MonitorSpec, Observation};
use tokio::time::Instant;

mod dns;
mod http;
mod icmp;
mod reason;
mod tcp;
mod tls;
mod trust;

/// A fault of Pharos itself while setting up probes, never a verdict on a target.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The shared HTTP client could not be built (for example, no usable TLS roots).
    #[error("could not build the HTTP client: {0}")]
    HttpClient(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Runs checks. Build one at start-up and share it (it is `Send + Sync`; wrap it in an
/// `Arc`): it holds the pooled HTTP clients, so keep-alive connections are reused across
/// every monitor that checks the same host with the same settings.
#[derive(Debug)]
pub struct Prober {
    http: http::HttpProber,
}

impl Prober {
    /// Builds a prober, failing only if Pharos cannot set itself up (e.g. TLS roots).
    pub fn new() -> Result<Prober, ProbeError> {
        Ok(Prober {
            http: http::HttpProber::new()?,
        })
    }

    /// Runs one check of `spec` and returns what it saw. Never fails: every problem with the
    /// target (refused, reset, timed out, bad certificate, body too large, …) is reported in
    /// [`Observation::error`]. Returns within `spec.timeout` (plus scheduling noise).
    pub async fn check(&self, spec: &MonitorSpec) -> Observation {
        let started = Instant::now();
        let deadline = started + spec.timeout;
        let work = async {
            match &spec.kind {
                MonitorKind::Http(http) => {
                    self.http
                        .check(http, spec.needs_body(), spec.timeout, started, deadline)
                        .await
                }
                MonitorKind::Tcp(tcp) => tcp::check(tcp, started).await,
                MonitorKind::Dns(dns) => dns::check(dns, started).await,
                MonitorKind::Tls(tls) => tls::check(tls, started).await,
                MonitorKind::Icmp(icmp) => icmp::check(icmp, spec.timeout, started).await,
                // The scrape is a GET whose body the engine reads the series from.
                MonitorKind::Prometheus(p) => {
                    self.http
                        .check(&p.http, true, spec.timeout, started, deadline)
                        .await
                }
                // The engine never probes a heartbeat: its job pings Pharos instead.
                MonitorKind::Heartbeat(_) => Observation::failed(
                    "a heartbeat monitor is not checked; its job pings /ping/<token>".to_owned(),
                    Duration::ZERO,
                ),
            }
        };
        // Each kind also watches the deadline itself so that it can keep what it saw before
        // time ran out (an HTTP status, say); this outer bound is the guarantee.
        let observation = match tokio::time::timeout_at(deadline, work).await {
            Ok(observation) => observation,
            Err(_) => Observation::failed(timed_out(spec.timeout), started.elapsed()),
        };
        tracing::debug!(
            monitor = %spec.id.as_str(),
            kind = spec.type_name(),
            connected = observation.connected,
            status = ?observation.status,
            response_time_ms = observation.response_time.as_millis(),
            error = ?observation.error,
            "check finished"
        );
        observation
    }
}

/// The reason given when a check runs out of time: "timed out after 10s".
pub(crate) fn timed_out(timeout: Duration) -> String {
    format!("timed out after {}", format_duration(timeout))
}

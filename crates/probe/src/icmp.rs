//! The `icmp` check (being built).

use pharos_domain::{IcmpSpec, Observation};
use tokio::time::Instant;

/// Runs one `icmp` check.
pub(crate) async fn check(
    spec: &IcmpSpec,
    _timeout: std::time::Duration,
    started: Instant,
) -> Observation {
    let _ = spec;
    Observation::failed("the icmp check is not built yet", started.elapsed())
}

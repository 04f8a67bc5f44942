//! The probe against real sockets on 127.0.0.1: one test binary, so the suite links once.

// Test code: a failed set-up step should panic on the spot.
#![allow(clippy::unwrap_used)]

mod compliance;
mod http;
mod http_extras;
mod icmp;
mod targets;
mod tcp;
mod tls;

use std::time::Duration;

use pharos_domain::{
    ComponentStatus, Condition, HttpSpec, MonitorId, MonitorKind, MonitorSpec, TcpSpec,
};

/// A monitor of `kind` with no conditions.
pub fn monitor(kind: MonitorKind, timeout: Duration) -> MonitorSpec {
    MonitorSpec {
        id: MonitorId::new("probe-test").unwrap(),
        kind,
        interval: Duration::from_secs(30),
        timeout,
        failure_threshold: 1,
        success_threshold: 1,
        conditions: Vec::new(),
        degraded_conditions: Vec::new(),
        components: Vec::new(),
        on_failure: ComponentStatus::MajorOutage,
        depends_on: Vec::new(),
        quiet: pharos_domain::QuietRules::default(),
        placement: pharos_domain::location::Placement::default(),
    }
}

/// A `GET url` monitor with the default settings.
pub fn http_monitor(url: &str, timeout: Duration) -> MonitorSpec {
    monitor(MonitorKind::Http(HttpSpec::get(url)), timeout)
}

/// Changes the HTTP settings of a monitor.
pub fn with_http(mut spec: MonitorSpec, change: impl FnOnce(&mut HttpSpec)) -> MonitorSpec {
    match &mut spec.kind {
        MonitorKind::Http(http) => change(http),
        other => panic!("not an http monitor: {other:?}"),
    }
    spec
}

/// Makes the monitor read `[BODY]`, so the probe keeps the body.
pub fn reading_body(mut spec: MonitorSpec) -> MonitorSpec {
    spec.conditions
        .push(Condition::parse("[BODY].status == up").unwrap());
    assert!(spec.needs_body());
    spec
}

/// A TCP monitor of `host:port`.
pub fn tcp_monitor(host: &str, port: u16, timeout: Duration) -> MonitorSpec {
    monitor(
        MonitorKind::Tcp(TcpSpec {
            host: host.to_owned(),
            port,
        }),
        timeout,
    )
}

/// Generous slack for a loaded 2-core machine, far below any timeout used to prove a point.
pub const MARGIN: Duration = Duration::from_millis(750);

/// Polls `done` every 10 ms until it holds, or panics naming `what` after 10 s: for a state
/// another task reaches, without guessing how long that takes.
pub async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after 10 s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

//! The contract every check kind keeps, run against each kind in turn: a healthy target is
//! recorded as connected; the monitor's timeout is honoured whatever the target does; and a
//! failure is data with a short, clear reason (no URL, no library wording, one line).
//! A new kind joins by adding a line to `KINDS` (or, if it cannot pass against a plain HTTP
//! target, to `FAILING_KINDS`). `dns` and `icmp` do not connect over TCP; their own tests
//! (in `src/dns.rs` and `icmp.rs` here) prove the same contract against a silent resolver
//! and a silent host.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pharos_domain::{MonitorSpec, Observation};
use pharos_probe::Prober;

use crate::{http_monitor, targets, tcp_monitor, MARGIN};

type SpecFor = fn(SocketAddr, Duration) -> MonitorSpec;

/// Each kind, with how to point it at a target address.
const KINDS: &[(&str, SpecFor)] = &[
    ("http", |addr, timeout| {
        http_monitor(&format!("http://{addr}/json"), timeout)
    }),
    ("tcp", |addr, timeout| {
        tcp_monitor(&addr.ip().to_string(), addr.port(), timeout)
    }),
];

/// Every kind that connects over TCP, for the failure half of the contract: a TLS check
/// cannot pass against the plain HTTP target of the healthy case (its own tests cover that),
/// but it fails the same way as the others when the target does not answer or refuses.
const FAILING_KINDS: &[(&str, SpecFor)] = &[
    KINDS[0],
    KINDS[1],
    ("tls", |addr, timeout| {
        crate::monitor(
            pharos_domain::MonitorKind::Tls(pharos_domain::TlsSpec {
                host: addr.ip().to_string(),
                port: addr.port(),
                insecure: false,
                ca_certificate_pem: None,
            }),
            timeout,
        )
    }),
];

/// A reason a person can read at a glance on a status page or in an alert.
fn assert_clear(kind: &str, obs: &Observation, expected: &str) {
    let reason = obs
        .error
        .as_deref()
        .unwrap_or_else(|| panic!("{kind}: expected a failure, got {obs:?}"));
    assert_eq!(reason, expected, "{kind}");
    assert!(!reason.contains('\n'), "{kind}: {reason:?}");
    assert!(
        !reason.contains("://"),
        "{kind}: the URL leaked: {reason:?}"
    );
    assert!(
        !reason.contains("error sending request"),
        "{kind}: {reason:?}"
    );
}

#[tokio::test]
async fn every_kind_records_a_healthy_target() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();
    for (kind, spec_for) in KINDS {
        let timeout = Duration::from_secs(5);
        let obs = prober.check(&spec_for(server.addr, timeout)).await;
        assert_eq!(obs.error, None, "{kind}");
        assert!(obs.connected, "{kind}");
        assert_eq!(obs.ip, Some(server.addr.ip()), "{kind}");
        assert!(obs.response_time <= timeout, "{kind}");
    }
}

#[tokio::test]
async fn every_kind_honours_the_timeout_of_its_monitor() {
    // Connections to this target never complete, as with a silently firewalled host.
    let target = targets::unreachable().await;
    let prober = Prober::new().unwrap();
    for (kind, spec_for) in FAILING_KINDS {
        for (timeout, reason) in [
            (Duration::from_millis(300), "timed out after 300ms"),
            (Duration::from_secs(1), "timed out after 1s"),
        ] {
            let start = Instant::now();
            let obs = prober.check(&spec_for(target.addr, timeout)).await;
            let took = start.elapsed();
            assert_clear(kind, &obs, reason);
            assert!(!obs.connected, "{kind}");
            assert!(took >= timeout, "{kind}: returned early after {took:?}");
            assert!(took < timeout + MARGIN, "{kind}: took {took:?}");
            assert!(obs.response_time >= timeout, "{kind}");
        }
    }
}

#[tokio::test]
async fn every_kind_names_a_refused_connection() {
    let addr = targets::refused().await;
    let prober = Prober::new().unwrap();
    for (kind, spec_for) in FAILING_KINDS {
        let obs = prober.check(&spec_for(addr, Duration::from_secs(5))).await;
        assert_clear(kind, &obs, "connection refused");
        assert!(!obs.connected, "{kind}");
        assert_eq!(obs.status, None, "{kind}");
    }
}

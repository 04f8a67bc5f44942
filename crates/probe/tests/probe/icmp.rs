//! The `icmp` kind: real echo requests to the loopback addresses, and to an address that
//! never answers inside a network namespace made for the test (so no packet leaves this
//! machine). Where the system allows no ICMP socket at all, each test checks instead that the
//! reason names the fix.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use pharos_domain::{IcmpSpec, MonitorKind, MonitorSpec, Observation};
use pharos_probe::Prober;

use crate::{monitor, MARGIN};

const FIVE_S: Duration = Duration::from_secs(5);

/// The reason when neither kind of ICMP socket is allowed.
const NOT_PERMITTED: &str = "ICMP not permitted: allow unprivileged ping with sysctl \
     net.ipv4.ping_group_range=\"0 2147483647\" or give pharos CAP_NET_RAW";

/// Set in the child that runs a test inside its own network namespace.
const IN_NETNS: &str = "PHAROS_TEST_IN_NETNS";

fn icmp_monitor(host: &str, timeout: Duration) -> MonitorSpec {
    monitor(
        MonitorKind::Icmp(IcmpSpec {
            host: host.to_owned(),
        }),
        timeout,
    )
}

/// Whether ICMP is refused here, in which case the observation must say so and the test
/// has nothing more to check.
fn refused(obs: &Observation) -> bool {
    if obs.error.as_deref() == Some(NOT_PERMITTED) {
        eprintln!("ICMP is not permitted on this machine; only the reason was checked");
        return true;
    }
    false
}

fn assert_answered(obs: &Observation, ip: IpAddr) {
    assert_eq!(obs.error, None);
    assert!(obs.connected);
    assert_eq!(obs.ip, Some(ip));
    assert!(
        obs.response_time > Duration::ZERO && obs.response_time < FIVE_S,
        "{:?}",
        obs.response_time
    );
}

#[tokio::test]
async fn the_loopback_address_answers() {
    let prober = Prober::new().unwrap();
    let obs = prober.check(&icmp_monitor("127.0.0.1", FIVE_S)).await;
    if refused(&obs) {
        return;
    }
    assert_answered(&obs, IpAddr::V4(Ipv4Addr::LOCALHOST));

    // A name is resolved first, and the address pinged is the one recorded.
    let obs = prober.check(&icmp_monitor("localhost", FIVE_S)).await;
    assert_eq!(obs.error, None);
    assert!(obs.connected);
    assert!(obs.ip.is_some_and(|ip| ip.is_loopback()), "{:?}", obs.ip);
}

#[tokio::test]
async fn the_ipv6_loopback_address_answers() {
    let obs = Prober::new()
        .unwrap()
        .check(&icmp_monitor("::1", FIVE_S))
        .await;
    if refused(&obs) {
        return;
    }
    assert_answered(&obs, IpAddr::V6(Ipv6Addr::LOCALHOST));
}

#[tokio::test]
async fn checks_at_once_each_get_their_own_reply() {
    let prober = Prober::new().unwrap();
    let spec = icmp_monitor("127.0.0.1", FIVE_S);
    let checks: Vec<_> = (0..8).map(|_| prober.check(&spec)).collect();
    for obs in futures_util::future::join_all(checks).await {
        if refused(&obs) {
            return;
        }
        assert_answered(&obs, IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
}

/// An address routed into the loopback device of an otherwise empty network namespace: the
/// request is dropped there, unanswered, like a firewalled host's. The test runs itself
/// again inside such a namespace (which needs root, as the raw socket does here).
#[tokio::test]
async fn a_host_that_never_answers_times_out_with_the_monitor() {
    const TEST: &str = "icmp::a_host_that_never_answers_times_out_with_the_monitor";
    if std::env::var_os(IN_NETNS).is_none() {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new("unshare")
            .args(["--net", "--", "sh", "-c"])
            .arg("ip link set lo up && ip route add 10.255.0.0/24 dev lo && exec \"$0\" \"$@\"")
            .arg(exe)
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(IN_NETNS, "1")
            .output()
            .expect("run unshare");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && stderr.contains("unshare failed") {
            eprintln!("no network namespace could be made here ({stderr}); test skipped");
            return;
        }
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "in the namespace:\n{stdout}\n{stderr}"
        );
        return;
    }

    // Never ping these addresses from a namespace that has a way out.
    let devices = std::fs::read_to_string("/proc/net/dev").unwrap();
    let outside: Vec<&str> = devices
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(str::trim))
        .filter(|name| *name != "lo")
        .collect();
    assert!(
        outside.is_empty(),
        "{IN_NETNS} is set but this namespace has {outside:?}: refusing to send"
    );

    let prober = Prober::new().unwrap();
    let silent = Ipv4Addr::new(10, 255, 0, 2);
    for (timeout, reason) in [
        (Duration::from_millis(500), "no echo reply within 500ms"),
        (Duration::from_secs(1), "no echo reply within 1s"),
    ] {
        let start = Instant::now();
        let obs = prober
            .check(&icmp_monitor(&silent.to_string(), timeout))
            .await;
        let took = start.elapsed();
        if refused(&obs) {
            return;
        }
        assert_eq!(obs.error.as_deref(), Some(reason));
        assert!(!obs.connected);
        assert_eq!(obs.ip, Some(IpAddr::V4(silent)));
        assert!(took >= timeout, "returned early after {took:?}");
        assert!(took < timeout + MARGIN, "took {took:?}");
    }

    // An address with no route at all fails at once, saying so.
    let obs = prober.check(&icmp_monitor("10.254.0.1", FIVE_S)).await;
    assert_eq!(obs.error.as_deref(), Some("network unreachable"));
}

/// With raw sockets taken away (and unprivileged ones not allowed, as on this machine), the
/// check fails with the reason that names both fixes. The test runs itself again without
/// `CAP_NET_RAW`.
#[tokio::test]
async fn without_permission_the_reason_names_the_fix() {
    const TEST: &str = "icmp::without_permission_the_reason_names_the_fix";
    const NO_NET_RAW: &str = "PHAROS_TEST_NO_NET_RAW";
    if std::env::var_os(NO_NET_RAW).is_none() {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new("setpriv")
            .args(["--bounding-set=-net_raw", "--"])
            .arg(exe)
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(NO_NET_RAW, "1")
            .output();
        let out = match out {
            Ok(out) if out.status.success() || !out.stdout.is_empty() => out,
            other => {
                eprintln!("CAP_NET_RAW could not be dropped here ({other:?}); test skipped");
                return;
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "without CAP_NET_RAW:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }

    let obs = Prober::new()
        .unwrap()
        .check(&icmp_monitor("127.0.0.1", FIVE_S))
        .await;
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    let unprivileged_allowed = {
        let ids: Vec<u64> = range
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        // Root's group 0 is the one this process runs with.
        ids.len() == 2 && ids[0] == 0 && ids[0] <= ids[1]
    };
    if unprivileged_allowed {
        // The unprivileged socket needs no capability: still up.
        assert_eq!(obs.error, None);
    } else {
        assert_eq!(obs.error.as_deref(), Some(NOT_PERMITTED));
        assert!(!obs.connected);
        assert_eq!(obs.ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}

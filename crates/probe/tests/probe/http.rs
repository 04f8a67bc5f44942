//! The `http` kind against a real server: what it records, how it fails, and that it stays
//! bounded in time and memory.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pharos_probe::Prober;

use crate::targets::{self, JSON};
use crate::{http_monitor, reading_body, wait_until, with_http, MARGIN};

const FIVE_S: Duration = Duration::from_secs(5);
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn header<'a>(obs: &'a pharos_domain::Observation, name: &str) -> Option<&'a str> {
    obs.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_healthy_target_is_recorded_in_full() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();
    let spec = reading_body(http_monitor(&server.url("/json"), FIVE_S));

    let obs = prober.check(&spec).await;

    assert_eq!(obs.error, None);
    assert!(obs.connected);
    assert_eq!(obs.status, Some(200));
    assert_eq!(obs.body.as_deref(), Some(JSON));
    assert_eq!(obs.ip, Some(LOCALHOST));
    assert!(obs.response_time < FIVE_S);
    assert_eq!(header(&obs, "content-type"), Some("application/json"));
    // Names are lower case whatever the server wrote.
    assert_eq!(header(&obs, "x-served-by"), Some("pharos-test"));
    assert!(obs.headers.iter().all(|(n, _)| *n == n.to_lowercase()));
}

#[tokio::test]
async fn the_body_is_kept_only_when_a_condition_reads_it() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();

    let obs = prober
        .check(&http_monitor(&server.url("/json"), FIVE_S))
        .await;

    assert_eq!(obs.error, None);
    assert_eq!(obs.status, Some(200));
    assert_eq!(obs.body, None);
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_kept_lossily() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();

    let obs = prober
        .check(&reading_body(http_monitor(&server.url("/latin1"), FIVE_S)))
        .await;

    assert_eq!(obs.body.as_deref(), Some("caf\u{fffd}"));
}

#[tokio::test]
async fn an_error_status_is_data_not_a_failure() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();

    let obs = prober
        .check(&http_monitor(&server.url("/unavailable"), FIVE_S))
        .await;

    // The conditions decide what a 503 means; the probe only reports it.
    assert_eq!(obs.error, None);
    assert!(obs.connected);
    assert_eq!(obs.status, Some(503));
}

#[tokio::test]
async fn method_headers_and_body_are_sent() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();
    let spec = with_http(
        reading_body(http_monitor(&server.url("/echo"), FIVE_S)),
        |h| {
            h.method = "POST".to_owned();
            h.headers = vec![("X-Probe-Token".to_owned(), "s3cret".to_owned())];
            h.body = Some("ping".to_owned());
        },
    );

    let obs = prober.check(&spec).await;

    assert_eq!(obs.error, None);
    let body = obs.body.unwrap();
    assert!(body.starts_with("POST /echo\n"), "{body}");
    assert!(body.contains("x-probe-token: s3cret"), "{body}");
    assert!(body.contains("user-agent: pharos/"), "{body}");
    assert!(body.ends_with("ping"), "{body}");
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();

    let obs = prober
        .check(&http_monitor(&server.url("/redirect"), FIVE_S))
        .await;

    assert_eq!(obs.error, None);
    assert_eq!(obs.status, Some(200));
    assert_eq!(header(&obs, "content-type"), Some("application/json"));
}

#[tokio::test]
async fn with_no_redirects_allowed_the_redirect_is_the_answer() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();
    let spec = with_http(http_monitor(&server.url("/redirect"), FIVE_S), |h| {
        h.max_redirects = 0;
    });

    let obs = prober.check(&spec).await;

    assert_eq!(obs.error, None);
    assert_eq!(obs.status, Some(301));
    assert_eq!(header(&obs, "location"), Some("/json"));
}

#[tokio::test]
async fn a_redirect_loop_fails_with_the_limit_named() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();

    let obs = prober
        .check(&http_monitor(&server.url("/loop"), FIVE_S))
        .await;
    assert_eq!(obs.error.as_deref(), Some("too many redirects (10)"));
    assert_eq!(obs.status, None);

    let spec = with_http(http_monitor(&server.url("/loop"), FIVE_S), |h| {
        h.max_redirects = 3;
    });
    let obs = prober.check(&spec).await;
    assert_eq!(obs.error.as_deref(), Some("too many redirects (3)"));
}

#[tokio::test]
async fn a_target_that_never_answers_fails_at_the_timeout() {
    let hang = targets::hang().await;
    let addr = hang.addr;
    let prober = Prober::new().unwrap();
    let timeout = Duration::from_secs(1);
    let spec = http_monitor(&format!("http://{addr}/"), timeout);

    let start = Instant::now();
    let obs = prober.check(&spec).await;
    let took = start.elapsed();

    assert_eq!(obs.error.as_deref(), Some("timed out after 1s"));
    assert!(!obs.connected, "no response arrived");
    assert!(took >= timeout, "returned early: {took:?}");
    assert!(took < timeout + MARGIN, "took {took:?}");
    assert!(obs.response_time >= timeout);
}

#[tokio::test]
async fn a_body_that_stops_arriving_times_out_but_keeps_the_status() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();
    let timeout = Duration::from_millis(800);

    let start = Instant::now();
    let obs = prober
        .check(&http_monitor(&server.url("/slow-body"), timeout))
        .await;

    assert!(start.elapsed() < timeout + MARGIN);
    assert_eq!(obs.error.as_deref(), Some("timed out after 800ms"));
    assert!(obs.connected);
    assert_eq!(obs.status, Some(200));
}

#[tokio::test]
async fn a_reset_connection_is_named() {
    let (addr, _reset) = targets::reset().await;
    let prober = Prober::new().unwrap();

    let obs = prober
        .check(&http_monitor(&format!("http://{addr}/"), FIVE_S))
        .await;

    assert_eq!(obs.error.as_deref(), Some("connection reset"));
    assert!(!obs.connected);
    assert_eq!(obs.status, None);
}

#[tokio::test]
async fn a_refused_connection_is_named() {
    let addr = targets::refused().await;
    let prober = Prober::new().unwrap();

    let obs = prober
        .check(&http_monitor(&format!("http://{addr}/"), FIVE_S))
        .await;

    assert_eq!(obs.error.as_deref(), Some("connection refused"));
    assert!(!obs.connected);
    assert!(obs.response_time < FIVE_S);
}

#[tokio::test]
async fn a_streamed_100_mb_body_fails_at_the_limit_without_being_read() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();

    for spec in [
        http_monitor(&server.url("/huge"), Duration::from_secs(20)),
        reading_body(http_monitor(&server.url("/huge"), Duration::from_secs(20))),
    ] {
        let before = server.huge_bytes_sent();
        let cut_before = server.huge_streams_cut();
        let start = Instant::now();
        let obs = prober.check(&spec).await;

        assert_eq!(
            obs.error.as_deref(),
            Some("response body larger than 1 MiB")
        );
        assert!(obs.connected);
        assert_eq!(obs.status, Some(200));
        assert_eq!(obs.body, None);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        // The probe hung up after ~1 MiB: whatever the server got out beyond that sat in
        // socket buffers, nowhere near the 100 MB on offer. Counted once the server has seen
        // the hang-up (a fixed pause could end while it was still writing, or before the
        // probe had hung up at all).
        wait_until("the server to see the probe hang up", || {
            server.huge_streams_cut() > cut_before
        })
        .await;
        let sent = server.huge_bytes_sent() - before;
        assert!(sent < 32 * 1024 * 1024, "server sent {sent} bytes");
    }
}

#[tokio::test]
async fn a_declared_length_over_the_limit_fails_before_reading() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();
    let spec = with_http(
        reading_body(http_monitor(&server.url("/huge-declared"), FIVE_S)),
        |h| h.max_body_bytes = 64 * 1024,
    );

    let obs = prober.check(&spec).await;

    assert_eq!(
        obs.error.as_deref(),
        Some("response body larger than 64 KiB")
    );
    assert_eq!(obs.status, Some(200));
    assert_eq!(obs.body, None);
}

#[tokio::test]
async fn a_self_signed_certificate_fails_unless_insecure() {
    let server = targets::https_self_signed().await;
    let prober = Prober::new().unwrap();

    let obs = prober
        .check(&http_monitor(&server.url("/json"), FIVE_S))
        .await;
    let reason = obs.error.unwrap_or_default();
    assert!(
        reason.starts_with("TLS error: invalid peer certificate"),
        "{reason}"
    );
    assert!(!obs.connected);
    assert_eq!(obs.status, None);

    let insecure = with_http(
        reading_body(http_monitor(&server.url("/json"), FIVE_S)),
        |h| h.insecure = true,
    );
    let obs = prober.check(&insecure).await;
    assert_eq!(obs.error, None);
    assert_eq!(obs.status, Some(200));
    assert_eq!(obs.body.as_deref(), Some(JSON));
}

#[tokio::test]
async fn connections_are_kept_alive_and_shared_across_monitors() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();
    let first = http_monitor(&server.url("/json"), FIVE_S);
    let mut second = reading_body(http_monitor(&server.url("/unavailable"), FIVE_S));
    second.id = pharos_domain::MonitorId::new("another-monitor").unwrap();

    for _ in 0..3 {
        assert_eq!(prober.check(&first).await.error, None);
        assert_eq!(prober.check(&second).await.error, None);
    }

    assert_eq!(server.connections(), 1, "one pooled keep-alive connection");
}

#[tokio::test]
async fn a_bad_method_is_reported_not_sent() {
    let server = targets::http().await;
    let prober = Prober::new().unwrap();
    let spec = with_http(http_monitor(&server.url("/json"), FIVE_S), |h| {
        h.method = "GE T".to_owned();
    });

    let obs = prober.check(&spec).await;

    let reason = obs.error.unwrap_or_default();
    assert!(reason.starts_with("invalid request:"), "{reason}");
    assert_eq!(server.connections(), 0);
}

// A single-threaded runtime: anything that blocked instead of awaiting would stall both.
#[tokio::test]
async fn a_hung_target_does_not_delay_a_healthy_one() {
    let hang = targets::hang().await;
    let server = targets::http().await;
    let prober = Arc::new(Prober::new().unwrap());
    let hung = http_monitor(&format!("http://{}/", hang.addr), Duration::from_secs(3));
    let healthy = http_monitor(&server.url("/json"), Duration::from_secs(3));

    let hung_check = tokio::spawn({
        let prober = prober.clone();
        async move { prober.check(&hung).await }
    });
    // The hung check gets going first, on the same prober and the same client: its
    // connection is held by the target before the healthy check starts.
    wait_until("the hung check to connect", || hang.accepted() == 1).await;
    let start = Instant::now();
    let obs = prober.check(&healthy).await;
    let healthy_done = start.elapsed();

    assert_eq!(obs.error, None);
    assert!(healthy_done < Duration::from_secs(1), "{healthy_done:?}");
    let hung_obs = hung_check.await.unwrap();
    assert_eq!(hung_obs.error.as_deref(), Some("timed out after 3s"));
}

#[test]
fn the_prober_can_be_shared_across_tasks() {
    fn assert_shareable<T: Send + Sync + 'static>() {}
    assert_shareable::<Prober>();
    assert_shareable::<Arc<Prober>>();
}

//! The probe against a small server in the test that speaks the protocol, fails when told
//! to, and records what arrives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use pharos_domain::monitor::{QuietRules, TcpSpec};
use pharos_domain::{
    CheckOutcome, CheckResult, ComponentStatus, LocationId, MonitorId, MonitorKind, MonitorSpec,
    Secret,
};
use pharos_wire::probe::{Assignment, BatchAnswer, ResultBatch};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::buffer::Buffer;
use super::delivery::Sender;
use super::link::Link;
use super::{run_with, Fatal, ProbeSettings, Tuning};

const TOKEN: &str = "probe-token-1234";
const WAIT: Duration = Duration::from_secs(10);

/// A result told apart by `n` (its duration).
pub(crate) fn result(n: u64) -> CheckResult {
    CheckResult {
        monitor_id: MonitorId::new("api").expect("a valid id"),
        started_at: Utc::now(),
        duration_ms: n,
        outcome: CheckOutcome::Up,
        status_code: None,
        error: None,
        timings: None,
        location: LocationId::local(),
    }
}

fn quick() -> Tuning {
    Tuning {
        capacity: 1_000,
        max_batch: 10,
        flush: Duration::from_millis(20),
        retry_first: Duration::from_millis(10),
        retry_max: Duration::from_millis(40),
        drain: Duration::from_secs(5),
    }
}

/// One results request as it arrived, and how it was answered.
#[derive(Debug, Clone)]
struct Post {
    key: String,
    results: Vec<u64>,
    monitors: Vec<String>,
    answered: StatusCode,
}

#[derive(Default)]
struct Recorded {
    posts: Vec<Post>,
    /// Statuses to answer the next posts with, in order; 200 once empty.
    failures: Vec<StatusCode>,
    /// Monitors polls: the versions asked with.
    polls: Vec<Option<String>>,
}

#[derive(Clone)]
struct Fake {
    recorded: Arc<Mutex<Recorded>>,
    assignment: watch::Sender<Assignment>,
}

impl Fake {
    fn posts(&self) -> Vec<Post> {
        self.recorded.lock().expect("lock").posts.clone()
    }

    /// The monitors of the results taken, in order.
    fn taken_monitors(&self) -> Vec<String> {
        self.posts()
            .into_iter()
            .filter(|p| p.answered == StatusCode::OK)
            .flat_map(|p| p.monitors)
            .collect()
    }

    fn taken(&self) -> Vec<u64> {
        self.posts()
            .into_iter()
            .filter(|p| p.answered == StatusCode::OK)
            .flat_map(|p| p.results)
            .collect()
    }
}

fn authorized(headers: &HeaderMap, query: &HashMap<String, String>) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"))
        && query.get("location").map(String::as_str) == Some("eu-fr")
        && query.get("probe").is_some_and(|p| !p.is_empty())
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        r#"{"error":"unknown location or wrong token"}"#,
    )
        .into_response()
}

async fn monitors(
    State(fake): State<Fake>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers, &query) {
        return refused();
    }
    let asked = query.get("version").cloned();
    fake.recorded
        .lock()
        .expect("lock")
        .polls
        .push(asked.clone());
    let mut rx = fake.assignment.subscribe();
    if asked.as_deref() == Some(rx.borrow().version.as_str()) {
        // Held until it changes, as the server does (shorter than its 20 s).
        if tokio::time::timeout(Duration::from_secs(2), rx.changed())
            .await
            .is_err()
        {
            return StatusCode::NOT_MODIFIED.into_response();
        }
    }
    let assignment = Assignment {
        server_time: Utc::now(),
        ..rx.borrow().clone()
    };
    let body = pharos_domain::fingerprint::in_clear(|| serde_json::to_string(&assignment))
        .expect("an assignment serializes");
    (StatusCode::OK, body).into_response()
}

async fn results(
    State(fake): State<Fake>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&headers, &query) {
        return refused();
    }
    let Ok(batch) = serde_json::from_slice::<ResultBatch>(&body) else {
        return (StatusCode::BAD_REQUEST, r#"{"error":"malformed"}"#).into_response();
    };
    let mut recorded = fake.recorded.lock().expect("lock");
    let answered = if recorded.failures.is_empty() {
        StatusCode::OK
    } else {
        recorded.failures.remove(0)
    };
    let duplicate = recorded
        .posts
        .iter()
        .any(|p| p.key == batch.key && p.answered == StatusCode::OK);
    recorded.posts.push(Post {
        key: batch.key.clone(),
        results: batch.results.iter().map(|r| r.duration_ms).collect(),
        monitors: batch
            .results
            .iter()
            .map(|r| r.monitor_id.to_string())
            .collect(),
        answered,
    });
    if answered != StatusCode::OK {
        return (answered, r#"{"error":"not now"}"#).into_response();
    }
    let answer = BatchAnswer {
        accepted: if duplicate { 0 } else { batch.results.len() },
        duplicate,
        refused: Vec::new(),
        clock_offset_ms: (batch.sent_at - Utc::now()).num_milliseconds(),
    };
    (
        StatusCode::OK,
        serde_json::to_string(&answer).expect("an answer serializes"),
    )
        .into_response()
}

async fn spawn_fake(monitors_list: Vec<MonitorSpec>) -> (Fake, reqwest::Url) {
    let (assignment, _) = watch::channel(Assignment {
        location: "eu-fr".to_owned(),
        version: "v1".to_owned(),
        monitors: monitors_list,
        server_time: Utc::now(),
    });
    let fake = Fake {
        recorded: Arc::default(),
        assignment,
    };
    let app = Router::new()
        .route("/api/v1/probe/monitors", get(monitors))
        .route("/api/v1/probe/results", post(results))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let url = reqwest::Url::parse(&format!("http://{addr}")).expect("a URL");
    (fake, url)
}

fn settings(server: &reqwest::Url, token: &str) -> ProbeSettings {
    ProbeSettings {
        server: server.clone(),
        location: LocationId::new("eu-fr").expect("an id"),
        token: Secret::new(token),
    }
}

/// A sender over `results`, draining (so it returns once everything is delivered).
fn draining_sender(url: &reqwest::Url, buffer: Arc<Buffer>) -> (Sender, watch::Sender<bool>) {
    let link = Link::new(url, "eu-fr", "host-abc123", Secret::new(TOKEN)).expect("a link");
    let (drain_tx, drain_rx) = watch::channel(true);
    let sender = Sender {
        link: Arc::new(link),
        buffer,
        instance: "host-abc123".to_owned(),
        tuning: quick(),
        draining: drain_rx,
        counter: 0,
    };
    (sender, drain_tx)
}

async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_failed_batch_is_retried_with_its_key_before_anything_newer() {
    let (fake, url) = spawn_fake(Vec::new()).await;
    fake.recorded.lock().expect("lock").failures = vec![
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::INTERNAL_SERVER_ERROR,
    ];
    let buffer = Arc::new(Buffer::new(1_000));
    for n in 0..25 {
        buffer.push(result(n));
    }
    let (sender, _drain) = draining_sender(&url, buffer.clone());
    tokio::time::timeout(WAIT, sender.run())
        .await
        .expect("delivered in time")
        .expect("no fatal answer");

    let posts = fake.posts();
    let keys: Vec<&str> = posts.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "host-abc123-0",
            "host-abc123-0",
            "host-abc123-0",
            "host-abc123-0",
            "host-abc123-1",
            "host-abc123-2"
        ],
        "the first batch is retried with its key until taken, then the next ones follow"
    );
    assert!(
        posts[..4].iter().all(|p| p.results == posts[0].results),
        "a retry sends the same results: {posts:?}"
    );
    assert_eq!(
        fake.taken(),
        (0..25).collect::<Vec<_>>(),
        "every result once, in order"
    );
    assert_eq!(buffer.undelivered(), 0);
}

#[tokio::test]
async fn a_batch_the_server_can_never_take_is_dropped_not_retried() {
    let (fake, url) = spawn_fake(Vec::new()).await;
    fake.recorded.lock().expect("lock").failures =
        vec![StatusCode::PAYLOAD_TOO_LARGE, StatusCode::BAD_REQUEST];
    let buffer = Arc::new(Buffer::new(1_000));
    for n in 0..30 {
        buffer.push(result(n));
    }
    let (sender, _drain) = draining_sender(&url, buffer);
    tokio::time::timeout(WAIT, sender.run())
        .await
        .expect("delivered in time")
        .expect("no fatal answer");
    let keys: Vec<String> = fake.posts().into_iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        ["host-abc123-0", "host-abc123-1", "host-abc123-2"],
        "each refused batch is sent once"
    );
    assert_eq!(fake.taken(), (20..30).collect::<Vec<_>>());
}

#[tokio::test]
async fn results_pushed_while_the_server_fails_wait_their_turn() {
    let (fake, url) = spawn_fake(Vec::new()).await;
    fake.recorded.lock().expect("lock").failures = vec![StatusCode::SERVICE_UNAVAILABLE; 20];
    let buffer = Arc::new(Buffer::new(1_000));
    let link = Link::new(&url, "eu-fr", "host-abc123", Secret::new(TOKEN)).expect("a link");
    let (drain_tx, drain_rx) = watch::channel(false);
    let sender = Sender {
        link: Arc::new(link),
        buffer: buffer.clone(),
        instance: "host-abc123".to_owned(),
        tuning: quick(),
        draining: drain_rx,
        counter: 0,
    };
    let task = tokio::spawn(sender.run());
    let mut n = 0;
    // Keep checking while the server refuses: the pushes land behind the failing batch.
    while !fake.recorded.lock().expect("lock").failures.is_empty() {
        buffer.push(result(n));
        n += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(n < 5_000, "the server's failures were never used up");
    }
    let _ = drain_tx.send(true);
    tokio::time::timeout(WAIT, task)
        .await
        .expect("delivered in time")
        .expect("the sender ran")
        .expect("no fatal answer");
    assert_eq!(fake.taken(), (0..n).collect::<Vec<_>>());
    let taken_keys: Vec<String> = fake
        .posts()
        .into_iter()
        .filter(|p| p.answered == StatusCode::OK)
        .map(|p| p.key)
        .collect();
    let expected: Vec<String> = (0..taken_keys.len())
        .map(|i| format!("host-abc123-{i}"))
        .collect();
    assert_eq!(
        taken_keys, expected,
        "batches taken in the order they were made"
    );
}

#[tokio::test]
async fn a_refused_token_stops_the_probe_at_once() {
    let (_fake, url) = spawn_fake(Vec::new()).await;
    let never = std::future::pending::<()>();
    let outcome = tokio::time::timeout(
        WAIT,
        run_with(
            settings(&url, "not-the-token-9876"),
            "host-abc123".into(),
            quick(),
            never,
        ),
    )
    .await
    .expect("the probe stops by itself");
    let err = outcome.expect_err("a refused token is an error");
    assert!(matches!(err, Fatal::Refused { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("the server refused this probe's token for location `eu-fr`"),
        "{message}"
    );
    assert!(
        !message.contains("9876"),
        "the token is never shown: {message}"
    );
}

fn tcp_monitor(id: &str, port: u16) -> MonitorSpec {
    MonitorSpec {
        id: MonitorId::new(id).expect("an id"),
        kind: MonitorKind::Tcp(TcpSpec {
            host: "127.0.0.1".to_owned(),
            port,
        }),
        interval: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        failure_threshold: 1,
        success_threshold: 1,
        conditions: Vec::new(),
        degraded_conditions: Vec::new(),
        components: Vec::new(),
        on_failure: ComponentStatus::MajorOutage,
        depends_on: Vec::new(),
        quiet: QuietRules::default(),
        placement: Default::default(),
    }
}

#[tokio::test]
async fn runs_what_it_is_assigned_follows_changes_and_stops_cleanly() {
    let target = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = target.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = target.accept().await {
            drop(socket);
        }
    });
    let (fake, url) = spawn_fake(vec![tcp_monitor("first", port)]).await;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let probe = tokio::spawn(run_with(
        settings(&url, TOKEN),
        "host-abc123".into(),
        quick(),
        async move {
            let _ = stop_rx.await;
        },
    ));

    eventually("results of the first monitor", || {
        (fake.taken_monitors().len() >= 2).then_some(())
    })
    .await;
    {
        let recorded = fake.recorded.lock().expect("lock");
        assert_eq!(
            recorded.polls.first(),
            Some(&None),
            "the first poll has no version"
        );
        assert!(
            recorded
                .polls
                .iter()
                .skip(1)
                .all(|v| v.as_deref() == Some("v1")),
            "later polls send the version run: {:?}",
            recorded.polls
        );
    }

    // A new assignment replaces the first monitor with a second one.
    fake.assignment.send_modify(|a| {
        a.version = "v2".to_owned();
        a.monitors = vec![tcp_monitor("second", port)];
    });
    let taken = eventually("three results of the second monitor", || {
        let taken = fake.taken_monitors();
        (taken.iter().filter(|m| *m == "second").count() >= 3).then_some(taken)
    })
    .await;
    let second_at = taken
        .iter()
        .enumerate()
        .filter(|(_, m)| *m == "second")
        .map(|(i, _)| i)
        .nth(1)
        .expect("a second result");
    assert!(
        taken[second_at..].iter().all(|m| m == "second"),
        "the first monitor stopped: {taken:?}"
    );
    assert!(
        fake.recorded
            .lock()
            .expect("lock")
            .polls
            .iter()
            .any(|v| v.as_deref() == Some("v2")),
        "the probe asks with the version it runs"
    );

    let _ = stop_tx.send(());
    let outcome = tokio::time::timeout(WAIT, probe)
        .await
        .expect("the probe stops in time")
        .expect("the probe task ran");
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[tokio::test]
async fn a_stopping_probe_gives_up_on_an_unreachable_server_after_its_grace() {
    let target = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = target.local_addr().expect("address").port();
    let (fake, url) = spawn_fake(vec![tcp_monitor("first", port)]).await;
    fake.recorded.lock().expect("lock").failures = vec![StatusCode::SERVICE_UNAVAILABLE; 100_000];
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let tuning = Tuning {
        drain: Duration::from_millis(300),
        ..quick()
    };
    let probe = tokio::spawn(run_with(
        settings(&url, TOKEN),
        "host-abc123".into(),
        tuning,
        async move {
            let _ = stop_rx.await;
        },
    ));
    eventually("a batch the server turns away", || {
        (!fake.posts().is_empty()).then_some(())
    })
    .await;
    let asked = Instant::now();
    let _ = stop_tx.send(());
    let outcome = tokio::time::timeout(WAIT, probe)
        .await
        .expect("the probe stops in time")
        .expect("the probe task ran");
    assert!(outcome.is_ok(), "stopping is not an error: {outcome:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "the probe stopped within its grace: {:?}",
        asked.elapsed()
    );
    drop(target);
}

#[test]
fn the_token_comes_from_the_file_else_the_environment_and_must_be_there() {
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("token");
    std::fs::write(&file, "  s3cret-from-file\n").expect("write");
    let url = "https://status.example.com";
    let from_file =
        ProbeSettings::from_args(url, "eu-fr", Some(&file), Some("from-env".into())).expect("ok");
    assert_eq!(from_file.token.expose(), "s3cret-from-file");
    let from_env =
        ProbeSettings::from_args(url, "eu-fr", None, Some("from-env".into())).expect("ok");
    assert_eq!(from_env.token.expose(), "from-env");

    let none = ProbeSettings::from_args(url, "eu-fr", None, None).expect_err("no token");
    assert!(none.contains("PHAROS_PROBE_TOKEN"), "{none}");
    std::fs::write(&file, "\n").expect("write");
    let empty = ProbeSettings::from_args(url, "eu-fr", Some(&file), Some("x".into()))
        .expect_err("empty file");
    assert!(empty.contains("is empty"), "{empty}");
    let missing = dir.path().join("absent");
    let unreadable =
        ProbeSettings::from_args(url, "eu-fr", Some(&missing), None).expect_err("no file");
    assert!(
        unreadable.contains("cannot read the token file"),
        "{unreadable}"
    );

    for bad in ["ftp://x", "not a url", "https://x/?a=b"] {
        assert!(
            ProbeSettings::from_args(bad, "eu-fr", None, Some("t".into())).is_err(),
            "{bad}"
        );
    }
    assert!(ProbeSettings::from_args(url, "EU FR", None, Some("t".into())).is_err());
}

#[test]
fn an_instance_id_is_the_host_and_six_random_characters() {
    let a = super::instance_id();
    let b = super::instance_id();
    assert_ne!(a, b);
    let (host, suffix) = a.rsplit_once('-').expect("a dash");
    assert!(!host.is_empty());
    assert_eq!(suffix.len(), 6);
    assert!(suffix
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
}

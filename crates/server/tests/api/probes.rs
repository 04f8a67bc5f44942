//! `pharos probe` as an operator runs it: what it refuses before starting, a refused token,
//! a clean stop on SIGTERM while the server cannot take results, and the real binary against
//! the real server — checks from a location reach the monitor's state there, and results
//! made while the server was away are delivered when it is back. Batching, keys and retries
//! in detail are tested beside the agent (`server/src/probe/tests.rs`).

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_server::{App, Settings};
use pharos_testkit::{eventually, parse_config, Backend, FakeTarget, TestDb};
use serde_json::Value;
use tokio::time::Instant;

use crate::support::config::Config;
use crate::support::{free_port, PHAROS};

const TOKEN: &str = "probe-secret-7f3a9c";

/// Collects a child's stdout and stderr (both carry its log) as they are written.
fn capture(child: &mut Child) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let readers: Vec<Box<dyn std::io::Read + Send>> = vec![
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ];
    for reader in readers {
        let out = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                let mut out = out.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });
    }
    out
}

fn probe(server: &str, token: Option<&str>) -> Child {
    let mut command = Command::new(PHAROS);
    command
        .args(["probe", "--server", server, "--location", "eu-fr"])
        .env_remove("PHAROS_PROBE_TOKEN")
        .env("PHAROS_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(token) = token {
        command.env("PHAROS_PROBE_TOKEN", token);
    }
    command.spawn().unwrap()
}

/// Waits for the child to exit, with a deadline.
async fn exit_code(child: &mut Child, within: Duration, what: &str) -> Option<i32> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("{what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_log(log: &Mutex<String>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if log.lock().unwrap().contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log: {}",
            log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn help_names_the_flags_and_the_token_variable() {
    let out = Command::new(PHAROS).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("  probe "));
    let out = Command::new(PHAROS)
        .args(["probe", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--server <URL>",
        "--location <ID>",
        "--token-file <FILE>",
        "PHAROS_PROBE_TOKEN",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
}

#[tokio::test]
async fn refuses_to_start_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("token");
    std::fs::write(&empty, "\n").unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&[], "PHAROS_PROBE_TOKEN"),
        (&["--token-file", empty.to_str().unwrap()], "is empty"),
        (
            &["--token-file", "/nonexistent/token"],
            "cannot read the token file",
        ),
    ];
    for (extra, says) in cases {
        let out = Command::new(PHAROS)
            .args([
                "probe",
                "--server",
                "http://127.0.0.1:9",
                "--location",
                "eu-fr",
            ])
            .args(extra)
            .env_remove("PHAROS_PROBE_TOKEN")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_ends_the_probe_at_once_naming_the_location() {
    let server = FakeTarget::start().await;
    server.set_status(401);
    let mut child = probe(&server.url, Some(TOKEN));
    let log = capture(&mut child);
    let code = exit_code(&mut child, Duration::from_secs(20), "the probe kept going").await;
    assert_eq!(code, Some(1));
    wait_for_log(&log, "refused this probe's token for location `eu-fr`").await;
    assert!(
        !log.lock().unwrap().contains(TOKEN),
        "the token is never printed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stops_cleanly_on_sigterm_while_the_server_is_unavailable() {
    let server = FakeTarget::start().await;
    server.set_status(503);
    let mut child = probe(&server.url, Some(TOKEN));
    let log = capture(&mut child);
    wait_for_log(&log, "probe started: location eu-fr").await;
    wait_for_log(&log, "lost the connection to the server").await;
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let code = exit_code(
        &mut child,
        Duration::from_secs(15),
        "the probe did not stop",
    )
    .await;
    assert_eq!(code, Some(0), "{}", log.lock().unwrap());
    wait_for_log(&log, "probe stopped").await;
    let log = log.lock().unwrap();
    assert_eq!(
        log.matches("lost the connection").count(),
        1,
        "the loss is logged once, not per retry: {log}"
    );
    assert!(!log.contains(TOKEN), "the token is never printed");
}

const ADMIN: &str = "admin-token-0123456789";

/// `db` checked from `eu-fr` only, every second, down at the first failure.
fn located(target: &FakeTarget) -> String {
    Config::acme()
        .admin("ops", ADMIN)
        .component("db", "Database")
        .section(&format!(
            "[[locations]]\nid = \"eu-fr\"\nname = \"Europe (France)\"\ntokens = [\"{TOKEN}\"]"
        ))
        .http_monitor("db", &format!("{}/", target.url), "db")
        .thresholds(1, 1)
        .with("locations = [\"eu-fr\"]")
        .build()
}

/// The real app on a port chosen beforehand, so it can come back where the probe looks.
async fn start_on(port: u16, db: &TestDb, config: &str) -> App {
    App::start(Settings {
        config: parse_config(config),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        database_url: db.url.clone(),
    })
    .await
    .unwrap()
}

async fn admin_json(port: u16, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

/// `db`'s health as seen from Europe.
async fn europe(port: u16) -> String {
    let m = admin_json(port, "/api/v1/monitors/db").await;
    m["locations"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["id"] == "eu-fr"))
        .and_then(|l| l["health"].as_str())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn checks_from_a_location_reach_the_server_and_survive_its_absence() {
    let target = FakeTarget::start().await;
    let config = located(&target);
    let db = TestDb::new(Backend::Sqlite).await;
    let port = free_port();

    // The probe starts first: the server is not there yet.
    let mut child = probe(&format!("http://127.0.0.1:{port}"), Some(TOKEN));
    let log = capture(&mut child);
    wait_for_log(&log, "lost the connection to the server").await;

    // The server comes: the probe gets `db` and its checks are Europe's view.
    let app = start_on(port, &db, &config).await;
    eventually(Duration::from_secs(20), "Europe to see db up", || async {
        (europe(port).await == "up").then_some(())
    })
    .await;
    wait_for_log(&log, "connection to the server restored").await;
    wait_for_log(&log, "assignment changed: 1 monitor to run").await;
    let listing = admin_json(port, "/api/v1/locations").await;
    assert_eq!(listing[0]["online"], true, "{listing}");

    // The server goes away; the target fails meanwhile. The probe keeps checking.
    app.shutdown().await;
    let away_from = Utc::now();
    target.set_status(503);
    let hits = target.hits();
    eventually(
        Duration::from_secs(20),
        "checks while the server is away",
        || async { (target.hits() >= hits + 3).then_some(()) },
    )
    .await;
    let away_until = Utc::now();

    // Back: what was checked meanwhile is delivered, and Europe sees db down.
    let app = start_on(port, &db, &config).await;
    eventually(Duration::from_secs(20), "Europe to see db down", || async {
        (europe(port).await == "down").then_some(())
    })
    .await;
    let delivered = eventually(
        Duration::from_secs(20),
        "the results made while the server was away",
        || async {
            let m = admin_json(port, "/api/v1/monitors/db").await;
            let meanwhile: Vec<Value> = m["recent_results"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| {
                    let at: DateTime<Utc> = r["started_at"].as_str().unwrap().parse().unwrap();
                    at > away_from && at < away_until
                })
                .cloned()
                .collect();
            (meanwhile.len() >= 2).then_some(meanwhile)
        },
    )
    .await;
    assert!(
        delivered.iter().all(|r| r["outcome"] == "down"),
        "{delivered:?}"
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let code = exit_code(
        &mut child,
        Duration::from_secs(15),
        "the probe did not stop",
    )
    .await;
    assert_eq!(code, Some(0), "{}", log.lock().unwrap());
    app.shutdown().await;
    assert!(
        !log.lock().unwrap().contains(TOKEN),
        "the token is never printed"
    );
}

//! `pharos probe` as an operator runs it: what it refuses before starting, a refused token,
//! and a clean stop on SIGTERM while the server cannot take results. Batching, keys and
//! retries are tested beside the agent (`server/src/probe/tests.rs`); the probe against the
//! real server's endpoints is tested once they exist.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pharos_testkit::FakeTarget;
use tokio::time::Instant;

use crate::support::PHAROS;

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

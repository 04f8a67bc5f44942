//! Notifications end to end: an outage reaches a webhook and a Slack-shaped receiver within
//! seconds, failed deliveries are retried with the same idempotency key, and — killed hard with
//! deliveries pending — a restarted Pharos delivers every one. Real receivers on real sockets,
//! the real binary for the crash, on SQLite and (when `PHAROS_TEST_POSTGRES_URL` is set)
//! PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::config::Config;
use crate::support::http::{send_from, Body};
use crate::support::{free_port, PHAROS};
use pharos_testkit::serde_json_value::Value;
use pharos_testkit::{
    backends, eventually, spawn_app_on, Backend, FakeReceiver, FakeTarget, TestDb,
};
use reqwest::Method;

const WAIT: Duration = Duration::from_secs(30);
/// Long enough for a crashed dispatcher's lease to end and its deliveries to come back.
const LEASE_WAIT: Duration = Duration::from_secs(90);
const TOKEN: &str = "notifications-test-token-0123456789";

/// One component with a monitor; a signed webhook notifier and a Slack one for openings
/// and resolutions; incidents resolved two seconds after recovery.
fn config(target: &str, hook: &str, slack: &str) -> String {
    Config::acme()
        .admin("alice", TOKEN)
        .section("[incidents]\nauto_resolve_after = \"2s\"")
        .component("api", "API")
        .http_monitor("api-health", &format!("{target}/health"), "api")
        .thresholds(2, 1)
        .section(&format!(
            r#"[[notifiers]]
id = "ops"
type = "webhook"
url = "{hook}/hook"
secret = "signing-secret-for-tests"

[[notifiers]]
id = "chat"
type = "slack"
url = "{slack}/services/T000/B000/XXXX"
events = ["incident_opened", "incident_resolved"]"#
        ))
        .build()
}

fn kinds(received: &[pharos_testkit::Received]) -> Vec<String> {
    received
        .iter()
        .filter_map(|r| {
            let v: Value = serde_json::from_str(&r.body).ok()?;
            v["incident"]["status"].as_str().map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn an_outage_reaches_the_webhook_and_slack_within_seconds_and_resolves() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let hook = FakeReceiver::start().await;
        let slack = FakeReceiver::start().await;
        let app = spawn_app_on(backend, &config(&target.url, &hook.url, &slack.url)).await;
        eventually(WAIT, "a first check", || async {
            (target.hits() > 0).then_some(())
        })
        .await;

        target.set_status(503);
        let opened = eventually(WAIT, "the webhook", || async {
            hook.accepted().into_iter().next()
        })
        .await;
        let body = opened.json();
        assert_eq!(body["page"]["id"], "acme", "{backend:?}");
        assert_eq!(body["page"]["status_indicator"], "critical");
        assert_eq!(body["incident"]["name"], "Major outage of API");
        assert_eq!(body["incident"]["status"], "investigating");
        assert!(body["incident"]["incident_updates"][0]["body"]
            .as_str()
            .unwrap()
            .contains("2 consecutive checks failed"));
        assert!(body["meta"]["unsubscribe"].is_string());
        assert!(opened.header("idempotency-key").is_some());
        assert!(opened
            .header("x-pharos-signature")
            .unwrap()
            .starts_with("sha256="));
        let chat = eventually(WAIT, "the Slack message", || async {
            slack.accepted().into_iter().next()
        })
        .await;
        assert_eq!(chat.path, "/services/T000/B000/XXXX");
        assert!(
            chat.json()["text"]
                .as_str()
                .unwrap()
                .contains("Major outage of API"),
            "{}",
            chat.body
        );

        target.set_status(200);
        eventually(WAIT, "the resolution on both channels", || async {
            let hook_done = kinds(&hook.accepted()).contains(&"resolved".to_owned());
            let slack_done = slack.accepted().len() >= 2;
            (hook_done && slack_done).then_some(())
        })
        .await;
        // The webhook hears every step; Slack only what it asked for.
        assert_eq!(
            kinds(&hook.accepted()),
            ["investigating", "monitoring", "resolved"],
            "{backend:?}"
        );
        assert_eq!(slack.accepted().len(), 2);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_the_same_key_and_its_reason_is_visible() {
    let target = FakeTarget::start().await;
    let hook = FakeReceiver::start().await;
    let slack = FakeReceiver::start().await;
    hook.set_status(503);
    let app = spawn_app_on(Backend::Sqlite, &config(&target.url, &hook.url, &slack.url)).await;
    let created = admin_post(
        &app.base_url,
        "/api/v1/incidents",
        serde_json::json!({"name": "Payments degraded", "body": "Looking into it."}),
    )
    .await;
    assert_eq!(created.0, 201, "{:?}", created.1);
    eventually(WAIT, "two failed attempts", || async {
        (hook.received().len() >= 2).then_some(())
    })
    .await;
    let deliveries = admin_get(&app.base_url, "/api/v1/deliveries?state=pending").await;
    let ops = deliveries
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["destination"] == "notifier:ops")
        .unwrap()
        .clone();
    assert!(ops["attempts"].as_u64().unwrap() >= 1);
    assert!(ops["last_error"].as_str().unwrap().contains("503"), "{ops}");

    hook.set_status(200);
    eventually(WAIT, "the delivery", || async {
        hook.accepted().into_iter().next()
    })
    .await;
    let keys: HashSet<String> = hook
        .received()
        .iter()
        .map(|r| r.header("idempotency-key").unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 1, "every attempt carries the same key");
    assert_eq!(keys.iter().next().unwrap(), ops["id"].as_str().unwrap());
    // The receiver has the message a moment before the dispatcher records the outcome: wait
    // for the record, not for the receiver.
    eventually(WAIT, "the delivery recorded as sent", || async {
        let sent = admin_get(&app.base_url, "/api/v1/deliveries?state=sent").await;
        sent.as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == ops["id"])
            .then_some(())
    })
    .await;
    app.stop().await;
}

/// `POST base+path` with `body` to the binary, as alice.
async fn admin_post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let url = format!("{base}{path}");
    let client = reqwest::Client::new();
    let r = send_from(&client, Method::POST, &url, Some(TOKEN), Body::Json(&body)).await;
    (r.status, r.json)
}

/// `GET base+path` from the binary, as alice: the JSON it answers.
async fn admin_get(base: &str, path: &str) -> Value {
    let url = format!("{base}{path}");
    let client = reqwest::Client::new();
    let r = send_from(&client, Method::GET, &url, Some(TOKEN), Body::None).await;
    assert!(!r.json.is_null(), "GET {path}: {r:?}");
    r.json
}

fn start_binary(config_path: &std::path::Path, port: u16, database: &str) -> Child {
    Command::new(PHAROS)
        .args(["serve", "--config"])
        .arg(config_path)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
            database,
        ])
        .env("PHAROS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_serving(base: &str) {
    eventually(WAIT, "Pharos to serve", || async {
        reqwest::get(format!("{base}/healthz"))
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn killed_hard_with_deliveries_pending_a_restart_delivers_every_one() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let target = FakeTarget::start().await;
        let hook = FakeReceiver::start().await;
        let slack = FakeReceiver::start().await;
        hook.set_status(503);
        let path = dir.path().join("pharos.toml");
        std::fs::write(&path, config(&target.url, &hook.url, &slack.url)).unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");

        let mut first = start_binary(&path, port, &db.url);
        wait_serving(&base).await;
        let mut names = Vec::new();
        for n in 0..5 {
            let name = format!("Crash test incident {n}");
            let (status, _) = admin_post(
                &base,
                "/api/v1/incidents",
                serde_json::json!({"name": name, "body": "Before the crash."}),
            )
            .await;
            assert_eq!(status, 201, "{backend:?}");
            names.push(name);
        }
        eventually(WAIT, "a failed attempt for each", || async {
            let tried: HashSet<String> = hook
                .received()
                .iter()
                .map(|r| r.json()["incident"]["name"].as_str().unwrap().to_owned())
                .collect();
            (tried.len() == names.len()).then_some(())
        })
        .await;
        // SIGKILL: no shutdown, no flush, nothing in memory survives.
        first.kill().unwrap();
        first.wait().unwrap();
        let keys_before: HashMap<String, String> = hook
            .received()
            .iter()
            .map(|r| {
                (
                    r.json()["incident"]["name"].as_str().unwrap().to_owned(),
                    r.header("idempotency-key").unwrap().to_owned(),
                )
            })
            .collect();

        hook.set_status(200);
        let mut second = start_binary(&path, port, &db.url);
        wait_serving(&base).await;
        // A delivery that was mid-send when the process died stays claimed until its lease
        // ends (the longest send timeout, 30 s for subscriber webhooks, plus 10 s), then comes
        // back: allow for that.
        eventually(LEASE_WAIT, "every delivery after the restart", || async {
            let delivered: HashSet<String> = hook
                .accepted()
                .iter()
                .map(|r| r.json()["incident"]["name"].as_str().unwrap().to_owned())
                .collect();
            (delivered.len() == names.len()).then_some(())
        })
        .await;
        for r in hook.accepted() {
            let name = r.json()["incident"]["name"].as_str().unwrap().to_owned();
            assert_eq!(
                Some(r.header("idempotency-key").unwrap()),
                keys_before.get(&name).map(String::as_str),
                "{backend:?}: a repeat carries the same key"
            );
        }
        second.kill().unwrap();
        second.wait().unwrap();
        drop(db);
    }
}

//! Coverage: a component no monitor drives and a monitor removed from the configuration are
//! reported, never silent. Through the real app on SQLite and (when
//! `PHAROS_TEST_POSTGRES_URL` is set) PostgreSQL, restarted on the same database with a file
//! that lost a monitor; and through the real binary, whose start-up log must say so.
//! (A request without a token is refused: the OpenAPI walk in `admin.rs` covers this route.)

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::config::Config;
use crate::support::http::get;
use crate::support::{time, PHAROS};
use chrono::Utc;
use pharos_testkit::serde_json_value::Value;
use pharos_testkit::{backends, eventually, spawn_app_on, spawn_app_with_db, FakeTarget, TestApp};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);
const TOKEN: &str = "coverage-token-0123456789";

/// Components `api` and `billing` (grouped) and `docs` (ungrouped, driven by nothing);
/// `api-health` drives `api`, and, when `with_billing`, `billing-health` (which always fails,
/// with a condition no answer meets) drives `billing`.
fn config(target: &str, with_billing: bool) -> String {
    let mut config = Config::acme()
        .admin_unnamed(TOKEN)
        .component("api", "API")
        .with(r#"group = "Core services""#)
        .component("billing", "Billing")
        .with(r#"group = "Core services""#)
        .component("docs", "Docs")
        .http_monitor("api-health", &format!("{target}/health"), "api");
    if with_billing {
        config = config
            .http_monitor("billing-health", &format!("{target}/billing"), "billing")
            .with(
                r#"failure_threshold = 1
conditions = ["[STATUS] == 418"]"#,
            );
    }
    config.build()
}

async fn admin_get(app: &TestApp, path: &str) -> Value {
    let res = get(app, path, Some(TOKEN)).await;
    assert_eq!(res.status, 200, "GET {path}");
    assert!(!res.json.is_null(), "GET {path}: {res:?}");
    res.json
}

/// `id → (watched, monitors)` from `GET /api/v1/components`.
async fn watched(app: &TestApp) -> Vec<(String, Value, Value)> {
    admin_get(app, "/api/v1/components")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["watched"].clone(),
                c["monitors"].clone(),
            )
        })
        .collect()
}

fn row(id: &str, watched: bool, monitors: Value) -> (String, Value, Value) {
    (id.to_owned(), json!(watched), monitors)
}

#[tokio::test]
async fn a_removed_monitor_and_the_component_it_left_unwatched_are_reported() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url, true)).await;

        // Both monitors configured: only `docs` is unwatched, nothing was removed.
        assert_eq!(
            admin_get(&app, "/api/v1/coverage").await,
            json!({"unwatched_components": ["docs"], "removed_monitors": []}),
            "{backend:?}"
        );
        assert_eq!(
            watched(&app).await,
            [
                row("core-services", true, json!([])),
                row("api", true, json!(["api-health"])),
                row("billing", true, json!(["billing-health"])),
                row("docs", false, json!([])),
            ],
            "{backend:?}"
        );
        // Let billing-health be confirmed down, so there is a last state to keep.
        eventually(WAIT, "billing-health to be down", || async {
            let m = admin_get(&app, "/api/v1/monitors/billing-health").await;
            (m["health"] == "down").then_some(())
        })
        .await;
        let db = app.stop().await;

        // Restart on the same database with billing-health gone from the file.
        let restarted_at = Utc::now();
        let app = spawn_app_with_db(db, &config(&target.url, false)).await;
        let coverage = admin_get(&app, "/api/v1/coverage").await;
        assert_eq!(
            coverage["unwatched_components"],
            json!(["billing", "docs"]),
            "{backend:?}: page order"
        );
        let removed = coverage["removed_monitors"].as_array().unwrap();
        assert_eq!(removed.len(), 1, "{backend:?}: {coverage}");
        let b = &removed[0];
        assert_eq!(b["id"], "billing-health");
        assert_eq!(b["type"], "http");
        assert_eq!(b["components"], json!(["billing"]));
        assert_eq!(b["health"], "down", "{backend:?}: its last state is kept");
        assert!(
            b["last_error"].as_str().unwrap().contains("418"),
            "{backend:?}: {b}"
        );
        let archived_at = time(&b["archived_at"]);
        assert!(
            archived_at >= restarted_at - chrono::Duration::milliseconds(1)
                && archived_at <= Utc::now(),
            "{backend:?}: archived at the restart: {b}"
        );
        assert!(time(&b["created_at"]) < restarted_at, "{b}");
        assert!(time(&b["last_check_at"]) < restarted_at, "{b}");
        assert!(time(&b["health_since"]) <= time(&b["last_check_at"]), "{b}");
        assert_eq!(
            watched(&app).await,
            [
                // A group with an unwatched component is not watched.
                row("core-services", false, json!([])),
                row("api", true, json!(["api-health"])),
                row("billing", false, json!([])),
                row("docs", false, json!([])),
            ],
            "{backend:?}"
        );
        let monitors = admin_get(&app, "/api/v1/monitors").await;
        assert_eq!(
            monitors.as_array().unwrap().len(),
            1,
            "{backend:?}: only api-health runs: {monitors}"
        );
        let db = app.stop().await;

        // Declared again: no longer removed, and its history is back.
        let app = spawn_app_with_db(db, &config(&target.url, true)).await;
        assert_eq!(
            admin_get(&app, "/api/v1/coverage").await,
            json!({"unwatched_components": ["docs"], "removed_monitors": []}),
            "{backend:?}"
        );
        let m = admin_get(&app, "/api/v1/monitors/billing-health").await;
        assert_eq!(m["health"], "down", "{backend:?}: {m}");
        assert!(
            !m["recent_results"].as_array().unwrap().is_empty(),
            "{backend:?}: its results came back: {m}"
        );
        app.stop().await;
    }
}

/// `pharos serve` with `config`, on `database`, until it answers `/healthz`; then SIGTERM.
/// Returns what it wrote to stdout (its log) by then.
fn serve_once(dir: &Path, config: &str, database: &str) -> String {
    let path = dir.join("pharos.toml");
    std::fs::write(&path, config).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(PHAROS)
        .current_dir(dir)
        .args(["serve", "--config"])
        .arg(&path)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database", database])
        .env_remove("PHAROS_LOG")
        .env_remove("PHAROS_LISTEN")
        .env_remove("PHAROS_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Never leave the server behind, whatever happens.
    let mut child = KillOnDrop(Some(child));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !healthy(port) {
        assert!(Instant::now() < deadline, "pharos did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let child = child.0.take().unwrap();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // SIGTERM right after the first answer is a clean stop: the handler is installed before
    // Pharos serves (it once was not, and such a SIGTERM killed the process).
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Kills the child it holds when dropped (a failed assertion must not leave it running).
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether `GET /healthz` answers 200 (a blocking request: the test runs on a plain thread).
fn healthy(port: u16) -> bool {
    reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz"))
        .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
}

#[test]
fn serve_logs_a_removed_monitor_and_an_unwatched_component_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/pharos.db", dir.path().display());
    // Nothing listens on port 9 of localhost in a test box: the checks simply fail.
    let target = "http://127.0.0.1:9";
    let first = serve_once(dir.path(), &config(target, true), &database);
    let docs = "component `docs` is not driven by any monitor; nothing will notice if it goes down";
    let line = |log: &str, needle: &str| -> Option<String> {
        log.lines().find(|l| l.contains(needle)).map(str::to_owned)
    };
    let warned = line(&first, docs).unwrap_or_else(|| panic!("no warning for docs:\n{first}"));
    assert!(warned.contains("WARN"), "{warned}");
    assert!(
        line(&first, "no longer in the configuration").is_none(),
        "{first}"
    );

    let second = serve_once(dir.path(), &config(target, false), &database);
    let removed = line(
        &second,
        "monitor `billing-health` is no longer in the configuration",
    )
    .unwrap_or_else(|| panic!("no warning for the removed monitor:\n{second}"));
    assert!(removed.contains("WARN"), "{removed}");
    assert!(removed.contains("history is kept"), "{removed}");
    let billing =
        "component `billing` is not driven by any monitor; nothing will notice if it goes down";
    let unwatched = line(&second, billing)
        .unwrap_or_else(|| panic!("no warning for billing, now unwatched:\n{second}"));
    assert!(unwatched.contains("WARN"), "{unwatched}");
    let counts = line(&second, "configuration reconciled into storage")
        .unwrap_or_else(|| panic!("no reconcile summary:\n{second}"));
    assert!(counts.contains("INFO"), "{counts}");
    assert!(counts.contains("monitors_archived=1"), "{counts}");
    assert!(counts.contains("monitors_added=0"), "{counts}");
}

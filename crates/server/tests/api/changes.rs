//! Changes end to end, over real HTTP against the real app, on SQLite and (when
//! `PHAROS_TEST_POSTGRES_URL` is set) PostgreSQL: a pipeline records deploys, a wrong record
//! is corrected by a new one that supersedes it and both stay visible; an incident lists the
//! changes to its components and to what they depend on, newest first, with why; the public
//! page never shows them. PagerDuty change events in PagerDuty's own format; the
//! `pharos change` command; and a slow release caught by its checks: the change turns
//! suspect, its component degraded, an incident names it, and all recovers once the release
//! is fast again.

use std::process::Command;
use std::time::Duration;

use crate::support::config::Config;
use crate::support::http::{self, get, post_json, Body};
use crate::support::{time, PHAROS};
use chrono::{SecondsFormat, Utc};
use pharos_testkit::serde_json_value::Value;
use pharos_testkit::{backends, eventually, spawn_app_on, FakeTarget, TestApp};
use reqwest::Method;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(25);
const TOKEN: &str = "changes-test-token-0123456789";

/// An API that depends on its database, and a website, each with a monitor; incidents
/// opened, published and resolved by themselves; `changes` in `[changes]`.
fn config(target: &str, changes: &str) -> String {
    Config::acme()
        .admin("ci", TOKEN)
        .auto_incidents("2s")
        .section("[changes]")
        .with(changes)
        .component("api", "API")
        .component("db", "Database")
        .component("web", "Website")
        .http_monitor("api-health", &format!("{target}/api"), "api")
        .with(r#"depends_on = ["db-port"]"#)
        .http_monitor("db-port", &format!("{target}/db"), "db")
        .http_monitor("web-health", &format!("{target}/web"), "web")
        .build()
}

fn ago(d: chrono::Duration) -> String {
    (Utc::now() - d).to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    post_json(app, path, body, Some(TOKEN)).await
}

async fn record(app: &TestApp, body: Value) -> Value {
    let (status, json) = post(app, "/api/v1/changes", &body).await;
    assert_eq!(status, 201, "{json}");
    json
}

async fn refused(app: &TestApp, body: Value, status: u16, field: &str) -> String {
    let (got, json) = post(app, "/api/v1/changes", &body).await;
    assert_eq!(got, status, "{body} → {json}");
    assert_eq!(json["error"]["field"], field, "{json}");
    json["error"]["message"].as_str().unwrap().to_owned()
}

async fn count(app: &TestApp) -> usize {
    app.admin_json("/api/v1/changes", TOKEN)
        .await
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn changes_are_recorded_corrected_and_listed_with_the_incident() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url, "regression = false")).await;

        // A deploy of the API two hours ago, as a pipeline records it.
        let deploy = record(
            &app,
            json!({"component": "api", "kind": "deploy", "summary": "Deploy api 1.4.2",
                   "version": "1.4.2", "commit": "9f1c2ab", "environment": "production",
                   "author": "alice", "url": "https://ci.example.com/runs/812",
                   "started_at": ago(chrono::Duration::hours(2)), "external_id": "run-812"}),
        )
        .await;
        let deploy_id = deploy["id"].as_str().unwrap().to_owned();
        assert!(deploy_id.starts_with("chg_"), "{deploy}");
        assert_eq!(deploy["source"], "api");
        assert_eq!(deploy["recorded_by"], "ci");
        assert_eq!(deploy["superseded"], false);
        assert_eq!(deploy["regression"], Value::Null);

        // The database's change was recorded wrong, then corrected by a new record.
        let wrong = record(
            &app,
            json!({"component": "db", "kind": "config", "summary": "Raise max_connections to 500",
                   "started_at": ago(chrono::Duration::hours(1))}),
        )
        .await;
        let wrong_id = wrong["id"].as_str().unwrap().to_owned();
        let fixed = record(
            &app,
            json!({"component": "db", "kind": "config", "summary": "Lower max_connections to 100",
                   "started_at": wrong["started_at"], "supersedes": wrong_id}),
        )
        .await;
        let fixed_id = fixed["id"].as_str().unwrap().to_owned();
        assert_eq!(fixed["supersedes"], wrong_id.as_str());
        // Unrelated, and too old for the incident.
        record(
            &app,
            json!({"component": "web", "kind": "deploy", "summary": "New landing page"}),
        )
        .await;
        record(
            &app,
            json!({"component": "api", "kind": "deploy", "summary": "Deploy api 1.4.1",
                   "started_at": ago(chrono::Duration::hours(8))}),
        )
        .await;
        assert_eq!(count(&app).await, 5);

        // Bad input is refused naming the field, and stores nothing.
        let m = refused(
            &app,
            json!({"component": "nope", "kind": "deploy", "summary": "x"}),
            422,
            "component",
        )
        .await;
        assert!(m.contains("unknown component"), "{m}");
        refused(
            &app,
            json!({"component": "api", "kind": "deploymnet", "summary": "x"}),
            422,
            "kind",
        )
        .await;
        refused(
            &app,
            json!({"component": "api", "kind": "deploy"}),
            400,
            "summary",
        )
        .await;
        refused(&app, json!({"component": "api", "kind": "deploy", "summary": "x", "started_at": "yesterday"}), 400, "started_at").await;
        refused(
            &app,
            json!({"component": "api", "kind": "deploy", "summary": "x", "colour": "red"}),
            400,
            "colour",
        )
        .await;
        refused(&app, json!({"component": "api", "kind": "deploy", "summary": "x", "supersedes": "chg_nothing"}), 422, "supersedes").await;
        let m = refused(&app, json!({"component": "db", "kind": "config", "summary": "again", "supersedes": wrong_id}), 422, "supersedes").await;
        assert!(
            m.contains(&format!("already superseded by {fixed_id}")),
            "{m}"
        );
        let anonymous = json!({"component": "api", "kind": "deploy", "summary": "x"});
        let r = http::post(&app, "/api/v1/changes", None, &anonymous).await;
        assert_eq!(r.status, 401);
        assert_eq!(count(&app).await, 5, "nothing refused was stored");

        // The old record is unchanged and shows its correction; nothing can edit or delete it.
        let old = app
            .admin_json(&format!("/api/v1/changes/{wrong_id}"), TOKEN)
            .await;
        assert_eq!(old["summary"], "Raise max_connections to 500");
        assert_eq!(old["superseded"], true);
        assert_eq!(old["superseded_by"], fixed_id.as_str());
        for method in [Method::PUT, Method::PATCH, Method::DELETE] {
            let path = format!("/api/v1/changes/{wrong_id}");
            let r = http::send(&app, method.clone(), &path, Some(TOKEN), Body::None).await;
            assert_eq!(r.status, 405, "{method}");
        }
        let missing = get(&app, "/api/v1/changes/chg_nothing", Some(TOKEN)).await;
        assert_eq!(missing.status, 404);

        // Lists: newest first, by component, by time.
        let api = app.admin_json("/api/v1/changes?component=api", TOKEN).await;
        let summaries: Vec<&str> = api
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["summary"].as_str().unwrap())
            .collect();
        assert_eq!(summaries, ["Deploy api 1.4.2", "Deploy api 1.4.1"]);
        let since = ago(chrono::Duration::minutes(90)).replace('+', "%2B");
        let recent = app
            .admin_json(&format!("/api/v1/changes?since={since}"), TOKEN)
            .await;
        assert_eq!(recent.as_array().unwrap().len(), 3);
        let r = get(&app, "/api/v1/changes?since=soon", Some(TOKEN)).await;
        assert_eq!(r.status, 422);
        assert_eq!(r.field(), Some("since"), "{r:?}");

        // An incident on the API lists the API's changes and the database's (the API's
        // monitor depends on the database's), newest first, with why; not the website's, not
        // the one from before the lookback.
        let (status, incident) = post(
            &app,
            "/api/v1/incidents",
            &json!({"name": "API errors", "body": "Investigating.", "components": {"api": "partial_outage"}}),
        )
        .await;
        assert_eq!(status, 201, "{incident}");
        let id = incident["id"].as_str().unwrap();
        let detail = app
            .admin_json(&format!("/api/v1/incidents/{id}"), TOKEN)
            .await;
        let listed = detail["changes"].as_array().unwrap();
        let ids: Vec<&str> = listed.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [fixed_id.as_str(), wrong_id.as_str(), deploy_id.as_str()]
        );
        assert_eq!(listed[0]["reason"], "dependency");
        assert_eq!(
            listed[0]["path"],
            json!([{"component": "api"}, {"monitor": "api-health"}, {"monitor": "db-port"}, {"component": "db"}])
        );
        assert_eq!(
            listed[0]["why"],
            "api's monitor api-health depends on db-port, which checks db"
        );
        assert_eq!(listed[1]["superseded_by"], fixed_id.as_str());
        assert_eq!(listed[1]["superseded"], true);
        assert_eq!(listed[2]["reason"], "same_component");
        assert!(listed[2].get("path").is_none());
        assert_eq!(listed[2]["version"], "1.4.2");
        assert_eq!(listed[2]["before_incident"], true);

        // Changes are for responders: the public incident shows none. The public snapshot is
        // rebuilt a moment after the command answers: wait for the incident to be there.
        let public = pharos_testkit::eventually(
            Duration::from_secs(10),
            "the incident on the public API",
            || async {
                let text = app
                    .get("/api/v2/incidents.json")
                    .await
                    .text()
                    .await
                    .unwrap();
                text.contains("API errors").then_some(text)
            },
        )
        .await;
        assert!(!public.contains("chg_"), "{public}");
        let page = pharos_testkit::eventually(
            Duration::from_secs(10),
            "the public incident page",
            || async {
                let r = app.get(&format!("/incidents/{id}")).await;
                (r.status() == 200).then_some(r.text().await.unwrap())
            },
        )
        .await;
        assert!(!page.contains("chg_") && !page.contains("1.4.2"), "{page}");

        // Everything survives a restart.
        let db = app.stop().await;
        let app =
            pharos_testkit::spawn_app_with_db(db, &config(&target.url, "regression = false")).await;
        assert_eq!(count(&app).await, 5);
        let old = app
            .admin_json(&format!("/api/v1/changes/{wrong_id}"), TOKEN)
            .await;
        assert_eq!(old["superseded_by"], fixed_id.as_str());
        app.stop().await;
    }
}

/// PagerDuty's own example change event (developer docs, "Send a Change Event"), with the
/// Pharos component in `custom_details`.
#[tokio::test]
async fn a_change_sent_again_with_its_external_id_is_recorded_once_per_source() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url, "regression = false")).await;
        let body = json!({"component": "api", "kind": "deploy", "summary": "Deploy api 1.4.2",
                          "version": "1.4.2", "external_id": "run-812"});
        let first = record(&app, body.clone()).await;
        // The pipeline retries (its first answer was lost): the first record, 200, no second.
        let (status, again) = post(&app, "/api/v1/changes", &body).await;
        assert_eq!(status, 200, "{backend:?}: {again}");
        assert_eq!(again, first, "{backend:?}");
        // Even when the retry's text differs, the first record stands.
        let mut edited = body.clone();
        edited["summary"] = json!("Deploy api 1.4.2 (retry)");
        let (status, again) = post(&app, "/api/v1/changes", &edited).await;
        assert_eq!((status, &again["id"]), (200, &first["id"]), "{backend:?}");
        assert_eq!(count(&app).await, 1, "{backend:?}");
        // Another source's id space is its own; without an external_id nothing is merged.
        let mut from_cli = body.clone();
        from_cli["source"] = json!("cli");
        let (status, cli) = post(&app, "/api/v1/changes", &from_cli).await;
        assert_eq!(status, 201, "{backend:?}: {cli}");
        assert_ne!(cli["id"], first["id"]);
        let plain = json!({"component": "api", "kind": "deploy", "summary": "Deploy api 1.4.2"});
        let a = record(&app, plain.clone()).await;
        let b = record(&app, plain).await;
        assert_ne!(a["id"], b["id"]);
        assert_eq!(count(&app).await, 4, "{backend:?}");
        app.stop().await;
    }
}

fn pagerduty_example(routing_key: &str) -> Value {
    json!({
        "routing_key": routing_key,
        "payload": {
            "summary": "Build Success: Increase snapshot create timeout to 30 seconds",
            "timestamp": "2020-07-17T08:42:58.315+0000",
            "source": "acme-build-pipeline-tool-default-i-9999",
            "custom_details": {
                "build_state": "passed",
                "build_number": "2",
                "run_time": "1236s",
                "component": "api",
                "version": "1.4.2"
            }
        },
        "links": [{"href": "https://acme.pagerduty.dev/build/2", "text": "View more details in Acme!"}]
    })
}

async fn enqueue(app: &TestApp, body: &Value, bearer: Option<&str>) -> (u16, Value) {
    let a = http::post(app, "/v2/change/enqueue", bearer, body).await;
    assert!(!a.json.is_null(), "PagerDuty's answer is JSON: {a:?}");
    (a.status, a.json)
}

#[tokio::test]
async fn pagerduty_change_events_are_recorded() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url, "regression = false")).await;

        let (status, answer) = enqueue(&app, &pagerduty_example(TOKEN), None).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["status"], "success");
        assert_eq!(answer["message"], "Change event processed");
        let id = answer["change_id"].as_str().unwrap();
        let change = app
            .admin_json(&format!("/api/v1/changes/{id}"), TOKEN)
            .await;
        assert_eq!(change["component"], "api");
        assert_eq!(change["kind"], "deploy");
        assert_eq!(change["source"], "pagerduty");
        assert_eq!(change["recorded_by"], "ci");
        assert_eq!(
            change["summary"],
            "Build Success: Increase snapshot create timeout to 30 seconds"
        );
        assert_eq!(change["started_at"], "2020-07-17T08:42:58.315Z");
        assert_eq!(change["url"], "https://acme.pagerduty.dev/build/2");
        assert_eq!(change["version"], "1.4.2");

        // The component may be the event's source; the token may be a bearer header.
        let mut by_source = pagerduty_example("");
        by_source["payload"]["source"] = json!("db");
        by_source["payload"]["custom_details"] = json!({"kind": "config", "revision": "abc123"});
        let (status, answer) = enqueue(&app, &by_source, Some(TOKEN)).await;
        assert_eq!(status, 202, "{answer}");
        let id = answer["change_id"].as_str().unwrap();
        let change = app
            .admin_json(&format!("/api/v1/changes/{id}"), TOKEN)
            .await;
        assert_eq!(
            (change["component"].as_str(), change["kind"].as_str()),
            (Some("db"), Some("config"))
        );
        assert_eq!(change["commit"], "abc123");

        // Refusals, in PagerDuty's shape, naming the field; nothing stored.
        let (status, answer) = enqueue(&app, &pagerduty_example("wrong-key"), None).await;
        assert_eq!(status, 401, "{answer}");
        let (status, _) = enqueue(&app, &pagerduty_example(""), None).await;
        assert_eq!(status, 401);
        let mut no_summary = pagerduty_example(TOKEN);
        no_summary["payload"]["summary"] = json!("");
        let (status, answer) = enqueue(&app, &no_summary, None).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["status"], "invalid event");
        assert!(
            answer["errors"][0]
                .as_str()
                .unwrap()
                .contains("payload.summary"),
            "{answer}"
        );
        let mut nowhere = pagerduty_example(TOKEN);
        nowhere["payload"]["custom_details"] = json!({});
        let (status, answer) = enqueue(&app, &nowhere, None).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["errors"][0]
                .as_str()
                .unwrap()
                .contains("custom_details.component"),
            "{answer}"
        );
        let mut unknown = pagerduty_example(TOKEN);
        unknown["payload"]["custom_details"]["component"] = json!("billing");
        let (status, answer) = enqueue(&app, &unknown, None).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["errors"][0]
                .as_str()
                .unwrap()
                .contains("unknown component"),
            "{answer}"
        );
        let mut bad_time = pagerduty_example(TOKEN);
        bad_time["payload"]["timestamp"] = json!("last tuesday");
        let (status, answer) = enqueue(&app, &bad_time, None).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["errors"][0]
                .as_str()
                .unwrap()
                .contains("payload.timestamp"),
            "{answer}"
        );
        assert_eq!(count(&app).await, 2);
        app.stop().await;
    }
}

/// Runs `pharos change` with `args` and `env`, off the test's runtime.
async fn cli(args: Vec<String>, env: Vec<(&'static str, String)>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(PHAROS)
            .arg("change")
            .args(args)
            .env_remove("PHAROS_URL")
            .env_remove("PHAROS_ADMIN_TOKEN")
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn the_cli_records_and_corrects_a_change() {
    let target = FakeTarget::start().await;
    let backend = backends()[0];
    let app = spawn_app_on(backend, &config(&target.url, "regression = false")).await;
    let out = cli(
        strings(&[
            "--url",
            &app.base_url,
            "--token",
            TOKEN,
            "--component",
            "api",
            "--kind",
            "deploy",
            "--summary",
            "Deploy api 1.4.2",
            "--version",
            "1.4.2",
            "--commit",
            "9f1c2ab",
        ]),
        vec![],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(first.starts_with("chg_"), "{first}");

    // The URL and the token from the environment; a correction of the first record.
    let out = cli(
        strings(&[
            "--component",
            "api",
            "--summary",
            "Deploy api 1.4.3",
            "--version",
            "1.4.3",
            "--supersedes",
            &first,
        ]),
        vec![
            ("PHAROS_URL", app.base_url.clone()),
            ("PHAROS_ADMIN_TOKEN", TOKEN.to_owned()),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let old = app
        .admin_json(&format!("/api/v1/changes/{first}"), TOKEN)
        .await;
    assert_eq!(old["superseded_by"], second.as_str());
    assert_eq!(old["source"], "cli");
    assert_eq!(old["commit"], "9f1c2ab");
    let new = app
        .admin_json(&format!("/api/v1/changes/{second}"), TOKEN)
        .await;
    assert_eq!(
        (new["kind"].as_str(), new["version"].as_str()),
        (Some("deploy"), Some("1.4.3"))
    );

    // Refused: the server's message and field, exit 1.
    let out = cli(
        strings(&[
            "--url",
            &app.base_url,
            "--token",
            TOKEN,
            "--component",
            "nope",
            "--summary",
            "x",
        ]),
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown component \"nope\"") && stderr.contains("`component`"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let out = cli(
        strings(&[
            "--url",
            &app.base_url,
            "--token",
            "wrong-token-0123456789",
            "--component",
            "api",
            "--summary",
            "x",
        ]),
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    // Nobody listening.
    let out = cli(
        strings(&[
            "--url",
            "http://127.0.0.1:9",
            "--token",
            TOKEN,
            "--component",
            "api",
            "--summary",
            "x",
        ]),
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
    // Without a URL at all, clap names what is missing.
    let out = cli(
        strings(&["--token", TOKEN, "--component", "api", "--summary", "x"]),
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--url"));
    assert_eq!(count(&app).await, 2);
    app.stop().await;
}

async fn open_incidents(app: &TestApp) -> Vec<Value> {
    app.get_json("/api/v2/incidents/unresolved.json").await["incidents"]
        .as_array()
        .unwrap()
        .clone()
}

/// Releases `version` of the API, which makes every answer 400 ms slower, and records it as a
/// deploy; returns the change's id. The record says it began half a second before the answers
/// turned slow: a check that started before the record's time must not be slowed, and one in
/// flight when the delay is switched on could be (recording right before or after switching it
/// left a check in between to chance).
async fn release_slowly(app: &TestApp, target: &FakeTarget, version: &str) -> String {
    let released = (Utc::now() - chrono::Duration::milliseconds(500))
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    target.set_delay(Duration::from_millis(400));
    let change = record(
        app,
        json!({"component": "api", "kind": "deploy", "summary": format!("Deploy api {version}"),
               "version": version, "started_at": released}),
    )
    .await;
    change["id"].as_str().unwrap().to_owned()
}

/// `[changes]` keys for a release 150 ms and twice as slow as before it, judged on 3 checks a
/// side compared over `window`.
fn latency_rules(window: &str) -> String {
    format!(
        "regression_window = {window:?}\nmin_samples = 3\nlatency_ratio = 2.0\nmin_latency_increase = \"150ms\"\n"
    )
}

#[tokio::test]
async fn a_slow_release_is_caught_named_and_recovers() {
    let rules = latency_rules("4s");
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url, &rules)).await;
        // A window of fast checks before the release: the last 4 s of stored api-health
        // results, at least four, none slower than 150 ms. (Waiting a fixed time instead let a
        // check slowed down by a busy machine, or the first one at start-up, fall into it.)
        eventually(WAIT, "a window of fast checks", || async {
            let detail = app.admin_json("/api/v1/monitors/api-health", TOKEN).await;
            let since = Utc::now() - chrono::Duration::milliseconds(4500);
            let window: Vec<&Value> = detail["recent_results"]
                .as_array()?
                .iter()
                .filter(|r| {
                    chrono::DateTime::parse_from_rfc3339(r["started_at"].as_str().unwrap()).unwrap()
                        >= since
                })
                .collect();
            (window.len() >= 4
                && window
                    .iter()
                    .all(|r| r["outcome"] == "up" && r["duration_ms"].as_u64().unwrap() < 150))
            .then_some(())
        })
        .await;

        let id = release_slowly(&app, &target, "1.4.2").await;
        let watching = eventually(WAIT, "the check to start watching", || async {
            let c = app
                .admin_json(&format!("/api/v1/changes/{id}"), TOKEN)
                .await;
            (c["regression"]["state"] == "watching").then_some(c)
        })
        .await;
        assert!(
            watching["regression"]["p95_before_ms"].as_u64().unwrap() < 150,
            "{watching}"
        );

        let judged = eventually(WAIT, "the change to be judged", || async {
            let c = app
                .admin_json(&format!("/api/v1/changes/{id}"), TOKEN)
                .await;
            (c["regression"]["state"] != "watching").then_some(c)
        })
        .await;
        let r = &judged["regression"];
        assert_eq!(r["state"], "suspect", "{judged}");
        assert_eq!(r["suspect"], true);
        assert!(r["p95_after_ms"].as_u64().unwrap() >= 400, "{r}");
        assert!(r["p95_before_ms"].as_u64().unwrap() < 150, "{r}");
        assert!(r["samples_after"].as_u64().unwrap() >= 3, "{r}");
        assert_eq!(r["failure_rate_after"], 0.0);
        let summary = r["summary"].as_str().unwrap();
        assert!(
            summary.starts_with("p95 latency") && summary.contains("since deploy 1.4.2 at"),
            "{summary}"
        );
        assert_eq!(
            judged["summary"], "Deploy api 1.4.2",
            "the record itself is unchanged"
        );

        // The component is degraded and an incident names the change.
        app.wait_for_component("api", "degraded_performance", WAIT)
            .await;
        let open = open_incidents(&app).await;
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0]["name"], "Degraded performance of API");
        let body = open[0]["incident_updates"][0]["body"].as_str().unwrap();
        assert!(
            body.contains("deploy 1.4.2") && body.contains("p95 latency"),
            "{body}"
        );
        let incident_id = open[0]["id"].as_str().unwrap().to_owned();
        let detail = app
            .admin_json(&format!("/api/v1/incidents/{incident_id}"), TOKEN)
            .await;
        assert_eq!(detail["automated"], true);
        let listed = &detail["changes"][0];
        assert_eq!(listed["id"], id.as_str());
        assert_eq!(listed["reason"], "same_component");
        assert_eq!(listed["regression"]["suspect"], true);
        let notes: Vec<&str> = detail["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "note")
            .map(|e| e["details"]["body"].as_str().unwrap())
            .collect();
        assert!(
            notes
                .iter()
                .any(|n| n.contains(&id) && n.contains("Deploy api 1.4.2")),
            "{notes:?}"
        );

        // The fix: fast again. A whole window later the component recovers, and the incident
        // moves to monitoring and resolves by itself.
        target.set_delay(Duration::ZERO);
        app.wait_for_component("api", "operational", Duration::from_secs(40))
            .await;
        eventually(
            Duration::from_secs(40),
            "the incident to resolve",
            || async { open_incidents(&app).await.is_empty().then_some(()) },
        )
        .await;
        let c = app
            .admin_json(&format!("/api/v1/changes/{id}"), TOKEN)
            .await;
        assert!(c["regression"]["recovered_at"].is_string(), "{c}");
        assert_eq!(c["regression"]["state"], "suspect", "the verdict stays");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_slow_release_is_named_as_soon_as_the_checks_show_it() {
    // A 15-minute window: the verdict must not wait for it to end.
    let rules = latency_rules("15m");
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url, &rules)).await;
        // Every check before the release counts here (the window reaches back 15 minutes), so
        // wait for enough fast ones that a slow first check at start-up cannot be the p95.
        eventually(WAIT, "fast checks before the release", || async {
            let detail = app.admin_json("/api/v1/monitors/api-health", TOKEN).await;
            let mut ms: Vec<u64> = detail["recent_results"]
                .as_array()?
                .iter()
                .map(|r| r["duration_ms"].as_u64().unwrap())
                .collect();
            ms.sort_unstable();
            let p95 = *ms.get((ms.len() * 95).div_ceil(100).checked_sub(1)?)?;
            ((ms.len() >= 4 && ms[ms.len() - 1] < 150) || (ms.len() >= 20 && p95 < 150))
                .then_some(())
        })
        .await;

        let id = release_slowly(&app, &target, "1.4.3").await;
        let judged = eventually(WAIT, "the change to be judged suspect", || async {
            let c = app
                .admin_json(&format!("/api/v1/changes/{id}"), TOKEN)
                .await;
            (c["regression"]["state"] == "suspect").then_some(c)
        })
        .await;
        let r = &judged["regression"];
        assert!(r["samples_after"].as_u64().unwrap() >= 3, "{r}");
        assert!(r["p95_after_ms"].as_u64().unwrap() >= 400, "{r}");
        let evaluated = time(&r["evaluated_at"]);
        let started = time(&judged["started_at"]);
        assert!(
            evaluated - started < chrono::Duration::minutes(1),
            "judged {evaluated}, a moment after the change at {started}, not after its 15-minute window: {r}"
        );
        app.wait_for_component("api", "degraded_performance", WAIT)
            .await;
        let open = open_incidents(&app).await;
        assert_eq!(open.len(), 1, "{open:?}");
        let body = open[0]["incident_updates"][0]["body"].as_str().unwrap();
        assert!(body.contains("deploy 1.4.3"), "{body}");
        app.stop().await;
    }
}

//! Heartbeat monitors end to end: a job pings the real app's healthchecks.io-style URLs over
//! real HTTP; a silent job, a failing one and one that starts and never finishes each take
//! the component down and open an incident, and the next success brings it back. On SQLite
//! and (when `PHAROS_TEST_POSTGRES_URL` is set) PostgreSQL.

use std::time::Duration;

use pharos_testkit::{backends, eventually, spawn_app_on, Backend, TestApp};

use crate::support::config::Config;

const TOKEN: &str = "5f0c1c6e-8d3a-4c59-9a57-2b1f2a7e9d10";
const ADMIN: &str = "admin-token-0123456789";
const WAIT: Duration = Duration::from_secs(15);

fn config() -> String {
    Config::acme()
        .admin("ops", ADMIN)
        .component("calendar", "Calendar sync")
        .section(&format!(
            r#"[[monitors]]
id = "calendar-sync"
type = "heartbeat"
token = "{TOKEN}"
period = "3s"
grace = "2s"
# The scenario below goes down and up eight times in seconds, on purpose, to show each way a
# job fails; flap detection would rightly hold the component down after the fifth change.
# It has its own tests (quiet.rs).
flap_threshold = 0
components = ["calendar"]"#
        ))
        .build()
}

async fn ping(app: &TestApp, method: reqwest::Method, suffix: &str, body: &str) -> (u16, String) {
    let r = app
        .client
        .request(method, format!("{}/ping/{TOKEN}{suffix}", app.base_url))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let cors = r.headers().get("access-control-allow-origin").cloned();
    let text = r.text().await.unwrap();
    assert_eq!(cors.unwrap(), "*");
    if status == 200 {
        return (status, text);
    }
    // Refusals are JSON errors; their message is what a script's author reads.
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["status"], status);
    (
        status,
        body["error"]["message"].as_str().unwrap().to_owned(),
    )
}

async fn open_incidents(app: &TestApp) -> usize {
    let json = app.get_json("/api/v2/incidents/unresolved.json").await;
    json["incidents"].as_array().unwrap().len()
}

/// Waits for the monitor to be up on the admin API, then for the public API to show the
/// component operational. A ping is applied a moment after it is answered, and the public
/// snapshot is rebuilt a moment after that (most of a second in a debug build on a busy
/// machine): both must be seen within the period and grace the success buys, 5 s.
async fn wait_up(app: &TestApp) {
    eventually(WAIT, "calendar-sync up", || async {
        (app.monitor_health("calendar-sync", ADMIN).await == "up").then_some(())
    })
    .await;
    app.wait_for_component("calendar", "operational", WAIT)
        .await;
}

/// Waits for the monitor to be down on the admin API for a reason `reason` accepts, then for
/// the public API to show the component down, and returns the reason. Waiting for the
/// component alone could end on an earlier failure, before the one asked for is applied.
async fn wait_down(app: &TestApp, what: &str, reason: impl Fn(&str) -> bool) -> String {
    let why = eventually(WAIT, what, || async {
        // One read, so the reason is the one the health goes with.
        let m = app
            .admin_json("/api/v1/monitors/calendar-sync", ADMIN)
            .await;
        let why = m["last_error"].as_str().unwrap_or_default();
        (m["health"] == "down" && reason(why)).then(|| why.to_owned())
    })
    .await;
    app.wait_for_component("calendar", "major_outage", WAIT)
        .await;
    why
}

/// A failure reason other than a missed ping: what a ping reported, or a run not finished.
fn not_silence(reason: &str) -> bool {
    !reason.starts_with("no ping since ")
}

#[tokio::test]
async fn a_job_that_stops_pinging_fails_or_hangs_takes_its_component_down() {
    for backend in backends() {
        scenario(backend).await;
    }
}

async fn scenario(backend: Backend) {
    let app = spawn_app_on(backend, &config()).await;
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;

    // A ping in time keeps it up.
    assert_eq!(
        ping(&app, get.clone(), "", "").await,
        (200, "OK".to_owned())
    );
    wait_up(&app).await;

    // The job goes silent: period 3s + grace 2s later, it is down, with an incident.
    let reason = wait_down(&app, "the silence noticed", |r| {
        r.starts_with("no ping since ")
    })
    .await;
    assert!(
        reason.ends_with("one is expected every 3s, with 2s grace"),
        "{reason}"
    );
    eventually(WAIT, "an incident for the silent job", || async {
        (open_incidents(&app).await == 1).then_some(())
    })
    .await;

    // It runs again: up at once (HEAD counts too).
    let head = app
        .client
        .head(format!("{}/ping/{TOKEN}", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    wait_up(&app).await;

    // It reports failure, with its output: down at once, in the job's words.
    assert_eq!(
        ping(&app, post.clone(), "/fail", "disk full\n").await.0,
        200
    );
    let reason = wait_down(&app, "the reported failure", not_silence).await;
    assert_eq!(reason, "the job reported failure: disk full");
    assert_eq!(ping(&app, post.clone(), "/0", "").await.0, 200);
    wait_up(&app).await;
    assert_eq!(ping(&app, get.clone(), "/3", "").await.0, 200);
    let reason = wait_down(&app, "the exit status", not_silence).await;
    assert_eq!(reason, "the job exited with status 3");

    // It starts and never finishes: down after grace.
    assert_eq!(ping(&app, get.clone(), "", "").await.0, 200);
    wait_up(&app).await;
    assert_eq!(ping(&app, get.clone(), "/start", "").await.0, 200);
    let reason = wait_down(&app, "the run that never finished", not_silence).await;
    assert!(
        reason.starts_with("the job started at ") && reason.ends_with("did not finish within 2s"),
        "{reason}"
    );

    // Bad pings change nothing and say why.
    let (status, text) = ping(&app, get.clone(), "/log", "").await;
    assert_eq!(status, 400);
    assert!(text.contains("not a ping"), "{text}");
    let (status, text) = ping(&app, get.clone(), "/256", "").await;
    assert_eq!(
        (status, text.as_str()),
        (400, "exit status 256 is out of range (0-255)")
    );
    let unknown = app
        .client
        .get(format!("{}/ping/not-a-known-token-at-all", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["message"], "not found");
    assert_eq!(app.component_status("calendar").await, "major_outage");
    app.stop().await;
}

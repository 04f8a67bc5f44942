//! End to end through the real app: configuration → store → engine → HTTP, on SQLite and (when
//! `PHAROS_TEST_POSTGRES_URL` is set) PostgreSQL, with real targets on real sockets.

use std::time::Duration;

use pharos_testkit::serde_json_value::Value;
use pharos_testkit::{
    backends, eventually, spawn_app_on, spawn_app_with_db, Backend, FakeTarget, TestApp,
};

use crate::support::config::Config;

const WAIT: Duration = Duration::from_secs(15);

/// [`base_config`] and the database component, its tcp monitor on the target's port.
fn config(target: &str) -> Config {
    base_config(target)
        .component("db", "Database")
        .with(r#"group = "Core services""#)
        .monitor("db-port", "tcp", "db")
        .with(&format!(
            "url = \"tcp://{}\"\non_failure = \"partial_outage\"",
            target.trim_start_matches("http://")
        ))
}

/// The page (no admin token), the API component and its monitor: two checks to go down and
/// two to come back, on the status and the body.
fn base_config(target: &str) -> Config {
    Config::acme()
        .with(r#"time_zone = "America/Denver""#)
        .component("api", "API")
        .with(r#"group = "Core services""#)
        .http_monitor("api-health", &format!("{target}/health"), "api")
        .thresholds(2, 2)
        .with(r#"conditions = ["[STATUS] == 200", "[BODY].status == UP"]"#)
}

/// Checks of `monitor` so far, as `/metrics` counts them (all outcomes).
async fn checks(app: &TestApp, monitor: &str) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("pharos_checks_total") && l.contains(&format!("monitor=\"{monitor}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn wait_for_checks(app: &TestApp, monitor: &str, at_least: u64) {
    eventually(WAIT, &format!("{at_least} checks of {monitor}"), || async {
        (checks(app, monitor).await >= at_least).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_confirmed_failure_reaches_the_page_and_the_api_within_seconds() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url).build()).await;
        wait_for_checks(&app, "api-health", 1).await;
        assert_eq!(
            app.component_status("api").await,
            "operational",
            "{backend:?}"
        );

        target.set_status(503);
        app.wait_for_component("api", "major_outage", WAIT).await;
        let summary = app.get_json("/api/v2/summary.json").await;
        // One of two leaves in major outage: "Partial System Outage" per Statuspage's rules.
        // The incident opened in the same moment has impact critical (a major outage), and an
        // unresolved incident raises the indicator to its impact, as on Statuspage; the
        // description keeps describing the components.
        assert_eq!(summary["status"]["description"], "Partial System Outage");
        assert_eq!(summary["incidents"][0]["impact"], "critical", "{backend:?}");
        assert_eq!(summary["status"]["indicator"], "critical", "{backend:?}");
        let group = summary["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "core-services")
            .unwrap();
        assert_eq!(
            group["status"], "major_outage",
            "a group shows its worst child"
        );
        assert_eq!(group["group"], true);
        // Timestamps carry the page's offset (Denver is UTC-7 in November).
        assert!(summary["page"]["updated_at"]
            .as_str()
            .unwrap()
            .ends_with("-07:00"));

        let html = app.get("/").await.text().await.unwrap();
        assert!(html.contains("Major outage"), "the page says it in words");
        // The banner's colour is the raised indicator, and its words say why: the incident,
        // not a component description that would mean another colour.
        assert!(
            html.contains(r#"<div class="banner critical" role="status"><span class="icon" aria-hidden="true">!</span><span>Incident under investigation</span></div>"#),
            "{backend:?}"
        );

        target.set_status(200);
        app.wait_for_component("api", "operational", WAIT).await;
        let status = app.get_json("/api/v2/status.json").await;
        assert_eq!(status["status"]["description"], "All Systems Operational");
        app.stop().await;
    }
}

#[tokio::test]
async fn failure_threshold_keeps_a_single_blip_off_the_page() {
    let target = FakeTarget::start().await;
    let app = spawn_app_on(Backend::Sqlite, &config(&target.url).build()).await;
    wait_for_checks(&app, "api-health", 2).await;
    // One failed answer, then healthy again: the threshold of 2 must absorb it. Exactly one:
    // switching the status to 500 and back could catch a second check in between, and two
    // failures in a row are a real outage.
    target.fail_next(1);
    // Counted once the check that got it is over; then three good ones after it.
    eventually(WAIT, "the failed check", || async {
        let text = app.get("/metrics").await.text().await.unwrap();
        text.contains("pharos_checks_total{monitor=\"api-health\",outcome=\"down\"} 1")
            .then_some(())
    })
    .await;
    let after_failure = checks(&app, "api-health").await;
    wait_for_checks(&app, "api-health", after_failure + 3).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("pharos_checks_total{monitor=\"api-health\",outcome=\"down\"} 1"),
        "{metrics}"
    );
    assert_eq!(app.component_status("api").await, "operational");
    let incidents = app.get_json("/api/v2/incidents.json").await;
    assert_eq!(
        incidents["incidents"],
        serde_json::json!([]),
        "no incident either"
    );
    app.stop().await;
}

#[tokio::test]
async fn degraded_conditions_show_degraded_performance() {
    let target = FakeTarget::start().await;
    let config = config(&target.url).component("search", "Search").section(
        &r#"
[[monitors]]
id = "search-latency"
type = "http"
url = "URL/search"
interval = "1s"
failure_threshold = 1
degraded_conditions = ["[RESPONSE_TIME] < 0"]
components = ["search"]
"#
        .replace("URL", &target.url),
    );
    let app = spawn_app_on(Backend::Sqlite, &config.build()).await;
    app.wait_for_component("search", "degraded_performance", WAIT)
        .await;
    let status = app.get_json("/api/v2/status.json").await;
    assert_eq!(status["status"]["indicator"], "minor");
    assert_eq!(
        status["status"]["description"],
        "Partially Degraded Service"
    );
    app.stop().await;
}

#[tokio::test]
async fn what_was_recorded_survives_a_restart_and_reconcile_follows_the_file() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let cfg = config(&target.url).build();
        let app = spawn_app_on(backend, &cfg).await;
        target.set_status(503);
        app.wait_for_component("api", "major_outage", WAIT).await;
        let created_before = created_at(&app, "api").await;
        let db = app.stop().await;

        // Restart with the same file while the target is still failing: the outage is shown
        // at once, before any new check, and the component keeps its creation time.
        let app = spawn_app_with_db(db, &cfg).await;
        assert_eq!(
            app.component_status("api").await,
            "major_outage",
            "{backend:?}"
        );
        assert_eq!(created_at(&app, "api").await, created_before);
        let db = app.stop().await;

        // Remove the database component and its monitor: gone from the API.
        let without_db = base_config(&target.url).build();
        let app = spawn_app_with_db(db, &without_db).await;
        assert_eq!(app.component_status("db").await, "absent", "{backend:?}");
        let db = app.stop().await;

        // Put it back: its history (creation time) returns with it.
        let app = spawn_app_with_db(db, &cfg).await;
        assert_eq!(app.component_status("db").await, "operational");
        app.stop().await;
    }
}

async fn created_at(app: &TestApp, id: &str) -> String {
    let json = app.get_json("/api/v2/components.json").await;
    let c: &Value = json["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap();
    c["created_at"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_hung_target_never_delays_other_monitors() {
    // A target that accepts connections and never answers, counting them.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = hang.accept().await {
            held.push(sock);
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let target = FakeTarget::start().await;
    // A monitor of its own interval and timeout (5 s).
    let config = config(&target.url)
        .component("slow", "Slow thing")
        .section(&format!(
            r#"
[[monitors]]
id = "hangs"
type = "http"
url = "http://{hang_addr}/"
interval = "5s"
timeout = "5s"
failure_threshold = 1
components = ["slow"]
"#
        ));
    let app = spawn_app_on(Backend::Sqlite, &config.build()).await;
    // While `hangs` sits in its 5 s timeout, api-health keeps its 1 s interval: three healthy
    // checks are answered after the hung check connected and before it has ended. (Timed from
    // the start-up instead, the hung check, spread over its 5 s interval, might not have
    // begun yet.)
    eventually(WAIT, "the hung check to connect", || async {
        (accepted.load(std::sync::atomic::Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    let start = target.hits();
    eventually(WAIT, "3 healthy checks", || async {
        (target.hits() >= start + 3).then_some(())
    })
    .await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !metrics.contains("pharos_checks_total{monitor=\"hangs\""),
        "healthy checks were held up until the hung check ended: {metrics}"
    );
    app.wait_for_component("slow", "major_outage", WAIT).await;
    let monitors = app.get("/metrics").await.text().await.unwrap();
    assert!(
        monitors.contains("pharos_monitor_up{monitor=\"hangs\"} 0")
            && monitors.contains("pharos_checks_total{monitor=\"hangs\",outcome=\"down\"} "),
        "{monitors}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_database_failure_is_retried_and_never_shown_as_an_outage() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url).build()).await;
        wait_for_checks(&app, "api-health", 2).await;

        // Break writes behind Pharos's back: the results table disappears.
        sql(
            &app,
            "ALTER TABLE check_results RENAME TO check_results_away",
        )
        .await;
        eventually(WAIT, "a failed batch write", || async {
            let m = app.get("/metrics").await.text().await.unwrap();
            m.lines()
                .any(|l| l.starts_with("pharos_store_write_errors_total") && !l.ends_with(" 0"))
                .then_some(())
        })
        .await;
        // The target is healthy, so nothing is shown as down...
        assert_eq!(
            app.component_status("api").await,
            "operational",
            "{backend:?}"
        );
        // ...and a real outage still reaches the page while the database is broken.
        target.set_status(503);
        app.wait_for_component("api", "major_outage", WAIT).await;

        // Repair: the queued batch is written on a retry and the outage is on record.
        sql(
            &app,
            "ALTER TABLE check_results_away RENAME TO check_results",
        )
        .await;
        eventually(Duration::from_secs(40), "the retried write", || async {
            let n: i64 = count(&app, "SELECT COUNT(*) FROM component_events WHERE component_id = 'api' AND status = 'major_outage'").await;
            (n >= 1).then_some(())
        })
        .await;
        app.stop().await;
    }
}

async fn sql(app: &TestApp, statement: &str) {
    app.db.execute(statement).await;
}

async fn count(app: &TestApp, query: &str) -> i64 {
    app.db.query_i64(query).await
}

#[tokio::test]
async fn health_metrics_and_cors_are_public() {
    let target = FakeTarget::start().await;
    let app = spawn_app_on(Backend::Sqlite, &config(&target.url).build()).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    wait_for_checks(&app, "db-port", 1).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for name in [
        "pharos_checks_total",
        "pharos_check_duration_seconds_bucket",
        "pharos_monitor_up",
        "pharos_monitor_last_check_timestamp_seconds",
    ] {
        assert!(metrics.contains(name), "missing {name}");
    }
    let r = app.get("/api/v2/summary.json").await;
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let r = app.get("/api/v2/nonsense.json").await;
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn old_rollups_are_pruned_while_running() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let cfg = config(&target.url).build();
        // A minute rollup from 1970, written while Pharos is stopped: the next start prunes it,
        // while current rollups stay.
        let probe = spawn_app_on(backend, &cfg).await;
        sql(&probe, "INSERT INTO rollups (monitor_id, granularity, bucket_start, checks, up_count, degraded_count, down_count, duration_sum_ms, duration_max_ms) VALUES ('api-health', 'm', 0, 1, 1, 0, 0, 5, 5)").await;
        let db = probe.stop().await;
        let app = spawn_app_with_db(db, &cfg).await;
        eventually(WAIT, "the 1970 rollup to be pruned", || async {
            (count(&app, "SELECT COUNT(*) FROM rollups WHERE bucket_start = 0").await == 0)
                .then_some(())
        })
        .await;
        wait_for_checks(&app, "api-health", 1).await;
        eventually(WAIT, "a current rollup", || async {
            (count(
                &app,
                "SELECT COUNT(*) FROM rollups WHERE monitor_id = 'api-health'",
            )
            .await
                > 0)
            .then_some(())
        })
        .await;
        app.stop().await;
    }
}

#[tokio::test]
async fn branding_from_the_file_reaches_the_pages_and_the_theme() {
    let target = FakeTarget::start().await;
    let cfg = Config::acme()
        .with(
            r##"logo_url = "/brand/logo.svg"
favicon_url = "https://cdn.acme.test/favicon.ico"
accent_color = "#F60"
home_url = "https://acme.test"
support_url = "https://acme.test/help""##,
        )
        .component("api", "API")
        .section(&format!(
            r#"[[monitors]]
id = "api-health"
type = "http"
url = "{}/health"
interval = "1s"
components = ["api"]"#,
            target.url
        ))
        .build();
    let app = spawn_app_on(Backend::Sqlite, &cfg).await;
    for path in ["/", "/history"] {
        let page = app.get(path).await.text().await.unwrap();
        for needle in [
            r#"<a href="https://acme.test"><img class="logo" src="/brand/logo.svg" alt="Acme"></a>"#,
            r#"<link rel="icon" href="https://cdn.acme.test/favicon.ico">"#,
            r##"<meta name="theme-color" content="#ff6600">"##,
            r#"<a href="https://acme.test/help">Support</a>"#,
        ] {
            assert!(page.contains(needle), "{path}: {needle}");
        }
    }
    let r = app.get("/theme.css").await;
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        r.text().await.unwrap(),
        ":root{--accent:#ff6600;--on-accent:#000}\n"
    );
    app.stop().await;
}

//! Quiet by design, through the real app: a target that fails one check in ten opens no
//! incident with the default thresholds; a retry that passes hides a single failure; a
//! flapping monitor yields one incident with one flapping update; and when Pharos loses its
//! own network (no `[self_check]` target answers) failed checks do not count. (These rules
//! live in the engine; storage adds nothing, so SQLite only.)

use std::time::Duration;

use pharos_testkit::{eventually, spawn_app, FakeTarget, TestApp};

use crate::support::config::Config;

const ADMIN: &str = "admin-token-0123456789";

fn page() -> Config {
    Config::acme().admin("ops", ADMIN)
}

/// The page with one component, `api`, driven by one http monitor, `api-health`, on `url`
/// with thresholds of 1.
fn api_monitor(url: &str) -> Config {
    page()
        .component("api", "API")
        .http_monitor("api-health", &format!("{url}/"), "api")
        .thresholds(1, 1)
}

async fn incidents(app: &TestApp) -> Vec<serde_json::Value> {
    let json = app.get_json("/api/v2/incidents.json").await;
    json["incidents"].as_array().unwrap().clone()
}

/// Outcomes of the monitor's recent results, newest first.
async fn outcomes(app: &TestApp, id: &str) -> Vec<String> {
    let json = app
        .admin_json(&format!("/api/v1/monitors/{id}"), ADMIN)
        .await;
    json["recent_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect()
}

/// When the stored results of `api-health` started, newest first.
async fn result_times(app: &TestApp) -> Vec<chrono::DateTime<chrono::FixedOffset>> {
    let json = app.admin_json("/api/v1/monitors/api-health", ADMIN).await;
    json["recent_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| chrono::DateTime::parse_from_rfc3339(r["started_at"].as_str().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_target_failing_one_check_in_ten_opens_no_incident() {
    let target = FakeTarget::start().await;
    target.set_fail_every(10);
    // Six monitors, each with its own path (the target counts per path), default thresholds.
    let mut config = page();
    for i in 1..=6 {
        let url = format!("{}/m{i}", target.url);
        config = config
            .component(&format!("c{i}"), &format!("C{i}"))
            .http_monitor(&format!("m{i}"), &url, &format!("c{i}"));
    }
    let app = spawn_app(&config.build()).await;
    // Until each monitor has seen its tenth check fail and stored a check after that one. A
    // result is stored once the pipeline has applied it, so the failure was applied (with
    // whatever incident it would open) a check ago. (Counting target hits let a monitor whose
    // failed check was still in flight, or not yet written, count no failure.)
    eventually(
        Duration::from_secs(40),
        "a failed check and one after it, for every monitor",
        || async {
            for i in 1..=6 {
                let newest_first = outcomes(&app, &format!("m{i}")).await;
                if !newest_first.iter().skip(1).any(|o| o == "down") {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    let mut failures = 0;
    for i in 1..=6 {
        let seen = outcomes(&app, &format!("m{i}")).await;
        failures += seen.iter().filter(|o| *o == "down").count();
        assert_eq!(app.component_status(&format!("c{i}")).await, "operational");
    }
    assert!(failures >= 6, "each monitor saw a failed check: {failures}");
    assert_eq!(
        app.admin_json("/api/v1/incidents", ADMIN).await,
        serde_json::json!([]),
        "no incident for one failure in ten"
    );
    assert!(
        incidents(&app).await.is_empty(),
        "no incident for one failure in ten"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_passing_retry_hides_a_single_failure() {
    let target = FakeTarget::start().await;
    // Every other request fails: each failed check is retried, and the retry passes.
    target.set_fail_every(2);
    let config = api_monitor(&target.url)
        .set("interval", r#""2s""#)
        .with("retries = 1\nretry_interval = \"1s\"");
    let app = spawn_app(&config.build()).await;
    eventually(Duration::from_secs(20), "8 requests", || async {
        (target.hits() >= 8).then_some(())
    })
    .await;
    let seen = outcomes(&app, "api-health").await;
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(
        seen.iter().all(|o| o == "up"),
        "every check passed on retry: {seen:?}"
    );
    assert!(incidents(&app).await.is_empty());
    app.stop().await;

    // Without the retry the same target opens an incident at once.
    let target = FakeTarget::start().await;
    target.set_fail_every(2);
    let app = spawn_app(&api_monitor(&target.url).build()).await;
    eventually(Duration::from_secs(20), "an incident", || async {
        (!incidents(&app).await.is_empty()).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_flapping_monitor_yields_one_incident_and_one_flapping_update() {
    let target = FakeTarget::start().await;
    // Down, up, down, up, …: a change of state every check.
    target.set_fail_every(2);
    let app = spawn_app(&api_monitor(&target.url).build()).await;
    let updates = |json: &serde_json::Value| -> Vec<String> {
        json["incident_updates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["body"].as_str().unwrap().to_owned())
            .collect()
    };
    eventually(Duration::from_secs(30), "the flapping update", || async {
        let all = incidents(&app).await;
        (all.len() == 1 && updates(&all[0]).iter().any(|b| b.contains("flapping"))).then_some(())
    })
    .await;
    // Ten more changes of state add nothing: no new incident, no new update. Ten more checks
    // stored means ten more applied by the pipeline, with whatever they did to incidents, and
    // the admin API reads the pipeline's latest view. (Target hits come before any of that.)
    let seen = eventually(Duration::from_secs(30), "checks stored", || async {
        result_times(&app).await.first().copied()
    })
    .await;
    eventually(
        Duration::from_secs(30),
        "ten more checks stored",
        || async {
            let newer = result_times(&app).await.into_iter().filter(|t| *t > seen);
            (newer.count() >= 10).then_some(())
        },
    )
    .await;
    let all = app.admin_json("/api/v1/incidents", ADMIN).await;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    let bodies: Vec<&str> = all[0]["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies.len(),
        5,
        "opened, monitoring, returned, monitoring, flapping: {bodies:#?}"
    );
    let all = incidents(&app).await;
    assert_eq!(all.len(), 1);
    assert_eq!(updates(&all[0]).len(), 5, "{all:#?}");
    assert_eq!(app.component_status("api").await, "major_outage");
    let monitor = app.admin_json("/api/v1/monitors/api-health", ADMIN).await;
    assert!(monitor["flapping_since"].is_string(), "{monitor}");
    app.stop().await;
}

#[tokio::test]
async fn failed_checks_do_not_count_while_pharos_is_offline() {
    // The self-check target: a port nothing listens on yet, so Pharos looks cut off.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gateway = reserved.local_addr().unwrap();
    drop(reserved);
    let target = FakeTarget::start().await;
    target.set_status(500);
    let config = api_monitor(&target.url).section(&format!(
        r#"[self_check]
targets = ["tcp://{gateway}"]
interval = "1s"
timeout = "500ms""#
    ));
    let app = spawn_app(&config.build()).await;
    let status = eventually(Duration::from_secs(20), "suppressed failures", || async {
        let s = app.admin_json("/api/v1/self-check", ADMIN).await;
        (s["suppressed_failures"].as_u64().unwrap() >= 3).then_some(s)
    })
    .await;
    assert_eq!(status["configured"], true);
    assert_eq!(status["online"], false);
    assert_eq!(status["targets"][0]["target"], format!("tcp://{gateway}"));
    assert_eq!(status["targets"][0]["error"], "connection refused");
    assert!(
        incidents(&app).await.is_empty(),
        "nothing declared down while offline"
    );
    assert_eq!(app.component_status("api").await, "operational");

    // The network is back: the same failures now open an incident.
    let _gateway = tokio::net::TcpListener::bind(gateway).await.unwrap();
    eventually(
        Duration::from_secs(20),
        "an incident once online",
        || async { (!incidents(&app).await.is_empty()).then_some(()) },
    )
    .await;
    let s = app.admin_json("/api/v1/self-check", ADMIN).await;
    assert_eq!(s["online"], true);
    app.stop().await;
}

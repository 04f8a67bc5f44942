//! `depends_on` through the real app: when the database fails and the API fails because of
//! it, the public page shows one incident, not two; when the API fails on its own, it gets
//! its own once the first is resolved. (The rule lives in the engine; storage adds nothing, so SQLite only.)

use std::time::Duration;

use pharos_testkit::{eventually, spawn_app, FakeTarget, TestApp};

use crate::support::config::Config;

const WAIT: Duration = Duration::from_secs(20);
const ADMIN: &str = "admin-token-0123456789";

/// A database and an API that depends on it, each with a monitor that decides at once;
/// incidents resolved a second after recovery.
fn config(db: &str, api: &str) -> String {
    Config::acme()
        .admin("ops", ADMIN)
        .section("[incidents]\nauto_resolve_after = \"1s\"")
        .component("db", "Database")
        .component("api", "API")
        .http_monitor("db-health", &format!("{db}/"), "db")
        .thresholds(1, 1)
        .http_monitor("api-health", &format!("{api}/"), "api")
        .thresholds(1, 1)
        .with(r#"depends_on = ["db-health"]"#)
        .build()
}

async fn unresolved(app: &TestApp) -> Vec<String> {
    let json = app.get_json("/api/v2/incidents/unresolved.json").await;
    json["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

/// When `monitor`'s stored results started, newest first. A result is stored once the
/// pipeline has applied it.
async fn stored_checks(app: &TestApp, monitor: &str) -> Vec<chrono::DateTime<chrono::FixedOffset>> {
    let json = app
        .admin_json(&format!("/api/v1/monitors/{monitor}"), ADMIN)
        .await;
    json["recent_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| chrono::DateTime::parse_from_rfc3339(r["started_at"].as_str().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_failure_caused_by_a_dependency_opens_no_second_incident() {
    let db = FakeTarget::start().await;
    let api = FakeTarget::start().await;
    let app = spawn_app(&config(&db.url, &api.url)).await;
    app.wait_for_component("api", "operational", WAIT).await;

    db.set_status(503);
    app.wait_for_component("db", "major_outage", WAIT).await;
    eventually(WAIT, "the database's incident", || async {
        (unresolved(&app).await.len() == 1).then_some(())
    })
    .await;
    api.set_status(503);
    app.wait_for_component("api", "major_outage", WAIT).await;
    // A few more checks of both, and still the one incident: two more of each stored, so
    // applied, with whatever incident they would open, to the view the admin API reads.
    // The view may show the outage a moment before the writer has stored its checks.
    let since = eventually(WAIT, "the API's failing checks stored", || async {
        stored_checks(&app, "api-health").await.first().copied()
    })
    .await;
    eventually(WAIT, "two more checks of both monitors", || async {
        for monitor in ["api-health", "db-health"] {
            let newer = stored_checks(&app, monitor).await;
            if newer.iter().filter(|t| **t > since).count() < 2 {
                return None;
            }
        }
        Some(())
    })
    .await;
    let live = app.admin_json("/api/v1/incidents", ADMIN).await;
    let open: Vec<&str> = live
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] != "resolved")
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(open.len(), 1, "{live}");
    assert!(open[0].contains("Database"), "{live}");
    let open = unresolved(&app).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(open[0].contains("Database"), "{open:?}");

    // Both recover; then the API fails alone: that is its own incident.
    db.set_status(200);
    api.set_status(200);
    app.wait_for_component("api", "operational", WAIT).await;
    app.wait_for_component("db", "operational", WAIT).await;
    eventually(WAIT, "the incident to resolve", || async {
        unresolved(&app).await.is_empty().then_some(())
    })
    .await;
    api.set_status(503);
    eventually(WAIT, "an incident of the API's own", || async {
        let open = unresolved(&app).await;
        open.iter().any(|n| n.contains("API")).then_some(())
    })
    .await;
    app.stop().await;
}

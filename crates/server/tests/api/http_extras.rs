//! An `http` monitor's phase timings end to end: probed, judged, stored, and shown by
//! `GET /api/v1/monitors/{id}` (and described in the OpenAPI document). SQLite only: storage
//! of the timings has its own contract tests on both engines.

use std::time::Duration;

use pharos_testkit::serde_json_value::Value;
use pharos_testkit::{eventually, spawn_app, FakeTarget};

use crate::support::config::Config;

const ADMIN: &str = "admin-token-0123456789";
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn monitor_results_show_the_phases_of_each_check() {
    let target = FakeTarget::start().await;
    // By name, so the first check has a DNS phase.
    let url = format!("{}/health", target.url.replace("127.0.0.1", "localhost"));
    let config = Config::acme()
        .admin("ops", ADMIN)
        .component("api", "API")
        .http_monitor("api-health", &url, "api")
        .build();
    let app = spawn_app(&config).await;

    // Two results: the first opened the connection, the second reused it.
    let results = eventually(WAIT, "two stored results", || async {
        let detail = app.admin_json("/api/v1/monitors/api-health", ADMIN).await;
        let results = detail["recent_results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        (results.len() >= 2).then_some(results)
    })
    .await;

    // Newest first: the oldest shown is the very first check.
    let first = &results[results.len() - 1]["timings"];
    assert!(first["dns_ms"].is_u64(), "{first}");
    assert!(first["connect_ms"].is_u64(), "{first}");
    assert!(first["first_byte_ms"].is_u64(), "{first}");
    // Plain http: no handshake, shown as null rather than left out.
    assert_eq!(first["tls_ms"], Value::Null, "{first}");
    assert!(first.as_object().unwrap().contains_key("tls_ms"), "{first}");

    let kept_alive = &results[0]["timings"];
    assert!(kept_alive["first_byte_ms"].is_u64(), "{kept_alive}");
    for phase in ["dns_ms", "connect_ms", "tls_ms"] {
        assert_eq!(kept_alive[phase], Value::Null, "{kept_alive}");
    }

    // The document describes them.
    let doc = app.get_json("/api/v1/openapi.json").await;
    let schema = &doc["components"]["schemas"]["PhaseTimings"]["properties"];
    for phase in ["dns_ms", "connect_ms", "tls_ms", "first_byte_ms"] {
        assert!(schema[phase].is_object(), "{phase} in {schema}");
    }
    app.stop().await;
}

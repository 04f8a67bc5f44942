//! The admin API (`/api/v1`) end to end: the real app over real HTTP, on SQLite and (when
//! `PHAROS_TEST_POSTGRES_URL` is set) PostgreSQL. Changes made through it must show on the
//! public Statuspage-compatible API, every refusal must name its field and change nothing,
//! and the OpenAPI document must list exactly the routes the router serves.

use std::time::Duration;

use chrono::Utc;
use pharos_testkit::serde_json_value::Value;
use pharos_testkit::{backends, eventually, spawn_app_on, Backend, FakeTarget, TestApp};
use reqwest::Method;
use serde_json::json;

use crate::support::config::Config;
use crate::support::http::{self, Answer, Body};

const WAIT: Duration = Duration::from_secs(15);
const ALICE: &str = "alice-token-0123456789";
const CI: &str = "ci-plain-token-0123456789";

/// An API in a group and a website, each with a monitor; a named token (alice) and an
/// unnamed one (CI).
fn config(target: &str) -> String {
    Config::acme()
        .admin("alice", ALICE)
        .admin_unnamed(CI)
        .component("api", "API")
        .with(r#"group = "Core services""#)
        .component("web", "Website")
        .http_monitor("api-health", &format!("{target}/health"), "api")
        .thresholds(1, 1)
        .http_monitor("web-health", &format!("{target}/"), "web")
        .build()
}

/// `method path` with `token` and `body` as JSON; every admin API answer is JSON or empty.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let body = body.map_or(Body::None, Body::Json);
    http::send(app, method, path, token, body)
        .await
        .json_or_empty()
}

async fn get(app: &TestApp, path: &str) -> Answer {
    send(app, Method::GET, path, Some(ALICE), None).await
}

async fn post(app: &TestApp, path: &str, body: Value) -> Answer {
    send(app, Method::POST, path, Some(ALICE), Some(&body)).await
}

async fn incident_count(app: &TestApp) -> (usize, i64) {
    let listed = get(app, "/api/v1/incidents")
        .await
        .json
        .as_array()
        .unwrap()
        .len();
    let stored = app.db.query_i64("SELECT COUNT(*) FROM incidents").await;
    (listed, stored)
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn without_a_valid_token_nothing_changes() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url)).await;
        let body = json!({"name": "Outage", "body": "Down"});
        let bad = [
            None,
            Some("wrong-token-0123456789"),
            Some(&ALICE[..ALICE.len() - 1]),
        ];
        for token in bad {
            let a = send(&app, Method::POST, "/api/v1/incidents", token, Some(&body)).await;
            assert_eq!(a.status, 401, "{backend:?} {token:?}: {a:?}");
            assert!(
                a.headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer"),
                "{a:?}"
            );
            assert_eq!(a.json["error"]["status"], 401);
            assert!(!a.message().is_empty());
        }
        // A malformed header, and a body that would be refused anyway: 401 comes first.
        let a = app
            .client
            .post(format!("{}/api/v1/incidents", app.base_url))
            .header("authorization", format!("Basic {ALICE}"))
            .body("not json")
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), 401);
        let a = send(&app, Method::GET, "/api/v1/incidents", None, None).await;
        assert_eq!(a.status, 401);
        let a = send(
            &app,
            Method::PUT,
            "/api/v1/components/api/override",
            Some("nope-nope-nope-nope"),
            Some(&json!({"status": "major_outage"})),
        )
        .await;
        assert_eq!(a.status, 401);
        assert_eq!(incident_count(&app).await, (0, 0), "{backend:?}");
        assert_eq!(app.component_status("api").await, "operational");
        // The plain (unnamed) token works, as `token-2`.
        let a = send(
            &app,
            Method::POST,
            "/api/v1/incidents",
            Some(CI),
            Some(&body),
        )
        .await;
        assert_eq!(a.status, 201, "{a:?}");
        assert_eq!(a.json["updates"][0]["actor"]["name"], "token-2");
        app.stop().await;
    }
}

#[tokio::test]
async fn an_incident_from_declaration_to_resolution() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url)).await;
        app.wait_for_component("api", "operational", WAIT).await;

        // Declare.
        let a = post(
            &app,
            "/api/v1/incidents",
            json!({"name": "Elevated API errors", "body": "We are looking into it.", "severity": "S3"}),
        )
        .await;
        assert_eq!(a.status, 201, "{backend:?}: {a:?}");
        let id = a.json["id"].as_str().unwrap().to_owned();
        assert_eq!(
            a.headers["location"].to_str().unwrap(),
            format!("/api/v1/incidents/{id}")
        );
        assert_eq!(a.json["status"], "investigating");
        assert_eq!(a.json["severity"], "S3");
        assert_eq!(a.json["public"], true);
        assert_eq!(a.json["automated"], false);
        assert_eq!(a.json["time_to_publish_seconds"], Value::Null);
        assert_eq!(a.json["updates"][0]["actor"]["type"], "person");
        assert_eq!(a.json["updates"][0]["actor"]["name"], "alice");

        // Identified, with a component status: the public API follows.
        let a = post(
            &app,
            &format!("/api/v1/incidents/{id}/updates"),
            json!({"status": "identified", "body": "A bad deploy.", "components": {"api": "partial_outage"}}),
        )
        .await;
        assert_eq!(a.status, 201, "{a:?}");
        assert_eq!(a.json["status"], "identified");
        assert_eq!(a.json["components"]["api"], "partial_outage");
        assert_eq!(a.json["impact"], "major");
        assert_eq!(a.json["updates"].as_array().unwrap().len(), 2);
        let affected = &a.json["updates"][1]["affected_components"][0];
        assert_eq!(affected["component_id"], "api");
        assert_eq!(affected["new_status"], "partial_outage");
        app.wait_for_component("api", "partial_outage", WAIT).await;

        // A private note.
        let a = post(
            &app,
            &format!("/api/v1/incidents/{id}/notes"),
            json!({"body": "Paged the deploy owner."}),
        )
        .await;
        assert_eq!(a.status, 201, "{a:?}");
        assert_eq!(a.json["actor"]["name"], "alice");

        // Severity and a role; absent keys stay as they are.
        let a = send(
            &app,
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(ALICE),
            Some(&json!({"severity": "S2", "roles": {"commander": "alice"}})),
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.json["severity"], "S2");
        assert_eq!(a.json["roles"]["commander"], "alice");
        assert_eq!(a.json["name"], "Elevated API errors");

        let detail = get(&app, &format!("/api/v1/incidents/{id}")).await;
        assert_eq!(detail.status, 200);
        let timeline = detail.json["timeline"].as_array().unwrap();
        let severity = timeline
            .iter()
            .find(|e| e["kind"] == "severity_changed" && e["details"]["to"] == "S2")
            .unwrap_or_else(|| panic!("no severity change in {timeline:#?}"));
        assert_eq!(severity["actor"]["name"], "alice");
        assert_eq!(severity["details"]["from"], "S3");
        assert!(severity["occurred_at"].as_str().unwrap().contains('T'));
        assert!(timeline
            .iter()
            .any(|e| e["kind"] == "note" && e["details"]["body"] == "Paged the deploy owner."));
        assert!(timeline
            .iter()
            .any(|e| e["kind"] == "role_assigned" && e["details"]["person"] == "alice"));
        assert_eq!(
            timeline
                .iter()
                .filter(|e| e["kind"] == "public_update")
                .count(),
            2
        );

        // `null` clears the severity; the impact (absent) is untouched.
        let a = send(
            &app,
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(ALICE),
            Some(&json!({"severity": null})),
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.json["severity"], Value::Null);
        assert_eq!(a.json["impact"], "major");

        // Resolve: the component goes back to what its monitor says.
        let a = post(
            &app,
            &format!("/api/v1/incidents/{id}/updates"),
            json!({"status": "resolved", "body": "Rolled back."}),
        )
        .await;
        assert_eq!(a.status, 201, "{a:?}");
        assert_eq!(a.json["status"], "resolved");
        assert!(a.json["resolved_at"].is_string());
        app.wait_for_component("api", "operational", WAIT).await;

        let list = get(&app, "/api/v1/incidents").await;
        assert_eq!(list.json[0]["id"], id.as_str());
        app.stop().await;
    }
}

/// Incidents and maintenances made through the admin API reach the public v2 lists.
#[tokio::test]
async fn incidents_and_maintenances_reach_the_public_v2_lists() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url)).await;
        let a = post(
            &app,
            "/api/v1/incidents",
            json!({"name": "Slow API", "body": "Looking.", "components": {"api": "degraded_performance"}}),
        )
        .await;
        assert_eq!(a.status, 201, "{backend:?}: {a:?}");
        let id = a.json["id"].as_str().unwrap().to_owned();
        eventually(WAIT, "the incident on unresolved.json", || async {
            let unresolved = app.get_json("/api/v2/incidents/unresolved.json").await;
            let summary = app.get_json("/api/v2/summary.json").await;
            (ids(&unresolved, "incidents").contains(&id)
                && ids(&summary, "incidents").contains(&id))
            .then_some(())
        })
        .await;
        let a = post(
            &app,
            &format!("/api/v1/incidents/{id}/updates"),
            json!({"status": "resolved", "body": "Fixed."}),
        )
        .await;
        assert_eq!(a.status, 201);
        eventually(WAIT, "the incident resolved on the public API", || async {
            let unresolved = app.get_json("/api/v2/incidents/unresolved.json").await;
            let all = app.get_json("/api/v2/incidents.json").await;
            (!ids(&unresolved, "incidents").contains(&id) && ids(&all, "incidents").contains(&id))
                .then_some(())
        })
        .await;

        let now = Utc::now();
        let a = post(
            &app,
            "/api/v1/maintenances",
            json!({
                "name": "Database upgrade", "body": "Upgrading.", "components": ["web"],
                "scheduled_for": now.to_rfc3339(),
                "scheduled_until": (now + chrono::Duration::hours(1)).to_rfc3339(),
            }),
        )
        .await;
        assert_eq!(a.status, 201, "{a:?}");
        let mid = a.json["id"].as_str().unwrap().to_owned();
        eventually(WAIT, "the maintenance on active.json", || async {
            let active = app
                .get_json("/api/v2/scheduled-maintenances/active.json")
                .await;
            ids(&active, "scheduled_maintenances")
                .contains(&mid)
                .then_some(())
        })
        .await;
        app.stop().await;
    }
}

#[tokio::test]
async fn refusals_name_the_field_and_change_nothing() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url)).await;

        // A maintenance status on an incident.
        let a = post(
            &app,
            "/api/v1/incidents",
            json!({"name": "X", "body": "Y", "status": "in_progress"}),
        )
        .await;
        assert_eq!(a.status, 422, "{backend:?}: {a:?}");
        assert_eq!(a.field(), Some("status"));
        assert!(a.message().contains("maintenance status"), "{a:?}");
        assert_eq!(a.json["error"]["status"], 422);

        // An unknown component.
        let a = post(
            &app,
            "/api/v1/incidents",
            json!({"name": "X", "body": "Y", "components": {"nope": "major_outage"}}),
        )
        .await;
        assert_eq!(a.status, 422, "{a:?}");
        assert_eq!(a.field(), Some("components.nope"));

        // A bad severity.
        let a = post(
            &app,
            "/api/v1/incidents",
            json!({"name": "X", "body": "Y", "severity": "S9"}),
        )
        .await;
        assert_eq!((a.status, a.field()), (422, Some("severity")), "{a:?}");
        // Refused while the body is parsed: the rule's own words, nothing else.
        assert_eq!(
            a.message(),
            "unknown severity \"S9\"; expected S1, S2, S3 or S4",
            "{a:?}"
        );
        let a = post(
            &app,
            "/api/v1/incidents",
            json!({"name": "X", "body": "Y", "components": {"api": "on_fire"}}),
        )
        .await;
        assert_eq!(
            (a.status, a.field()),
            (422, Some("components.api")),
            "{a:?}"
        );
        assert!(
            a.message()
                .starts_with("unknown component status \"on_fire\""),
            "{a:?}"
        );
        let a = post(
            &app,
            "/api/v1/incidents",
            json!({"name": "X", "body": "Y", "severity": 2}),
        )
        .await;
        assert_eq!(
            (a.status, a.field()),
            (400, Some("severity")),
            "a wrong type: {a:?}"
        );
        assert_eq!(incident_count(&app).await, (0, 0), "nothing stored");

        // A window that ends before it starts.
        let now = Utc::now();
        let a = post(
            &app,
            "/api/v1/maintenances",
            json!({
                "name": "Upgrade", "body": "", "components": ["api"],
                "scheduled_for": (now + chrono::Duration::hours(2)).to_rfc3339(),
                "scheduled_until": (now + chrono::Duration::hours(1)).to_rfc3339(),
            }),
        )
        .await;
        assert_eq!(a.status, 422, "{a:?}");
        assert_eq!(a.field(), Some("scheduled_until"));
        let a = post(
            &app,
            "/api/v1/maintenances",
            json!({
                "name": "Upgrade", "body": "", "components": ["api"],
                "scheduled_for": "next tuesday",
                "scheduled_until": now.to_rfc3339(),
            }),
        )
        .await;
        assert_eq!((a.status, a.field()), (400, Some("scheduled_for")), "{a:?}");
        assert_eq!(
            get(&app, "/api/v1/maintenances").await.json,
            json!([]),
            "nothing scheduled"
        );

        // Over 256 KiB.
        let huge = json!({"name": "X", "body": "a".repeat(300 * 1024)});
        let a = post(&app, "/api/v1/incidents", huge).await;
        assert_eq!(a.status, 413, "{a:?}");
        assert_eq!(a.json["error"]["status"], 413);

        // Malformed JSON.
        let res = app
            .client
            .post(format!("{}/api/v1/incidents", app.base_url))
            .bearer_auth(ALICE)
            .header("content-type", "application/json")
            .body(r#"{"name": "X", "body": "#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let json: Value = res.json().await.unwrap();
        assert!(
            json["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("malformed JSON"),
            "{json}"
        );

        // Not JSON at all.
        let res = app
            .client
            .post(format!("{}/api/v1/incidents", app.base_url))
            .bearer_auth(ALICE)
            .header("content-type", "text/plain")
            .body("name=X")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 415);
        let json: Value = res.json().await.unwrap();
        assert_eq!(json["error"]["status"], 415);

        // A typo'd key, a wrong type, a missing field.
        let a = post(
            &app,
            "/api/v1/incidents",
            json!({"name": "X", "body": "Y", "sevrity": "S1"}),
        )
        .await;
        assert_eq!((a.status, a.field()), (400, Some("sevrity")), "{a:?}");
        let a = post(
            &app,
            "/api/v1/incidents",
            json!({"name": "X", "body": "Y", "public": "yes"}),
        )
        .await;
        assert_eq!((a.status, a.field()), (400, Some("public")), "{a:?}");
        let a = post(&app, "/api/v1/incidents", json!({"name": "X"})).await;
        assert_eq!((a.status, a.field()), (400, Some("body")), "{a:?}");
        assert_eq!(incident_count(&app).await, (0, 0), "nothing stored");

        // Unknown ids.
        for (method, path) in [
            (Method::GET, "/api/v1/incidents/doesnotexist"),
            (Method::GET, "/api/v1/incidents/Not-An-Id"),
            (Method::GET, "/api/v1/maintenances/doesnotexist"),
            (Method::GET, "/api/v1/monitors/nope"),
            (Method::DELETE, "/api/v1/components/nope/override"),
        ] {
            let a = send(&app, method.clone(), path, Some(ALICE), None).await;
            assert_eq!(a.status, 404, "{method} {path}: {a:?}");
            assert_eq!(a.json["error"]["status"], 404);
        }
        let a = post(
            &app,
            "/api/v1/incidents/doesnotexist/updates",
            json!({"status": "resolved", "body": "x"}),
        )
        .await;
        assert_eq!(a.status, 404, "{a:?}");
        assert!(a.message().contains("doesnotexist"), "{a:?}");
        let a = send(
            &app,
            Method::PATCH,
            "/api/v1/incidents/doesnotexist",
            Some(ALICE),
            Some(&json!({"severity": "S1"})),
        )
        .await;
        assert_eq!(a.status, 404, "{a:?}");

        // Unknown paths and methods answer JSON too.
        let a = get(&app, "/api/v1/nothing-here").await;
        assert_eq!(a.status, 404, "{a:?}");
        assert!(a.message().starts_with("no such endpoint"), "{a:?}");
        let a = send(&app, Method::DELETE, "/api/v1/incidents", Some(ALICE), None).await;
        assert_eq!(a.status, 405, "{a:?}");
        assert!(a.headers.contains_key("allow"));
        assert_eq!(incident_count(&app).await, (0, 0), "nothing stored");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_maintenance_starting_now_puts_its_components_under_maintenance() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url)).await;
        app.wait_for_component("web", "operational", WAIT).await;
        let now = Utc::now();
        let a = post(
            &app,
            "/api/v1/maintenances",
            json!({
                "name": "Website migration", "body": "Moving the website.", "components": ["web"],
                "scheduled_for": now.to_rfc3339(),
                "scheduled_until": (now + chrono::Duration::hours(1)).to_rfc3339(),
            }),
        )
        .await;
        assert_eq!(a.status, 201, "{backend:?}: {a:?}");
        let id = a.json["id"].as_str().unwrap().to_owned();
        assert_eq!(a.json["components"], json!(["web"]));
        eventually(WAIT, "the window in progress", || async {
            let m = get(&app, &format!("/api/v1/maintenances/{id}")).await;
            (m.json["status"] == "in_progress").then_some(())
        })
        .await;
        app.wait_for_component("web", "under_maintenance", WAIT)
            .await;

        let detail = get(&app, &format!("/api/v1/maintenances/{id}")).await;
        let timeline = detail.json["timeline"].as_array().unwrap();
        assert!(
            timeline
                .iter()
                .filter(|e| e["kind"] == "public_update")
                .count()
                >= 2,
            "scheduled and in progress: {timeline:#?}"
        );
        assert_eq!(
            get(&app, "/api/v1/maintenances").await.json[0]["id"],
            id.as_str()
        );

        // Forward only: going back is refused, completing ends it.
        let a = post(
            &app,
            &format!("/api/v1/maintenances/{id}/updates"),
            json!({"status": "scheduled", "body": "Oops"}),
        )
        .await;
        assert_eq!((a.status, a.field()), (422, Some("status")), "{a:?}");
        let a = post(
            &app,
            &format!("/api/v1/maintenances/{id}/updates"),
            json!({"status": "completed", "body": "Done."}),
        )
        .await;
        assert_eq!(a.status, 201, "{a:?}");
        assert_eq!(a.json["status"], "completed");
        app.wait_for_component("web", "operational", WAIT).await;
        app.stop().await;
    }
}

#[tokio::test]
async fn component_overrides_are_set_expire_and_clear() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&target.url)).await;
        app.wait_for_component("api", "operational", WAIT).await;

        let a = send(
            &app,
            Method::PUT,
            "/api/v1/components/api/override",
            Some(ALICE),
            Some(&json!({"status": "degraded_performance", "reason": "Provider latency"})),
        )
        .await;
        assert_eq!(a.status, 200, "{backend:?}: {a:?}");
        assert_eq!(a.json["status"], "degraded_performance");
        assert_eq!(a.json["actor"]["name"], "alice");
        app.wait_for_component("api", "degraded_performance", WAIT)
            .await;
        let list = get(&app, "/api/v1/components").await;
        let api = list
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "api")
            .unwrap()
            .clone();
        assert_eq!(api["status"], "degraded_performance");
        assert_eq!(api["group_id"], "core-services");
        assert_eq!(api["monitors"], json!(["api-health"]));
        assert_eq!(api["override"]["reason"], "Provider latency");
        let group = list
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "core-services")
            .unwrap();
        assert_eq!(group["is_group"], true);
        assert_eq!(group["children"], json!(["api"]));

        // Cleared: the monitor decides again.
        let a = send(
            &app,
            Method::DELETE,
            "/api/v1/components/api/override",
            Some(ALICE),
            None,
        )
        .await;
        assert_eq!(a.status, 204, "{a:?}");
        app.wait_for_component("api", "operational", WAIT).await;

        // One that expires by itself.
        let until = Utc::now() + chrono::Duration::seconds(4);
        let a = send(
            &app,
            Method::PUT,
            "/api/v1/components/api/override",
            Some(ALICE),
            Some(&json!({"status": "major_outage", "until": until.to_rfc3339()})),
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");
        app.wait_for_component("api", "major_outage", WAIT).await;
        app.wait_for_component("api", "operational", WAIT).await;
        let list = get(&app, "/api/v1/components").await;
        let api = list
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "api")
            .unwrap();
        assert_eq!(api["override"], Value::Null, "expired: {api}");

        // Refusals.
        let put = |path: &'static str, body: Value| {
            let app = &app;
            async move { send(app, Method::PUT, path, Some(ALICE), Some(&body)).await }
        };
        let a = put(
            "/api/v1/components/nope/override",
            json!({"status": "major_outage"}),
        )
        .await;
        assert_eq!(a.status, 404, "{a:?}");
        let a = put(
            "/api/v1/components/api/override",
            json!({"status": "broken"}),
        )
        .await;
        assert_eq!((a.status, a.field()), (422, Some("status")), "{a:?}");
        let a = put(
            "/api/v1/components/core-services/override",
            json!({"status": "major_outage"}),
        )
        .await;
        assert_eq!(a.status, 422, "{a:?}");
        let a = put(
            "/api/v1/components/api/override",
            json!({"status": "major_outage", "until": "2000-01-01T00:00:00Z"}),
        )
        .await;
        assert_eq!((a.status, a.field()), (422, Some("until")), "{a:?}");
        assert_eq!(app.component_status("api").await, "operational");
        app.stop().await;
    }
}

#[tokio::test]
async fn monitors_show_why_they_fail() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        target.set_status(503);
        let app = spawn_app_on(backend, &config(&target.url)).await;
        let list = get(&app, "/api/v1/monitors").await;
        assert_eq!(list.status, 200);
        let monitors = list.json.as_array().unwrap();
        assert_eq!(monitors.len(), 2);
        assert_eq!(monitors[0]["id"], "api-health");
        assert_eq!(monitors[0]["type"], "http");
        assert_eq!(monitors[0]["components"], json!(["api"]));

        let down = eventually(WAIT, "api-health down with its reason", || async {
            let list = get(&app, "/api/v1/monitors").await;
            let m = list.json[0].clone();
            (m["health"] == "down" && m["last_error"].is_string()).then_some(m)
        })
        .await;
        assert!(
            down["last_error"].as_str().unwrap().contains("503"),
            "{backend:?}: {down}"
        );
        assert!(down["last_check_at"].is_string());

        let detail = eventually(WAIT, "stored results", || async {
            let d = get(&app, "/api/v1/monitors/api-health").await;
            (d.json["recent_results"]
                .as_array()
                .is_some_and(|r| !r.is_empty()))
            .then_some(d)
        })
        .await;
        assert_eq!(detail.json["health"], "down");
        let newest = &detail.json["recent_results"][0];
        assert_eq!(newest["outcome"], "down");
        assert_eq!(newest["status_code"], 503);
        assert!(
            newest["error"].as_str().unwrap().contains("503"),
            "{newest}"
        );
        assert!(newest["started_at"].is_string() && newest["duration_ms"].is_u64());

        // The check opened an incident by itself: it reports how fast it reached the page.
        let automated = eventually(WAIT, "the automated incident", || async {
            let list = get(&app, "/api/v1/incidents").await;
            list.json
                .as_array()
                .and_then(|l| l.iter().find(|i| i["automated"] == true).cloned())
        })
        .await;
        assert!(
            automated["time_to_publish_seconds"].is_number(),
            "{automated}"
        );
        let id = automated["id"].as_str().unwrap();
        let detail = get(&app, &format!("/api/v1/incidents/{id}")).await;
        assert!(detail.json["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "monitor_down"
                && e["details"]["error"].as_str().unwrap_or("").contains("503")));
        app.stop().await;
    }
}

#[tokio::test]
async fn concurrent_updates_are_all_recorded() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = std::sync::Arc::new(spawn_app_on(backend, &config(&target.url)).await);
        let a = post(
            &app,
            "/api/v1/incidents",
            json!({"name": "Busy incident", "body": "Start."}),
        )
        .await;
        assert_eq!(a.status, 201, "{a:?}");
        let id = a.json["id"].as_str().unwrap().to_owned();

        let mut set = tokio::task::JoinSet::new();
        for n in 0..20 {
            let app = app.clone();
            let path = format!("/api/v1/incidents/{id}/updates");
            set.spawn(async move {
                post(&app, &path, json!({"body": format!("update {n}")}))
                    .await
                    .status
            });
        }
        while let Some(status) = set.join_next().await {
            assert_eq!(status.unwrap(), 201, "{backend:?}");
        }

        let detail = get(&app, &format!("/api/v1/incidents/{id}")).await;
        let bodies: Vec<&str> = detail.json["updates"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["body"].as_str())
            .filter(|b| b.starts_with("update "))
            .collect();
        assert_eq!(bodies.len(), 20, "{backend:?}: {bodies:?}");
        for n in 0..20 {
            assert!(bodies.contains(&format!("update {n}").as_str()));
        }
        let entries = detail.json["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["kind"] == "public_update"
                    && e["details"]["body"]
                        .as_str()
                        .is_some_and(|b| b.starts_with("update "))
            })
            .count();
        assert_eq!(entries, 20);
        let Ok(app) = std::sync::Arc::try_unwrap(app) else {
            panic!("the app is still shared")
        };
        app.stop().await;
    }
}

/// Every documented operation is routed (not a 404-for-route or 405), needs the token when
/// the document says so, and every route the admin API promises is documented.
#[tokio::test]
async fn the_openapi_document_and_the_router_agree() {
    let target = FakeTarget::start().await;
    let app = spawn_app_on(Backend::Sqlite, &config(&target.url)).await;
    let res = send(&app, Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(res.status, 200, "the document needs no token");
    let doc = res.json;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");

    // Every `$ref` resolves, and operation ids are unique.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling reference to {name}"
        );
    }
    let mut operation_ids = Vec::new();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            documented.push((method.to_uppercase(), path.clone()));
            let op_id = op["operationId"].as_str().unwrap().to_owned();
            assert!(!operation_ids.contains(&op_id), "operationId {op_id} twice");
            operation_ids.push(op_id);
            let concrete = path
                .replace("{id}", "placeholder")
                .replace("{component}", "placeholder");
            assert!(!concrete.contains('{'), "unexpected parameter in {path}");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = op.get("requestBody").map(|_| json!({}));
            let a = send(&app, m.clone(), &concrete, Some(ALICE), body.as_ref()).await;
            assert_ne!(a.status, 405, "{method} {path}: {a:?}");
            assert!(
                !(a.status == 404 && a.message().starts_with("no such endpoint")),
                "{method} {path} is documented but not routed: {a:?}"
            );
            let secured = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            if path == "/api/v1/openapi.json" {
                assert!(!secured, "the document itself is public");
                continue;
            }
            assert!(secured, "{method} {path} does not declare the bearer token");
            assert!(op["responses"]["401"].is_object(), "{method} {path}");
            let a = send(&app, m, &concrete, None, body.as_ref()).await;
            assert_eq!(a.status, 401, "{method} {path} without a token: {a:?}");
        }
    }

    let promised = [
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/api/v1/incidents"),
        ("POST", "/api/v1/incidents"),
        ("GET", "/api/v1/incidents/{id}"),
        ("PATCH", "/api/v1/incidents/{id}"),
        ("POST", "/api/v1/incidents/{id}/updates"),
        ("POST", "/api/v1/incidents/{id}/notes"),
        ("POST", "/api/v1/incidents/{id}/acknowledge"),
        ("GET", "/api/v1/maintenances"),
        ("POST", "/api/v1/maintenances"),
        ("GET", "/api/v1/maintenances/{id}"),
        ("PATCH", "/api/v1/maintenances/{id}"),
        ("POST", "/api/v1/maintenances/{id}/updates"),
        ("GET", "/api/v1/components"),
        ("PUT", "/api/v1/components/{id}/override"),
        ("DELETE", "/api/v1/components/{id}/override"),
        ("GET", "/api/v1/monitors"),
        ("GET", "/api/v1/monitors/{id}"),
        ("GET", "/api/v1/coverage"),
        ("GET", "/api/v1/self-check"),
        ("GET", "/api/v1/locations"),
        ("GET", "/api/v1/deliveries"),
        ("POST", "/api/v1/deliveries/{id}/retry"),
        ("GET", "/api/v1/subscribers"),
        ("DELETE", "/api/v1/subscribers/{id}"),
        ("GET", "/api/v1/incidents/{id}/postmortem"),
        ("PUT", "/api/v1/incidents/{id}/postmortem"),
        ("POST", "/api/v1/incidents/{id}/postmortem/publish"),
        ("GET", "/api/v1/reports"),
        ("POST", "/api/v1/ingest/alertmanager"),
        ("POST", "/api/v1/ingest/grafana"),
        ("GET", "/api/v1/alerts"),
        ("GET", "/api/v1/changes"),
        ("POST", "/api/v1/changes"),
        ("GET", "/api/v1/changes/{id}"),
        ("GET", "/api/v1/cluster"),
        ("GET", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens"),
        ("DELETE", "/api/v1/tokens/{id}"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("PATCH", "/api/v1/users/{id}"),
        ("POST", "/api/v1/users/{id}/sign-out"),
    ];
    for (method, path) in promised {
        assert!(
            documented.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path} is not in the document: {documented:?}"
        );
    }
    assert_eq!(documented.len(), promised.len(), "{documented:?}");
    app.stop().await;
}

/// A page with components and no monitor at all (a status page kept by hand) takes
/// commands: the pipeline used to stop as soon as it saw no monitor could ever report.
#[tokio::test]
async fn a_page_without_monitors_takes_commands() {
    let config = Config::acme()
        .admin("alice", ALICE)
        .component("api", "API")
        .build();
    let app = pharos_testkit::spawn_app(&config).await;
    // Past the first instants, when the pipeline used to find its result channel closed.
    // Nothing outside the engine marks that moment, so this pause is fixed: it only gives the
    // old failure time to happen; what is asserted below is waited for.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let created = post(
        &app,
        "/api/v1/incidents",
        json!({"name": "Hand-kept outage", "body": "Looking into it.",
               "components": {"api": "major_outage"}}),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    // The public snapshot is rebuilt from the view a moment later.
    eventually(WAIT, "the incident on summary.json", || async {
        let summary = app.get_json("/api/v2/summary.json").await;
        (summary["incidents"][0]["name"] == "Hand-kept outage"
            && summary["components"][0]["status"] == "major_outage")
            .then_some(())
    })
    .await;
}

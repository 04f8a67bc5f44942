//! Postmortems and similar incidents end to end, as a responder meets them through the real
//! binary's HTTP API: a check opens an incident, people update and resolve it, the draft comes
//! back with the timeline in order in one zone, durations computed and the human parts flagged
//! missing; edits are checked field by field; publishing is refused while anything is missing,
//! then shows the postmortem on the public page and API with status `postmortem` and tells
//! the notifiers. When the same failure happens again, the new incident lists the old one with
//! its open action items. On SQLite and (when `PHAROS_TEST_POSTGRES_URL` is set) PostgreSQL.

use std::time::Duration;

use crate::support::config::Config;
use crate::support::http::{self, Answer, Body};
use crate::support::sections;
use pharos_testkit::serde_json_value::Value;
use pharos_testkit::{backends, eventually, spawn_app_on, FakeReceiver, FakeTarget, TestApp};
use reqwest::Method;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
const ALICE: &str = "alice-token-0123456789";

fn config(target: &str, hook: &str) -> String {
    config_with(target, hook, "")
}

/// One component with a monitor, a webhook notifier, incidents opened and published by
/// themselves (resolved by people: an hour is never reached), the page in Denver's time zone
/// with more `[page]` keys `page`.
fn config_with(target: &str, hook: &str, page: &str) -> String {
    Config::acme()
        .with(r#"time_zone = "America/Denver""#)
        .with(page)
        .admin("alice", ALICE)
        .auto_incidents("1h")
        .component("api", "API")
        .http_monitor("api-health", &format!("{target}/health"), "api")
        .thresholds(2, 1)
        .section(&format!(
            r#"[[notifiers]]
id = "ops"
type = "webhook"
url = "{hook}/hook""#
        ))
        .build()
}

/// `method path` as alice, with `body` as JSON.
async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Answer {
    let body = body.as_ref().map_or(Body::None, Body::Json);
    http::send(app, method, path, Some(ALICE), body).await
}

async fn get(app: &TestApp, path: &str) -> Answer {
    send(app, Method::GET, path, None).await
}

async fn put(app: &TestApp, path: &str, body: Value) -> Answer {
    send(app, Method::PUT, path, Some(body)).await
}

async fn post(app: &TestApp, path: &str, body: Option<Value>) -> Answer {
    send(app, Method::POST, path, body).await
}

/// The open incident a check opened, once there is one (other than `except`).
async fn opened_by_check(app: &TestApp, except: &[&str]) -> String {
    eventually(WAIT, "an incident opened by the check", || async {
        let all = get(app, "/api/v1/incidents").await.json;
        all.as_array()?
            .iter()
            .find(|i| {
                i["automated"] == true
                    && i["status"] == "investigating"
                    && !except.contains(&i["id"].as_str().unwrap())
            })
            .map(|i| i["id"].as_str().unwrap().to_owned())
    })
    .await
}

#[tokio::test]
async fn from_alert_to_published_postmortem_and_the_next_incident_remembers() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let hook = FakeReceiver::start().await;
        let app = spawn_app_on(backend, &config(&target.url, &hook.url)).await;
        eventually(WAIT, "a first good check", || async {
            (target.hits() > 0).then_some(())
        })
        .await;

        // Alert: the check fails, Pharos opens and publishes the incident.
        target.set_status(503);
        let id = opened_by_check(&app, &[]).await;
        let pm_path = format!("/api/v1/incidents/{id}/postmortem");

        // People respond: a private note, identified, monitoring, resolved.
        let a = post(
            &app,
            &format!("/api/v1/incidents/{id}/notes"),
            Some(json!({"body": "Paged the database on-call."})),
        )
        .await;
        assert_eq!(a.status, 201, "{backend:?}: {a:?}");
        for (status, body) in [
            ("identified", "The connection pool is exhausted."),
            ("monitoring", "Pool enlarged; watching."),
        ] {
            let a = post(
                &app,
                &format!("/api/v1/incidents/{id}/updates"),
                Some(json!({"status": status, "body": body})),
            )
            .await;
            assert_eq!(a.status, 201, "{a:?}");
        }
        // Publishing before resolution is refused with 409, naming the status.
        let a = post(&app, &format!("{pm_path}/publish"), None).await;
        assert_eq!(a.status, 409, "{a:?}");
        assert_eq!(a.json["error"]["field"], "status");
        target.set_status(200);
        eventually(WAIT, "the check passing again", || async {
            (app.monitor_health("api-health", ALICE).await == "up").then_some(())
        })
        .await;
        let a = post(
            &app,
            &format!("/api/v1/incidents/{id}/updates"),
            Some(json!({"status": "resolved", "body": "All good."})),
        )
        .await;
        assert_eq!(a.status, 201, "{a:?}");

        // The draft: built from the record, in the page's zone, in order.
        let a = get(&app, &pm_path).await;
        assert_eq!(a.status, 200, "{a:?}");
        let pm = a.json;
        assert_eq!(pm["incident_id"], id.as_str());
        assert_eq!(pm["title"], "Major outage of API");
        assert_eq!(pm["time_zone"], "America/Denver");
        assert_eq!(pm["event_type"]["text"], "Outage");
        assert_eq!(pm["event_type"]["edited"], false);
        assert_eq!(
            pm["services_impacted"],
            json!([{"component_id": "api", "name": "API", "worst_status": "major_outage"}])
        );
        let timeline = pm["timeline"].as_array().unwrap();
        let times: Vec<&str> = timeline.iter().map(|l| l["at"].as_str().unwrap()).collect();
        let mut sorted = times.clone();
        sorted.sort_by_key(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap());
        assert_eq!(times, sorted, "the timeline is in time order");
        assert_eq!(timeline[0]["kind"], "first_failure");
        for l in timeline {
            let local = l["local"].as_str().unwrap();
            assert!(
                local.ends_with(" MST") || local.ends_with(" MDT"),
                "one zone: {local}"
            );
            assert!(l["utc"].as_str().unwrap().ends_with(" UTC"), "{l}");
        }
        let note = timeline.iter().find(|l| l["kind"] == "note").unwrap();
        assert_eq!(note["private"], true);
        assert_eq!(
            note["text"],
            "Private note by alice: Paged the database on-call."
        );
        let detection = &pm["detection"];
        assert_eq!(detection["by_check"], true);
        assert_eq!(detection["source"], "the api-health check");
        for metric in [
            "time_to_detect",
            "time_to_acknowledge",
            "time_to_first_public_update",
            "time_to_mitigate",
            "time_to_resolve",
        ] {
            assert!(
                detection[metric]["seconds"].as_i64().unwrap() >= 0,
                "{metric}: {detection}"
            );
            assert!(!detection[metric]["text"].as_str().unwrap().is_empty());
        }
        assert!(
            pm["total_duration"]["seconds"].as_i64().unwrap() >= 1,
            "{pm}"
        );
        assert_eq!(pm["complete"], false);
        assert_eq!(pm["published"], false);
        assert_eq!(
            sections(&pm["missing"]),
            ["root_cause", "remediation", "actions"],
            "the draft needs only the human parts"
        );

        // The same as Markdown, and in another zone on request.
        let a = get(&app, &format!("{pm_path}?format=md")).await;
        assert_eq!(a.status, 200);
        let content_type = a.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("text/markdown"), "{content_type}");
        let md = a.text;
        for part in [
            "# Postmortem: Major outage of API",
            "> **Draft — incomplete.**",
            "## Services impacted\n\n- API: major outage",
            "## Timeline (times in America/Denver, UTC beside each time)",
            "Private note by alice: Paged the database on-call.",
            "## Detection\n\nDetected by the api-health check.",
            "## Root cause\n\n_Not written yet._",
        ] {
            assert!(md.contains(part), "{part:?} in:\n{md}");
        }
        let a = get(&app, &format!("{pm_path}?tz=Europe/Berlin")).await;
        assert_eq!(a.json["time_zone"], "Europe/Berlin", "{a:?}");
        let local = a.json["timeline"][0]["local"].as_str().unwrap().to_owned();
        assert!(
            local.ends_with(" CET") || local.ends_with(" CEST"),
            "{local}"
        );
        let a = get(&app, &format!("{pm_path}?tz=Mars/Olympus")).await;
        assert_eq!(
            (a.status, a.json["error"]["field"].as_str()),
            (422, Some("tz"))
        );
        let a = get(&app, &format!("{pm_path}?format=pdf")).await;
        assert_eq!(
            (a.status, a.json["error"]["field"].as_str()),
            (422, Some("format"))
        );
        let a = get(&app, "/api/v1/incidents/nosuchincident/postmortem").await;
        assert_eq!(a.status, 404);

        // Publishing an empty draft is refused with every gap listed.
        let a = post(&app, &format!("{pm_path}/publish"), None).await;
        assert_eq!(a.status, 422, "{a:?}");
        assert_eq!(a.json["error"]["field"], "root_cause");
        assert_eq!(
            sections(&a.json["missing"]),
            ["root_cause", "remediation", "actions"]
        );

        // Bad edits name their field and change nothing.
        let human = |actions: Value| {
            json!({
                "root_cause": "A connection leak in the booking client exhausted the pool.",
                "remediation": "Restarted the service with a larger pool.",
                "actions": actions,
            })
        };
        for (actions, field) in [
            (
                json!([{"description": "Alert on open connections", "due": "30/04/2026"}]),
                "actions[0].due",
            ),
            (
                json!([{"description": "x", "owner": "bob", "due": "2026-04-30"}, {"description": "Alert", "owner": " "}]),
                "actions[1].owner",
            ),
            (
                json!([{"description": "Alert", "kind": "fix"}]),
                "actions[0].kind",
            ),
            (
                json!([{"id": "A7", "description": "Alert"}]),
                "actions[0].id",
            ),
        ] {
            let a = put(&app, &pm_path, human(actions)).await;
            assert_eq!(a.status, 422, "{field}: {a:?}");
            assert_eq!(a.json["error"]["field"], field, "{a:?}");
        }
        let a = put(&app, &pm_path, json!({"time_zone": "MST"})).await;
        assert_eq!(
            (a.status, a.json["error"]["field"].as_str()),
            (422, Some("time_zone")),
            "{a:?}"
        );
        let a = put(&app, &pm_path, json!({"root_cause": "x", "unknown": 1})).await;
        assert_eq!(a.status, 400, "{a:?}");
        let a = put(
            &app,
            "/api/v1/incidents/nosuchincident/postmortem",
            human(json!([])),
        )
        .await;
        assert_eq!(a.status, 404, "{a:?}");
        let a = get(&app, &pm_path).await;
        assert_eq!(a.json["edits"]["root_cause"], "", "nothing was saved");
        assert_eq!(a.json["updated_at"], Value::Null);

        // The human parts, but an action without an owner: still incomplete.
        let a = put(
            &app,
            &pm_path,
            human(json!([{"description": "Alert when open connections keep growing", "due": "2026-04-30"}])),
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.json["edits"]["actions"][0]["id"], "A1");
        assert_eq!(a.json["edits"]["actions"][0]["kind"], "prevent");
        assert_eq!(sections(&a.json["missing"]), ["actions[0].owner"]);
        assert!(a.json["updated_at"].is_string());
        let a = post(&app, &format!("{pm_path}/publish"), None).await;
        assert_eq!(a.status, 422, "{a:?}");
        assert_eq!(sections(&a.json["missing"]), ["actions[0].owner"]);
        assert_eq!(a.json["error"]["field"], "actions[0].owner");

        // Complete: the owner is named on the saved action.
        let a = put(
            &app,
            &pm_path,
            human(
                json!([{"id": "A1", "description": "Alert when open connections keep growing",
                          "owner": "alice", "due": "2026-04-30"}]),
            ),
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.json["complete"], true, "{a:?}");
        assert_eq!(a.json["missing"], json!([]));

        // Published: the incident is `postmortem`, the public page and API show the text.
        let a = post(&app, &format!("{pm_path}/publish"), None).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.json["published"], true);
        assert!(a.json["published_at"].is_string());
        assert_eq!(a.json["incident_status"], "postmortem");
        let a = get(&app, &format!("/api/v1/incidents/{id}")).await;
        assert_eq!(a.json["status"], "postmortem");

        // The public snapshot is rebuilt a moment after the answer.
        let incident = eventually(WAIT, "the public API to show the postmortem", || async {
            let public = app.get_json("/api/v2/incidents.json").await;
            public["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == id.as_str() && i["status"] == "postmortem")
                .cloned()
        })
        .await;
        let newest = &incident["incident_updates"][0];
        assert_eq!(newest["status"], "postmortem");
        let body = newest["body"].as_str().unwrap();
        assert!(
            body.contains("#### Root cause\n\nA connection leak in the booking client"),
            "{body}"
        );
        assert!(
            body.contains(
                "A1 (prevent): Alert when open connections keep growing. Due: 2026-04-30."
            ),
            "{body}"
        );
        // It says what people did, not who: no responder or token is named.
        assert!(
            body.contains("Identified: public update: The connection pool is exhausted."),
            "{body}"
        );
        assert!(!body.contains("alice"), "no responder is named: {body}");
        assert!(
            !body.contains("Paged the database"),
            "private notes stay private: {body}"
        );

        let page = app.get(&format!("/incidents/{id}")).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("Postmortem"), "{html}");
        assert!(html.contains("<h4>Root cause</h4>"), "{html}");
        assert!(
            html.contains("A connection leak in the booking client exhausted the pool."),
            "{html}"
        );
        assert!(!html.contains("Paged the database"), "{html}");

        // Notifiers hear of it like any update.
        eventually(WAIT, "the postmortem webhook", || async {
            hook.accepted()
                .iter()
                .any(|r| r.json()["incident"]["status"] == "postmortem")
                .then_some(())
        })
        .await;

        // Publishing again without an edit changes nothing on the page. The answer comes once
        // the live view has it, which the admin API reads; the public snapshot is rebuilt from
        // that view a moment later, so a second postmortem update could still be missing there.
        let a = post(&app, &format!("{pm_path}/publish"), None).await;
        assert_eq!(a.status, 200, "{a:?}");
        let live = get(&app, &format!("/api/v1/incidents/{id}")).await;
        let postmortems = live.json["updates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["status"] == "postmortem")
            .count();
        assert_eq!(postmortems, 1, "{live:?}");
        let public = app.get_json("/api/v2/incidents.json").await;
        let updates = public["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id.as_str())
            .unwrap()["incident_updates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["status"] == "postmortem")
            .count();
        assert_eq!(updates, 1);

        // The same failure again: the new incident lists the old one and its open action.
        target.set_status(503);
        let second = opened_by_check(&app, &[&id]).await;
        let a = get(&app, &format!("/api/v1/incidents/{second}")).await;
        assert_eq!(a.status, 200, "{a:?}");
        let similar = a.json["similar_incidents"].as_array().unwrap();
        assert_eq!(similar.len(), 1, "{similar:?}");
        let s = &similar[0];
        assert_eq!(s["id"], id.as_str());
        assert_eq!(s["postmortem"], "published");
        assert_eq!(s["shared_components"], json!(["api"]));
        assert!(s["score"].as_f64().unwrap() >= 0.15, "{s}");
        assert!(s["root_cause"]
            .as_str()
            .unwrap()
            .contains("connection leak"));
        assert_eq!(s["open_actions"][0]["id"], "A1");
        assert_eq!(s["open_actions"][0]["owner"], "alice");
        let a = get(&app, &format!("/api/v1/incidents/{second}/postmortem")).await;
        assert_eq!(a.json["similar_incidents"][0]["id"], id.as_str(), "{a:?}");
        let a = get(&app, &format!("/api/v1/incidents/{id}")).await;
        assert_eq!(
            a.json["similar_incidents"],
            json!([]),
            "only earlier incidents count"
        );

        app.stop().await;
    }
}

#[tokio::test]
async fn a_page_that_shows_responders_names_them_in_the_published_postmortem() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let hook = FakeReceiver::start().await;
        let app = spawn_app_on(
            backend,
            &config_with(&target.url, &hook.url, "show_responders = true"),
        )
        .await;
        let a = post(
            &app,
            "/api/v1/incidents",
            Some(json!({"name": "Slow bookings", "body": "Looking into it.",
                        "components": {"api": "degraded_performance"}})),
        )
        .await;
        assert_eq!(a.status, 201, "{backend:?}: {a:?}");
        let id = a.json["id"].as_str().unwrap().to_owned();
        let a = post(
            &app,
            &format!("/api/v1/incidents/{id}/updates"),
            Some(json!({"status": "resolved", "body": "Fixed."})),
        )
        .await;
        assert_eq!(a.status, 201, "{a:?}");
        let pm_path = format!("/api/v1/incidents/{id}/postmortem");
        let a = put(
            &app,
            &pm_path,
            json!({"root_cause": "A slow query.", "remediation": "Added an index.",
                   "actions": [{"description": "Review query plans", "owner": "alice",
                                "due": "2026-04-30"}]}),
        )
        .await;
        assert_eq!(a.json["complete"], true, "{a:?}");
        let a = post(&app, &format!("{pm_path}/publish"), None).await;
        assert_eq!(a.status, 200, "{a:?}");
        let body = eventually(WAIT, "the published postmortem", || async {
            let public = app.get_json("/api/v2/incidents.json").await;
            public["incidents"][0]["incident_updates"][0]["body"]
                .as_str()
                .filter(|b| b.contains("Root cause"))
                .map(str::to_owned)
        })
        .await;
        for named in [
            "It was declared by alice.",
            "alice declared the incident: Slow bookings",
            "Resolved: public update by alice: Fixed.",
            "Owner: alice.",
        ] {
            assert!(body.contains(named), "{named:?} missing from:\n{body}");
        }
        app.stop().await;
    }
}

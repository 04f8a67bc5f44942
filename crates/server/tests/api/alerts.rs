//! Alert ingestion end to end, in the senders' own wire formats, over real HTTP, on SQLite and
//! (when `PHAROS_TEST_POSTGRES_URL` is set) PostgreSQL: an Alertmanager alert opens an
//! incident and turns its component red, a repeat is counted and not re-announced, the
//! resolve moves the incident to monitoring and then resolved; a firing alert survives a
//! restart, with or without an incident; Grafana and PagerDuty alerts join the same incident
//! by their routes and labels; malformed payloads are refused with the field named and
//! change nothing.

use std::time::Duration;

use pharos_testkit::serde_json_value::Value;
use pharos_testkit::{backends, eventually, spawn_app, spawn_app_on, spawn_app_with_db, TestApp};
use serde_json::json;

use crate::support::config::Config;
use crate::support::http::post_json;

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "alerts-test-token-0123456789";

/// Two components and no monitor: alerts drive them, labelled by `component` or `service`
/// or routed by team and zone; incidents opened, published and resolved by themselves.
fn config() -> String {
    Config::acme()
        .admin_unnamed(TOKEN)
        .auto_incidents("1s")
        .component("api", "API")
        .component("booking", "Booking")
        .section(
            r#"[alerts]
component_labels = ["component", "service"]

[[alerts.routes]]
match = { team = "blue", zone = "us-1" }
components = ["api"]
status = "partial_outage""#,
        )
        .build()
}

/// An Alertmanager v4 webhook body as Alertmanager 0.27 sends it (plus `notification_reason`
/// from later releases, which must be ignored).
fn alertmanager(status: &str) -> Value {
    let ends = if status == "firing" {
        "0001-01-01T00:00:00Z"
    } else {
        "2026-03-04T09:40:00Z"
    };
    json!({
        "receiver": "pharos",
        "status": status,
        "alerts": [{
            "status": status,
            "labels": {"alertname": "HighErrorRate", "component": "api", "severity": "critical", "instance": "api-1:9100"},
            "annotations": {"summary": "5xx rate above 5% for 5 minutes"},
            "startsAt": "2026-03-04T09:25:00.123+02:00",
            "endsAt": ends,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=rate",
            "fingerprint": "c6a2b5e4d3f10a9b"
        }],
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": "{}:{alertname=\"HighErrorRate\"}",
        "truncatedAlerts": 0,
        "notification_reason": "new_alerts"
    })
}

/// A Grafana alerting webhook body, as in Grafana's documentation of the webhook notifier.
fn grafana() -> Value {
    json!({
        "receiver": "My Super Webhook",
        "status": "firing",
        "orgId": 1,
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": {
                "description": "The system has high memory usage",
                "runbook_url": "https://myrunbook.com/runbook/1234",
                "summary": "This alert was triggered for zone us-1"
            },
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 44.23943737541908, "C": 1},
            "valueString": "[ var='B' labels={job=prometheus} value=44.23943737541908 ]"
        }],
        "groupLabels": {},
        "commonLabels": {"team": "blue", "zone": "us-1"},
        "commonAnnotations": {},
        "externalURL": "https://play.grafana.org/",
        "version": "1",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "title": "[FIRING:1]  (blue us-1)",
        "state": "alerting",
        "message": "**Firing**"
    })
}

async fn incident(app: &TestApp, id: &str) -> Value {
    app.admin_json(&format!("/api/v1/incidents/{id}"), TOKEN)
        .await
}

fn timeline_kinds(incident: &Value) -> Vec<String> {
    incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn wait_status(app: &TestApp, id: &str, want: &str) {
    eventually(WAIT, &format!("incident {id} to be {want}"), || async {
        (incident(app, id).await["status"] == want).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_alertmanager_alert_opens_repeats_quietly_and_resolves_with_its_incident() {
    for backend in backends() {
        let app = spawn_app_on(backend, &config()).await;
        let (status, answer) = post_json(
            &app,
            "/api/v1/ingest/alertmanager",
            &alertmanager("firing"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["received"], 1);
        let outcome = &answer["alerts"][0];
        assert_eq!(outcome["key"], "alertmanager:c6a2b5e4d3f10a9b");
        assert_eq!(outcome["result"], "opened");
        assert_eq!(outcome["components"], json!(["api"]));
        assert_eq!(outcome["routing"], "label component=api");
        let id = outcome["incident_id"].as_str().unwrap().to_owned();

        // Public at once, the component red, the opening message naming the alert.
        app.wait_for_component("api", "major_outage", WAIT).await;
        let public = app.get_json("/api/v2/incidents/unresolved.json").await;
        let listed = &public["incidents"][0];
        assert_eq!(listed["id"], id.as_str());
        assert_eq!(listed["name"], "Major outage of API");
        let body = listed["incident_updates"][0]["body"].as_str().unwrap();
        assert_eq!(
            body,
            "We are investigating a major outage of API: Alertmanager alert HighErrorRate: 5xx rate above 5% for 5 minutes"
        );
        let detail = incident(&app, &id).await;
        assert_eq!(detail["started_at"], "2026-03-04T07:25:00.123Z");

        // Alertmanager repeats the group every group_interval: counted, not re-announced.
        let (_, again) = post_json(
            &app,
            "/api/v1/ingest/alertmanager",
            &alertmanager("firing"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(again["alerts"][0]["result"], "repeated");
        assert_eq!(again["alerts"][0]["incident_id"], id.as_str());
        let detail = incident(&app, &id).await;
        let kinds = timeline_kinds(&detail);
        assert_eq!(kinds.iter().filter(|k| *k == "alert_firing").count(), 1);
        assert_eq!(detail["updates"].as_array().unwrap().len(), 1);
        let alerts = app.admin_json("/api/v1/alerts", TOKEN).await;
        assert_eq!(alerts[0]["notifications"], 2);
        assert_eq!(alerts[0]["firing"], true);
        assert_eq!(alerts[0]["incident_id"], id.as_str());
        assert_eq!(alerts[0]["source"], "alertmanager");

        // Resolved: monitoring at once, resolved after the quiet period, component green.
        let (_, resolved) = post_json(
            &app,
            "/api/v1/ingest/alertmanager",
            &alertmanager("resolved"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(resolved["alerts"][0]["result"], "resolved");
        app.wait_for_component("api", "operational", WAIT).await;
        wait_status(&app, &id, "resolved").await;
        let detail = incident(&app, &id).await;
        let kinds = timeline_kinds(&detail);
        assert!(kinds.contains(&"alert_resolved".to_owned()), "{kinds:?}");
        let statuses: Vec<&str> = detail["updates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["investigating", "monitoring", "resolved"]);
        assert!(detail["updates"][1]["body"]
            .as_str()
            .unwrap()
            .contains("Alertmanager alert HighErrorRate has resolved"));

        // The same alert firing again after its incident resolved is news again.
        let (_, anew) = post_json(
            &app,
            "/api/v1/ingest/alertmanager",
            &alertmanager("firing"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(anew["alerts"][0]["result"], "opened");
        assert_ne!(anew["alerts"][0]["incident_id"], id.as_str());
        app.stop().await;
    }
}

#[tokio::test]
async fn a_firing_alert_survives_a_restart_and_resolves_after_it() {
    for backend in backends() {
        let app = spawn_app_on(backend, &config()).await;
        let (_, answer) = post_json(
            &app,
            "/api/v1/ingest/alertmanager",
            &alertmanager("firing"),
            Some(TOKEN),
        )
        .await;
        let id = answer["alerts"][0]["incident_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let db = app.stop().await;

        let app = spawn_app_with_db(db, &config()).await;
        app.wait_for_component("api", "major_outage", WAIT).await;
        let (_, again) = post_json(
            &app,
            "/api/v1/ingest/alertmanager",
            &alertmanager("firing"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(again["alerts"][0]["result"], "repeated", "{again}");
        let (_, resolved) = post_json(
            &app,
            "/api/v1/ingest/alertmanager",
            &alertmanager("resolved"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(resolved["alerts"][0]["incident_id"], id.as_str());
        app.wait_for_component("api", "operational", WAIT).await;
        wait_status(&app, &id, "resolved").await;
        app.stop().await;
    }
}

#[tokio::test]
async fn an_alert_held_without_an_incident_survives_a_restart() {
    let config = config().replace("auto_open = true", "auto_open = false");
    for backend in backends() {
        let app = spawn_app_on(backend, &config).await;
        let (_, answer) = post_json(
            &app,
            "/api/v1/ingest/alertmanager",
            &alertmanager("firing"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(answer["alerts"][0]["result"], "recorded", "{answer}");
        assert_eq!(answer["alerts"][0]["incident_id"], Value::Null);
        app.wait_for_component("api", "major_outage", WAIT).await;
        let db = app.stop().await;

        // After the restart it is still held: on its component, counted when repeated, and
        // its resolve finds it.
        let app = spawn_app_with_db(db, &config).await;
        app.wait_for_component("api", "major_outage", WAIT).await;
        let (_, again) = post_json(
            &app,
            "/api/v1/ingest/alertmanager",
            &alertmanager("firing"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(
            again["alerts"][0]["result"], "repeated",
            "{backend:?}: {again}"
        );
        let (_, resolved) = post_json(
            &app,
            "/api/v1/ingest/alertmanager",
            &alertmanager("resolved"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(
            resolved["alerts"][0]["result"], "resolved",
            "{backend:?}: {resolved}"
        );
        app.wait_for_component("api", "operational", WAIT).await;
        let db = app.stop().await;

        // Resolved is gone for good: a restart does not bring it back.
        let app = spawn_app_with_db(db, &config).await;
        let (_, late) = post_json(
            &app,
            "/api/v1/ingest/alertmanager",
            &alertmanager("resolved"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(
            late["alerts"][0]["result"], "unknown",
            "{backend:?}: {late}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn grafana_and_pagerduty_alerts_join_one_incident_by_route_and_label() {
    for backend in backends() {
        let app = spawn_app_on(backend, &config()).await;
        let (status, answer) =
            post_json(&app, "/api/v1/ingest/grafana", &grafana(), Some(TOKEN)).await;
        assert_eq!(status, 200, "{answer}");
        let outcome = &answer["alerts"][0];
        assert_eq!(outcome["key"], "grafana:c6eadffa33fcdf37");
        assert_eq!(outcome["routing"], "route 1");
        assert_eq!(outcome["result"], "opened");
        let id = outcome["incident_id"].as_str().unwrap().to_owned();
        // The route's status, not the severity's default.
        app.wait_for_component("api", "partial_outage", WAIT).await;

        // PagerDuty Events API v2: the routing key is the token; 202 with the dedup key.
        let trigger = json!({
            "routing_key": TOKEN,
            "event_action": "trigger",
            "dedup_key": "api-latency-42",
            "payload": {
                "summary": "API p95 latency above 2s",
                "source": "api-1.prod",
                "severity": "critical",
                "component": "api",
                "custom_details": {"p95_ms": 2450}
            },
            "client": "Checkly",
            "client_url": "https://checkly.example/checks/42",
            "links": [], "images": []
        });
        let (status, pd) = post_json(&app, "/v2/enqueue", &trigger, None).await;
        assert_eq!(status, 202, "{pd}");
        assert_eq!(
            pd,
            json!({"status": "success", "message": "Event processed", "dedup_key": "api-latency-42"})
        );
        app.wait_for_component("api", "major_outage", WAIT).await;
        let detail = incident(&app, &id).await;
        assert_eq!(
            detail["alerts"].as_array().map(Vec::len),
            Some(2),
            "{detail}"
        );

        // Acknowledge: on the timeline, by the token's holder.
        let ack = json!({"routing_key": TOKEN, "event_action": "acknowledge", "dedup_key": "api-latency-42"});
        assert_eq!(post_json(&app, "/v2/enqueue", &ack, None).await.0, 202);
        let detail = incident(&app, &id).await;
        let acked = detail["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "alert_acknowledged")
            .expect("acknowledged on the timeline");
        assert_eq!(acked["details"]["key"], "pagerduty:api-latency-42");
        assert_eq!(acked["actor"]["type"], "person");

        // Resolving one alert leaves the other firing: still investigating, still partial.
        let resolve =
            json!({"routing_key": TOKEN, "event_action": "resolve", "dedup_key": "api-latency-42"});
        assert_eq!(post_json(&app, "/v2/enqueue", &resolve, None).await.0, 202);
        app.wait_for_component("api", "partial_outage", WAIT).await;
        assert_eq!(incident(&app, &id).await["status"], "investigating");

        // A trigger without a dedup key gets one; a bearer header works as well.
        let (status, pd) = post_json(
            &app,
            "/v2/enqueue",
            &json!({"event_action": "trigger", "payload": {"summary": "Disk 91% full", "source": "booking-db", "severity": "warning", "component": "booking"}}),
            Some(TOKEN),
        )
        .await;
        assert_eq!(status, 202, "{pd}");
        assert_eq!(pd["dedup_key"].as_str().unwrap().len(), 32);
        app.wait_for_component("booking", "degraded_performance", WAIT)
            .await;
        app.stop().await;
    }
}

#[tokio::test]
async fn malformed_or_unauthenticated_alerts_are_refused_and_change_nothing() {
    let app = spawn_app(&config()).await;
    // No token.
    let (status, _) = post_json(
        &app,
        "/api/v1/ingest/alertmanager",
        &alertmanager("firing"),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post_json(&app, "/api/v1/ingest/grafana", &grafana(), Some("wrong")).await;
    assert_eq!(status, 401);
    // Malformed, each named.
    let mut bad = alertmanager("firing");
    bad["alerts"][0]["status"] = json!("exploded");
    let (status, e) = post_json(&app, "/api/v1/ingest/alertmanager", &bad, Some(TOKEN)).await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["field"], "alerts[0].status", "{e}");
    let mut bad = alertmanager("firing");
    bad["alerts"][0]["startsAt"] = json!("yesterday");
    let (status, e) = post_json(&app, "/api/v1/ingest/alertmanager", &bad, Some(TOKEN)).await;
    assert_eq!(
        (status, e["error"]["field"].clone()),
        (400, json!("alerts[0].startsAt"))
    );
    let (status, e) = post_json(
        &app,
        "/api/v1/ingest/alertmanager",
        &json!({"version": "4"}),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("alerts"),
        "{e}"
    );
    // PagerDuty: its own error shape.
    let (status, e) = post_json(
        &app,
        "/v2/enqueue",
        &json!({"routing_key": TOKEN, "event_action": "trigger", "payload": {"source": "x", "severity": "critical"}}),
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(e["status"], "invalid event");
    assert_eq!(e["errors"][0], "'payload.summary' is missing or blank");
    let (status, e) = post_json(
        &app,
        "/v2/enqueue",
        &json!({"routing_key": "not-a-token", "event_action": "resolve", "dedup_key": "x"}),
        None,
    )
    .await;
    assert_eq!(status, 401, "{e}");

    app.wait_for_component("api", "operational", WAIT).await;
    let all = app.admin_json("/api/v1/incidents", TOKEN).await;
    assert_eq!(all.as_array().unwrap().len(), 0);
    assert_eq!(app.admin_json("/api/v1/alerts", TOKEN).await, json!([]));
    app.stop().await;
}

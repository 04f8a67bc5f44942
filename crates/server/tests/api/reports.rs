//! Reports end to end (`GET /api/v1/reports` and the responders' page `/reports`): a local
//! service fails for a while, the incident opens and resolves by itself, and the report shows
//! the outage in the component's uptime and the incident's own timestamps in its metrics;
//! the HTML page asks a browser for credentials and shows the same numbers. A year of history
//! seeded into the store shows in the 90- and 365-day windows and not in the 30-day one. On
//! SQLite and (when `PHAROS_TEST_POSTGRES_URL` is set) PostgreSQL.

use std::time::Duration;

use crate::support::config::Config;
use crate::support::http::get;
use crate::support::time;
use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use pharos_domain::{ComponentId, ComponentStatus, ComponentTransition, Incident};
use pharos_store::{Batch, ComponentRecord, IncidentKind, IncidentRecord, Store};
use pharos_testkit::serde_json_value::Value;
use pharos_testkit::{
    backends, eventually, spawn_app_on, spawn_app_with_db, FakeTarget, TestApp, TestDb,
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "responder-token-0123456789";

/// Two components, `api` in a group, and no monitor yet; incidents opened, published and
/// resolved (a second after recovery) by themselves; the page in Denver's time zone.
fn config() -> Config {
    Config::acme()
        .with(r#"time_zone = "America/Denver""#)
        .admin("alice", TOKEN)
        .auto_incidents("1s")
        .component("api", "API")
        .with(r#"group = "Core services""#)
        .component("db", "Database")
}

/// `later - earlier` in seconds with millisecond precision, as the API writes durations.
fn secs(later: DateTime<Utc>, earlier: DateTime<Utc>) -> f64 {
    (later - earlier).num_milliseconds() as f64 / 1000.0
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 0.0015)
}

async fn report(app: &TestApp, query: &str) -> Value {
    app.admin_json(&format!("/api/v1/reports{query}"), TOKEN)
        .await
}

fn component<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report}"))
}

/// `GET /reports` with `auth` applied to the request.
async fn page(
    app: &TestApp,
    query: &str,
    auth: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> reqwest::Response {
    auth(app.client.get(format!("{}/reports{query}", app.base_url)))
        .send()
        .await
        .unwrap()
}

/// The `value` of the `<data>` element with `id` on the page.
fn figure(html: &str, id: &str) -> String {
    let marker = format!("<data id=\"{id}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no figure {id} on the page"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// A JSON number as the page writes it (Rust's shortest round-trip form).
fn num(v: &Value) -> String {
    v.as_f64().unwrap().to_string()
}

#[tokio::test]
async fn an_outage_shows_in_the_report_with_the_incidents_own_times() {
    for backend in backends() {
        let started = Utc::now();
        let target = FakeTarget::start().await;
        let config = config()
            .http_monitor("api-health", &format!("{}/health", target.url), "api")
            .thresholds(2, 1);
        let app = spawn_app_on(backend, &config.build()).await;
        eventually(WAIT, "a first good check", || async {
            (target.hits() > 0).then_some(())
        })
        .await;

        // Nothing happened yet: full uptime, no incidents, measured since the start.
        let before = report(&app, "").await;
        let keys: Vec<&str> = before["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["30d", "90d", "365d"], "{backend:?}");
        assert_eq!(before["time_zone"], "America/Denver");
        let api = component(&before, "api");
        assert_eq!(api["group_id"], "core-services", "{api}");
        for key in keys {
            assert_eq!(api["uptime"][key]["percent"], 100.0, "{key}: {api}");
            assert_eq!(api["incidents"][key]["count"], 0, "{key}: {api}");
            assert_eq!(
                api["incidents"][key]["time_to_resolve"]["median_seconds"],
                Value::Null
            );
        }
        // The component is younger than every window: measured over its life.
        let since = time(&api["uptime"]["30d"]["measured_since"]);
        let window_from = time(&before["windows"][0]["from"]);
        assert!(
            since > window_from && since >= started - ChronoDuration::seconds(1),
            "{api}"
        );

        // The service fails for a while, then recovers; the incident resolves by itself.
        target.set_status(503);
        let id = eventually(WAIT, "an incident", || async {
            let all = app.admin_json("/api/v1/incidents", TOKEN).await;
            all[0]["id"].as_str().map(str::to_owned)
        })
        .await;
        eventually(WAIT, "the component down", || async {
            (app.component_status("api").await == "major_outage").then_some(())
        })
        .await;
        // The outage must last over a second (asserted below): keep the target failing until
        // it has, counted from the check that confirmed it as the timeline records it.
        eventually(WAIT, "the outage to last over a second", || async {
            let i = app
                .admin_json(&format!("/api/v1/incidents/{id}"), TOKEN)
                .await;
            let down_at = i["timeline"]
                .as_array()?
                .iter()
                .find(|e| e["kind"] == "monitor_down")
                .map(|e| time(&e["occurred_at"]))?;
            (Utc::now() - down_at > ChronoDuration::milliseconds(1200)).then_some(())
        })
        .await;
        target.set_status(200);
        let incident = eventually(WAIT, "the incident resolved", || async {
            let i = app
                .admin_json(&format!("/api/v1/incidents/{id}"), TOKEN)
                .await;
            (i["status"] == "resolved").then_some(i)
        })
        .await;
        let started_at = time(&incident["started_at"]);
        let detect = secs(time(&incident["created_at"]), started_at);
        let publish = secs(time(&incident["published_at"]), started_at);
        let resolve = secs(time(&incident["resolved_at"]), started_at);
        // The component's own outage, as the incident's timeline recorded it: down with the
        // check that confirmed the failure, up with the first good one.
        let entry = |kind: &str| {
            incident["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| {
                    e["kind"] == kind
                        && (kind != "component_status" || e["details"]["to"] == "operational")
                })
                .map(|e| time(&e["occurred_at"]))
                .unwrap_or_else(|| panic!("no {kind} in {incident}"))
        };
        let down_at = entry("monitor_down");
        let up_at = entry("component_status");
        let outage = secs(up_at, down_at);
        assert!(outage > 1.0, "{incident}");

        // The report, once the recovery is stored.
        let after = eventually(WAIT, "the outage in the report", || async {
            let r = report(&app, "").await;
            close(
                &component(&r, "api")["uptime"]["30d"]["major_outage_seconds"],
                outage,
            )
            .then_some(r)
        })
        .await;
        let api = component(&after, "api");
        for key in ["30d", "90d", "365d"] {
            let uptime = &api["uptime"][key];
            let percent = uptime["percent"].as_f64().unwrap();
            assert!(percent < 100.0 && percent > 0.0, "{key}: {uptime}");
            assert!(
                close(&uptime["downtime_seconds"], outage),
                "{key}: {uptime}"
            );
            let tracked = uptime["tracked_seconds"].as_f64().unwrap();
            let expected = 100.0 * (1.0 - uptime["downtime_seconds"].as_f64().unwrap() / tracked);
            assert!((percent - expected).abs() < 1e-9, "{key}: {uptime}");

            let m = &api["incidents"][key];
            assert_eq!(
                (m["count"].as_u64(), m["open"].as_u64()),
                (Some(1), Some(0)),
                "{m}"
            );
            for (metric, want) in [
                ("time_to_detect", detect),
                ("time_to_publish", publish),
                ("time_to_resolve", resolve),
            ] {
                assert_eq!(m[metric]["count"], 1, "{metric}: {m}");
                assert!(
                    close(&m[metric]["median_seconds"], want),
                    "{metric} {want}: {m}"
                );
                assert!(
                    close(&m[metric]["p90_seconds"], want),
                    "{metric} {want}: {m}"
                );
            }
            assert_eq!(after["overall"]["incidents"][key]["count"], 1);
        }
        // The database had no outage and no incident.
        let db = component(&after, "db");
        assert_eq!(db["uptime"]["30d"]["percent"], 100.0, "{db}");
        assert_eq!(db["incidents"]["30d"]["count"], 0, "{db}");
        // Overall: both components' time summed, so half the weight of api's outage.
        let overall = &after["overall"]["uptime"]["30d"];
        assert!(close(&overall["downtime_seconds"], outage), "{overall}");
        let o = overall["percent"].as_f64().unwrap();
        let a = api["uptime"]["30d"]["percent"].as_f64().unwrap();
        assert!(o > a && o < 100.0, "{o} vs {a}");

        // One window, one component.
        let one = report(&app, "?days=90&component=api").await;
        assert_eq!(one["windows"].as_array().unwrap().len(), 1);
        assert_eq!(one["components"].as_array().unwrap().len(), 1);
        let api90 = &one["components"][0];
        assert!(api90["uptime"].get("30d").is_none(), "{api90}");
        assert_eq!(api90["incidents"]["90d"]["count"], 1);

        // The responders' page: a browser is asked for credentials...
        let anonymous = page(&app, "", |r| r).await;
        assert_eq!(anonymous.status(), 401);
        assert_eq!(
            anonymous.headers()["www-authenticate"],
            "Basic realm=\"Pharos responders\""
        );
        let wrong = page(&app, "", |r| r.basic_auth("alice", Some("not-the-token"))).await;
        assert_eq!(wrong.status(), 401);
        // ...and with any user name and a token as the password, shows the same numbers.
        let ok = page(&app, "", |r| r.basic_auth("anyone", Some(TOKEN))).await;
        assert_eq!(ok.status(), 200, "{backend:?}");
        assert!(ok.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_eq!(ok.headers()["cache-control"], "no-store");
        let html = ok.text().await.unwrap();
        assert!(html.contains("Acme · Reports"), "{html}");
        assert!(html.contains("Core services"), "the group is named");
        let m = &api["incidents"]["30d"];
        assert_eq!(figure(&html, "c-api.30d.incidents"), "1");
        assert_eq!(figure(&html, "all.365d.incidents"), "1");
        for (name, metric) in [
            ("detect", "time_to_detect"),
            ("publish", "time_to_publish"),
            ("resolve", "time_to_resolve"),
        ] {
            assert_eq!(
                figure(&html, &format!("c-api.30d.{name}.median")),
                num(&m[metric]["median_seconds"])
            );
            assert_eq!(
                figure(&html, &format!("c-api.90d.{name}.p90")),
                num(&m[metric]["p90_seconds"])
            );
        }
        assert_eq!(
            figure(&html, "c-api.30d.downtime"),
            num(&api["uptime"]["30d"]["downtime_seconds"])
        );
        let shown: f64 = figure(&html, "c-api.30d.uptime").parse().unwrap();
        // Computed a moment later over a young component: the same downtime over a little
        // more tracked time.
        assert!(shown < 100.0 && shown >= a, "{shown} vs {a}");
        assert_eq!(figure(&html, "c-db.30d.incidents"), "0");
        // Times in the page's zone (Denver: MST or MDT).
        assert!(html.contains(" MST") || html.contains(" MDT"), "{html}");
        // A bearer header works too; the page takes the API's query.
        let bearer = page(&app, "?days=30&component=db", |r| r.bearer_auth(TOKEN)).await;
        assert_eq!(bearer.status(), 200);
        let html = bearer.text().await.unwrap();
        assert!(html.contains("id=\"c-db.30d.uptime\""));
        assert!(
            !html.contains("id=\"c-api."),
            "only the component asked for"
        );
        assert!(!html.contains(".90d."), "only the window asked for");
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_queries_are_refused_naming_the_field() {
    let app = spawn_app_on(backends()[0], &config().build()).await;
    for (query, field) in [
        ("?days=7", "days"),
        ("?days=ninety", "days"),
        ("?component=nope", "component"),
        ("?component=core-services", "component"),
    ] {
        for path in ["/api/v1/reports", "/reports"] {
            let res = get(&app, &format!("{path}{query}"), Some(TOKEN)).await;
            assert_eq!(res.status, 422, "{path}{query}");
            assert_eq!(res.field(), Some(field), "{path}{query}: {res:?}");
        }
    }
    assert_eq!(get(&app, "/api/v1/reports", None).await.status, 401);
    // Documented.
    let doc = app.get_json("/api/v1/openapi.json").await;
    let op = &doc["paths"]["/api/v1/reports"]["get"];
    assert_eq!(op["operationId"], "get_report", "{op}");
    assert!(doc["components"]["schemas"]["Report"].is_object());
    app.stop().await;
}

/// Milliseconds are what the store keeps.
fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(ChronoDuration::milliseconds(1)).unwrap()
}

/// A resolved, published incident on `api` as the engine stores it.
fn stored_incident(id: &str, started: DateTime<Utc>, resolved: DateTime<Utc>) -> IncidentRecord {
    let doc = json!({
        "id": id,
        "name": format!("Outage {id}"),
        "status": "resolved",
        "impact_override": null,
        "computed_impact": "critical",
        "severity": null,
        "components": {"api": "major_outage"},
        "monitors": {},
        "public": true,
        "automated": false,
        "human_owned": true,
        "roles": {},
        "created_at": started + ChronoDuration::minutes(5),
        "updated_at": resolved,
        "started_at": started,
        "monitoring_at": null,
        "resolved_at": resolved,
        "first_failure_at": null,
        "published_at": started + ChronoDuration::minutes(10),
        "healthy_since": null,
        "updates": [],
    });
    // It must read as the engine's own record.
    let _: Incident = serde_json::from_value(doc.clone()).unwrap();
    IncidentRecord {
        id: id.to_owned(),
        kind: IncidentKind::Incident,
        status: "resolved".to_owned(),
        created_at: started + ChronoDuration::minutes(5),
        updated_at: resolved,
        doc: doc.to_string(),
    }
}

#[tokio::test]
async fn a_year_of_stored_history_fills_the_longer_windows() {
    for backend in backends() {
        let now = ms(Utc::now());
        let day = ChronoDuration::days(1);
        let hours = ChronoDuration::hours;
        let api = ComponentId::new("api").unwrap();
        let db = TestDb::new(backend).await;
        {
            // A year and more of history, written as Pharos writes it.
            let store = Store::connect(&db.url).await.unwrap();
            let record = |id: &str, position| ComponentRecord {
                id: ComponentId::new(id).unwrap(),
                name: id.to_owned(),
                description: None,
                group_id: None,
                is_group: false,
                position,
            };
            store
                .reconcile(&[record("api", 0), record("db", 1)], &[], now - day * 400)
                .await
                .unwrap();
            let change = |from, to, at| ComponentTransition {
                component_id: api.clone(),
                from,
                to,
                at,
            };
            use ComponentStatus::*;
            let long_ago = now - day * 200;
            let recently = now - day * 60;
            let batch = Batch {
                component_changes: vec![
                    change(Operational, MajorOutage, long_ago),
                    change(MajorOutage, Operational, long_ago + hours(10)),
                    change(Operational, PartialOutage, recently),
                    change(PartialOutage, Operational, recently + hours(10)),
                ],
                incidents: vec![
                    stored_incident("old1", long_ago, long_ago + hours(10)),
                    stored_incident("recent1", recently, recently + hours(10)),
                ],
                ..Batch::default()
            };
            store.write_batch(&batch).await.unwrap();
            store.close().await;
        }
        let app = spawn_app_with_db(db, &config().build()).await;
        let r = report(&app, "").await;
        let api = component(&r, "api");
        let (w30, w90, w365) = (
            &api["uptime"]["30d"],
            &api["uptime"]["90d"],
            &api["uptime"]["365d"],
        );
        // Tracked for longer than every window: measured over each whole window.
        for (i, w) in [w30, w90, w365].into_iter().enumerate() {
            assert_eq!(
                time(&w["measured_since"]),
                time(&r["windows"][i]["from"]),
                "{backend:?}: {w}"
            );
        }
        assert_eq!(w30["percent"], 100.0, "{w30}");
        assert_eq!(w30["downtime_seconds"], 0.0);
        // 90 days: ten hours of partial outage, weighted 0.3.
        assert_eq!(w90["partial_outage_seconds"], 36_000.0, "{w90}");
        assert_eq!(w90["major_outage_seconds"], 0.0, "{w90}");
        assert!(close(&w90["downtime_seconds"], 10_800.0), "{w90}");
        // 365 days: and ten hours of major outage before that.
        assert_eq!(w365["major_outage_seconds"], 36_000.0, "{w365}");
        assert!(close(&w365["downtime_seconds"], 46_800.0), "{w365}");
        let p365 = w365["percent"].as_f64().unwrap();
        let expected = 100.0 * (1.0 - 46_800.0 / w365["tracked_seconds"].as_f64().unwrap());
        assert!((p365 - expected).abs() < 1e-9, "{w365}");
        assert!(p365 < w90["percent"].as_f64().unwrap());
        // The tracked time of the year is the whole window, up to now.
        let tracked = w365["tracked_seconds"].as_f64().unwrap();
        let window = secs(time(&r["generated_at"]), time(&r["windows"][2]["from"]));
        assert!((tracked - window).abs() < 0.002, "{tracked} vs {window}");

        let counts: Vec<u64> = ["30d", "90d", "365d"]
            .iter()
            .map(|k| api["incidents"][*k]["count"].as_u64().unwrap())
            .collect();
        assert_eq!(counts, [0, 1, 2], "{backend:?}: {api}");
        let m = &api["incidents"]["365d"];
        // Both took five minutes to declare, ten to publish, ten hours to resolve.
        assert_eq!(m["time_to_detect"]["median_seconds"], 300.0, "{m}");
        assert_eq!(m["time_to_publish"]["p90_seconds"], 600.0, "{m}");
        assert_eq!(m["time_to_resolve"]["median_seconds"], 36_000.0, "{m}");
        assert_eq!(component(&r, "db")["incidents"]["365d"]["count"], 0);
        assert_eq!(r["overall"]["incidents"]["365d"]["count"], 2);

        let html = page(&app, "", |r| r.basic_auth("", Some(TOKEN)))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(figure(&html, "c-api.365d.incidents"), "2");
        assert_eq!(
            figure(&html, "c-api.90d.downtime"),
            num(&w90["downtime_seconds"])
        );
        assert_eq!(figure(&html, "c-api.30d.uptime"), "100");
        app.stop().await;
    }
}

//! Checking from several places, through the real app (SPEC §7): probes of two locations,
//! played by this test over the probe protocol, and the server's own checks of a local
//! target. One location failing is a regional incident that says where; a second makes it
//! a major outage in the same incident; a silent location never votes down; a replayed
//! batch, a wrong token, a monitor not assigned there and a clock far off are refused or
//! corrected, and named in `GET /api/v1/locations`. A regional incident survives a restart
//! as it was, and a regional failure under maintenance becomes its incident when the window
//! ends. The regional scenarios run on both databases (results are stored with their
//! location); the rest live in the engine and run on SQLite.

use std::time::Duration;

use chrono::Utc;
use pharos_testkit::{
    backends, eventually, spawn_app, spawn_app_on, spawn_app_with_db, Backend, FakeReceiver,
    FakeTarget, TestApp,
};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::config::Config;
use crate::support::http::{get, post, send, Body};

const ADMIN: &str = "admin-token-0123456789";
const EU: &str = "eu-fr-probe-token-000000";
const US: &str = "us-east-probe-token-00000";

/// `app` checked from the server and both locations (quorum 2 of 3), `db` from `eu-fr` only.
fn config(target: &FakeTarget) -> String {
    Config::acme()
        .admin("ops", ADMIN)
        .component("app", "Eptura Workplace")
        .component("db", "Database")
        .section(&format!(
            "[[locations]]\nid = \"eu-fr\"\nname = \"Europe (France)\"\ntokens = [\"{EU}\"]\n\
             offline_after = \"5s\""
        ))
        .section(&format!(
            "[[locations]]\nid = \"us-east\"\nname = \"US East\"\ntokens = [\"{US}\"]\n\
             offline_after = \"5s\""
        ))
        .http_monitor("app", &format!("{}/", target.url), "app")
        .thresholds(1, 1)
        .with("locations = [\"local\", \"eu-fr\", \"us-east\"]")
        .http_monitor("db", &format!("{}/", target.url), "db")
        .with("locations = [\"eu-fr\"]")
        .auto_incidents("1h")
        .build()
}

/// Sends one batch for `location` as probe `probe`, results `(monitor, up?)` taken now.
async fn batch(
    app: &TestApp,
    location: &str,
    token: &str,
    key: &str,
    results: &[(&str, bool)],
) -> crate::support::http::Answer {
    let now = Utc::now();
    let results: Vec<Value> = results
        .iter()
        .map(|(m, up)| {
            json!({
                "monitor_id": m,
                "started_at": now.to_rfc3339(),
                "duration_ms": 12,
                "outcome": if *up { "up" } else { "down" },
                "status_code": if *up { 200 } else { 503 },
                "error": if *up { Value::Null } else { json!("condition failed: [STATUS] (503) == 200") },
            })
        })
        .collect();
    let body =
        json!({"key": key, "version": "test", "sent_at": now.to_rfc3339(), "results": results});
    send(
        app,
        Method::POST,
        &format!("/api/v1/probe/results?location={location}&probe=p1"),
        Some(token),
        Body::Json(&body),
    )
    .await
}

async fn component_status(app: &TestApp, id: &str) -> String {
    let json = app.get_json("/api/v2/components.json").await;
    json["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .unwrap()
}

async fn open_incidents(app: &TestApp) -> Vec<Value> {
    let json = app.get_json("/api/v2/incidents/unresolved.json").await;
    json["incidents"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_failure_in_one_place_is_regional_and_says_where_then_spreads_in_the_same_incident() {
    // Results with their location are stored: on both databases.
    for backend in backends() {
        regional_then_spread(backend).await;
    }
}

async fn regional_then_spread(backend: Backend) {
    let target = FakeTarget::start().await;
    let app = spawn_app_on(backend, &config(&target)).await;

    // The server's own checks see it up.
    eventually(Duration::from_secs(10), "the local checks", || async {
        let m = app.admin_json("/api/v1/monitors/app", ADMIN).await;
        (m["locations"][0]["health"] == "up").then_some(())
    })
    .await;

    // Europe sees it down: short of the quorum, a regional failure.
    let a = batch(&app, "eu-fr", EU, "eu-1", &[("app", false)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["accepted"], 1);
    // A new location's rate counts from its first batch, not over a whole minute.
    let listing = app.admin_json("/api/v1/locations", ADMIN).await;
    let eu = listing
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "eu-fr")
        .unwrap()
        .clone();
    let rate = eu["results_per_second"].as_f64().unwrap();
    assert!(rate > 1.0 / 60.0, "one result, just now: {rate}");
    eventually(Duration::from_secs(10), "a partial outage", || async {
        (component_status(&app, "app").await == "partial_outage").then_some(())
    })
    .await;
    let incidents = open_incidents(&app).await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let inc = &incidents[0];
    assert_eq!(inc["name"], "Partial outage of Eptura Workplace");
    // Statuspage's rule: a partial outage is a major impact (a major outage, critical).
    assert_eq!(inc["impact"], "major");
    let body = inc["incident_updates"][0]["body"].as_str().unwrap();
    assert!(
        body.starts_with(
            "We are investigating a partial outage of Eptura Workplace: failing from Europe (France); Local sees it up; no recent result from US East."
        ),
        "{body}"
    );
    assert!(body.contains("Europe (France): condition failed"), "{body}");
    let m = app.admin_json("/api/v1/monitors/app", ADMIN).await;
    assert_eq!(
        m["health"], "up",
        "the monitor is not down anywhere but Europe: {m}"
    );
    let places: Vec<(&str, &str)> = m["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["id"].as_str().unwrap(), l["health"].as_str().unwrap()))
        .collect();
    assert_eq!(
        places,
        [("local", "up"), ("eu-fr", "down"), ("us-east", "unknown")]
    );
    // Response times are per location: Europe's is its result's.
    assert_eq!(m["locations"][1]["last_duration_ms"], 12, "{m}");
    assert!(m["locations"][2]["last_duration_ms"].is_null(), "{m}");
    // One monitor is read live: the server's own passing checks, which change nothing on
    // the page (so the page's view is not rebuilt for them), show at once.
    let local_check = |m: &Value| {
        chrono::DateTime::parse_from_rfc3339(m["locations"][0]["last_check_at"].as_str()?).ok()
    };
    let seen = local_check(&m).unwrap();
    eventually(Duration::from_secs(10), "a newer local check", || async {
        let m = app.admin_json("/api/v1/monitors/app", ADMIN).await;
        (local_check(&m)? > seen && m["locations"][0]["last_duration_ms"].is_u64()).then_some(())
    })
    .await;

    // The public page names where it fails, on the component.
    eventually(
        Duration::from_secs(10),
        "the page naming Europe",
        || async {
            let page = get(&app, "/", None).await.text;
            page.contains("Failing from Europe (France)</p>")
                .then_some(())
        },
    )
    .await;

    // `/metrics` has each location's say, and each result says where it came from.
    let metrics = get(&app, "/metrics", None).await.text;
    assert!(
        metrics.contains("pharos_location_monitor_up{monitor=\"app\",location=\"eu-fr\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "pharos_location_checks_total{monitor=\"app\",location=\"eu-fr\",outcome=\"down\"} 1"
        ),
        "{metrics}"
    );
    // Results are stored a moment after they count.
    eventually(
        Duration::from_secs(10),
        "both places in the stored results",
        || async {
            let m = app.admin_json("/api/v1/monitors/app", ADMIN).await;
            let froms: Vec<String> = m["recent_results"]
                .as_array()?
                .iter()
                .filter_map(|r| r["location"].as_str().map(str::to_owned))
                .collect();
            (froms.iter().any(|f| f == "eu-fr") && froms.iter().any(|f| f == "local")).then_some(())
        },
    )
    .await;

    // The same batch again counts nothing.
    let again = batch(&app, "eu-fr", EU, "eu-1", &[("app", false)]).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        (
            again.json["accepted"].clone(),
            again.json["duplicate"].clone()
        ),
        (json!(0), json!(true))
    );

    // The US sees it down too: the quorum is reached, a major outage in the same incident.
    let a = batch(&app, "us-east", US, "us-1", &[("app", false)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    eventually(Duration::from_secs(10), "a major outage", || async {
        (component_status(&app, "app").await == "major_outage").then_some(())
    })
    .await;
    let incidents = eventually(Duration::from_secs(10), "the spread update", || async {
        let list = open_incidents(&app).await;
        (list.len() == 1 && list[0]["incident_updates"].as_array().unwrap().len() >= 2)
            .then_some(list)
    })
    .await;
    let inc = &incidents[0];
    assert_eq!(inc["impact"], "critical");
    eventually(Duration::from_secs(10), "the page naming both", || async {
        let page = get(&app, "/", None).await.text;
        page.contains("Failing from Europe (France) and US East</p>")
            .then_some(())
    })
    .await;
    let latest = inc["incident_updates"][0]["body"].as_str().unwrap();
    assert_eq!(
        latest,
        "The problem with Eptura Workplace has spread: failing from Europe (France) and US East; Local sees it up."
    );

    // Both places recover: the incident is monitored.
    batch(&app, "eu-fr", EU, "eu-2", &[("app", true)]).await;
    batch(&app, "us-east", US, "us-2", &[("app", true)]).await;
    eventually(Duration::from_secs(10), "the recovery", || async {
        let list = open_incidents(&app).await;
        (component_status(&app, "app").await == "operational"
            && list.first().is_some_and(|i| i["status"] == "monitoring"))
        .then_some(())
    })
    .await;
    let page = get(&app, "/", None).await.text;
    assert!(
        !page.contains("Failing from"),
        "the page names nothing once it passes"
    );
}

#[tokio::test]
async fn a_silent_location_never_votes_down_and_is_offline() {
    let target = FakeTarget::start().await;
    let hook = FakeReceiver::start().await;
    let config = format!(
        "{}\n[[notifiers]]\nid = \"ops\"\ntype = \"webhook\"\nurl = \"{}/hook\"\n",
        config(&target),
        hook.url
    );
    let app = spawn_app(&config).await;
    let listing = app.admin_json("/api/v1/locations", ADMIN).await;
    let ids: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["eu-fr", "us-east"]);
    assert_eq!(listing[0]["online"], false);
    assert_eq!(listing[0]["monitors"], 2);
    assert_eq!(listing[1]["monitors"], 1);

    // Europe fails `app`, then falls silent.
    let a = batch(&app, "eu-fr", EU, "eu-1", &[("app", false)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    eventually(
        Duration::from_secs(10),
        "Europe online and the partial outage",
        || async {
            let l = app.admin_json("/api/v1/locations", ADMIN).await;
            (l[0]["online"] == true && component_status(&app, "app").await == "partial_outage")
                .then_some(())
        },
    )
    .await;
    // Silent past `offline_after`: offline, its vote unknown, the outage gone — no public
    // outage from a probe that stopped talking.
    eventually(
        Duration::from_secs(15),
        "Europe offline, its vote unknown",
        || async {
            let l = app.admin_json("/api/v1/locations", ADMIN).await;
            let m = app.admin_json("/api/v1/monitors/app", ADMIN).await;
            (l[0]["online"] == false
                && m["locations"][1]["health"] == "unknown"
                && m["locations"][1]["online"] == false
                && component_status(&app, "app").await == "operational")
                .then_some(())
        },
    )
    .await;
    // `db` is checked from Europe only: with Europe silent it is unknown, never down.
    assert_eq!(component_status(&app, "db").await, "operational");

    // Responders hear that the probe is offline — and, when it returns, that it is back.
    let event = |r: &pharos_testkit::Received| r.header("x-pharos-event").map(str::to_owned);
    let offline = eventually(
        Duration::from_secs(10),
        "the probe offline notice",
        || async {
            hook.accepted()
                .into_iter()
                .find(|r| event(r).as_deref() == Some("probe_offline"))
        },
    )
    .await;
    let update = &offline.json()["location_update"];
    assert_eq!(update["id"], "eu-fr");
    assert_eq!(update["name"], "Europe (France)");
    assert_eq!(update["online"], false);
    assert_eq!(update["monitors"], 2);
    assert!(update["last_seen_at"].is_string(), "{update}");
    let a = batch(&app, "eu-fr", EU, "eu-2", &[("app", true)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    eventually(
        Duration::from_secs(10),
        "the probe online notice",
        || async {
            hook.accepted()
                .into_iter()
                .find(|r| event(r).as_deref() == Some("probe_online"))
        },
    )
    .await;
    // One of each: the first contact after start is not news.
    let kinds: Vec<String> = hook
        .accepted()
        .iter()
        .filter_map(event)
        .filter(|k| k.starts_with("probe_"))
        .collect();
    assert_eq!(kinds, ["probe_offline", "probe_online"], "{kinds:?}");
}

#[tokio::test]
async fn probes_are_refused_or_corrected_and_named() {
    let target = FakeTarget::start().await;
    let app = spawn_app(&config(&target)).await;

    // A wrong token and an unknown location get the same answer.
    let wrong = get(
        &app,
        "/api/v1/probe/monitors?location=eu-fr&probe=x",
        Some("nope-nope-nope-nope"),
    )
    .await;
    let unknown = get(
        &app,
        "/api/v1/probe/monitors?location=mars&probe=x",
        Some(EU),
    )
    .await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.message(), unknown.message());
    // Another location's token is a wrong token.
    let crossed = get(
        &app,
        "/api/v1/probe/monitors?location=eu-fr&probe=x",
        Some(US),
    )
    .await;
    assert_eq!(crossed.status, 401);

    // The assignment: Europe's monitors, in full.
    let a = get(
        &app,
        "/api/v1/probe/monitors?location=eu-fr&probe=one",
        Some(EU),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let ids: Vec<&str> = a.json["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["app", "db"]);
    let version = a.json["version"].as_str().unwrap().to_owned();

    // A second probe of Europe joins: the first, waiting on its version, hears of it at once
    // and the two share the work.
    let waiting = {
        let client = app.client.clone();
        let url = format!(
            "{}/api/v1/probe/monitors?location=eu-fr&probe=one&version={version}",
            app.base_url
        );
        tokio::spawn(async move {
            let r = client.get(url).bearer_auth(EU).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        })
    };
    // Not a wait for a state: it only makes it likely that the first probe is already
    // waiting when the second joins (if not, it sees the new version at once; both pass).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let two = get(
        &app,
        "/api/v1/probe/monitors?location=eu-fr&probe=two",
        Some(EU),
    )
    .await;
    let (status, one) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting probe hears of the change within seconds")
        .unwrap();
    assert_eq!(status, 200);
    let mine = |v: &Value| -> Vec<String> {
        v["monitors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (one, two) = (mine(&one), mine(&two.json));
    assert_eq!(one.len() + two.len(), 2, "{one:?} {two:?}");
    assert!(one.iter().all(|m| !two.contains(m)), "{one:?} {two:?}");

    // A result for a monitor not checked from the US is refused and named; the rest counts.
    let a = batch(&app, "us-east", US, "us-1", &[("db", false), ("app", true)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["accepted"], 1);
    assert_eq!(a.json["refused"][0]["monitor_id"], "db");
    assert_eq!(component_status(&app, "db").await, "operational");

    // A clock ten minutes ahead: the results are moved back to the server's time.
    let ahead = Utc::now() + chrono::Duration::minutes(10);
    let body = json!({"key": "us-2", "version": "test", "sent_at": ahead.to_rfc3339(), "results": [
        {"monitor_id": "app", "started_at": ahead.to_rfc3339(), "duration_ms": 5, "outcome": "up", "status_code": 200, "error": null}
    ]});
    let a = send(
        &app,
        Method::POST,
        "/api/v1/probe/results?location=us-east&probe=p1",
        Some(US),
        Body::Json(&body),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let offset = a.json["clock_offset_ms"].as_i64().unwrap();
    assert!((590_000..=610_000).contains(&offset), "{offset}");
    let us_at = eventually(Duration::from_secs(10), "the US result counted", || async {
        let m = app.admin_json("/api/v1/monitors/app", ADMIN).await;
        m["locations"][2]["last_check_at"]
            .as_str()
            .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap())
    })
    .await;
    assert!(
        us_at.with_timezone(&Utc) <= Utc::now(),
        "corrected to the server's clock: {us_at}"
    );

    // A replay, too large a batch, malformed JSON.
    let replay = batch(&app, "us-east", US, "us-1", &[("app", true)]).await;
    assert_eq!(replay.json["duplicate"], true);
    let many: Vec<Value> = (0..1001).map(|_| json!({"monitor_id": "app", "started_at": Utc::now().to_rfc3339(), "duration_ms": 1, "outcome": "up", "status_code": 200, "error": null})).collect();
    let big = send(&app, Method::POST, "/api/v1/probe/results?location=us-east&probe=p1", Some(US),
        Body::Json(&json!({"key": "big", "version": "t", "sent_at": Utc::now().to_rfc3339(), "results": many}))).await;
    assert_eq!(big.status, 413, "{}", big.text);
    let bad = send(
        &app,
        Method::POST,
        "/api/v1/probe/results?location=us-east&probe=p1",
        Some(US),
        Body::Json(&json!({"key": 1})),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);

    // All of it is named where people look.
    let listing = app.admin_json("/api/v1/locations", ADMIN).await;
    let us = &listing[1];
    assert_eq!(us["online"], true);
    assert_eq!(us["version"], "test");
    assert!(us["refused"].as_u64().unwrap() >= 2, "{us}");
    let problems: Vec<&str> = us["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].as_str().unwrap())
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("not checked from here refused: db")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("clock is 600 s ahead") || p.contains("clock is 599 s ahead")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("arrived again")),
        "{problems:?}"
    );
    let eu = &listing[0];
    assert!(
        eu["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["message"]
                .as_str()
                .unwrap()
                .contains("wrong or revoked token")),
        "{eu}"
    );
}

#[tokio::test]
async fn guessing_probe_tokens_is_slowed_per_address() {
    let target = FakeTarget::start().await;
    let app = spawn_app(&config(&target)).await;
    let path = "/api/v1/probe/monitors?location=eu-fr&probe=guess";
    let refused = || async {
        let listing = get(&app, "/api/v1/locations", Some(ADMIN)).await;
        listing
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == "eu-fr")
            .unwrap()["refused"]
            .as_u64()
            .unwrap()
    };

    // Ten wrong guesses from one address are each looked at, refused and counted…
    for i in 0..10 {
        let wrong = get(&app, path, Some(&format!("guess-{i:016}"))).await;
        assert_eq!(wrong.status, 401, "guess {i}: {}", wrong.text);
    }
    assert_eq!(refused().await, 10);
    // …the next is turned away unread, with when to come back, and so is the right token
    // from that address for now.
    let more = get(&app, path, Some("guess-0000000000000010")).await;
    assert_eq!(more.status, 429, "{}", more.text);
    let wait: u64 = more.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert!(
        more.message().contains("too many failed attempts"),
        "{}",
        more.text
    );
    assert_eq!(get(&app, path, Some(EU)).await.status, 429);
    assert_eq!(
        refused().await,
        10,
        "a turned-away guess is not even looked at"
    );

    // Another address is not affected.
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let r = elsewhere
        .get(format!("{}{path}", app.base_url))
        .bearer_auth(EU)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// `app` checked from the server and `eu-fr` (quorum 2 of 2: one failing is regional), down
/// at a place after two failures there; `eu-fr` goes offline only after the default minute.
fn two_places(target: &FakeTarget) -> String {
    Config::acme()
        .admin("ops", ADMIN)
        .component("app", "Eptura Workplace")
        .section(&format!(
            "[[locations]]\nid = \"eu-fr\"\nname = \"Europe (France)\"\ntokens = [\"{EU}\"]"
        ))
        .http_monitor("app", &format!("{}/", target.url), "app")
        .thresholds(2, 1)
        .with("locations = [\"local\", \"eu-fr\"]")
        .auto_incidents("1h")
        .build()
}

/// Waits until `app`'s result from `location` (its index in `locations`) taken after
/// `since` has counted.
async fn counted_since(app: &TestApp, index: usize, since: chrono::DateTime<Utc>) {
    eventually(
        Duration::from_secs(10),
        "a result counted since",
        || async {
            let m = app.admin_json("/api/v1/monitors/app", ADMIN).await;
            let at = m["locations"][index]["last_check_at"].as_str()?;
            (chrono::DateTime::parse_from_rfc3339(at).ok()? >= since).then_some(())
        },
    )
    .await;
}

/// Incident `id` as the admin API shows it. The admin API reads the engine's view, built
/// in one piece after each batch of results and what the desk made of them: once
/// `GET /api/v1/monitors/app` shows a result counted, this shows what it did to the incident
/// (the public lists may be rendered a moment later).
async fn incident(app: &TestApp, id: &str) -> Value {
    let r = get(app, &format!("/api/v1/incidents/{id}"), Some(ADMIN)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

/// Component `id`'s status as the admin API shows it, from the same view as [`incident`].
async fn admin_status(app: &TestApp, id: &str) -> String {
    let list = app.admin_json("/api/v1/components", ADMIN).await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .unwrap()
}

#[tokio::test]
async fn a_regional_incident_survives_a_restart_and_ends_when_the_place_passes() {
    for backend in backends() {
        regional_across_a_restart(backend).await;
    }
}

async fn regional_across_a_restart(backend: Backend) {
    let target = FakeTarget::start().await;
    let cfg = two_places(&target);
    let app = spawn_app_on(backend, &cfg).await;
    eventually(Duration::from_secs(10), "the local checks", || async {
        let m = app.admin_json("/api/v1/monitors/app", ADMIN).await;
        (m["locations"][0]["health"] == "up").then_some(())
    })
    .await;

    // Europe fails twice: a regional incident, the page naming Europe.
    for key in ["eu-1", "eu-2"] {
        let a = batch(&app, "eu-fr", EU, key, &[("app", false)]).await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let opened = eventually(Duration::from_secs(10), "the regional incident", || async {
        let list = open_incidents(&app).await;
        (component_status(&app, "app").await == "partial_outage" && list.len() == 1)
            .then(|| list[0].clone())
    })
    .await;
    let id = opened["id"].as_str().unwrap().to_owned();
    assert_eq!(opened["name"], "Partial outage of Eptura Workplace");
    assert_eq!(opened["incident_updates"].as_array().unwrap().len(), 1);
    eventually(
        Duration::from_secs(10),
        "the page naming Europe",
        || async {
            let page = get(&app, "/", None).await.text;
            page.contains("Failing from Europe (France)</p>")
                .then_some(())
        },
    )
    .await;

    // Stopped and started again on the same database.
    let db = app.stop().await;
    let restarted = Utc::now();
    let app = spawn_app_with_db(db, &cfg).await;
    // Shown at once, before any new check.
    assert_eq!(
        component_status(&app, "app").await,
        "partial_outage",
        "{backend:?}"
    );
    // And after the server's own first check since the restart (which sees it up): the
    // same incident, still investigating a partial outage, with nothing posted to it.
    counted_since(&app, 0, restarted).await;
    let still = |inc: &Value, when: &str| {
        assert_eq!(inc["status"], "investigating", "{backend:?} {when}: {inc}");
        assert_eq!(inc["impact"], "major", "{backend:?} {when}: {inc}");
        assert_eq!(inc["monitors"], json!({"app": true}), "{backend:?} {when}");
        assert_eq!(
            inc["updates"].as_array().unwrap().len(),
            1,
            "{backend:?} {when}: {inc}"
        );
    };
    still(&incident(&app, &id).await, "after the local check");
    assert_eq!(admin_status(&app, "app").await, "partial_outage");
    assert_eq!(app.monitor_health("app", ADMIN).await, "up");

    // Europe's probe still sees it failing. Its first failure since the restart is not yet
    // a confirmed one there: no "passing again", no new incident.
    let before = Utc::now();
    let a = batch(&app, "eu-fr", EU, "eu-3", &[("app", false)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    counted_since(&app, 1, before).await;
    still(&incident(&app, &id).await, "after Europe's first failure");
    assert_eq!(admin_status(&app, "app").await, "partial_outage");
    // Its second confirms where: no news either, and the page names Europe again.
    let a = batch(&app, "eu-fr", EU, "eu-4", &[("app", false)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    eventually(Duration::from_secs(10), "Europe failing again", || async {
        let m = app.admin_json("/api/v1/monitors/app", ADMIN).await;
        (m["locations"][1]["health"] == "down").then_some(())
    })
    .await;
    still(&incident(&app, &id).await, "after Europe's second failure");
    assert_eq!(admin_status(&app, "app").await, "partial_outage");
    eventually(
        Duration::from_secs(10),
        "the page naming Europe after the restart",
        || async {
            let page = get(&app, "/", None).await.text;
            page.contains("Failing from Europe (France)</p>")
                .then_some(())
        },
    )
    .await;

    // Europe passes: the same incident is monitored, as it would be without the restart.
    let a = batch(&app, "eu-fr", EU, "eu-5", &[("app", true)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let inc = eventually(Duration::from_secs(10), "the recovery", || async {
        let list = open_incidents(&app).await;
        (component_status(&app, "app").await == "operational"
            && list.len() == 1
            && list[0]["status"] == "monitoring")
            .then(|| list[0].clone())
    })
    .await;
    assert_eq!(inc["id"], id.as_str());
    let updates = inc["incident_updates"].as_array().unwrap();
    assert_eq!(updates.len(), 2, "{inc}");
    assert_eq!(
        updates[0]["body"],
        "Checks of Eptura Workplace are passing again. We are monitoring the recovery."
    );
    app.stop().await;
}

#[tokio::test]
async fn a_regional_failure_under_maintenance_opens_its_incident_when_the_window_ends() {
    for backend in backends() {
        regional_after_maintenance(backend).await;
    }
}

async fn regional_after_maintenance(backend: Backend) {
    let target = FakeTarget::start().await;
    let app = spawn_app_on(backend, &two_places(&target)).await;
    eventually(Duration::from_secs(10), "the local checks", || async {
        let m = app.admin_json("/api/v1/monitors/app", ADMIN).await;
        (m["locations"][0]["health"] == "up").then_some(())
    })
    .await;
    let now = Utc::now();
    let a = post(
        &app,
        "/api/v1/maintenances",
        Some(ADMIN),
        &json!({
            "name": "Network work", "body": "Moving racks.", "components": ["app"],
            "scheduled_for": now.to_rfc3339(),
            "scheduled_until": (now + chrono::Duration::hours(1)).to_rfc3339(),
        }),
    )
    .await;
    assert_eq!(a.status, 201, "{a:?}");
    let window = a.json["id"].as_str().unwrap().to_owned();
    app.wait_for_component("app", "under_maintenance", Duration::from_secs(10))
        .await;

    // Europe fails during the window: recorded on it, no incident.
    for key in ["eu-1", "eu-2"] {
        let a = batch(&app, "eu-fr", EU, key, &[("app", false)]).await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    eventually(Duration::from_secs(10), "Europe failing", || async {
        let m = app.admin_json("/api/v1/monitors/app", ADMIN).await;
        (m["locations"][1]["health"] == "down").then_some(())
    })
    .await;
    assert!(open_incidents(&app).await.is_empty(), "{backend:?}");
    assert_eq!(component_status(&app, "app").await, "under_maintenance");

    // The window is completed with Europe still failing: the regional incident opens, saying
    // where, and the component shows the partial outage.
    let done = post(
        &app,
        &format!("/api/v1/maintenances/{window}/updates"),
        Some(ADMIN),
        &json!({"status": "completed", "body": "Done."}),
    )
    .await;
    assert!(done.status < 300, "{done:?}");
    let inc = eventually(Duration::from_secs(10), "the regional incident", || async {
        let list = open_incidents(&app).await;
        (list.len() == 1).then(|| list[0].clone())
    })
    .await;
    assert_eq!(
        inc["name"], "Partial outage of Eptura Workplace",
        "{backend:?}"
    );
    assert_eq!(inc["impact"], "major");
    let body = inc["incident_updates"][0]["body"].as_str().unwrap();
    assert!(
        body.starts_with(
            "We are investigating a partial outage of Eptura Workplace: failing from Europe (France); Local sees it up."
        ),
        "{body}"
    );
    assert_eq!(component_status(&app, "app").await, "partial_outage");

    // Europe passes: it is monitored.
    let a = batch(&app, "eu-fr", EU, "eu-3", &[("app", true)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    eventually(Duration::from_secs(10), "the recovery", || async {
        let list = open_incidents(&app).await;
        (component_status(&app, "app").await == "operational"
            && list.first().is_some_and(|i| i["status"] == "monitoring"))
        .then_some(())
    })
    .await;
    app.stop().await;
}

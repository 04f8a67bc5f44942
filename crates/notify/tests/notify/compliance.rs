//! Every channel against a real local HTTP receiver: what counts as sent, how each failure
//! reads, that nothing is followed or leaked, and channel specifics (the webhook's signature
//! and Statuspage key sets, PagerDuty's trigger and resolve).

#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::*;
use pharos_notify::{Notifier, Outcome};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(5);

fn assert_no_secret(text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{text:?} leaks {s:?}");
    }
}

/// Sends the incident-opened event through every channel to `rx`, returning each outcome.
async fn send_all(rx: &Receiver, timeout: Duration) -> Vec<(Notifier, Outcome)> {
    let client = client();
    let mut out = Vec::new();
    for n in notifiers(&rx.base(), timeout) {
        let o = n
            .send(&client, &format!("delivery-{}", n.id), &incident_opened())
            .await;
        assert_no_secret(&format!("{o:?} {n:?}"));
        out.push((n, o));
    }
    out
}

#[tokio::test]
async fn a_2xx_answer_is_sent_with_the_common_headers() {
    let rx = Receiver::start(Behavior::status(200, "ok")).await;
    for status in [200, 202, 204] {
        rx.set(Behavior::status(status, ""));
        rx.clear();
        for (n, o) in send_all(&rx, TIMEOUT).await {
            assert_eq!(o, Outcome::Sent, "{} on {status}", n.id);
        }
        let got = rx.requests();
        assert_eq!(got.len(), 6);
        for (r, n) in got.iter().zip(notifiers(&rx.base(), TIMEOUT)) {
            assert_eq!(r.method, "POST");
            let key = format!("delivery-{}", n.id);
            assert_eq!(r.header("idempotency-key"), Some(key.as_str()), "{}", n.id);
            assert_eq!(r.header("content-type"), Some("application/json"));
            let ua = r.header("user-agent").unwrap();
            assert!(ua.starts_with("Pharos/"), "{ua}");
            assert!(r.json().is_object(), "{} sends JSON", n.id);
        }
        let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/hooks/pharos",
                SLACK_PATH,
                DISCORD_PATH,
                TEAMS_PATH,
                "/",
                "/v2/enqueue"
            ]
        );
        // ntfy: the JSON publish form at the server root, with the topic in the body.
        assert_eq!(got[4].json()["topic"], NTFY_TOPIC);
        assert_eq!(
            got[4].header("authorization"),
            Some(format!("Bearer {NTFY_TOKEN}").as_str())
        );
    }
}

#[tokio::test]
async fn redirects_fail_naming_the_status_and_are_not_followed() {
    let rx = Receiver::start(Behavior::status(200, "")).await;
    for (status, words) in [
        (301, "Moved Permanently"),
        (302, "Found"),
        (307, "Temporary Redirect"),
    ] {
        rx.set(Behavior::Answer {
            status,
            body: String::new(),
            headers: vec![("location".into(), format!("{}/elsewhere", rx.base()))],
            delay: Duration::ZERO,
        });
        rx.clear();
        for (n, o) in send_all(&rx, TIMEOUT).await {
            let r = reason(&o);
            assert!(
                r.starts_with(&format!("HTTP {status} {words}")),
                "{}: {r}",
                n.id
            );
            assert!(r.contains("redirects are not followed"), "{r}");
        }
        assert!(rx.requests().iter().all(|r| r.path != "/elsewhere"));
        assert_eq!(rx.requests().len(), 6);
    }
}

#[tokio::test]
async fn a_client_that_follows_redirects_is_caught() {
    let rx = Receiver::start(Behavior::RedirectToFinal).await;
    let following = reqwest::Client::new();
    for n in notifiers(&rx.base(), TIMEOUT) {
        let o = n.send(&following, "d", &incident_opened()).await;
        let r = reason(&o);
        assert!(r.contains("was redirected"), "{}: {r}", n.id);
        assert_no_secret(r);
    }
    assert!(rx.requests().iter().any(|r| r.path == "/final"));
}

#[tokio::test]
async fn client_and_server_errors_fail_with_status_and_body_excerpt() {
    let rx = Receiver::start(Behavior::status(404, "no such hook")).await;
    for (n, o) in send_all(&rx, TIMEOUT).await {
        assert_eq!(reason(&o), "HTTP 404 Not Found: no such hook", "{}", n.id);
    }
    let long = format!("boom {}", "x".repeat(1000));
    rx.set(Behavior::status(500, &long));
    for (n, o) in send_all(&rx, TIMEOUT).await {
        let r = reason(&o);
        assert!(
            r.starts_with("HTTP 500 Internal Server Error: boom xxx"),
            "{}: {r}",
            n.id
        );
        let excerpt = r.trim_start_matches("HTTP 500 Internal Server Error: ");
        assert_eq!(excerpt.chars().count(), 200, "{r}");
    }
    rx.set(Behavior::status(503, ""));
    for (_, o) in send_all(&rx, TIMEOUT).await {
        assert_eq!(reason(&o), "HTTP 503 Service Unavailable");
    }
}

#[tokio::test]
async fn a_receiver_that_hangs_times_out_in_time() {
    let rx = Receiver::start(Behavior::Answer {
        status: 200,
        body: String::new(),
        headers: vec![],
        delay: Duration::from_secs(30),
    })
    .await;
    let timeout = Duration::from_millis(400);
    let client = client();
    for n in notifiers(&rx.base(), timeout) {
        let started = Instant::now();
        let o = n.send(&client, "d", &incident_opened()).await;
        let took = started.elapsed();
        assert_eq!(reason(&o), "timed out after 400ms", "{}", n.id);
        assert!(took >= timeout, "{took:?}");
        assert!(
            took < timeout + Duration::from_millis(1500),
            "{}: {took:?}",
            n.id
        );
    }
}

#[tokio::test]
async fn a_closed_connection_fails_with_a_reason() {
    let rx = Receiver::start(Behavior::Close).await;
    for (n, o) in send_all(&rx, TIMEOUT).await {
        let r = reason(&o);
        assert!(
            r == format!("connection closed by {} before it answered", rx.addr)
                || r == format!("connection reset by {}", rx.addr),
            "{}: {r}",
            n.id
        );
    }
}

#[tokio::test]
async fn a_refused_connection_fails_with_a_reason() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = client();
    for n in notifiers(&format!("http://{addr}"), TIMEOUT) {
        let o = n.send(&client, "d", &incident_opened()).await;
        let r = reason(&o);
        assert_eq!(r, format!("connection refused by {addr}"), "{}", n.id);
        assert_no_secret(r);
    }
}

#[tokio::test]
async fn secrets_never_appear_even_when_the_receiver_echoes_them() {
    let rx = Receiver::start(Behavior::Echo { status: 400 }).await;
    for (n, o) in send_all(&rx, TIMEOUT).await {
        let r = reason(&o);
        assert!(r.starts_with("HTTP 400 Bad Request: "), "{}: {r}", n.id);
        assert_no_secret(r);
    }
    // The echo did carry them: the receiver saw every secret that travels.
    let all: String = rx
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {:?} {}",
                r.path,
                r.headers,
                String::from_utf8_lossy(&r.body)
            )
        })
        .collect();
    for s in SECRETS.iter().filter(|s| **s != WEBHOOK_SECRET) {
        assert!(all.contains(s), "{s} was not sent at all");
    }
    assert!(
        !all.contains(WEBHOOK_SECRET),
        "the signing secret itself is never sent"
    );
}

#[tokio::test]
async fn an_unresolvable_host_fails_without_naming_the_path() {
    let client = client();
    let n = notifier(
        "slack",
        pharos_notify::Channel::Slack {
            url: format!("http://pharos-test.invalid{SLACK_PATH}"),
        },
        Duration::from_secs(5),
    );
    let o = n.send(&client, "d", &incident_opened()).await;
    let r = reason(&o);
    // A machine without a reachable resolver may take longer than the timeout to say so.
    assert!(
        r.starts_with("could not resolve pharos-test.invalid: ") || r == "timed out after 5s",
        "{r}"
    );
    assert!(!r.contains("client error"), "only the innermost cause: {r}");
    assert_no_secret(r);
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// The keys of Statuspage's webhook, from the postmortem payload Atlassian support quotes
/// (shared/reference/statuspage.md §2.2).
const INCIDENT_KEYS: [&str; 22] = [
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "scheduled_for",
    "scheduled_until",
    "scheduled_remind_prior",
    "scheduled_reminded_at",
    "impact_override",
    "scheduled_auto_in_progress",
    "scheduled_auto_completed",
    "metadata",
    "started_at",
    "reminder_intervals",
    "id",
    "page_id",
    "incident_updates",
    "components",
];
const UPDATE_KEYS: [&str; 13] = [
    "status",
    "body",
    "created_at",
    "wants_twitter_update",
    "twitter_updated_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
    "id",
    "incident_id",
];

#[tokio::test]
async fn the_webhook_is_statuspages_payload_signed_with_the_secret() {
    use hmac::{Hmac, KeyInit, Mac};
    let rx = Receiver::start(Behavior::status(200, "")).await;
    let client = client();
    let hook = &notifiers(&rx.base(), TIMEOUT)[0];
    for (name, event) in events() {
        rx.clear();
        assert_eq!(hook.send(&client, "d", &event).await, Outcome::Sent);
        let req = rx.requests().pop().unwrap();
        // The signature, recomputed here from the bytes received.
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
        mac.update(&req.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(req.header("x-pharos-signature"), Some(expected.as_str()));
        let ts: i64 = req.header("x-pharos-timestamp").unwrap().parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
        assert_eq!(req.header("x-pharos-event"), Some(event.kind.as_str()));

        let body = req.json();
        assert_eq!(keys(&body["meta"]), set(&["unsubscribe", "documentation"]));
        assert_eq!(
            keys(&body["page"]),
            set(&["id", "status_indicator", "status_description"])
        );
        if name == "component_status" {
            assert_eq!(
                keys(&body),
                set(&["meta", "page", "component_update", "component"])
            );
            assert_eq!(
                keys(&body["component_update"]),
                set(&[
                    "created_at",
                    "new_status",
                    "old_status",
                    "id",
                    "component_id"
                ])
            );
            assert_eq!(
                keys(&body["component"]),
                set(&["created_at", "id", "name", "status"])
            );
            continue;
        }
        assert_eq!(keys(&body), set(&["meta", "page", "incident"]));
        let incident = &body["incident"];
        assert_eq!(keys(incident), set(&INCIDENT_KEYS));
        // Key order follows Statuspage's payload too.
        let raw = String::from_utf8(req.body.clone()).unwrap();
        let raw = &raw[raw.find("\"incident\":").unwrap()..];
        let positions: Vec<usize> = INCIDENT_KEYS
            .iter()
            .map(|k| raw.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        let updates = incident["incident_updates"].as_array().unwrap();
        assert!(!updates.is_empty());
        for u in updates {
            assert_eq!(keys(u), set(&UPDATE_KEYS));
        }
        // Newest first.
        let times: Vec<&str> = updates
            .iter()
            .map(|u| u["created_at"].as_str().unwrap())
            .collect();
        let mut sorted = times.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(times, sorted);
        if name == "maintenance_started" {
            assert_eq!(incident["impact"], "maintenance");
            assert_eq!(incident["scheduled_for"], "2026-01-06T02:00:00.000-07:00");
            assert_eq!(incident["scheduled_until"], "2026-01-06T04:00:00.000-07:00");
        } else {
            assert_eq!(incident["scheduled_for"], Value::Null);
        }
    }
}

#[tokio::test]
async fn pagerduty_triggers_then_resolves_one_alert() {
    let rx = Receiver::start(Behavior::status(
        202,
        r#"{"status":"success","message":"Event processed","dedup_key":"pharos-k3v9x0q2m7ab"}"#,
    ))
    .await;
    let client = client();
    let pd = &notifiers(&rx.base(), TIMEOUT)[5];
    assert_eq!(
        pd.send(&client, "d1", &incident_opened()).await,
        Outcome::Sent
    );
    let mut updated = incident_opened();
    updated.kind = pharos_notify::EventKind::IncidentUpdated;
    assert_eq!(pd.send(&client, "d2", &updated).await, Outcome::Sent);
    assert_eq!(
        pd.send(&client, "d3", &incident_resolved()).await,
        Outcome::Sent
    );
    // Maintenance and component events page nobody: sent without a request.
    assert_eq!(
        pd.send(&client, "d4", &maintenance_started()).await,
        Outcome::Sent
    );
    assert_eq!(
        pd.send(&client, "d5", &component_changed()).await,
        Outcome::Sent
    );

    let got: Vec<Value> = rx.requests().iter().map(|r| r.json()).collect();
    assert_eq!(got.len(), 3);
    let actions: Vec<&str> = got
        .iter()
        .map(|b| b["event_action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["trigger", "trigger", "resolve"]);
    for b in &got {
        assert_eq!(b["dedup_key"], "pharos-k3v9x0q2m7ab");
        assert_eq!(b["routing_key"], ROUTING_KEY);
    }
    let trigger = &got[0];
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["source"], "https://status.example.com");
    assert_eq!(trigger["payload"]["component"], "API");
    assert_eq!(trigger["payload"]["group"], "Example Inc.");
    assert_eq!(trigger["client"], "Pharos");
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .unwrap()
            .chars()
            .count()
            <= 1024
    );
}

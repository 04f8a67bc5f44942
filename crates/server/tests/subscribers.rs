//! Public subscribers end to end: subscribing through Statuspage's `POST
//! /api/v2/subscribers.json` and through the page's form, a webhook subscriber hearing an
//! outage with a working `meta.unsubscribe` link, an e-mail subscriber's double opt-in (real
//! SMTP: `FakeSmtp`) up to the one-click unsubscribe, component scoping, bad input and bad
//! links refused without storing anything, and the per-client rate limit. Real receivers on
//! real sockets, on SQLite and (when `PHAROS_TEST_POSTGRES_URL` is set) PostgreSQL.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use pharos_engine::subscribers::{Purpose, Tokens};
use pharos_testkit::serde_json_value::Value;
use pharos_testkit::{
    backends, eventually, spawn_app_on, Backend, FakeReceiver, FakeSmtp, FakeTarget, Received,
    TestApp,
};

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "subscribers-test-token-0123456789";

/// Two components, each with a monitor on its own target; `[smtp]` when given.
fn config(api: &str, db: &str, smtp: Option<&FakeSmtp>) -> String {
    let smtp = smtp.map_or_else(String::new, |s| {
        format!(
            r#"
[smtp]
host = "{}"
port = {}
security = "none"
from = "Acme Status <status@acme.test>"
timeout = "5s"
"#,
            s.host(),
            s.port()
        )
    });
    format!(
        r#"
[page]
id = "acme"
name = "Acme"

[admin]
tokens = [{{ name = "alice", token = "{TOKEN}" }}]

[incidents]
auto_resolve_after = "2s"
{smtp}
[[components]]
id = "api"
name = "API"

[[components]]
id = "db"
name = "Database"

[[monitors]]
id = "api-health"
type = "http"
url = "{api}/health"
interval = "1s"
timeout = "1s"
failure_threshold = 2
success_threshold = 1
components = ["api"]

[[monitors]]
id = "db-health"
type = "http"
url = "{db}/health"
interval = "1s"
timeout = "1s"
failure_threshold = 2
success_threshold = 1
components = ["db"]
"#
    )
}

struct Reply {
    status: u16,
    retry_after: Option<String>,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn reply(r: reqwest::Response) -> Reply {
    Reply {
        status: r.status().as_u16(),
        retry_after: r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        text: r.text().await.unwrap(),
    }
}

/// `POST /api/v2/subscribers.json` with `body`.
async fn subscribe(app: &TestApp, body: Value) -> Reply {
    let r = app
        .client
        .post(format!("{}/api/v2/subscribers.json", app.base_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    reply(r).await
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.replace('%', "%25")
            .replace('&', "%26")
            .replace('+', "%2B")
            .replace('=', "%3D")
            .replace(' ', "+")
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The page's form: `POST /subscribe`.
async fn subscribe_form(app: &TestApp, pairs: &[(&str, &str)]) -> Reply {
    let r = app
        .client
        .post(format!("{}/subscribe", app.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_encode(pairs))
        .send()
        .await
        .unwrap();
    reply(r).await
}

async fn get(app: &TestApp, url: &str) -> Reply {
    reply(app.client.get(url).send().await.unwrap()).await
}

async fn admin(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
    let mut r = app
        .client
        .request(method, format!("{}{path}", app.base_url))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        r = r.json(&b);
    }
    reply(r.send().await.unwrap()).await
}

async fn subscribers(app: &TestApp) -> Vec<Value> {
    let r = admin(app, reqwest::Method::GET, "/api/v1/subscribers", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json().as_array().unwrap().clone()
}

async fn declare(app: &TestApp, name: &str, components: Value, public: bool) -> String {
    let r = admin(
        app,
        reqwest::Method::POST,
        "/api/v1/incidents",
        Some(serde_json::json!({
            "name": name,
            "body": format!("{name}: looking into it."),
            "components": components,
            "public": public,
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Incident payloads among the accepted requests.
fn incident_payloads(received: &[Received]) -> Vec<Value> {
    received
        .iter()
        .map(Received::json)
        .filter(|v| v.get("incident").is_some())
        .collect()
}

/// How many deliveries the outbox holds for a destination.
async fn deliveries_to(app: &TestApp, destination: &str) -> usize {
    let r = admin(
        app,
        reqwest::Method::GET,
        "/api/v1/deliveries?limit=500",
        None,
    )
    .await;
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["destination"] == destination)
        .count()
}

/// The first line of `text` that holds `needle`, trimmed.
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .map(str::trim)
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

/// Waits long enough for the dispatcher (it polls every second) to have sent anything due.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(2500)).await;
}

#[tokio::test]
async fn a_webhook_subscriber_hears_an_outage_and_its_unsubscribe_link_stops_it() {
    for backend in backends() {
        let api = FakeTarget::start().await;
        let db = FakeTarget::start().await;
        let hook = FakeReceiver::start().await;
        let app = spawn_app_on(backend, &config(&api.url, &db.url, None)).await;
        let endpoint = format!("{}/hook", hook.url);

        let created = subscribe(
            &app,
            serde_json::json!({"subscriber": {"endpoint": endpoint, "email": "ops@example.com"}}),
        )
        .await;
        assert_eq!(created.status, 201, "{backend:?}: {}", created.text);
        let s = &created.json()["subscriber"];
        let id = s["id"].as_str().unwrap().to_owned();
        assert_eq!(s["mode"], "webhook");
        assert_eq!(s["endpoint"], endpoint.as_str());
        assert_eq!(s["email"], "ops@example.com");
        assert_eq!(s["skip_confirmation_notification"], false);
        assert!(s["quarantined_at"].is_null() && s["purge_at"].is_null());
        assert!(s["created_at"].as_str().unwrap().ends_with('Z'));
        // Subscribing again changes nothing and answers with the same subscriber.
        let again = subscribe(
            &app,
            serde_json::json!({"subscriber": {"endpoint": endpoint}}),
        )
        .await;
        assert_eq!(again.status, 200, "{}", again.text);
        assert_eq!(again.json()["subscriber"]["id"], id.as_str());
        let listed = subscribers(&app).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["state"], "active");
        assert_eq!(listed[0]["endpoint"], endpoint.as_str());

        api.set_status(503);
        let opened = eventually(WAIT, "the incident at the subscriber's webhook", || async {
            hook.accepted()
                .into_iter()
                .find(|r| r.json().get("incident").is_some())
        })
        .await;
        let body = opened.json();
        assert_eq!(
            body["incident"]["name"], "Major outage of API",
            "{backend:?}"
        );
        assert_eq!(body["incident"]["status"], "investigating");
        assert_eq!(body["page"]["id"], "acme");
        assert_eq!(opened.path, "/hook");
        assert!(opened
            .header("idempotency-key")
            .unwrap()
            .ends_with(&format!(".{id}")));
        let unsubscribe = body["meta"]["unsubscribe"].as_str().unwrap().to_owned();
        assert!(
            unsubscribe.starts_with(&format!("{}/unsubscribe?token={id}.u.", app.base_url)),
            "{unsubscribe}"
        );
        // Webhooks hear component changes too, in Statuspage's component_update shape.
        let component = eventually(WAIT, "the component change", || async {
            hook.accepted()
                .into_iter()
                .map(|r| r.json())
                .find(|v| v.get("component_update").is_some())
        })
        .await;
        assert_eq!(component["component"]["id"], "api");
        assert_eq!(component["component_update"]["new_status"], "major_outage");
        assert_eq!(component["meta"]["unsubscribe"], unsubscribe.as_str());

        // The link ends the subscription; nothing more is sent, not even the resolution.
        let left = get(&app, &unsubscribe).await;
        assert_eq!(left.status, 200, "{}", left.text);
        assert!(left.text.contains("You are unsubscribed"));
        let before = deliveries_to(&app, &format!("subscriber:{id}")).await;
        let heard = hook.received().len();
        api.set_status(200);
        eventually(WAIT, "the resolution on the public API", || async {
            let v = app.get_json("/api/v2/incidents.json").await;
            (v["incidents"][0]["status"] == "resolved").then_some(())
        })
        .await;
        settle().await;
        assert_eq!(
            deliveries_to(&app, &format!("subscriber:{id}")).await,
            before
        );
        assert_eq!(
            hook.received().len(),
            heard,
            "{backend:?}: nothing after unsubscribing"
        );
        assert!(!incident_payloads(&hook.accepted())
            .iter()
            .any(|v| v["incident"]["status"] == "resolved"));
        // A second click is fine.
        assert_eq!(get(&app, &unsubscribe).await.status, 200);
        let listed = subscribers(&app).await;
        assert_eq!(listed[0]["state"], "unsubscribed");
        assert!(listed[0]["unsubscribed_at"].is_string());

        // The admin API removes it for good.
        let path = format!("/api/v1/subscribers/{id}");
        assert_eq!(
            admin(&app, reqwest::Method::DELETE, &path, None)
                .await
                .status,
            204
        );
        assert_eq!(
            admin(&app, reqwest::Method::DELETE, &path, None)
                .await
                .status,
            404
        );
        assert!(subscribers(&app).await.is_empty());
        app.stop().await;
    }
}

#[tokio::test]
async fn an_email_subscriber_confirms_then_hears_incidents_and_leaves_in_one_click() {
    for backend in backends() {
        let api = FakeTarget::start().await;
        let db = FakeTarget::start().await;
        let smtp = FakeSmtp::start().await;
        let app = spawn_app_on(backend, &config(&api.url, &db.url, Some(&smtp))).await;
        let page = app.get("/").await.text().await.unwrap();
        assert!(
            page.contains(r#"name="email" type="email""#),
            "[smtp]: e-mail offered"
        );

        let created = subscribe(
            &app,
            serde_json::json!({"subscriber": {"email": "ann@example.com"}}),
        )
        .await;
        assert_eq!(created.status, 201, "{backend:?}: {}", created.text);
        let s = &created.json()["subscriber"];
        assert_eq!(s["mode"], "email");
        assert_eq!(s["email"], "ann@example.com");
        assert!(s.get("endpoint").is_none());
        let id = s["id"].as_str().unwrap().to_owned();

        let confirmation = eventually(WAIT, "the confirmation e-mail", || async {
            smtp.messages().into_iter().next()
        })
        .await;
        assert_eq!(confirmation.to, ["ann@example.com"]);
        assert_eq!(
            confirmation.subject().unwrap(),
            "Confirm your subscription to Acme status"
        );
        let text = confirmation.text().unwrap();
        let link = line_with(&text, "/subscribe/confirm?token=").to_owned();
        assert!(link.starts_with(&format!("{}/subscribe/confirm?token={id}.c.", app.base_url)));
        assert!(confirmation
            .html()
            .unwrap()
            .contains("Confirm subscription"));

        // Asking again within ten minutes sends no second e-mail and makes no second row.
        let again = subscribe(
            &app,
            serde_json::json!({"subscriber": {"email": "Ann@Example.com"}}),
        )
        .await;
        assert_eq!(again.status, 200, "{}", again.text);
        assert_eq!(again.json()["subscriber"]["id"], id.as_str());
        // Nothing but the confirmation goes to an unconfirmed address.
        declare(
            &app,
            "Unconfirmed should not hear this",
            serde_json::json!({}),
            true,
        )
        .await;
        settle().await;
        assert_eq!(smtp.messages().len(), 1, "{backend:?}");
        assert_eq!(deliveries_to(&app, &format!("subscriber:{id}")).await, 1);
        assert_eq!(subscribers(&app).await[0]["state"], "pending");

        let confirmed = get(&app, &link).await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.text);
        assert!(confirmed.text.contains("Subscription confirmed"));
        assert_eq!(get(&app, &link).await.status, 200, "a second click is fine");
        assert_eq!(subscribers(&app).await[0]["state"], "active");

        // A private incident is not for the public; the next public one arrives by e-mail.
        declare(&app, "Private investigation", serde_json::json!({}), false).await;
        declare(
            &app,
            "Payments degraded",
            serde_json::json!({"api": "degraded_performance"}),
            true,
        )
        .await;
        let mail = eventually(WAIT, "the incident e-mail", || async {
            smtp.messages().into_iter().nth(1)
        })
        .await;
        assert_eq!(mail.to, ["ann@example.com"]);
        let subject = mail.subject().unwrap();
        assert!(subject.contains("Payments degraded"), "{subject}");
        let text = mail.text().unwrap();
        assert!(
            text.contains("Payments degraded: looking into it."),
            "{text}"
        );
        assert!(text.contains("API — Degraded performance"), "{text}");
        let unsubscribe = line_with(&text, "/unsubscribe?token=")
            .trim_start_matches("Unsubscribe: ")
            .to_owned();
        assert!(unsubscribe.starts_with(&format!("{}/unsubscribe?token={id}.u.", app.base_url)));
        assert_eq!(
            mail.header("List-Unsubscribe").unwrap().trim(),
            format!("<{unsubscribe}>")
        );
        assert_eq!(
            mail.header("List-Unsubscribe-Post").unwrap().trim(),
            "List-Unsubscribe=One-Click"
        );
        settle().await;
        assert_eq!(
            smtp.messages().len(),
            2,
            "the private incident was not sent"
        );

        // RFC 8058 one-click: a POST to the List-Unsubscribe address.
        let left = app
            .client
            .post(&unsubscribe)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(left.status(), 200);
        declare(&app, "After leaving", serde_json::json!({}), true).await;
        settle().await;
        assert_eq!(
            smtp.messages().len(),
            2,
            "{backend:?}: nothing after unsubscribing"
        );
        assert_eq!(subscribers(&app).await[0]["state"], "unsubscribed");
        // The confirmation link of a cancelled subscription no longer works.
        let stale = get(&app, &link).await;
        assert_eq!(stale.status, 400);
        app.stop().await;
    }
}

#[tokio::test]
async fn component_scoped_subscribers_hear_only_their_components() {
    for backend in backends() {
        let api = FakeTarget::start().await;
        let db = FakeTarget::start().await;
        let api_hook = FakeReceiver::start().await;
        let db_hook = FakeReceiver::start().await;
        let app = spawn_app_on(backend, &config(&api.url, &db.url, None)).await;

        let r = subscribe(
            &app,
            serde_json::json!({"subscriber": {
                "endpoint": format!("{}/api", api_hook.url),
                "component_ids": ["api"],
            }}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        // The page's form, as a browser without JavaScript sends it.
        let form_endpoint = format!("{}/db", db_hook.url);
        let r = subscribe_form(
            &app,
            &[
                ("email", ""),
                ("endpoint", &form_endpoint),
                ("components", "db"),
            ],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.text.contains("Webhook subscribed"), "{}", r.text);
        let listed = subscribers(&app).await;
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1]["component_ids"], serde_json::json!(["db"]));

        api.set_status(503);
        eventually(WAIT, "the API incident at the API subscriber", || async {
            (!incident_payloads(&api_hook.accepted()).is_empty()).then_some(())
        })
        .await;
        settle().await;
        assert!(
            db_hook.received().is_empty(),
            "{backend:?}: the database subscriber heard {:?}",
            db_hook.received()
        );
        // Every event the API subscriber got is about the API.
        for v in api_hook.accepted().iter().map(Received::json) {
            let about_api = v["component"]["id"] == "api"
                || v["incident"]["components"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["id"] == "api"));
            assert!(about_api, "{v}");
        }

        db.set_status(503);
        eventually(WAIT, "the database incident at its subscriber", || async {
            (!incident_payloads(&db_hook.accepted()).is_empty()).then_some(())
        })
        .await;
        assert!(incident_payloads(&db_hook.accepted())
            .iter()
            .all(|v| v["incident"]["name"] == "Major outage of Database"));
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_stores_nothing() {
    for backend in backends() {
        let api = FakeTarget::start().await;
        let db = FakeTarget::start().await;
        let app = spawn_app_on(backend, &config(&api.url, &db.url, None)).await;
        let page = app.get("/").await.text().await.unwrap();
        assert!(
            !page.contains(r#"name="email""#),
            "no [smtp]: no e-mail option"
        );

        let refused = |r: Reply, field: &str, words: &str| {
            assert_eq!(r.status, 422, "{backend:?} {field}: {}", r.text);
            let e = r.json();
            assert_eq!(e["error"]["field"], field, "{}", r.text);
            let message = e["error"]["message"].as_str().unwrap().to_owned();
            assert!(message.contains(words), "{message}");
        };
        refused(
            subscribe(
                &app,
                serde_json::json!({"subscriber": {"email": "ann@example.com"}}),
            )
            .await,
            "subscriber.email",
            "this page does not offer e-mail subscriptions",
        );
        refused(
            subscribe(
                &app,
                serde_json::json!({"subscriber": {"endpoint": "ftp://files.example.com/x"}}),
            )
            .await,
            "subscriber.endpoint",
            "http:// or https://",
        );
        refused(
            subscribe(
                &app,
                serde_json::json!({"subscriber": {
                    "endpoint": "https://hooks.example.com/x",
                    "component_ids": ["api", "nope"],
                }}),
            )
            .await,
            "subscriber.component_ids",
            "unknown component \"nope\"",
        );
        refused(
            subscribe(
                &app,
                serde_json::json!({"subscriber": {
                    "endpoint": "https://hooks.example.com/x",
                    "email": "not an address",
                }}),
            )
            .await,
            "subscriber.email",
            "not a valid e-mail address",
        );
        refused(
            subscribe(
                &app,
                serde_json::json!({"subscriber": {"phone_number": "5551234"}}),
            )
            .await,
            "subscriber.phone_number",
            "SMS",
        );
        let unknown_key = subscribe(
            &app,
            serde_json::json!({"subscriber": {"endpoint": "https://a.example", "mood": 1}}),
        )
        .await;
        assert_eq!(unknown_key.status, 400, "{}", unknown_key.text);
        assert_eq!(unknown_key.json()["error"]["field"], "subscriber.mood");
        // The form answers with a page naming the field.
        let r = subscribe_form(&app, &[("endpoint", "gopher://old.example")]).await;
        assert_eq!(r.status, 422);
        assert!(
            r.text
                .contains("Webhook URL: a webhook URL must start with"),
            "{}",
            r.text
        );
        // Forged links change nothing.
        let r = get(
            &app,
            &format!("{}/unsubscribe?token=abc.u.0.00", app.base_url),
        )
        .await;
        assert_eq!(r.status, 400);
        assert!(r.text.contains("This link is not valid"));

        assert!(subscribers(&app).await.is_empty());
        assert_eq!(
            app.db.query_i64("SELECT COUNT(*) FROM subscribers").await,
            0
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn forged_and_expired_links_change_nothing() {
    let api = FakeTarget::start().await;
    let db = FakeTarget::start().await;
    let smtp = FakeSmtp::start().await;
    let app = spawn_app_on(Backend::Sqlite, &config(&api.url, &db.url, Some(&smtp))).await;
    refuse_invalid_address(&app).await;
    let created = subscribe(
        &app,
        serde_json::json!({"subscriber": {"email": "bob@example.com"}}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["subscriber"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Links made with the page's own key, but expired or for the wrong purpose.
    let key = app
        .db
        .query_string("SELECT value FROM settings WHERE key = 'subscriber_signing_key'")
        .await;
    let key: Vec<u8> = (0..key.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&key[i..i + 2], 16).unwrap())
        .collect();
    let tokens = Tokens::new(key);
    let expired = tokens.sign(
        &id,
        Purpose::Confirm,
        Some(chrono::Utc::now() - chrono::Duration::minutes(1)),
    );
    let wrong_purpose = tokens.sign(&id, Purpose::Unsubscribe, None);
    let forged = Tokens::new(b"not the page's key".to_vec()).sign(
        &id,
        Purpose::Confirm,
        Some(chrono::Utc::now() + chrono::Duration::days(1)),
    );
    for token in [expired, wrong_purpose, forged, "garbage".to_owned()] {
        let r = get(
            &app,
            &format!("{}/subscribe/confirm?token={token}", app.base_url),
        )
        .await;
        assert_eq!(r.status, 400, "{token}: {}", r.text);
        assert!(r.text.contains("This link is not valid"));
    }
    let r = get(&app, &format!("{}/subscribe/confirm", app.base_url)).await;
    assert_eq!(r.status, 400);
    let listed = subscribers(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["state"], "pending", "still unconfirmed");
    app.stop().await;
}

async fn refuse_invalid_address(app: &TestApp) {
    for bad in ["ann", "ann@localhost", "Ann <ann@example.com>"] {
        let r = subscribe(app, serde_json::json!({"subscriber": {"email": bad}})).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.text);
        assert_eq!(r.json()["error"]["field"], "subscriber.email");
    }
}

#[tokio::test]
async fn the_subscribe_endpoints_are_rate_limited_per_client() {
    let api = FakeTarget::start().await;
    let db = FakeTarget::start().await;
    let app = spawn_app_on(Backend::Sqlite, &config(&api.url, &db.url, None)).await;
    let created = subscribe(
        &app,
        serde_json::json!({"subscriber": {"endpoint": "https://hooks.example.com/limited"}}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["subscriber"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 1..10 {
        let r = subscribe(&app, serde_json::json!({"subscriber": {}})).await;
        assert_eq!(r.status, 422, "request {i}: {}", r.text);
    }
    let r = subscribe(&app, serde_json::json!({"subscriber": {}})).await;
    assert_eq!(r.status, 429, "{}", r.text);
    let wait: u64 = r.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=6).contains(&wait), "{wait}");
    assert_eq!(r.json()["error"]["status"], 429);
    // The form and the links share the client's allowance.
    let r = subscribe_form(&app, &[("endpoint", "https://hooks.example.com")]).await;
    assert_eq!(r.status, 429);
    assert!(r.retry_after.is_some());
    assert!(r.text.contains("Too many requests"));
    let r = get(&app, &format!("{}/unsubscribe?token=x", app.base_url)).await;
    assert_eq!(r.status, 429, "a failed link counts against the allowance");
    // A valid signed link always works: mail providers' one-click unsubscribes share a few
    // addresses.
    let key = app
        .db
        .query_string("SELECT value FROM settings WHERE key = 'subscriber_signing_key'")
        .await;
    let key: Vec<u8> = (0..key.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&key[i..i + 2], 16).unwrap())
        .collect();
    let link = Tokens::new(key).unsubscribe_link(&app.base_url, &id);
    let r = get(&app, &link).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Nothing else was stored, and the rest of the site is not limited.
    let listed = subscribers(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["state"], "unsubscribed");
    assert_eq!(app.get("/api/v2/status.json").await.status(), 200);
    app.stop().await;
}

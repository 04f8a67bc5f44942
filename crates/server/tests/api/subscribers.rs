//! Public subscribers end to end: subscribing through Statuspage's `POST
//! /api/v2/subscribers.json` and through the page's form, a webhook subscriber hearing an
//! outage with a working `meta.unsubscribe` link, an e-mail subscriber's double opt-in (real
//! SMTP: `FakeSmtp`) up to the one-click unsubscribe, component scoping, bad input and bad
//! links refused without storing anything, and the per-client rate limit. Then what a hostile
//! public cannot do: make Pharos POST to a non-public address (every spelling of one, a name
//! that resolves to one when subscribing or only later, when delivering), change anything by
//! merely opening a link (GET or HEAD), or learn from the answer whether an address was
//! already subscribed. Real receivers and a real DNS server (`FakeDns`) on real sockets, on
//! SQLite and (when `PHAROS_TEST_POSTGRES_URL` is set) PostgreSQL.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use pharos_engine::subscribers::{Purpose, Tokens};
use pharos_testkit::serde_json_value::Value;
use pharos_testkit::{
    backends, eventually, spawn_app_on, spawn_app_with_db, Backend, FakeDns, FakeReceiver,
    FakeSmtp, FakeTarget, Received, TestApp,
};
use reqwest::Method;

use crate::support::config::Config;
use crate::support::http::{delete, get, post, post_form, send, send_from, url, Answer, Body};

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "subscribers-test-token-0123456789";

/// `[subscriptions]` for the tests whose webhook receivers (`FakeReceiver`) listen on
/// 127.0.0.1: subscriber webhooks reach public addresses only, so loopback must be allowed
/// for them explicitly.
const LOOPBACK_ALLOWED: &str = r#"
[subscriptions]
allowed_webhook_networks = ["127.0.0.0/8"]
"#;

/// Two components, each with a monitor on its own target; `[smtp]` when given; loopback
/// webhooks allowed (see [`LOOPBACK_ALLOWED`]).
fn config(api: &str, db: &str, smtp: Option<&FakeSmtp>) -> String {
    config_with(api, db, smtp, LOOPBACK_ALLOWED)
}

/// [`config`] with `subscriptions` (a `[subscriptions]` table, or nothing) instead.
fn config_with(api: &str, db: &str, smtp: Option<&FakeSmtp>, subscriptions: &str) -> String {
    let mut config = Config::acme().admin("alice", TOKEN).section(
        r#"[incidents]
auto_resolve_after = "2s""#,
    );
    if let Some(smtp) = smtp {
        config = config.smtp(smtp);
    }
    config
        .section(subscriptions)
        .component("api", "API")
        .component("db", "Database")
        .http_monitor("api-health", &format!("{api}/health"), "api")
        .thresholds(2, 1)
        .http_monitor("db-health", &format!("{db}/health"), "db")
        .thresholds(2, 1)
        .build()
}

/// `POST /api/v2/subscribers.json` with `body`.
async fn subscribe(app: &TestApp, body: Value) -> Answer {
    post(app, "/api/v2/subscribers.json", None, &body).await
}

/// The page's form: `POST /subscribe`.
async fn subscribe_form(app: &TestApp, pairs: &[(&str, &str)]) -> Answer {
    post_form(app, "/subscribe", pairs).await
}

/// `HEAD url`: the status only.
async fn head(app: &TestApp, url: &str) -> u16 {
    app.client.head(url).send().await.unwrap().status().as_u16()
}

/// What a browser does with a link: opens it (GET), which shows a page with one button in a
/// `<form method="post">` and its token in a hidden field, then presses the button (a POST
/// of the form to the page's own URL). Returns the page and the answer to the button.
async fn press(app: &TestApp, link: &str) -> (Answer, Answer) {
    let page = get(app, link, None).await;
    assert_eq!(page.status, 200, "{link}: {}", page.text);
    assert!(
        page.text
            .contains(r#"<form class="subscribe" method="post">"#),
        "{}",
        page.text
    );
    let field = r#"<input type="hidden" name="token" value=""#;
    let start = page.text.find(field).expect("the token field") + field.len();
    let token = &page.text[start..start + page.text[start..].find('"').unwrap()];
    let answer = send(
        app,
        Method::POST,
        link,
        None,
        Body::Form(&[("token", token)]),
    )
    .await;
    (page, answer)
}

/// A client whose requests come from 127.0.0.`n`. The subscribe endpoints allow each client
/// address 10 requests a minute; a test that needs more spreads them over addresses.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .no_proxy()
        .build()
        .unwrap()
}

/// `POST /api/v2/subscribers.json` with `body`, from `client`.
async fn subscribe_from(app: &TestApp, client: &reqwest::Client, body: Value) -> Answer {
    let url = url(app, "/api/v2/subscribers.json");
    send_from(client, Method::POST, &url, None, Body::Json(&body)).await
}

/// The page's form, from `client`.
async fn subscribe_form_from(
    app: &TestApp,
    client: &reqwest::Client,
    pairs: &[(&str, &str)],
) -> Answer {
    let url = url(app, "/subscribe");
    send_from(client, Method::POST, &url, None, Body::Form(pairs)).await
}

/// The id of the one subscriber at `address` (e-mail or endpoint), from the admin API: the
/// public answer never carries one.
async fn id_of(app: &TestApp, address: &str) -> String {
    subscribers(app)
        .await
        .into_iter()
        .find(|s| s["email"] == address || s["endpoint"] == address)
        .unwrap_or_else(|| panic!("no subscriber at {address}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn subscribers(app: &TestApp) -> Vec<Value> {
    let r = get(app, "/api/v1/subscribers", Some(TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json.as_array().unwrap().clone()
}

async fn declare(app: &TestApp, name: &str, components: Value, public: bool) -> String {
    let r = post(
        app,
        "/api/v1/incidents",
        Some(TOKEN),
        &serde_json::json!({
            "name": name,
            "body": format!("{name}: looking into it."),
            "components": components,
            "public": public,
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["id"].as_str().unwrap().to_owned()
}

/// Incident payloads among the accepted requests.
fn incident_payloads(received: &[Received]) -> Vec<Value> {
    received
        .iter()
        .map(Received::json)
        .filter(|v| v.get("incident").is_some())
        .collect()
}

/// The outbox's deliveries (at most 500, newest first), optionally only those in `state`.
async fn deliveries(app: &TestApp, state: Option<&str>) -> Vec<Value> {
    let path = match state {
        Some(state) => format!("/api/v1/deliveries?state={state}&limit=500"),
        None => "/api/v1/deliveries?limit=500".to_owned(),
    };
    let r = get(app, &path, Some(TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json.as_array().unwrap().clone()
}

/// How many deliveries the outbox holds for a destination.
async fn deliveries_to(app: &TestApp, destination: &str) -> usize {
    deliveries(app, None)
        .await
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

/// Waits until everything the engine has applied so far is stored: reading an incident's
/// timeline (here incident `id`'s) first waits for the writer. A change's outbox rows are
/// written in the same transaction as the change, so afterwards every delivery it made is
/// in the outbox. (A command's answer already waits for its own change.)
async fn sync(app: &TestApp, id: &str) {
    let r = get(app, &format!("/api/v1/incidents/{id}"), Some(TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Waits until the dispatcher has finished with every delivery in the outbox: none is left
/// pending, so each was sent (the receiver has it) or given up. With the outbox complete
/// (see [`sync`]), whatever has not been sent by then never will be: this is how a test
/// proves that something was *not* sent, without a fixed pause.
async fn dispatched(app: &TestApp) {
    eventually(WAIT, "the dispatcher to finish every delivery", || async {
        let pending = deliveries(app, Some("pending")).await;
        pending.is_empty().then_some(())
    })
    .await;
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
        assert_eq!(created.status, 202, "{backend:?}: {}", created.text);
        let s = &created.json["subscriber"];
        assert_eq!(s["mode"], "webhook");
        assert_eq!(s["endpoint"], endpoint.as_str());
        assert_eq!(s["email"], "ops@example.com");
        assert_eq!(s["skip_confirmation_notification"], false);
        assert!(s["quarantined_at"].is_null() && s["purge_at"].is_null());
        assert!(s.get("id").is_none() && s.get("created_at").is_none());
        let id = id_of(&app, &endpoint).await;
        // Subscribing again changes nothing and answers as before.
        let again = subscribe(
            &app,
            serde_json::json!({"subscriber": {"endpoint": endpoint}}),
        )
        .await;
        assert_eq!(again.status, 202, "{}", again.text);
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
        let incident = body["incident"]["id"].as_str().unwrap().to_owned();
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

        // The link ends the subscription once its button is pressed; nothing more is sent,
        // not even the resolution.
        let (page, left) = press(&app, &unsubscribe).await;
        assert!(page.text.contains("Unsubscribe"), "{}", page.text);
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
        // The resolution and all it would send are in the outbox, and the outbox is done.
        sync(&app, &incident).await;
        dispatched(&app).await;
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
        assert_eq!(press(&app, &unsubscribe).await.1.status, 200);
        let listed = subscribers(&app).await;
        assert_eq!(listed[0]["state"], "unsubscribed");
        assert!(listed[0]["unsubscribed_at"].is_string());

        // The admin API removes it for good.
        let path = format!("/api/v1/subscribers/{id}");
        assert_eq!(delete(&app, &path, Some(TOKEN)).await.status, 204);
        assert_eq!(delete(&app, &path, Some(TOKEN)).await.status, 404);
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
        assert_eq!(created.status, 202, "{backend:?}: {}", created.text);
        let s = &created.json["subscriber"];
        assert_eq!(s["mode"], "email");
        assert_eq!(s["email"], "ann@example.com");
        assert!(s.get("endpoint").is_none());
        let id = id_of(&app, "ann@example.com").await;

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
        assert_eq!(again.status, 202, "{}", again.text);
        assert_eq!(subscribers(&app).await.len(), 1);
        // Nothing but the confirmation goes to an unconfirmed address.
        declare(
            &app,
            "Unconfirmed should not hear this",
            serde_json::json!({}),
            true,
        )
        .await;
        dispatched(&app).await;
        assert_eq!(smtp.messages().len(), 1, "{backend:?}");
        assert_eq!(deliveries_to(&app, &format!("subscriber:{id}")).await, 1);
        assert_eq!(subscribers(&app).await[0]["state"], "pending");

        let (page, confirmed) = press(&app, &link).await;
        assert!(page.text.contains("Confirm subscription"), "{}", page.text);
        assert_eq!(confirmed.status, 200, "{}", confirmed.text);
        assert!(confirmed.text.contains("Subscription confirmed"));
        assert_eq!(
            press(&app, &link).await.1.status,
            200,
            "a second click is fine"
        );
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
        dispatched(&app).await;
        assert_eq!(
            smtp.messages().len(),
            2,
            "the private incident was not sent"
        );

        // RFC 8058 one-click: a POST to the List-Unsubscribe address.
        let one_click = Body::Form(&[("List-Unsubscribe", "One-Click")]);
        let left = send(&app, Method::POST, &unsubscribe, None, one_click).await;
        assert_eq!(left.status, 200);
        declare(&app, "After leaving", serde_json::json!({}), true).await;
        dispatched(&app).await;
        assert_eq!(
            smtp.messages().len(),
            2,
            "{backend:?}: nothing after unsubscribing"
        );
        assert_eq!(subscribers(&app).await[0]["state"], "unsubscribed");
        // The confirmation link of a cancelled subscription no longer works.
        let stale = app.client.post(&link).send().await.unwrap();
        assert_eq!(stale.status(), 400);
        assert_eq!(subscribers(&app).await[0]["state"], "unsubscribed");
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
        // Two outages, one after the other, each with its own incident: without a group
        // window the database's failure a few seconds later would join the API's incident.
        let separate = config(&api.url, &db.url, None).replace(
            "auto_resolve_after = \"2s\"\n",
            "auto_resolve_after = \"2s\"\ngroup_window = \"0s\"\n",
        );
        let app = spawn_app_on(backend, &separate).await;

        let r = subscribe(
            &app,
            serde_json::json!({"subscriber": {
                "endpoint": format!("{}/api", api_hook.url),
                "component_ids": ["api"],
            }}),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.text);
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
        let incident = eventually(WAIT, "the API incident at the API subscriber", || async {
            let first = incident_payloads(&api_hook.accepted()).into_iter().next()?;
            first["incident"]["id"].as_str().map(str::to_owned)
        })
        .await;
        // The outage's other event, the component's change, has reached the API subscriber
        // too; then all the outage made is in the outbox, and the outbox is done.
        eventually(WAIT, "the API's change at the API subscriber", || async {
            api_hook
                .accepted()
                .iter()
                .map(Received::json)
                .find(|v| v.get("component_update").is_some())
        })
        .await;
        sync(&app, &incident).await;
        dispatched(&app).await;
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

        let refused = |r: Answer, field: &str, words: &str| {
            assert_eq!(r.status, 422, "{backend:?} {field}: {}", r.text);
            let e = r.json;
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
        assert_eq!(unknown_key.json["error"]["field"], "subscriber.mood");
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
        let r = get(&app, "/unsubscribe?token=abc.u.0.00", None).await;
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
    assert_eq!(created.status, 202, "{}", created.text);
    let id = id_of(&app, "bob@example.com").await;

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
        let url = format!("{}/subscribe/confirm?token={token}", app.base_url);
        let r = get(&app, &url, None).await;
        assert_eq!(r.status, 400, "{token}: {}", r.text);
        assert!(r.text.contains("This link is not valid"));
        assert!(!r.text.contains("<form"), "no button for a bad link");
        // From another address: each failure counts against the client's allowance.
        let r = send_from(&client_from(50), Method::POST, &url, None, Body::None).await;
        assert_eq!(r.status, 400, "{token}: {}", r.text);
    }
    let r = get(&app, "/subscribe/confirm", None).await;
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
        assert_eq!(r.json["error"]["field"], "subscriber.email");
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
    assert_eq!(created.status, 202, "{}", created.text);
    let id = id_of(&app, "https://hooks.example.com/limited").await;
    for i in 1..10 {
        let r = subscribe(&app, serde_json::json!({"subscriber": {}})).await;
        assert_eq!(r.status, 422, "request {i}: {}", r.text);
    }
    let r = subscribe(&app, serde_json::json!({"subscriber": {}})).await;
    assert_eq!(r.status, 429, "{}", r.text);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=6).contains(&wait), "{wait}");
    assert_eq!(r.json["error"]["status"], 429);
    // The form and the links share the client's allowance.
    let r = subscribe_form(&app, &[("endpoint", "https://hooks.example.com")]).await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert!(r.text.contains("Too many requests"));
    let r = get(&app, "/unsubscribe?token=x", None).await;
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
    let r = get(&app, &link, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        subscribers(&app).await[0]["state"],
        "active",
        "opening changes nothing"
    );
    let one_click = Body::Form(&[("List-Unsubscribe", "One-Click")]);
    let r = send(&app, Method::POST, &link, None, one_click).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Nothing else was stored, and the rest of the site is not limited.
    let listed = subscribers(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["state"], "unsubscribed");
    assert_eq!(app.get("/api/v2/status.json").await.status(), 200);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// What a hostile public cannot do.

/// `[subscriptions]` asking `dns` for webhook names, with `extra` lines.
fn resolver_config(dns: &FakeDns, extra: &str) -> String {
    format!(
        "\n[subscriptions]\nresolver = \"{}\"\n{extra}\n",
        dns.addr()
    )
}

/// The dead deliveries to `destination`, as `GET /api/v1/deliveries?state=dead` shows them.
async fn dead_deliveries_to(app: &TestApp, destination: &str) -> Vec<Value> {
    deliveries(app, Some("dead"))
        .await
        .into_iter()
        .filter(|d| d["destination"] == destination)
        .collect()
}

#[tokio::test]
async fn every_spelling_of_a_non_public_address_is_refused_and_the_receiver_is_never_hit() {
    for backend in backends() {
        let api = FakeTarget::start().await;
        let db = FakeTarget::start().await;
        // Listening on loopback, where no stranger's webhook may reach.
        let receiver = FakeReceiver::start().await;
        let port = receiver.url.rsplit(':').next().unwrap().to_owned();
        // The defaults: no `[subscriptions]` at all.
        let app = spawn_app_on(backend, &config_with(&api.url, &db.url, None, "")).await;
        let forms = [
            format!("http://127.0.0.1:{port}/hook"),
            format!("http://localhost:{port}/hook"),
            format!("http://[::1]:{port}/hook"),
            format!("http://0.0.0.0:{port}/hook"),
            format!("http://0:{port}/hook"),
            format!("http://2130706433:{port}/hook"),
            format!("http://0x7f.0.0.1:{port}/hook"),
            format!("http://0x7f000001:{port}/hook"),
            format!("http://017700000001:{port}/hook"),
            format!("http://0177.0.0.1:{port}/hook"),
            format!("http://127.1:{port}/hook"),
            format!("http://[::ffff:127.0.0.1]:{port}/hook"),
            format!("http://[::ffff:7f00:1]:{port}/hook"),
            format!("http://[::127.0.0.1]:{port}/hook"),
            format!("http://[64:ff9b::7f00:1]:{port}/hook"),
            format!("http://[2002:7f00:1::1]:{port}/hook"),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "http://0xa9fea9fe/latest/meta-data/".to_owned(),
            "http://[fe80::1]/hook".to_owned(),
            "http://10.0.0.5/hook".to_owned(),
            "http://172.16.0.1/hook".to_owned(),
            "https://192.168.1.1/hook".to_owned(),
            "http://100.64.0.1/hook".to_owned(),
            "http://224.0.0.1/hook".to_owned(),
            "http://[ff02::1]/hook".to_owned(),
            "http://255.255.255.255/hook".to_owned(),
            "http://240.0.0.1/hook".to_owned(),
            "http://192.0.0.8/hook".to_owned(),
            "http://192.0.2.1/hook".to_owned(),
            "http://198.18.0.1/hook".to_owned(),
            "http://[2001:db8::1]/hook".to_owned(),
            "http://[fd00::1]/hook".to_owned(),
            "http://[fec0::1]/hook".to_owned(),
        ];
        for (i, url) in forms.iter().enumerate() {
            // Spread over client addresses: each may make 10 requests a minute.
            let client = client_from(10 + u8::try_from(i / 5).unwrap());
            let r = subscribe_from(
                &app,
                &client,
                serde_json::json!({"subscriber": {"endpoint": url}}),
            )
            .await;
            assert_eq!(r.status, 422, "{backend:?} {url}: {}", r.text);
            let e = r.json;
            assert_eq!(e["error"]["field"], "subscriber.endpoint", "{url}");
            let message = e["error"]["message"].as_str().unwrap();
            assert!(
                message.ends_with("; subscriber webhooks reach public addresses only"),
                "{url}: {message}"
            );
        }
        // The page's form says the same, in words.
        let r = subscribe_form_from(
            &app,
            &client_from(30),
            &[("endpoint", "http://2130706433/hook")],
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert!(
            r.text.contains(
                "Webhook URL: 127.0.0.1 is a loopback address; subscriber webhooks reach public \
                 addresses only."
            ),
            "{}",
            r.text
        );
        // Nothing stored, nothing sent, even when there is news.
        declare(&app, "News for nobody", serde_json::json!({}), true).await;
        dispatched(&app).await;
        assert!(subscribers(&app).await.is_empty(), "{backend:?}");
        assert_eq!(
            app.db.query_i64("SELECT COUNT(*) FROM subscribers").await,
            0
        );
        assert!(receiver.received().is_empty(), "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_name_that_resolves_privately_is_refused_and_the_allow_list_is_honoured() {
    for backend in backends() {
        let api = FakeTarget::start().await;
        let db = FakeTarget::start().await;
        let dns = FakeDns::start().await;
        let receiver = FakeReceiver::start().await;
        let port = receiver.url.rsplit(':').next().unwrap().to_owned();
        dns.set_records("intranet.public.test", "A", &["10.0.0.5"]);
        dns.set_records("metadata.public.test", "A", &["169.254.169.254"]);
        dns.set_records("hooks.public.test", "A", &["127.0.0.1"]);
        let subscriptions = resolver_config(&dns, r#"allowed_webhook_networks = ["127.0.0.1/32"]"#);
        let app = spawn_app_on(
            backend,
            &config_with(&api.url, &db.url, None, &subscriptions),
        )
        .await;

        let refused = subscribe(
            &app,
            serde_json::json!({"subscriber": {"endpoint": "https://intranet.public.test/hook"}}),
        )
        .await;
        assert_eq!(refused.status, 422, "{backend:?}: {}", refused.text);
        assert_eq!(
            refused.json["error"],
            serde_json::json!({
                "status": 422,
                "field": "subscriber.endpoint",
                "message": "intranet.public.test resolves to 10.0.0.5, a private network \
                            address; subscriber webhooks reach public addresses only",
            })
        );
        let r = subscribe_form(&app, &[("endpoint", "http://metadata.public.test/")]).await;
        assert_eq!(r.status, 422);
        assert!(
            r.text
                .contains("metadata.public.test resolves to 169.254.169.254, a link-local address"),
            "{}",
            r.text
        );
        // Outside the allow-list, loopback is still refused.
        for url in [
            format!("http://[::1]:{port}/hook"),
            format!("http://127.0.0.2:{port}/hook"),
        ] {
            let r = subscribe(&app, serde_json::json!({"subscriber": {"endpoint": url}})).await;
            assert_eq!(r.status, 422, "{url}: {}", r.text);
        }
        assert!(subscribers(&app).await.is_empty());

        // Inside it, a name that resolves there is subscribed and hears the news.
        let endpoint = format!("http://hooks.public.test:{port}/hook");
        let r = subscribe(
            &app,
            serde_json::json!({"subscriber": {"endpoint": endpoint}}),
        )
        .await;
        assert_eq!(r.status, 202, "{backend:?}: {}", r.text);
        declare(&app, "Allowed internal hook", serde_json::json!({}), true).await;
        let heard = eventually(WAIT, "the incident at the allowed webhook", || async {
            incident_payloads(&receiver.accepted()).into_iter().next()
        })
        .await;
        assert_eq!(heard["incident"]["name"], "Allowed internal hook");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_name_that_turns_private_after_subscribing_is_refused_at_delivery() {
    for backend in backends() {
        let api = FakeTarget::start().await;
        let db = FakeTarget::start().await;
        let dns = FakeDns::start().await;
        let receiver = FakeReceiver::start().await;
        let port = receiver.url.rsplit(':').next().unwrap().to_owned();
        let app = spawn_app_on(
            backend,
            &config_with(&api.url, &db.url, None, &resolver_config(&dns, "")),
        )
        .await;
        // A public address when subscribing (looked up, never connected to)…
        dns.set_records("rebind.public.test", "A", &["93.184.215.14"]);
        let endpoint = format!("http://rebind.public.test:{port}/hook");
        let r = subscribe(
            &app,
            serde_json::json!({"subscriber": {"endpoint": endpoint}}),
        )
        .await;
        assert_eq!(r.status, 202, "{backend:?}: {}", r.text);
        let id = id_of(&app, &endpoint).await;
        // …and loopback, where the receiver listens, by the time there is news.
        dns.set_records("rebind.public.test", "A", &["127.0.0.1"]);
        let asked = dns.queries().len();
        declare(&app, "Rebinding attempt", serde_json::json!({}), true).await;

        let dead = eventually(WAIT, "the refused delivery", || async {
            dead_deliveries_to(&app, &format!("subscriber:{id}"))
                .await
                .into_iter()
                .next()
        })
        .await;
        assert_eq!(
            dead["last_error"],
            "refused: rebind.public.test resolves to 127.0.0.1, a loopback address; \
             subscriber webhooks reach public addresses only",
            "{backend:?}"
        );
        assert_eq!(dead["event_kind"], "incident_opened");
        assert!(
            dns.queries().len() > asked,
            "the delivery looked the name up afresh"
        );
        assert!(receiver.received().is_empty(), "{backend:?}: never hit");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_webhook_the_configuration_no_longer_allows_is_refused_at_delivery() {
    for backend in backends() {
        let api = FakeTarget::start().await;
        let db = FakeTarget::start().await;
        let receiver = FakeReceiver::start().await;
        let app = spawn_app_on(backend, &config(&api.url, &db.url, None)).await;
        let endpoint = format!("{}/hook", receiver.url);
        let r = subscribe(
            &app,
            serde_json::json!({"subscriber": {"endpoint": endpoint}}),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.text);
        let id = id_of(&app, &endpoint).await;

        // The same database under the defaults: loopback is no longer allowed.
        let stored = app.stop().await;
        let app = spawn_app_with_db(stored, &config_with(&api.url, &db.url, None, "")).await;
        declare(
            &app,
            "After the allow-list went",
            serde_json::json!({}),
            true,
        )
        .await;
        let dead = eventually(WAIT, "the refused delivery", || async {
            dead_deliveries_to(&app, &format!("subscriber:{id}"))
                .await
                .into_iter()
                .next()
        })
        .await;
        assert_eq!(
            dead["last_error"],
            "refused: 127.0.0.1 is a loopback address; subscriber webhooks reach public \
             addresses only",
            "{backend:?}"
        );
        assert_eq!(dead["attempts"], 1, "given up at once, not retried");
        assert!(receiver.received().is_empty(), "{backend:?}: never hit");
        app.stop().await;
    }
}

#[tokio::test]
async fn opening_a_link_with_get_or_head_changes_nothing() {
    for backend in backends() {
        let api = FakeTarget::start().await;
        let db = FakeTarget::start().await;
        let smtp = FakeSmtp::start().await;
        let app = spawn_app_on(backend, &config(&api.url, &db.url, Some(&smtp))).await;
        let r = subscribe(
            &app,
            serde_json::json!({"subscriber": {"email": "cat@example.com"}}),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.text);
        let confirmation = eventually(WAIT, "the confirmation e-mail", || async {
            smtp.messages().into_iter().next()
        })
        .await;
        let link = line_with(&confirmation.text().unwrap(), "/subscribe/confirm?token=").to_owned();

        // What a mail scanner does: open it, again and again, and ask for its headers.
        for _ in 0..3 {
            let page = get(&app, &link, None).await;
            assert_eq!(page.status, 200, "{backend:?}: {}", page.text);
            assert!(page
                .text
                .contains(r#"<form class="subscribe" method="post">"#));
            assert!(page
                .text
                .contains(r#"<button type="submit">Confirm subscription</button>"#));
            assert_eq!(head(&app, &link).await, 200);
        }
        // No inline style, no event handler: the strict Content-Security-Policy holds.
        let page = get(&app, &link, None).await.text;
        assert!(!page.contains("style="), "{page}");
        assert!(!has_event_handler(&page), "{page}");
        assert_eq!(
            subscribers(&app).await[0]["state"],
            "pending",
            "{backend:?}"
        );
        // A bad link shows no button and changes nothing either.
        let broken = format!("{link}x");
        assert_eq!(get(&app, &broken, None).await.status, 400);
        assert_eq!(head(&app, &broken).await, 400);
        assert_eq!(subscribers(&app).await[0]["state"], "pending");

        // Pressing the button confirms.
        let (_, confirmed) = press(&app, &link).await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.text);
        assert_eq!(subscribers(&app).await[0]["state"], "active");

        declare(&app, "Something to read", serde_json::json!({}), true).await;
        let mail = eventually(WAIT, "the incident e-mail", || async {
            smtp.messages().into_iter().nth(1)
        })
        .await;
        let unsubscribe = line_with(&mail.text().unwrap(), "/unsubscribe?token=")
            .trim_start_matches("Unsubscribe: ")
            .to_owned();
        for _ in 0..3 {
            let page = get(&app, &unsubscribe, None).await;
            assert_eq!(page.status, 200, "{}", page.text);
            assert!(page
                .text
                .contains(r#"<button type="submit">Unsubscribe</button>"#));
            assert_eq!(head(&app, &unsubscribe).await, 200);
        }
        assert_eq!(subscribers(&app).await[0]["state"], "active", "{backend:?}");
        // The page's button posts the token in the form: that alone is enough.
        let token = unsubscribe.split("token=").nth(1).unwrap();
        let left = post_form(&app, "/unsubscribe", &[("token", token)]).await;
        assert_eq!(left.status, 200);
        assert_eq!(subscribers(&app).await[0]["state"], "unsubscribed");
        app.stop().await;
    }
}

/// Whether `html` holds an `on…=` event handler attribute.
fn has_event_handler(html: &str) -> bool {
    html.split(|c: char| c.is_whitespace()).any(|word| {
        word.starts_with("on")
            && word.contains('=')
            && word[2..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase())
    })
}

#[tokio::test]
async fn subscribing_answers_alike_for_new_pending_and_confirmed_addresses() {
    for backend in backends() {
        let api = FakeTarget::start().await;
        let db = FakeTarget::start().await;
        let smtp = FakeSmtp::start().await;
        let hook = FakeReceiver::start().await;
        let app = spawn_app_on(backend, &config(&api.url, &db.url, Some(&smtp))).await;
        let confirm = |to: &'static str| {
            let smtp = &smtp;
            let app = &app;
            async move {
                let mail = eventually(WAIT, "the confirmation e-mail", || async {
                    smtp.messages().into_iter().find(|m| m.to == [to])
                })
                .await;
                let link = line_with(&mail.text().unwrap(), "/subscribe/confirm?token=").to_owned();
                assert_eq!(press(app, &link).await.1.status, 200);
            }
        };

        // The API: new, pending, confirmed.
        let client = client_from(40);
        let body = serde_json::json!({"subscriber": {"email": "dan@example.com", "component_ids": ["api"]}});
        let new = subscribe_from(&app, &client, body.clone()).await;
        assert_eq!(new.status, 202, "{backend:?}: {}", new.text);
        let pending = subscribe_from(&app, &client, body.clone()).await;
        confirm("dan@example.com").await;
        let confirmed = subscribe_from(&app, &client, body.clone()).await;
        assert_eq!(subscribers(&app).await[0]["state"], "active");
        for (what, r) in [("pending", &pending), ("confirmed", &confirmed)] {
            assert_eq!(r.status, new.status, "{backend:?} {what}");
            assert_eq!(r.text.as_bytes(), new.text.as_bytes(), "{backend:?} {what}");
        }
        assert_eq!(
            new.json,
            serde_json::json!({"subscriber": {
                "mode": "email",
                "email": "dan@example.com",
                "component_ids": ["api"],
                "skip_confirmation_notification": false,
                "quarantined_at": null,
                "purge_at": null,
            }})
        );

        // The form: new, pending, confirmed.
        let client = client_from(41);
        let fields = [("email", "eve@example.com")];
        let new = subscribe_form_from(&app, &client, &fields).await;
        assert_eq!(new.status, 200, "{}", new.text);
        assert!(new.text.contains("Check your inbox"));
        let pending = subscribe_form_from(&app, &client, &fields).await;
        confirm("eve@example.com").await;
        let confirmed = subscribe_form_from(&app, &client, &fields).await;
        for (what, r) in [("pending", &pending), ("confirmed", &confirmed)] {
            assert_eq!(r.status, new.status, "{backend:?} form {what}");
            assert_eq!(
                r.text.as_bytes(),
                new.text.as_bytes(),
                "{backend:?} form {what}"
            );
        }
        // A pending address asked again within ten minutes got no second e-mail: every
        // request has been answered, so all they made is in the outbox, and it is done.
        dispatched(&app).await;
        for to in ["dan@example.com", "eve@example.com"] {
            let sent = smtp.messages().into_iter().filter(|m| m.to == [to]).count();
            assert_eq!(sent, 1, "{backend:?}: confirmations to {to}");
        }

        // Webhooks: new and known, through the API and the form.
        let client = client_from(42);
        let endpoint = format!("{}/alike", hook.url);
        let body = serde_json::json!({"subscriber": {"endpoint": endpoint}});
        let new = subscribe_from(&app, &client, body.clone()).await;
        let known = subscribe_from(&app, &client, body).await;
        assert_eq!(new.status, 202, "{}", new.text);
        assert_eq!(
            (known.status, known.text.as_bytes()),
            (new.status, new.text.as_bytes())
        );
        let endpoint = format!("{}/alike-form", hook.url);
        let fields = [("endpoint", endpoint.as_str())];
        let first = subscribe_form_from(&app, &client, &fields).await;
        let second = subscribe_form_from(&app, &client, &fields).await;
        assert_eq!(first.status, 200, "{}", first.text);
        assert_eq!(
            (second.status, second.text.as_bytes()),
            (first.status, first.text.as_bytes())
        );
        assert_eq!(subscribers(&app).await.len(), 4, "{backend:?}");
        app.stop().await;
    }
}

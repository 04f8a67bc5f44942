//! What stays private, end to end, on SQLite and (when `PHAROS_TEST_POSTGRES_URL` is set)
//! PostgreSQL:
//! - an incident declared with `public: false` is on no public surface — the page, the v2
//!   JSON, the history and its feeds, its own page, a webhook subscriber, an e-mail
//!   subscriber — after it is declared, after each update and after it is resolved, and its
//!   component statuses are held back; once a person publishes it, it appears everywhere and
//!   subscribers hear of it once;
//! - monitor secrets that came from `${ENV}` (a header value, a URL's password, a request
//!   body, a heartbeat token) are sent to the target but never reach the database (the SQLite
//!   file and its WAL are read byte by byte; on PostgreSQL every row of every table), the
//!   log, or the admin API; the stored definition changes when a secret does and not
//!   otherwise, and a definition stored by an older version in clear is rewritten at start.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::support::config::Config;
use crate::support::http::{self, patch, put, send_from, Answer, Body};
use crate::support::{free_port, PHAROS};
use pharos_testkit::serde_json_value::Value;
use pharos_testkit::{
    backends, eventually, spawn_app_on, Backend, FakeReceiver, FakeSmtp, FakeTarget, TestApp,
    TestDb,
};
use reqwest::Method;

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "privacy-test-token-0123456789";

/// A string no test has used before: secrets and names to look for.
fn unique(prefix: &str) -> String {
    let a = RandomState::new().hash_one(prefix);
    let b = RandomState::new().hash_one(std::process::id());
    format!("{prefix}{a:016x}{b:016x}")
}

// ---------------------------------------------------------------------------------------
// Private incidents

/// The API with a monitor and a canary component nothing drives; `[smtp]`; a webhook
/// notifier for responders.
fn incident_config(api: &str, smtp: &FakeSmtp, ops: &str) -> String {
    Config::acme()
        .admin("alice", TOKEN)
        .smtp(smtp)
        .section(
            r#"# The webhook subscriber's receiver listens on 127.0.0.1, which subscriber webhooks
# may not reach by default (they reach public addresses only): allow loopback for this test.
[subscriptions]
allowed_webhook_networks = ["127.0.0.0/8"]"#,
        )
        .component("api", "API")
        .component("canary", "Canary")
        .http_monitor("api-health", &format!("{api}/health"), "api")
        .section(&format!(
            "[[notifiers]]\nid = \"ops\"\ntype = \"webhook\"\nurl = \"{ops}/ops\""
        ))
        .build()
}

/// `method path` as alice, with `body` as JSON.
async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Answer {
    let body = body.as_ref().map_or(Body::None, Body::Json);
    http::send(app, method, path, Some(TOKEN), body).await
}

async fn text(app: &TestApp, path: &str) -> (u16, String) {
    let r = app.get(path).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Every public surface that could name an incident.
const SURFACES: [&str; 10] = [
    "/",
    "/history",
    "/history.atom",
    "/history.rss",
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
];

/// How many deliveries the outbox holds for `destination`. The outbox rows of a change are
/// written in the same transaction as the change, so once a command has answered, its rows
/// are all there.
async fn deliveries_to(app: &TestApp, destination: &str) -> usize {
    let r = send(app, Method::GET, "/api/v1/deliveries?limit=500", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["destination"] == destination)
        .count()
}

/// Makes a visible change the test can wait for — the `canary` component, which no
/// subscriber follows, degraded or back — so that what is read afterwards was rendered after
/// every earlier step. Returns the page indicator that the canary alone accounts for.
async fn barrier(app: &TestApp, step: usize) -> &'static str {
    let (status, indicator) = if step.is_multiple_of(2) {
        let degraded = serde_json::json!({"status": "degraded_performance"});
        let r = put(
            app,
            "/api/v1/components/canary/override",
            Some(TOKEN),
            &degraded,
        )
        .await;
        assert!(r.status < 300, "{}", r.text);
        ("degraded_performance", "minor")
    } else {
        let r = send(
            app,
            Method::DELETE,
            "/api/v1/components/canary/override",
            None,
        )
        .await;
        assert!(r.status < 300, "{}", r.text);
        ("operational", "none")
    };
    app.wait_for_component("canary", status, WAIT).await;
    indicator
}

struct Subscribers<'a> {
    hook: &'a FakeReceiver,
    smtp: &'a FakeSmtp,
    webhook_id: String,
    email_id: String,
    /// Deliveries to each before the incident, and e-mails sent.
    before: (usize, usize, usize),
}

/// Asserts that incident `id` named `name` is on no public surface, that the components it
/// asks for still show what the monitors say, and that no subscriber heard of it.
async fn assert_private(app: &TestApp, subs: &Subscribers<'_>, id: &str, name: &str, step: usize) {
    let indicator = barrier(app, step).await;
    for path in SURFACES {
        let (status, body) = text(app, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            !body.contains(id) && !body.contains(name),
            "step {step}: {path} shows the private incident:\n{body}"
        );
    }
    let (status, _) = text(app, &format!("/incidents/{id}")).await;
    assert_eq!(status, 404, "step {step}: its page");
    let summary = app.get_json("/api/v2/summary.json").await;
    assert_eq!(
        summary["status"]["indicator"], indicator,
        "step {step}: {summary}"
    );
    assert!(summary["incidents"].as_array().unwrap().is_empty());
    assert_eq!(
        app.component_status("api").await,
        "operational",
        "step {step}"
    );
    assert_eq!(
        app.get_json("/api/v2/status.json").await["status"]["indicator"],
        indicator
    );
    let (webhook, email, mails) = subs.before;
    assert_eq!(
        deliveries_to(app, &format!("subscriber:{}", subs.webhook_id)).await,
        webhook,
        "step {step}: nothing queued for the webhook subscriber"
    );
    assert_eq!(
        deliveries_to(app, &format!("subscriber:{}", subs.email_id)).await,
        email,
        "step {step}: nothing queued for the e-mail subscriber"
    );
    assert!(subs.hook.received().iter().all(|r| !r.body.contains(id)));
    assert_eq!(subs.smtp.messages().len(), mails);
}

/// Subscribes a webhook and an e-mail address (confirmed), both following `api` only.
async fn subscribe(app: &TestApp, hook: &FakeReceiver, smtp: &FakeSmtp) -> (String, String) {
    let post = |body: Value| async move {
        let r = http::post(app, "/api/v2/subscribers.json", None, &body).await;
        // The same answer for every address, without an id: see the subscribers tests.
        assert_eq!(r.status, 202, "{r:?}");
        assert!(!r.json.is_null(), "{r:?}");
    };
    let endpoint = format!("{}/hook", hook.url);
    post(serde_json::json!({"subscriber": {
        "endpoint": endpoint, "component_ids": ["api"]}}))
    .await;
    post(serde_json::json!({"subscriber": {
        "email": "ann@example.com", "component_ids": ["api"]}}))
    .await;
    let listed = send(app, Method::GET, "/api/v1/subscribers", None).await;
    let id_of = |address: &str| {
        listed
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["endpoint"] == address || s["email"] == address)
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let webhook = id_of(&endpoint);
    let email = id_of("ann@example.com");
    let mail = eventually(WAIT, "the confirmation e-mail", || async {
        smtp.messages().into_iter().next()
    })
    .await;
    let body = mail.text().unwrap();
    let link = body
        .lines()
        .map(str::trim)
        .find(|l| l.contains("/subscribe/confirm?token="))
        .unwrap()
        .to_owned();
    // The link confirms on POST (a page with a button on GET) or, in older versions, on GET.
    let posted = app.client.post(&link).send().await.unwrap();
    if posted.status() == reqwest::StatusCode::METHOD_NOT_ALLOWED {
        assert!(app
            .client
            .get(&link)
            .send()
            .await
            .unwrap()
            .status()
            .is_success());
    } else {
        assert!(posted.status().is_success(), "{}", posted.status());
    }
    let subscribers = send(app, Method::GET, "/api/v1/subscribers", None).await;
    assert!(
        subscribers
            .json
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "active"),
        "{}",
        subscribers.text
    );
    (webhook, email)
}

async fn declare(app: &TestApp, name: &str, components: Value) -> String {
    let r = send(
        app,
        Method::POST,
        "/api/v1/incidents",
        Some(serde_json::json!({
            "name": name,
            "body": format!("{name}: looking into it."),
            "components": components,
            "public": false,
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["public"], false);
    r.json["id"].as_str().unwrap().to_owned()
}

async fn post_update(app: &TestApp, id: &str, body: Value) -> Value {
    let r = send(
        app,
        Method::POST,
        &format!("/api/v1/incidents/{id}/updates"),
        Some(body),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json
}

#[tokio::test]
async fn a_private_incident_is_on_no_public_surface_until_a_person_publishes_it() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let hook = FakeReceiver::start().await;
        let ops = FakeReceiver::start().await;
        let smtp = FakeSmtp::start().await;
        let app = spawn_app_on(backend, &incident_config(&target.url, &smtp, &ops.url)).await;
        let (webhook_id, email_id) = subscribe(&app, &hook, &smtp).await;
        app.wait_for_component("api", "operational", WAIT).await;
        let subs = Subscribers {
            hook: &hook,
            smtp: &smtp,
            before: (
                deliveries_to(&app, &format!("subscriber:{webhook_id}")).await,
                deliveries_to(&app, &format!("subscriber:{email_id}")).await,
                smtp.messages().len(),
            ),
            webhook_id,
            email_id,
        };

        // Declared private, asking for a major outage of the API: nothing shows.
        let name = unique("Quiet trouble ");
        let id = declare(&app, &name, serde_json::json!({"api": "major_outage"})).await;
        assert_private(&app, &subs, &id, &name, 0).await;
        // The responders' notifier hears of it all the same.
        eventually(WAIT, "the responders' notification", || async {
            ops.accepted().into_iter().find(|r| {
                r.body.contains(&id) && r.header("x-pharos-event") == Some("incident_opened")
            })
        })
        .await;

        // Updates, one with new component statuses, then the resolution: still nothing.
        let updated = post_update(
            &app,
            &id,
            serde_json::json!({"status": "identified", "body": "Found it.",
                "components": {"api": "partial_outage"}}),
        )
        .await;
        assert_eq!(updated["public"], false, "an update does not publish");
        assert_eq!(updated["pending_components"]["api"], "partial_outage");
        assert_private(&app, &subs, &id, &name, 1).await;
        post_update(
            &app,
            &id,
            serde_json::json!({"status": "monitoring", "body": "Watching."}),
        )
        .await;
        assert_private(&app, &subs, &id, &name, 2).await;
        let resolved = post_update(
            &app,
            &id,
            serde_json::json!({"status": "resolved", "body": "Fixed."}),
        )
        .await;
        assert_eq!(resolved["public"], false);
        assert!(resolved["pending_components"]
            .as_object()
            .unwrap()
            .is_empty());
        assert_private(&app, &subs, &id, &name, 3).await;
        let detail = send(&app, Method::GET, &format!("/api/v1/incidents/{id}"), None)
            .await
            .json;
        assert_eq!(detail["updates"].as_array().unwrap().len(), 4, "{detail}");
        assert!(detail["published_at"].is_null());

        // A person publishes it: it appears, resolved, with its history; subscribers hear of
        // it once; the API it asked about stays as its monitor says (it is over).
        let public = serde_json::json!({"public": true});
        let r = patch(
            &app,
            &format!("/api/v1/incidents/{id}"),
            Some(TOKEN),
            &public,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["public"], true);
        let incident = eventually(WAIT, "the incident in incidents.json", || async {
            app.get_json("/api/v2/incidents.json").await["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == id.as_str())
                .cloned()
        })
        .await;
        assert_eq!(incident["status"], "resolved", "{backend:?}");
        assert_eq!(incident["incident_updates"].as_array().unwrap().len(), 4);
        for path in ["/history", "/history.atom", "/history.rss"] {
            let (_, body) = text(&app, path).await;
            assert!(body.contains(&name), "{path}: {body}");
        }
        let (status, page) = text(&app, &format!("/incidents/{id}")).await;
        assert_eq!(status, 200);
        assert!(page.contains(&name));
        let heard = eventually(WAIT, "the webhook subscriber to hear of it", || async {
            hook.accepted().into_iter().find(|r| r.body.contains(&id))
        })
        .await;
        assert_eq!(heard.json()["incident"]["status"], "resolved");
        let mail = eventually(WAIT, "the e-mail subscriber to hear of it", || async {
            smtp.messages()
                .into_iter()
                .find(|m| m.subject().is_some_and(|s| s.contains(&name)))
        })
        .await;
        assert_eq!(mail.to, ["ann@example.com"]);
        let webhook_rows = deliveries_to(&app, &format!("subscriber:{}", subs.webhook_id)).await;
        let email_rows = deliveries_to(&app, &format!("subscriber:{}", subs.email_id)).await;
        assert_eq!(
            (webhook_rows, email_rows),
            (subs.before.0 + 1, subs.before.1 + 1),
            "{backend:?}: one message each"
        );
        assert_eq!(app.component_status("api").await, "operational");

        // Another, published by an update: the status it asked for while private takes
        // effect then, and the subscribers hear of both.
        let second = unique("Payments slow ");
        let id2 = declare(&app, &second, serde_json::json!({"api": "major_outage"})).await;
        assert_private(&app, &subs_after(&subs, &app).await, &id2, &second, 4).await;
        let published = post_update(
            &app,
            &id2,
            serde_json::json!({"status": "identified", "body": "Telling everyone.",
                "public": true}),
        )
        .await;
        assert_eq!(published["public"], true);
        app.wait_for_component("api", "major_outage", WAIT).await;
        let (_, page) = text(&app, "/").await;
        assert!(page.contains(&second), "{page}");
        let unresolved = app.get_json("/api/v2/incidents/unresolved.json").await;
        assert_eq!(unresolved["incidents"][0]["id"], id2.as_str());
        eventually(WAIT, "the component change at the webhook", || async {
            hook.accepted().into_iter().find(|r| {
                let v = r.json();
                v["component"]["id"] == "api"
                    && v["component_update"]["new_status"] == "major_outage"
            })
        })
        .await;
        app.stop().await;
    }
}

/// The subscribers' counts as they stand now (after an earlier publication).
async fn subs_after<'a>(subs: &Subscribers<'a>, app: &TestApp) -> Subscribers<'a> {
    Subscribers {
        hook: subs.hook,
        smtp: subs.smtp,
        webhook_id: subs.webhook_id.clone(),
        email_id: subs.email_id.clone(),
        before: (
            deliveries_to(app, &format!("subscriber:{}", subs.webhook_id)).await,
            deliveries_to(app, &format!("subscriber:{}", subs.email_id)).await,
            subs.smtp.messages().len(),
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Secrets at rest

struct Secrets {
    password: String,
    header: String,
    body: String,
    heartbeat: String,
}

impl Secrets {
    fn new() -> Secrets {
        Secrets {
            password: unique("pw"),
            header: unique("hdr"),
            body: unique("body"),
            heartbeat: unique("hb"),
        }
    }

    fn all(&self) -> [&str; 4] {
        [&self.password, &self.header, &self.body, &self.heartbeat]
    }
}

/// Monitors whose secrets all come from the environment.
fn secrets_config(target: &str) -> String {
    let authority = target.trim_start_matches("http://");
    let secret_url = |path: &str| format!("http://probe:${{PRIVACY_PASSWORD}}@{authority}{path}");
    let secret_header = r#"headers = { "X-Api-Key" = "${PRIVACY_HEADER}" }"#;
    // No `[page]`: the defaults.
    Config::new()
        .admin("alice", TOKEN)
        .component("api", "API")
        .http_monitor("api-health", &secret_url("/health"), "api")
        .with(secret_header)
        .with(
            r#"method = "POST"
body = "${PRIVACY_BODY}""#,
        )
        .monitor("db-metrics", "prometheus", "api")
        .with(&format!("url = \"{}\"", secret_url("/metrics")))
        .with(secret_header)
        .with("series = \"db_connections_open\"\nthreshold = 500")
        .section(
            r#"[[monitors]]
id = "nightly"
type = "heartbeat"
token = "${PRIVACY_HEARTBEAT}"
period = "5m"
components = ["api"]"#,
        )
        .section(&format!(
            "[self_check]\ntargets = [\"{}\"]\ninterval = \"1s\"",
            secret_url("/")
        ))
        .build()
}

/// The real binary, serving `config` on `db` with `secrets` in its environment; its log goes
/// to `log`.
struct Served {
    child: Child,
    port: u16,
}

fn serve(dir: &Path, db: &TestDb, secrets: &Secrets, log: &Path) -> Served {
    let port = free_port();
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new(PHAROS)
        .current_dir(dir)
        .args(["serve", "--config", "pharos.toml"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database", &db.url])
        .env("PRIVACY_PASSWORD", &secrets.password)
        .env("PRIVACY_HEADER", &secrets.header)
        .env("PRIVACY_BODY", &secrets.body)
        .env("PRIVACY_HEARTBEAT", &secrets.heartbeat)
        .env(
            "PHAROS_LOG",
            "info,pharos=debug,pharos_server=debug,pharos_engine=debug,pharos_probe=debug,\
             pharos_web=debug,pharos_store=debug,sqlx=warn",
        )
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    Served { child, port }
}

impl Served {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn admin(&self, client: &reqwest::Client, path: &str) -> String {
        let r = send_from(
            client,
            Method::GET,
            &self.url(path),
            Some(TOKEN),
            Body::None,
        )
        .await;
        assert!((200..300).contains(&r.status), "{path}: {}", r.status);
        r.text
    }

    /// SIGTERM, then the clean exit the binary promises.
    async fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = eventually(WAIT, "pharos to stop", || {
            let done = self.child.try_wait().unwrap();
            async move { done }
        })
        .await;
        assert_eq!(status.code(), Some(0));
    }
}

async fn wait_serving(client: &reqwest::Client, served: &Served) {
    eventually(WAIT, "pharos to serve", || async {
        let r = client.get(served.url("/healthz")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
}

/// Every byte Pharos keeps in `db`: the SQLite file and its WAL as bytes, or on PostgreSQL
/// every row of every table of its schema as text.
async fn stored(db: &TestDb) -> Vec<u8> {
    use sqlx::Connection as _;
    match db.backend {
        Backend::Sqlite => {
            let file = PathBuf::from(db.url.trim_start_matches("sqlite://"));
            let mut bytes = std::fs::read(&file).unwrap();
            for suffix in ["-wal", "-journal"] {
                let mut name = file.clone().into_os_string();
                name.push(suffix);
                if let Ok(more) = std::fs::read(PathBuf::from(name)) {
                    bytes.extend(more);
                }
            }
            bytes
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
            )
            .fetch_all(&mut c)
            .await
            .unwrap();
            assert!(tables.iter().any(|t| t == "monitors"), "{tables:?}");
            let mut all = String::new();
            for table in tables {
                // Table names come from the catalogue, quoted.
                let sql = format!(
                    "SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \"{}\" t",
                    table.replace('"', "\"\"")
                );
                let rows: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
                all.push_str(&rows);
                all.push('\n');
            }
            c.close().await.unwrap();
            all.into_bytes()
        }
    }
}

fn find(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn assert_absent(what: &str, haystack: &[u8], secrets: &Secrets) {
    for secret in secrets.all() {
        assert!(!find(haystack, secret), "{what} holds the secret {secret}");
    }
}

async fn monitor_updated_at(db: &TestDb, id: &str) -> i64 {
    db.query_i64(&format!(
        "SELECT updated_at FROM monitors WHERE id = '{id}'"
    ))
    .await
}

#[tokio::test]
async fn monitor_secrets_from_the_environment_never_reach_the_database() {
    use base64::Engine as _;
    for backend in backends() {
        let target = FakeReceiver::start().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pharos.toml"), secrets_config(&target.url)).unwrap();
        let db = TestDb::new(backend).await;
        let secrets = Secrets::new();
        let client = reqwest::Client::new();
        let log = dir.path().join("pharos.log");
        let served = serve(dir.path(), &db, &secrets, &log);
        wait_serving(&client, &served).await;

        // The checks run with every secret: header, body, and the URL's user information as
        // Basic credentials.
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("probe:{}", secrets.password))
        );
        eventually(WAIT, "checks sent with their secrets", || async {
            let seen = target.received();
            let health = seen.iter().filter(|r| {
                r.path == "/health"
                    && r.header("x-api-key") == Some(secrets.header.as_str())
                    && r.header("authorization") == Some(basic.as_str())
                    && r.body == secrets.body
            });
            let metrics = seen.iter().filter(|r| {
                r.path == "/metrics" && r.header("authorization") == Some(basic.as_str())
            });
            (health.count() >= 3 && metrics.count() >= 3).then_some(())
        })
        .await;
        let ping = client
            .post(served.url(&format!("/ping/{}", secrets.heartbeat)))
            .send()
            .await
            .unwrap();
        assert!(ping.status().is_success(), "{}", ping.status());

        // The admin API shows the self-check target without its password, and no secret.
        let self_check = served.admin(&client, "/api/v1/self-check").await;
        assert!(
            self_check.contains(&format!(
                "http://probe:***@{}/",
                target.url.trim_start_matches("http://")
            )),
            "{self_check}"
        );
        for path in [
            "/api/v1/self-check",
            "/api/v1/monitors",
            "/api/v1/monitors/api-health",
            "/api/v1/monitors/db-metrics",
            "/api/v1/incidents",
        ] {
            let shown = served.admin(&client, path).await;
            assert_absent(path, shown.as_bytes(), &secrets);
        }

        // The database, while running (SQLite's WAL still holds the recent writes).
        assert_absent(
            &format!("{backend:?} database, running"),
            &stored(&db).await,
            &secrets,
        );
        let first = monitor_updated_at(&db, "api-health").await;
        served.stop().await;
        assert_absent(
            &format!("{backend:?} database, stopped"),
            &stored(&db).await,
            &secrets,
        );
        assert_absent("the log", &std::fs::read(&log).unwrap(), &secrets);

        // The same secrets again: the definitions read as unchanged.
        let served = serve(dir.path(), &db, &secrets, &log);
        wait_serving(&client, &served).await;
        assert_eq!(
            monitor_updated_at(&db, "api-health").await,
            first,
            "{backend:?}"
        );
        served.stop().await;

        // A new password: a changed definition, still not stored.
        let changed = Secrets {
            password: unique("pw"),
            header: secrets.header.clone(),
            body: secrets.body.clone(),
            heartbeat: secrets.heartbeat.clone(),
        };
        let served = serve(dir.path(), &db, &changed, &log);
        wait_serving(&client, &served).await;
        assert!(
            monitor_updated_at(&db, "api-health").await > first,
            "{backend:?}: a changed password is a changed definition"
        );
        served.stop().await;
        assert_absent(
            &format!("{backend:?} database"),
            &stored(&db).await,
            &changed,
        );

        // A definition an older version stored with the header in clear is rewritten at the
        // next start (and SQLite zeroes the text it replaces: `secure_delete`).
        db.execute(&format!(
            "UPDATE monitors SET definition_json = '{{\"headers\":[[\"X-Api-Key\",\"{}\"]]}}' \
             WHERE id = 'api-health'",
            changed.header
        ))
        .await;
        let served = serve(dir.path(), &db, &changed, &log);
        wait_serving(&client, &served).await;
        let definition = db
            .query_string("SELECT definition_json FROM monitors WHERE id = 'api-health'")
            .await;
        assert!(!definition.contains(&changed.header), "{definition}");
        assert!(definition.contains("hmac-sha256:"), "{definition}");
        served.stop().await;
        // Nor does the old text linger in the file once the rewrite is checkpointed.
        if backend == Backend::Sqlite {
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").await;
        }
        assert_absent(
            &format!("{backend:?} database, upgraded"),
            &stored(&db).await,
            &changed,
        );
    }
}

//! Test support: [`spawn_app`] starts the real Pharos (config parser, store, engine, HTTP
//! server) on 127.0.0.1:0 over a fresh database and returns once it serves; [`FakeTarget`] is
//! a real HTTP server whose answers a test controls, and [`FakeSmtp`] a real SMTP server that
//! records the e-mails it is sent. No sleeps: callers poll with [`eventually`].
//!
//! The database harness ([`TestDb`]) and the DNS and SMTP fakes live in `pharos-testkit-core`,
//! which the crates below the server can use too; they are re-exported here.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pharos_server::config;
use pharos_server::{App, Settings};

pub mod relay;
pub use relay::Relay;

pub use pharos_testkit_core::dns;
pub use pharos_testkit_core::{
    backends, contract_tests, Backend, FakeDns, FakeSmtp, SmtpMessage, SmtpMode, TestDb,
    POSTGRES_ENV,
};

/// A running Pharos under test.
pub struct TestApp {
    /// The running app.
    pub app: App,
    /// Its database (kept alive, reusable for a restart).
    pub db: TestDb,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// A client for requests.
    pub client: reqwest::Client,
}

impl TestApp {
    /// GET `path`, returning the response.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .unwrap()
    }

    /// GET `path` as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json_value::Value {
        self.get(path).await.json().await.unwrap()
    }

    /// GET an admin API `path` with `token`, as JSON (panics unless it succeeds).
    pub async fn admin_json(&self, path: &str, token: &str) -> serde_json::Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// Why monitor `id` last failed, as `GET /api/v1/monitors/{id}` shows it with admin
    /// `token` (empty when its last check passed).
    pub async fn monitor_last_error(&self, id: &str, token: &str) -> String {
        let json = self
            .admin_json(&format!("/api/v1/monitors/{id}"), token)
            .await;
        json["last_error"].as_str().unwrap_or_default().to_owned()
    }

    /// Monitor `id`'s confirmed health as the admin API shows it with `token` (`unknown`,
    /// `up`, `degraded`, `down`).
    pub async fn monitor_health(&self, id: &str, token: &str) -> String {
        let json = self
            .admin_json(&format!("/api/v1/monitors/{id}"), token)
            .await;
        json["health"].as_str().unwrap_or_default().to_owned()
    }

    /// A component's status as `/api/v2/components.json` shows it, or `"absent"`.
    pub async fn component_status(&self, id: &str) -> String {
        let json = self.get_json("/api/v2/components.json").await;
        json["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["status"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| "absent".to_owned())
    }

    /// Waits (up to `limit`) until the public API shows component `id` as `want`.
    pub async fn wait_for_component(&self, id: &str, want: &str, limit: Duration) {
        eventually(
            limit,
            &format!("{id} to be {want} on the public API"),
            || async { (self.component_status(id).await == want).then_some(()) },
        )
        .await;
    }

    /// Stops the app and returns its database for a restart.
    pub async fn stop(self) -> TestDb {
        self.app.shutdown().await;
        self.db
    }
}

/// Re-export so tests need not depend on serde_json themselves.
pub mod serde_json_value {
    pub use serde_json::Value;
}

/// Parses `config_toml` exactly as `pharos serve` would (panicking with the diagnostics when
/// it is invalid).
pub fn parse_config(config_toml: &str) -> config::Config {
    match config::parse_str(config_toml, "test.toml", &|k| std::env::var(k).ok()) {
        Ok(loaded) => loaded.config,
        Err(diags) => {
            let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!("invalid test config:\n{}", lines.join("\n"))
        }
    }
}

/// Starts Pharos with `config_toml` on a fresh SQLite database.
pub async fn spawn_app(config_toml: &str) -> TestApp {
    spawn_app_on(Backend::Sqlite, config_toml).await
}

/// Starts Pharos with `config_toml` on a fresh database of `backend`.
pub async fn spawn_app_on(backend: Backend, config_toml: &str) -> TestApp {
    let db = TestDb::new(backend).await;
    spawn_app_with_db(db, config_toml).await
}

/// Starts Pharos with `config_toml` on an existing database (e.g. after [`TestApp::stop`]).
pub async fn spawn_app_with_db(db: TestDb, config_toml: &str) -> TestApp {
    let settings = Settings {
        config: parse_config(config_toml),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: db.url.clone(),
    };
    let app = App::start(settings).await.unwrap();
    let base_url = format!("http://{}", app.addr());
    TestApp {
        app,
        db,
        base_url,
        client: reqwest::Client::new(),
    }
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A real HTTP target on 127.0.0.1:0 whose status code a test sets, counting its hits.
pub struct FakeTarget {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicU64>,
    fail_every: Arc<AtomicU64>,
    fail_next: Arc<AtomicU64>,
    delay_ms: Arc<AtomicU64>,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeTarget {
    /// Starts a target answering `200 {"status":"UP"}` to every path.
    pub async fn start() -> FakeTarget {
        let status = Arc::new(AtomicU16::new(200));
        let hits = Arc::new(AtomicU64::new(0));
        let fail_every = Arc::new(AtomicU64::new(0));
        let fail_next = Arc::new(AtomicU64::new(0));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let per_path: Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>> =
            Arc::default();
        let (s, h, every, next, delay) = (
            status.clone(),
            hits.clone(),
            fail_every.clone(),
            fail_next.clone(),
            delay_ms.clone(),
        );
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (s, h, every, next, per_path, delay) = (
                s.clone(),
                h.clone(),
                every.clone(),
                next.clone(),
                per_path.clone(),
                delay.clone(),
            );
            async move {
                // Taken as the request arrives, so exactly `n` requests fail whatever the
                // timing of the test that asked for them.
                let forced = next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                h.fetch_add(1, Ordering::Relaxed);
                let wait = delay.load(Ordering::Relaxed);
                if wait > 0 {
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                let n = {
                    let mut counts = per_path.lock().unwrap();
                    let n = counts.entry(uri.path().to_owned()).or_default();
                    *n += 1;
                    *n
                };
                let every = every.load(Ordering::Relaxed);
                let code = if forced || (every > 0 && n % every == 0) {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::from_u16(s.load(Ordering::Relaxed))
                        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
                };
                let body = if code.is_success() {
                    r#"{"status":"UP"}"#
                } else {
                    r#"{"status":"DOWN"}"#
                };
                (code, [("content-type", "application/json")], body)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeTarget {
            url,
            status,
            hits,
            fail_every,
            fail_next,
            delay_ms,
            _server: server,
        }
    }

    /// Makes every later answer wait `delay` before it is sent (zero turns it off): a slow
    /// release, for latency checks.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Makes every later answer use `code`.
    pub fn set_status(&self, code: u16) {
        self.status.store(code, Ordering::Relaxed);
    }

    /// Makes every `n`th request to each path fail with 500, counting per path so that
    /// monitors sharing the target each see the pattern (0 turns it off).
    pub fn set_fail_every(&self, n: u64) {
        self.fail_every.store(n, Ordering::Relaxed);
    }

    /// Makes exactly the next `n` requests (to any path) fail with 500, whatever the status
    /// set; later ones get that status again. Unlike switching the status to 500 and back,
    /// no request in between can be caught by the switch.
    pub fn fail_next(&self, n: u64) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Requests served so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

/// One request a [`FakeReceiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Request path.
    pub path: String,
    /// Request headers, names lowercased.
    pub headers: std::collections::HashMap<String, String>,
    /// The body as text.
    pub body: String,
    /// The status it was answered with.
    pub answered: u16,
}

impl Received {
    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// A header's value, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A real HTTP receiver on 127.0.0.1:0 for webhooks: records every request and answers with a
/// status the test sets (200 by default).
pub struct FakeReceiver {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    status: Arc<AtomicU16>,
    received: Arc<std::sync::Mutex<Vec<Received>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeReceiver {
    /// Starts a receiver answering 200 to every request.
    pub async fn start() -> FakeReceiver {
        let status = Arc::new(AtomicU16::new(200));
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, r) = (status.clone(), received.clone());
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
                let (s, r) = (s.clone(), r.clone());
                async move {
                    let code = s.load(Ordering::Relaxed);
                    let headers = headers
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_owned(),
                                v.to_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect();
                    r.lock().unwrap().push(Received {
                        path: uri.path().to_owned(),
                        headers,
                        body,
                        answered: code,
                    });
                    axum::http::StatusCode::from_u16(code)
                        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeReceiver {
            url,
            status,
            received,
            _server: server,
        }
    }

    /// Makes every later answer use `code`.
    pub fn set_status(&self, code: u16) {
        self.status.store(code, Ordering::Relaxed);
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The requests it accepted (answered 2xx), in order.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }
}

//! The public surface as a stranger meets it, through the real app on a real socket: every
//! route carries the security headers (HSTS only under an https public URL), every inline
//! script and style of every page is allowed by the Content-Security-Policy and nothing else
//! is inlined, every error is JSON (HTML routes may answer HTML), and bodies are bounded.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use pharos_testkit::{eventually, spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use sha2::Digest as _;

use crate::support::config::Config;

const TOKEN: &str = "public-surface-token-0123456789";
const PING: &str = "surface-heartbeat-0123456789";

/// One component driven by a heartbeat; `[server] public_url` when given.
fn config(public_url: Option<&str>) -> String {
    let mut config = Config::acme().admin("alice", TOKEN);
    if let Some(u) = public_url {
        config = config.section(&format!("[server]\npublic_url = \"{u}\""));
    }
    config
        .component("api", "API")
        .section(&format!(
            r#"[[monitors]]
id = "api-beat"
type = "heartbeat"
token = "{PING}"
period = "1h"
components = ["api"]"#
        ))
        .build()
}

/// A response, read whole.
struct Seen {
    method: Method,
    path: String,
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn is_html(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Seen {
    let r = build(
        app.client
            .request(method.clone(), format!("{}{path}", app.base_url)),
    )
    .send()
    .await
    .unwrap();
    Seen {
        method,
        path: path.to_owned(),
        status: r.status(),
        headers: r.headers().clone(),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

/// Every public route, once each way a stranger may ask, plus the admin routes' refusals.
async fn walk(app: &TestApp) -> Vec<Seen> {
    let id = {
        let r = app
            .client
            .post(format!("{}/api/v1/incidents", app.base_url))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"name": "Slow API", "body": "Looking into it."}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json::<serde_json::Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let incident_page = format!("/incidents/{id}");
    eventually(Duration::from_secs(10), "the incident page", || async {
        (app.get(&incident_page).await.status() == 200).then_some(())
    })
    .await;
    let browser = |b: reqwest::RequestBuilder| b.header("accept", "text/html,*/*;q=0.8");
    let plain = |b: reqwest::RequestBuilder| b;
    let mut seen = Vec::new();
    for path in [
        "/",
        "/history",
        "/history.atom",
        "/history.rss",
        incident_page.as_str(),
        "/incidents/nope",
        "/api/v2/summary.json",
        "/api/v2/status.json",
        "/api/v2/components.json",
        "/api/v2/incidents.json",
        "/api/v2/incidents/unresolved.json",
        "/api/v2/scheduled-maintenances.json",
        "/api/v2/scheduled-maintenances/upcoming.json",
        "/api/v2/scheduled-maintenances/active.json",
        "/api/v2/nope.json",
        "/healthz",
        "/metrics",
        "/no/such/page",
        "/subscribe/confirm?token=forged",
        "/unsubscribe?token=forged",
        "/reports",
        "/api/v1/incidents",
        "/api/v1/openapi.json",
        &format!("/ping/{PING}"),
        "/ping/unknown-token-0123456789",
        &format!("/ping/{PING}/oops"),
    ] {
        seen.push(request(app, Method::GET, path, plain).await);
        seen.push(request(app, Method::GET, path, browser).await);
        seen.push(request(app, Method::HEAD, path, plain).await);
    }
    seen.push(request(app, Method::OPTIONS, "/api/v2/summary.json", plain).await);
    seen.push(
        request(app, Method::POST, "/subscribe", |b| {
            b.header("content-type", "application/x-www-form-urlencoded")
                .body("endpoint=not-a-url")
        })
        .await,
    );
    seen.push(
        request(app, Method::POST, "/api/v2/subscribers.json", |b| {
            b.json(&serde_json::json!({"subscriber": {"endpoint": "not-a-url"}}))
        })
        .await,
    );
    seen.push(request(app, Method::POST, "/", plain).await);
    seen.push(request(app, Method::DELETE, "/api/v2/summary.json", plain).await);
    seen.push(
        request(app, Method::GET, "/reports", |b| {
            b.basic_auth("alice", Some(TOKEN))
        })
        .await,
    );
    seen.push(
        request(app, Method::GET, "/api/v1/changes?limit=many", |b| {
            b.bearer_auth(TOKEN)
        })
        .await,
    );
    seen.push(
        request(app, Method::GET, "/reports?days=forever", |b| {
            b.basic_auth("alice", Some(TOKEN))
        })
        .await,
    );
    seen
}

#[tokio::test]
async fn every_public_response_carries_the_security_headers() {
    let app = spawn_app(&config(None)).await;
    let seen = walk(&app).await;
    let mut html_pages = 0;
    for s in &seen {
        let what = format!("{} {} → {}", s.method, s.path, s.status);
        assert_eq!(
            s.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(s.header("referrer-policy"), Some("no-referrer"), "{what}");
        assert!(s.header("strict-transport-security").is_none(), "{what}");
        if s.is_html() {
            html_pages += 1;
            let csp = s.header("content-security-policy").unwrap();
            assert!(csp.starts_with("default-src 'none'; "), "{what}: {csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{what}");
            assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
            assert_eq!(s.header("x-frame-options"), Some("DENY"), "{what}");
        }
    }
    assert!(html_pages > 10, "the walk saw {html_pages} HTML answers");
    app.stop().await;

    let app = spawn_app(&config(Some("https://status.example.com"))).await;
    for s in walk(&app).await {
        assert_eq!(
            s.header("strict-transport-security"),
            Some("max-age=31536000"),
            "{} {}",
            s.method,
            s.path
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn every_inline_script_and_style_is_allowed_by_the_policy_and_nothing_else_is_inline() {
    let app = spawn_app(&config(None)).await;
    let element =
        regex::Regex::new(r"(?s)<(script|style)\b([^>]*)>(.*?)</(?:script|style)>").unwrap();
    let inline_attribute = regex::Regex::new(r#"(?i)\s(style|on[a-z]+)\s*="#).unwrap();
    let mut inline_seen = BTreeSet::new();
    for s in walk(&app).await.iter().filter(|s| s.is_html()) {
        let what = format!("{} {}", s.method, s.path);
        let html = s.text();
        if s.method == Method::HEAD {
            continue;
        }
        let csp = s.header("content-security-policy").unwrap();
        for c in element.captures_iter(&html) {
            assert!(
                c[2].trim().is_empty(),
                "{what}: <{}{}> takes no attributes",
                &c[1],
                &c[2]
            );
            let digest = sha2::Sha256::digest(c[3].as_bytes());
            let hash = format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            );
            assert!(
                csp.contains(&hash),
                "{what}: an inline <{}> is not in {csp}",
                &c[1]
            );
            inline_seen.insert(hash);
        }
        assert!(
            !inline_attribute.is_match(&html),
            "{what}: an inline style or event handler attribute: {:?}",
            inline_attribute
                .find(&html)
                .map(|m| &html[m.start()..(m.end() + 40).min(html.len())])
        );
        assert!(!html.contains("javascript:"), "{what}");
    }
    // The page's script and style, and the reports page's extra style.
    assert!(inline_seen.len() >= 3, "{inline_seen:?}");
    app.stop().await;
}

#[tokio::test]
async fn every_error_is_json_unless_its_route_answers_html() {
    let app = spawn_app(&config(None)).await;
    for s in walk(&app).await {
        if s.status.is_success() || s.status.is_redirection() || s.method == Method::HEAD {
            continue;
        }
        let what = format!("{} {} → {}: {}", s.method, s.path, s.status, s.text());
        if s.is_html() {
            // Pages for people: the unknown-page and unknown-incident pages, and the
            // subscription pages.
            assert!(s.text().starts_with("<!doctype html>"), "{what}");
            continue;
        }
        assert_eq!(s.header("content-type"), Some("application/json"), "{what}");
        let body: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
        assert_eq!(body["error"]["status"], s.status.as_u16(), "{what}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn bodies_are_bounded_on_every_route_with_a_json_413() {
    let app = spawn_app(&config(None)).await;
    let huge = vec![b'x'; 2 * 1024 * 1024];
    for (path, content_type) in [
        ("/api/v2/subscribers.json", "application/json"),
        (&*format!("/ping/{PING}"), "text/plain"),
        ("/api/v1/incidents", "application/json"),
        ("/v2/enqueue", "application/json"),
        (
            "/subscribe/confirm?token=x",
            "application/x-www-form-urlencoded",
        ),
        ("/", "text/plain"),
    ] {
        let s = request(&app, Method::POST, path, |b| {
            b.bearer_auth(TOKEN)
                .header("content-type", content_type)
                .body(huge.clone())
        })
        .await;
        let what = format!("POST {path} → {}: {}", s.status, s.text());
        // A route that reads bodies refuses this one; one that has no POST says so. Either
        // way the answer is JSON, and nobody read 2 MiB into memory.
        assert!(
            s.status == StatusCode::PAYLOAD_TOO_LARGE || s.status == StatusCode::METHOD_NOT_ALLOWED,
            "{what}"
        );
        assert_eq!(s.header("content-type"), Some("application/json"), "{what}");
    }
    app.stop().await;
}

//! The real router, request by request: routes, content types, CORS, conditional GET, 404s,
//! health and metrics, and snapshot replacement.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken fixtures

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use http::{header, HeaderMap, Method, Request, StatusCode};
use pharos_domain::ComponentStatus;
use pharos_web::{
    spawn_snapshot_builder, Resource, Snapshot, WebState, METRICS_CONTENT_TYPE,
    OPENMETRICS_CONTENT_TYPE,
};
use serde_json::Value;
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .unwrap_or_else(|| panic!("missing {name}"))
            .to_str()
            .unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn send(app: &Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn get_with(path: &str, name: header::HeaderName, value: &str) -> Request<Body> {
    Request::get(path)
        .header(name, value)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn every_public_route_answers_with_its_content_type_and_validators() {
    let (app, _) = common::app();
    for resource in Resource::ALL {
        let r = send(&app, get(resource.path())).await;
        assert_eq!(r.status, StatusCode::OK, "{}", resource.path());
        let etag = r.header(header::ETAG);
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
            "{etag}"
        );
        // Last-Modified is when the body was rendered (the view's generation time), which
        // is never earlier than its last status change.
        assert_eq!(
            r.header(header::LAST_MODIFIED),
            "Wed, 01 Apr 2026 00:00:00 GMT"
        );
        assert_eq!(r.header(header::CACHE_CONTROL), "no-cache");
        assert_eq!(
            r.header(header::CONTENT_LENGTH),
            r.body.len().to_string(),
            "{}",
            resource.path()
        );
        assert_eq!(r.header(header::CONTENT_TYPE), resource.content_type());
        if resource.allows_any_origin() {
            assert_eq!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
        } else {
            assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        }
        match resource.content_type() {
            "application/json" => {
                assert!(resource.is_api());
                let _: Value = r.json();
            }
            "text/html; charset=utf-8" => {
                assert!(!resource.is_api());
                assert!(String::from_utf8(r.body)
                    .unwrap()
                    .starts_with("<!doctype html>"));
            }
            "application/atom+xml; charset=utf-8" | "application/rss+xml; charset=utf-8" => {
                assert!(!resource.is_api() && resource.allows_any_origin());
                assert!(String::from_utf8(r.body)
                    .unwrap()
                    .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
            }
            "text/css; charset=utf-8" => {
                assert!(!resource.is_api() && !resource.allows_any_origin());
                // No accent colour in the fixture: only a comment.
                assert!(String::from_utf8(r.body).unwrap().starts_with("/*"));
            }
            other => panic!("{}: unexpected {other}", resource.path()),
        }
    }
}

#[tokio::test]
async fn head_sends_headers_without_a_body() {
    let (app, _) = common::app();
    let req = Request::head("/api/v2/summary.json")
        .body(Body::empty())
        .unwrap();
    let r = send(&app, req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_eq!(r.header(header::CONTENT_TYPE), "application/json");
    assert!(r.headers.contains_key(header::ETAG));
}

#[tokio::test]
async fn if_none_match_gets_304_with_validators_and_no_body() {
    let (app, _) = common::app();
    for resource in Resource::ALL {
        let first = send(&app, get(resource.path())).await;
        let etag = first.header(header::ETAG).to_owned();
        for value in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"nope\", {etag}"),
            "*".to_owned(),
        ] {
            let r = send(
                &app,
                get_with(resource.path(), header::IF_NONE_MATCH, &value),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::NOT_MODIFIED,
                "{} {value}",
                resource.path()
            );
            assert!(r.body.is_empty());
            assert_eq!(r.header(header::ETAG), etag);
            assert!(r.headers.contains_key(header::LAST_MODIFIED));
            if resource.allows_any_origin() {
                assert_eq!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
            }
        }
        let r = send(
            &app,
            get_with(resource.path(), header::IF_NONE_MATCH, "\"stale\""),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, first.body);
    }
}

#[tokio::test]
async fn if_modified_since_gets_304_when_nothing_changed_since() {
    let (app, _) = common::app();
    let path = "/api/v2/status.json";
    let lm = send(&app, get(path))
        .await
        .header(header::LAST_MODIFIED)
        .to_owned();
    for (since, expected) in [
        (lm.as_str(), StatusCode::NOT_MODIFIED),
        ("Wed, 01 Apr 2026 08:00:00 GMT", StatusCode::NOT_MODIFIED),
        ("Tue, 31 Mar 2026 17:45:11 GMT", StatusCode::OK),
        ("not a date", StatusCode::OK),
    ] {
        let r = send(&app, get_with(path, header::IF_MODIFIED_SINCE, since)).await;
        assert_eq!(r.status, expected, "{since}");
    }
    // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    let req = Request::get(path)
        .header(header::IF_NONE_MATCH, "\"other\"")
        .header(header::IF_MODIFIED_SINCE, lm.as_str())
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn cors_preflight_allows_any_origin() {
    let (app, _) = common::app();
    for resource in Resource::ALL.into_iter().filter(|r| r.allows_any_origin()) {
        let req = Request::builder()
            .method(Method::OPTIONS)
            .uri(resource.path())
            .header(header::ORIGIN, "https://widget.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "x-requested-with")
            .body(Body::empty())
            .unwrap();
        let r = send(&app, req).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", resource.path());
        assert_eq!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
        assert!(r
            .header(header::ACCESS_CONTROL_ALLOW_METHODS)
            .contains("GET"));
        assert_eq!(
            r.header(header::ACCESS_CONTROL_ALLOW_HEADERS),
            "x-requested-with"
        );
        assert!(r.body.is_empty());
    }
}

#[tokio::test]
async fn unknown_api_paths_are_404_with_a_json_error() {
    // Statuspage answers these with an empty 404; every Pharos error is JSON (issue 13), and
    // clients go by the status either way.
    let (app, _) = common::app();
    for path in [
        "/api/v2/nonsense.json",
        "/api/v2/incidents/abc123.json",
        "/api/v2/summary",
        "/api/v2/",
        "/api/v2",
    ] {
        let r = send(&app, get(path)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.header(header::CONTENT_TYPE), "application/json");
        assert_eq!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
        let body = r.json();
        assert_eq!(body["error"]["status"], 404, "{path}");
        assert_eq!(
            body["error"]["message"],
            format!("no such endpoint: GET {path}")
        );
    }
    let post = Request::post("/api/v2/nonsense.json")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, post).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn other_unknown_paths_are_404_a_page_for_browsers_and_json_for_the_rest() {
    let (app, _) = common::app();
    let r = send(&app, get("/no/such/page")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header(header::CONTENT_TYPE), "application/json");
    assert_eq!(
        r.json()["error"]["message"],
        "no such endpoint: GET /no/such/page"
    );

    let browser = get_with(
        "/no/such/page",
        header::ACCEPT,
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    );
    let r = send(&app, browser).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header(header::CONTENT_TYPE), "text/html; charset=utf-8");
    let html = String::from_utf8(r.body).unwrap();
    assert!(html.contains("<h2>Page not found</h2>"), "{html}");
}

fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    match coding {
        "br" => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        "gzip" => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        other => panic!("unexpected coding {other}"),
    }
    out
}

#[tokio::test]
async fn compressed_bodies_decode_to_the_same_bytes_with_their_own_etags() {
    let (app, _) = common::app_with_incidents();
    for resource in Resource::ALL {
        let path = resource.path();
        let plain = send(&app, get(path)).await;
        assert!(plain.headers.get(header::CONTENT_ENCODING).is_none());
        if plain.body.len() < 512 {
            // `tiny_bodies_are_not_compressed`.
            continue;
        }
        for (accept, coding) in [("br", "br"), ("gzip", "gzip"), ("gzip, deflate, br", "br")] {
            let r = send(&app, get_with(path, header::ACCEPT_ENCODING, accept)).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            assert_eq!(r.header(header::VARY), "Accept-Encoding", "{path}");
            assert_eq!(
                r.header(header::CONTENT_ENCODING),
                coding,
                "{path} {accept}"
            );
            assert_eq!(decode(coding, &r.body), plain.body, "{path} {accept}");
            assert!(r.body.len() < plain.body.len(), "{path}");
            assert_eq!(r.header(header::CONTENT_LENGTH), r.body.len().to_string());
            // A strong validator names one representation.
            let etag = r.header(header::ETAG);
            assert_ne!(etag, plain.header(header::ETAG));
            let suffix = if coding == "br" { "-br\"" } else { "-gz\"" };
            assert!(etag.ends_with(suffix), "{etag}");
            // Either copy revalidates either way: the content is the same.
            let again = Request::get(path)
                .header(header::IF_NONE_MATCH, etag)
                .body(Body::empty())
                .unwrap();
            assert_eq!(send(&app, again).await.status, StatusCode::NOT_MODIFIED);
            let cross = Request::get(path)
                .header(header::ACCEPT_ENCODING, accept)
                .header(header::IF_NONE_MATCH, plain.header(header::ETAG))
                .body(Body::empty())
                .unwrap();
            let r = send(&app, cross).await;
            assert_eq!(r.status, StatusCode::NOT_MODIFIED);
            assert_eq!(
                r.header(header::ETAG),
                etag,
                "the 304 names what it would send"
            );
        }
    }
}

#[tokio::test]
async fn accept_encoding_is_honoured_with_its_q_values() {
    let (app, _) = common::app();
    let path = "/";
    for (accept, expected) in [
        ("", None),
        ("identity", None),
        ("deflate", None),
        ("br;q=0, gzip;q=0", None),
        ("*;q=0", None),
        ("*", Some("br")),
        ("gzip", Some("gzip")),
        ("GZIP", Some("gzip")),
        ("x-gzip", Some("gzip")),
        ("br;q=0.5, gzip", Some("gzip")),
        ("br;q=0.8, gzip;q=0.8", Some("br")),
        ("br;q=0, *", Some("gzip")),
        ("br;q=oops, gzip", Some("gzip")),
    ] {
        let r = send(&app, get_with(path, header::ACCEPT_ENCODING, accept)).await;
        assert_eq!(
            r.headers
                .get(header::CONTENT_ENCODING)
                .map(|v| v.to_str().unwrap()),
            expected,
            "{accept:?}"
        );
    }
}

#[tokio::test]
async fn other_methods_are_405_naming_the_allowed_ones() {
    let (app, _) = common::app();
    for (path, allowed) in [
        ("/", "GET, HEAD"),
        ("/history", "GET, HEAD"),
        ("/api/v2/summary.json", "GET, HEAD, OPTIONS"),
        ("/history.atom", "GET, HEAD, OPTIONS"),
    ] {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let req = Request::builder()
                .method(method.clone())
                .uri(path)
                .body(Body::empty())
                .unwrap();
            let r = send(&app, req).await;
            assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(r.header(header::ALLOW), allowed, "{method} {path}");
        }
    }
    // HEAD answers the GET's headers, its length included, without the body.
    let get = send(&app, get("/")).await;
    let head = send(&app, Request::head("/").body(Body::empty()).unwrap()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header(header::CONTENT_LENGTH),
        get.body.len().to_string()
    );
    assert_eq!(head.header(header::ETAG), get.header(header::ETAG));
}

#[tokio::test]
async fn tiny_bodies_are_not_compressed() {
    let (app, _) = common::app();
    let r = send(
        &app,
        get_with("/api/v2/status.json", header::ACCEPT_ENCODING, "br, gzip"),
    )
    .await;
    assert!(r.body.len() < 512);
    assert!(r.headers.get(header::CONTENT_ENCODING).is_none());
    assert!(r.headers.get(header::VARY).is_none());
}

#[tokio::test]
async fn healthz_and_metrics() {
    let (app, _) = common::app();
    let r = send(&app, get("/healthz")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"ok");

    let r = send(&app, get("/metrics")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .header(header::CONTENT_TYPE)
        .starts_with("text/plain; version=0.0.4"));
    assert_eq!(r.body, b"# TYPE pharos_up gauge\npharos_up 1\n");
}

#[tokio::test]
async fn metrics_are_openmetrics_only_for_clients_that_ask() {
    let state = WebState::new(Snapshot::build(&common::view()), || "classic\n".to_owned())
        .with_openmetrics(|| "openmetrics\n# EOF\n".to_owned());
    let app = pharos_web::router(state);
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    for (accept, body, content_type) in [
        (None, "classic\n", METRICS_CONTENT_TYPE),
        (Some("*/*"), "classic\n", METRICS_CONTENT_TYPE),
        (Some("text/plain"), "classic\n", METRICS_CONTENT_TYPE),
        (
            Some(prometheus),
            "openmetrics\n# EOF\n",
            OPENMETRICS_CONTENT_TYPE,
        ),
    ] {
        let mut req = Request::get("/metrics");
        if let Some(a) = accept {
            req = req.header(header::ACCEPT, a);
        }
        let r = send(&app, req.body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, body.as_bytes(), "{accept:?}");
        assert_eq!(r.header(header::CONTENT_TYPE), content_type, "{accept:?}");
        assert_eq!(r.header(header::VARY), "Accept");
    }
    // Without an OpenMetrics renderer, everyone gets the text format.
    let (app, _) = common::app();
    let req = Request::get("/metrics").header(header::ACCEPT, prometheus);
    let r = send(&app, req.body(Body::empty()).unwrap()).await;
    assert_eq!(r.header(header::CONTENT_TYPE), METRICS_CONTENT_TYPE);
}

#[tokio::test]
async fn summary_has_statuspage_shape_and_our_data() {
    let (app, _) = common::app();
    let s = send(&app, get("/api/v2/summary.json")).await.json();
    let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = vec![
        "page",
        "components",
        "incidents",
        "scheduled_maintenances",
        "status",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected); // key order is checked in compat.rs
    assert_eq!(s["page"]["id"], "acme");
    assert_eq!(s["page"]["time_zone"], "America/Denver");
    assert_eq!(s["page"]["updated_at"], "2026-03-31T11:45:12.345-06:00");
    assert_eq!(s["incidents"], serde_json::json!([]));
    assert_eq!(s["scheduled_maintenances"], serde_json::json!([]));
    // Leaves: operational, partial, operational, major, maintenance, degraded.
    assert_eq!(
        s["status"],
        serde_json::json!({"indicator": "major", "description": "Partial System Outage"})
    );

    let comps = s["components"].as_array().unwrap();
    let ids: Vec<&str> = comps.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "website",
            "api",
            "api-rest",
            "api-graphql",
            "search",
            "billing",
            "emails"
        ]
    );
    let positions: Vec<u64> = comps
        .iter()
        .map(|c| c["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, [1, 2, 3, 4, 5, 6, 7]);
    let group = &comps[1];
    assert_eq!(group["group"], true);
    assert_eq!(group["showcase"], false);
    assert_eq!(
        group["components"],
        serde_json::json!(["api-rest", "api-graphql"])
    );
    assert_eq!(group["status"], "partial_outage");
    for c in comps.iter().filter(|c| c["group"] == false) {
        assert!(c.get("components").is_none(), "{c}");
        assert_eq!(c["showcase"], true);
        assert_eq!(c["page_id"], "acme");
        assert_eq!(c["only_show_if_degraded"], false);
    }
    assert_eq!(comps[2]["group_id"], "api");
    assert_eq!(comps[0]["group_id"], Value::Null);
    assert_eq!(comps[0]["description"], "The public website");
    assert_eq!(comps[2]["description"], Value::Null);
    assert_eq!(comps[0]["start_date"], "2025-01-15");
    assert_eq!(comps[4]["start_date"], Value::Null);
    assert_eq!(comps[0]["created_at"], "2025-01-15T02:30:00.123-07:00");
    assert_eq!(comps[0]["updated_at"], "2026-03-31T10:02:03.456-06:00");
}

#[tokio::test]
async fn every_endpoint_carries_its_list_key() {
    let (app, _) = common::app();
    for (path, keys) in [
        ("/api/v2/status.json", &["page", "status"][..]),
        ("/api/v2/components.json", &["components", "page"]),
        ("/api/v2/incidents.json", &["incidents", "page"]),
        ("/api/v2/incidents/unresolved.json", &["incidents", "page"]),
        (
            "/api/v2/scheduled-maintenances.json",
            &["page", "scheduled_maintenances"],
        ),
        (
            "/api/v2/scheduled-maintenances/upcoming.json",
            &["page", "scheduled_maintenances"],
        ),
        (
            "/api/v2/scheduled-maintenances/active.json",
            &["page", "scheduled_maintenances"],
        ),
    ] {
        let v = send(&app, get(path)).await.json();
        let mut got: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        got.sort_unstable();
        assert_eq!(got, keys, "{path}");
    }
}

#[tokio::test]
async fn a_new_snapshot_is_served_as_soon_as_it_is_stored() {
    let (app, state) = common::app();
    let before = send(&app, get("/api/v2/status.json")).await;

    let mut view = common::view();
    for c in &mut view.components {
        c.status = ComponentStatus::Operational;
    }
    view.updated_at = common::at("2026-03-31T18:00:00Z");
    view.generated_at = common::at("2026-03-31T18:00:00Z");
    state.snapshot.store(Arc::new(Snapshot::build(&view)));

    let after = send(&app, get("/api/v2/status.json")).await;
    assert_ne!(before.header(header::ETAG), after.header(header::ETAG));
    assert_eq!(
        after.json()["status"]["description"],
        "All Systems Operational"
    );
    assert_eq!(
        after.header(header::LAST_MODIFIED),
        "Tue, 31 Mar 2026 18:00:00 GMT"
    );
    // The old validator no longer matches.
    let r = send(
        &app,
        get_with(
            "/api/v2/status.json",
            header::IF_NONE_MATCH,
            before.header(header::ETAG),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn the_builder_follows_the_watch_channel_and_stops_with_it() {
    let (app, state) = common::app();
    let mut first = common::view();
    first.page.name = "First".to_owned();
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(first));
    let task = spawn_snapshot_builder(rx, state.snapshot.clone(), None);

    let name_is = |want: &'static str| {
        let app = app.clone();
        async move {
            for _ in 0..500 {
                let v = send(&app, get("/api/v2/status.json")).await.json();
                if v["page"]["name"] == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("page name never became {want}");
        }
    };
    name_is("First").await;

    // A burst: only the last one has to show.
    for n in ["Second", "Third", "Fourth"] {
        let mut v = common::view();
        v.page.name = n.to_owned();
        tx.send(Arc::new(v)).unwrap();
    }
    name_is("Fourth").await;

    drop(tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("builder stops when the sender is gone")
        .unwrap();
}

//! Several nodes: the view a leader stores for its followers reads back as the same view, and
//! the fallback of a node's router answers with the engine's routes while it leads, forwards
//! to the leader while another node does, and refuses with a 503 while no leader is known.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::Request;
use axum::routing::{any, get};
use axum::Router;
use pharos_engine::{MonitorView, StatusView};
use pharos_web::forward::{ClusterRouting, FORWARDED_BY};

use crate::common::{send, view};

#[test]
fn a_view_reads_back_from_its_json_as_it_was() {
    let mut v = view();
    v.monitors.push(MonitorView {
        id: pharos_domain::MonitorId::new("api-health").unwrap(),
        type_name: "http",
        health: pharos_domain::Health::Down,
        last_check_at: v.components[0].updated_at.into(),
        last_error: Some("connection refused".into()),
        components: vec![v.components[0].id.clone()],
        flapping_since: None,
        locations: vec![pharos_engine::world::LocationState {
            location: pharos_domain::LocationId::new("eu-fr").unwrap(),
            health: pharos_domain::Health::Down,
            last_check_at: None,
            last_error: Some("timed out after 10s".into()),
            last_duration_ms: Some(10_000),
            online: true,
            name: "Europe (France)".into(),
        }],
    });
    v.components[1].failing_from = vec!["Europe (France)".into()];
    let json = serde_json::to_string(&v).unwrap();
    let back: StatusView = serde_json::from_str(&json).unwrap();
    assert_eq!(back, v);
    assert!(json.contains(r#""time_zone":"America/Denver""#), "{json}");
    // A monitor type this version does not know (from a newer leader) is kept as "unknown".
    let newer = json.replace(r#""type_name":"http""#, r#""type_name":"quantum""#);
    let back: StatusView = serde_json::from_str(&newer).unwrap();
    assert_eq!(back.monitors[0].type_name, "unknown");
}

/// A stand-in leader on 127.0.0.1:0 that answers with what it was sent.
async fn echo_leader() -> String {
    let app = Router::new().fallback(any(|req: Request| async move {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let answer = serde_json::json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "authorization": header("authorization"),
            "content_type": header("content-type"),
            "forwarded_by": header(FORWARDED_BY),
            "forwarded_for": header("x-forwarded-for"),
            "cookie_kept": header("x-not-forwarded"),
            "client": header("x-pharos-client"),
            "client_signature": header("x-pharos-client-signature"),
            "body": String::from_utf8(body.to_vec()).unwrap(),
        });
        (
            http::StatusCode::CREATED,
            [("x-leader", "yes")],
            axum::Json(answer),
        )
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn post(path: &str, forwarded: bool) -> Request {
    let mut req = http::Request::post(path)
        .header("authorization", "Bearer t0ken")
        .header("content-type", "application/json")
        .header("x-not-forwarded", "dropped")
        .header("x-forwarded-for", "203.0.113.9");
    if forwarded {
        req = req.header(FORWARDED_BY, "node-other");
    }
    let mut req = req.body(Body::from(r#"{"name":"x"}"#)).unwrap();
    let peer: SocketAddr = "198.51.100.7:5555".parse().unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    req
}

#[tokio::test]
async fn requests_go_to_the_engine_the_leader_or_nowhere() {
    let routing = ClusterRouting::new(
        "node-here",
        pharos_engine::subscribers::Tokens::new(b"k".to_vec()),
    )
    .unwrap();
    let app = routing.router();

    // No leader known: 503, JSON, Retry-After.
    let (status, headers, body) = send(&app, post("/api/v1/incidents?x=1", false)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["retry-after"], "1");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"]["status"], 503, "{body}");
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no leader"));

    // Another node leads: forwarded with method, path, query, body and the headers that
    // matter; the answer comes back as the leader gave it.
    routing.follow(Some(echo_leader().await + "/"));
    assert!(!routing.is_leading());
    let (status, headers, body) = send(&app, post("/api/v1/incidents?x=1", false)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(headers["x-leader"], "yes");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["method"], "POST");
    assert_eq!(json["uri"], "/api/v1/incidents?x=1");
    assert_eq!(json["authorization"], "Bearer t0ken");
    assert_eq!(json["content_type"], "application/json");
    assert_eq!(json["forwarded_by"], "node-here");
    assert_eq!(json["forwarded_for"], "203.0.113.9, 198.51.100.7");
    assert_eq!(json["cookie_kept"], serde_json::Value::Null);
    // The client's address, signed with the shared key, for the leader's per-client limits.
    let signer = pharos_engine::subscribers::Tokens::new(b"k".to_vec());
    assert_eq!(json["client"], "198.51.100.7");
    let sig = json["client_signature"].as_str().unwrap();
    assert!(signer.verify_client("198.51.100.7", sig));
    assert!(!signer.verify_client("198.51.100.8", sig));
    assert!(!pharos_engine::subscribers::Tokens::new(b"other".to_vec())
        .verify_client("198.51.100.7", sig));
    assert_eq!(json["body"], r#"{"name":"x"}"#);

    // A request another node forwarded here is not bounced on.
    let (status, _, body) = send(&app, post("/api/v1/incidents", true)).await;
    assert_eq!(status, 503, "{body}");

    // This node leads: its engine's routes answer.
    routing.lead(Router::new().route(
        "/api/v1/incidents",
        get(|| async { "local" }).post(|| async { "local post" }),
    ));
    assert!(routing.is_leading());
    let (status, _, body) = send(&app, post("/api/v1/incidents", true)).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "local post"));

    // The leader is away: 503, not a hang.
    routing.follow(Some("http://127.0.0.1:9".to_owned()));
    let (status, _, body) = send(&app, post("/api/v1/incidents", false)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("could not be reached"), "{body}");
}

/// A stand-in leader whose answers carry what the console's do: `/events` a stream of
/// server-sent events (one event at once, the next only when `next` is sent, never ending on
/// its own), `/page` a gzipped body with `Vary` and two `Set-Cookie`s, `/go` a 303, `/busy` a
/// 503 with `Retry-After`; and the `Accept-Encoding` it was sent in `x-seen-accept-encoding`.
async fn console_like_leader(next: tokio::sync::mpsc::Receiver<&'static str>) -> String {
    use axum::response::IntoResponse as _;
    let next = std::sync::Arc::new(tokio::sync::Mutex::new(Some(next)));
    let app = Router::new()
        .route(
            "/events",
            get(move || {
                let next = next.clone();
                async move {
                    let rx = next.lock().await.take().unwrap();
                    let first = futures_util::stream::once(async {
                        Ok::<_, std::convert::Infallible>("event: incident\ndata: first\n\n")
                    });
                    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
                        rx.recv().await.map(|s| (Ok(s), rx))
                    });
                    let body = Body::from_stream(futures_util::StreamExt::chain(first, rest));
                    ([("content-type", "text/event-stream")], body).into_response()
                }
            }),
        )
        .route(
            "/page",
            get(|headers: http::HeaderMap| async move {
                let seen = headers
                    .get("accept-encoding")
                    .map_or("", |v| v.to_str().unwrap())
                    .to_owned();
                let mut r = gzipped("<!doctype html><p>Hello</p>").into_response();
                let h = r.headers_mut();
                h.insert("content-type", "text/html; charset=utf-8".parse().unwrap());
                h.insert("content-encoding", "gzip".parse().unwrap());
                h.insert("vary", "accept-encoding".parse().unwrap());
                h.append("set-cookie", "a=1; Path=/console".parse().unwrap());
                h.append("set-cookie", "b=2; Path=/console".parse().unwrap());
                h.insert("x-seen-accept-encoding", seen.parse().unwrap());
                r
            }),
        )
        .route(
            "/go",
            get(|| async {
                (
                    http::StatusCode::SEE_OTHER,
                    [("location", "/console/incidents/abc")],
                )
            }),
        )
        .route(
            "/busy",
            get(|| async {
                (
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "5"), ("content-type", "text/html")],
                    "busy",
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn gzipped(text: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// The next chunk of `body`, as text, within ten seconds.
async fn next_text(body: &mut Body) -> String {
    use http_body_util::BodyExt as _;
    let wait = std::time::Duration::from_secs(10);
    let frame = tokio::time::timeout(wait, body.frame())
        .await
        .expect("an event in time")
        .unwrap()
        .unwrap();
    String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap()
}

fn get_req(path: &str) -> Request {
    http::Request::get(path)
        .header("accept-encoding", "gzip, br")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn a_stream_of_events_is_passed_on_as_it_comes_and_headers_and_bodies_intact() {
    use tower::ServiceExt as _;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let routing = ClusterRouting::new(
        "node-here",
        pharos_engine::subscribers::Tokens::new(b"k".to_vec()),
    )
    .unwrap();
    routing.follow(Some(console_like_leader(rx).await));
    let app = routing.router();

    // The stream's events come one by one, long before (here: without) its end.
    let answer = app.clone().oneshot(get_req("/events")).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/event-stream");
    let mut body = answer.into_body();
    assert_eq!(
        next_text(&mut body).await,
        "event: incident\ndata: first\n\n"
    );
    tx.send("event: incident\ndata: second\n\n").await.unwrap();
    assert_eq!(
        next_text(&mut body).await,
        "event: incident\ndata: second\n\n"
    );

    // A gzipped page: the client's Accept-Encoding reaches the leader, and the body comes back
    // as the leader sent it, with its encoding, `Vary` and every cookie.
    let answer = app.clone().oneshot(get_req("/page")).await.unwrap();
    assert_eq!(answer.status(), 200);
    let headers = answer.headers().clone();
    assert_eq!(headers["x-seen-accept-encoding"], "gzip, br");
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["vary"], "accept-encoding");
    let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1; Path=/console", "b=2; Path=/console"]);
    let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), gzipped("<!doctype html><p>Hello</p>"));

    // A redirect is not followed, and Retry-After comes back.
    let answer = app.clone().oneshot(get_req("/go")).await.unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/console/incidents/abc");
    let answer = app.clone().oneshot(get_req("/busy")).await.unwrap();
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "5");
}

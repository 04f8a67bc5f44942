//! Request handlers. The public ones only copy a pre-rendered [`Entry`] out of the current
//! snapshot: a lock-free pointer load, reference-count increments for the body and header
//! values, and a conditional-GET check. Nothing here allocates per request beyond the header map.

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use chrono::DateTime;
use http::header::{
    ACCEPT, ACCEPT_ENCODING, ACCESS_CONTROL_REQUEST_HEADERS, ALLOW, CACHE_CONTROL,
    CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::snapshot::{Entry, Resource, Snapshot};
use crate::WebState;

/// Content type of `/metrics`: the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of `/metrics` for clients that ask for OpenMetrics.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Clients may keep a copy but must revalidate it (cheaply, with the ETag) before each use, so
/// nobody sees a stale status during an outage.
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// One pre-rendered resource as a service: `GET` and `HEAD` serve it, `OPTIONS` answers the
/// CORS preflight where any origin may read it, any other method is 405 with `Allow`.
#[derive(Clone)]
pub(crate) struct SnapshotRoute {
    snapshot: Arc<ArcSwap<Snapshot>>,
    resource: Resource,
    allow: HeaderValue,
}

impl SnapshotRoute {
    /// The route of `resource`, served from `snapshot`.
    pub(crate) fn new(snapshot: Arc<ArcSwap<Snapshot>>, resource: Resource) -> Self {
        let allow = if resource.allows_any_origin() {
            HeaderValue::from_static("GET, HEAD, OPTIONS")
        } else {
            HeaderValue::from_static("GET, HEAD")
        };
        Self {
            snapshot,
            resource,
            allow,
        }
    }
}

impl tower::Service<Request> for SnapshotRoute {
    type Response = Response;
    type Error = Infallible;
    type Future = Ready<Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let response = match *req.method() {
            Method::GET => serve(&self.snapshot, self.resource, &req),
            Method::HEAD => {
                // The headers the GET would send (its Content-Length included), and no body.
                let mut r = serve(&self.snapshot, self.resource, &req);
                *r.body_mut() = Body::empty();
                r
            }
            Method::OPTIONS if self.resource.allows_any_origin() => preflight(&req),
            _ => {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                r.headers_mut().insert(ALLOW, self.allow.clone());
                r
            }
        };
        std::future::ready(Ok(response))
    }
}

/// Serves one pre-rendered resource, answering 304 when the client's copy is current.
pub(crate) fn serve(snapshot: &ArcSwap<Snapshot>, resource: Resource, req: &Request) -> Response {
    let snap = snapshot.load();
    let entry = snap.get(resource);
    let mut headers = HeaderMap::with_capacity(8);
    if resource.allows_any_origin() {
        crate::cors::allow_any_origin(&mut headers);
    }
    respond(entry, headers, req.headers())
}

/// Serves `/incidents/{id}` from the snapshot's page map; an unknown id gets the 404 page.
pub(crate) fn serve_incident(snapshot: &ArcSwap<Snapshot>, id: &str, req: &Request) -> Response {
    let snap = snapshot.load();
    let Some(entry) = snap.incident(id) else {
        let page = snap.incident_not_found();
        let mut r = Response::new(Body::from(page.body.clone()));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r.headers_mut()
            .insert(CONTENT_TYPE, page.content_type.clone());
        r.headers_mut().insert(CACHE_CONTROL, NO_CACHE);
        return r;
    };
    respond(entry, HeaderMap::with_capacity(7), req.headers())
}

/// 304 when the client's copy is current, else 200 with the body in the best coding the
/// client accepts; `headers` are added to either.
fn respond(entry: &Entry, mut headers: HeaderMap, request: &HeaderMap) -> Response {
    let accepts = Accepts::of(request);
    let encoded = entry.encoded();
    let brotli = encoded.brotli.as_ref().filter(|_| accepts.brotli > 0.0);
    let gzip = encoded.gzip.as_ref().filter(|_| accepts.gzip > 0.0);
    let (body, etag, coding) = match (brotli, gzip) {
        (Some((b, t)), Some(_)) if accepts.brotli >= accepts.gzip => (b, t, Some(BR)),
        (Some((b, t)), None) => (b, t, Some(BR)),
        (_, Some((b, t))) => (b, t, Some(GZIP)),
        (None, None) => (&entry.body, &entry.etag, None),
    };
    headers.insert(ETAG, etag.clone());
    headers.insert(LAST_MODIFIED, entry.last_modified.clone());
    headers.insert(CACHE_CONTROL, NO_CACHE);
    if encoded.brotli.is_some() || encoded.gzip.is_some() {
        headers.insert(VARY, VARY_ENCODING);
    }
    let mut response = if client_is_current(entry, request) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        headers.insert(CONTENT_TYPE, entry.content_type.clone());
        if let Some(coding) = coding {
            headers.insert(CONTENT_ENCODING, coding);
        }
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        Response::new(Body::from(body.clone()))
    };
    *response.headers_mut() = headers;
    response
}

const BR: HeaderValue = HeaderValue::from_static("br");
const GZIP: HeaderValue = HeaderValue::from_static("gzip");
const VARY_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");

/// How much a client wants brotli and gzip (RFC 9110 §12.5.3 q-values; 0 refuses).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Accepts {
    brotli: f32,
    /// How much gzip is wanted (0: refused).
    pub(crate) gzip: f32,
}

impl Accepts {
    /// Reads `Accept-Encoding`: a coding named without `q` is 1.0, `q=0` refuses it, `*`
    /// stands for any coding not named; no header accepts neither.
    pub(crate) fn of(headers: &HeaderMap) -> Accepts {
        let (mut brotli, mut gzip, mut any) = (None::<f32>, None::<f32>, None::<f32>);
        for value in headers.get_all(ACCEPT_ENCODING) {
            let Ok(list) = value.to_str() else { continue };
            for item in list.split(',') {
                let mut parts = item.split(';');
                let name = parts.next().unwrap_or_default().trim();
                let q = match parts.find_map(|p| p.trim().strip_prefix("q=")) {
                    None => Some(1.0),
                    Some(q) => q.trim().parse::<f32>().ok(),
                };
                let Some(q) = q.filter(|q| (0.0..=1.0).contains(q)) else {
                    continue;
                };
                if name.eq_ignore_ascii_case("br") {
                    brotli = Some(q);
                } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                    gzip = Some(q);
                } else if name == "*" {
                    any = Some(q);
                }
            }
        }
        Accepts {
            brotli: brotli.or(any).unwrap_or(0.0),
            gzip: gzip.or(any).unwrap_or(0.0),
        }
    }
}

/// RFC 9110 §13.2.2: `If-None-Match` (weak comparison) decides when present; otherwise
/// `If-Modified-Since`.
fn client_is_current(entry: &Entry, headers: &HeaderMap) -> bool {
    let mut saw_inm = false;
    for value in headers.get_all(IF_NONE_MATCH) {
        saw_inm = true;
        let Ok(list) = value.to_str() else { continue };
        let ours = entry.etag_str().trim_matches('"');
        // Every coding of a body is the same content: a client holding the gzip copy is as
        // current as one holding the plain one.
        if list.split(',').map(str::trim).any(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
            let content = tag
                .strip_suffix("-br")
                .or_else(|| tag.strip_suffix("-gz"))
                .unwrap_or(tag);
            tag == "*" || content == ours
        }) {
            return true;
        }
    }
    if saw_inm {
        return false;
    }
    match headers.get(IF_MODIFIED_SINCE) {
        // Browsers echo our own Last-Modified byte for byte: no date parsing needed.
        Some(since) if since == entry.last_modified => true,
        Some(since) => since
            .to_str()
            .ok()
            .and_then(|s| DateTime::parse_from_rfc2822(s).ok())
            .is_some_and(|since| entry.last_modified_at <= since),
        None => false,
    }
}

/// CORS preflight for the v2 API and the feeds: any origin may `GET` them, with whatever
/// request headers it asks for.
pub(crate) fn preflight(req: &Request) -> Response {
    crate::cors::preflight(
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
        req.headers().get(ACCESS_CONTROL_REQUEST_HEADERS).cloned(),
    )
}

/// Unknown `/api/v2/…` paths: 404 with a JSON error, readable from any origin like the rest
/// of the API. (Statuspage answers an empty 404; clients go by the status either way.)
pub(crate) async fn api_not_found(method: http::Method, uri: http::Uri) -> Response {
    let mut r = crate::security::error_response(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {method} {}", uri.path()),
    );
    crate::cors::allow_any_origin(r.headers_mut());
    r
}

/// Any other unknown path: the page's own 404 page for a browser, a JSON error for anything
/// else.
pub(crate) async fn not_found(
    axum::extract::State(state): axum::extract::State<WebState>,
    req: Request,
) -> Response {
    if crate::security::wants_html(req.headers()) {
        let snap = state.snapshot.load();
        let page = snap.page_not_found();
        let mut r = Response::new(Body::from(page.body.clone()));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r.headers_mut()
            .insert(CONTENT_TYPE, page.content_type.clone());
        r.headers_mut().insert(CACHE_CONTROL, NO_CACHE);
        return r;
    }
    crate::security::error_response(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {} {}", req.method(), req.uri().path()),
    )
}

/// `/healthz`: 200 while the process serves.
pub(crate) async fn healthz() -> Response {
    let mut r = Response::new(Body::from("ok"));
    r.headers_mut().insert(CONTENT_TYPE, TEXT);
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `/metrics`: the Prometheus text format, or OpenMetrics when the client's `Accept` prefers it
/// (as Prometheus itself sends) and the state can render it.
pub(crate) async fn metrics(
    axum::extract::State(state): axum::extract::State<WebState>,
    headers: HeaderMap,
) -> Response {
    let (body, content_type) = match &state.openmetrics {
        Some(render) if prefers_openmetrics(&headers) => (render(), OPENMETRICS_CONTENT_TYPE),
        _ => ((state.metrics)(), METRICS_CONTENT_TYPE),
    };
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(VARY, HeaderValue::from_static("Accept"));
    r
}

/// Whether `Accept` ranks `application/openmetrics-text` above zero and at least as high as
/// the Prometheus text format (`text/plain`, else `text/*`, else `*/*`). No `Accept` means the
/// text format.
fn prefers_openmetrics(headers: &HeaderMap) -> bool {
    // The best quality of the most specific matching range, per RFC 9110 §12.5.1.
    let mut openmetrics: Option<(u8, f32)> = None;
    let mut text: Option<(u8, f32)> = None;
    for value in headers.get_all(ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0)
                .clamp(0.0, 1.0);
            let better = |slot: &mut Option<(u8, f32)>, specificity: u8| match slot {
                Some((s, best)) if *s > specificity || (*s == specificity && *best >= q) => {}
                _ => *slot = Some((specificity, q)),
            };
            match media.as_str() {
                "application/openmetrics-text" => better(&mut openmetrics, 2),
                "application/*" => better(&mut openmetrics, 1),
                "text/plain" => better(&mut text, 2),
                "text/*" => better(&mut text, 1),
                "*/*" => {
                    better(&mut openmetrics, 0);
                    better(&mut text, 0);
                }
                _ => {}
            }
        }
    }
    match (openmetrics, text) {
        (Some((_, om)), Some((_, t))) => om > 0.0 && om > t,
        (Some((s, om)), None) => om > 0.0 && s == 2,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefers(accept: &[&str]) -> bool {
        let mut h = HeaderMap::new();
        for a in accept {
            h.append(
                ACCEPT,
                HeaderValue::from_str(a).unwrap_or(HeaderValue::from_static("")),
            );
        }
        prefers_openmetrics(&h)
    }

    #[test]
    fn openmetrics_only_when_asked_for() {
        // What Prometheus 2.x and 3.x send.
        assert!(prefers(&["application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"]));
        assert!(prefers(&["application/openmetrics-text; version=1.0.0"]));
        assert!(prefers(&[
            "text/plain;q=0.3",
            "application/openmetrics-text"
        ]));
        // Everyone else: curl, browsers, promtool's fetch, no header at all.
        assert!(!prefers(&[]));
        assert!(!prefers(&["*/*"]));
        assert!(!prefers(&[
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ]));
        assert!(!prefers(&["text/plain;version=0.0.4"]));
        assert!(!prefers(&["application/openmetrics-text;q=0"]));
        assert!(!prefers(&["application/openmetrics-text;q=0.5,text/plain"]));
        assert!(!prefers(&["application/*"]));
    }
}

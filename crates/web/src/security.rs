//! What every response carries, whoever answers it: the security headers a review expects, a
//! structured body on every error, and a bound on every request body.
//!
//! [`harden`] wraps the whole router (public page, API, subscriptions, pings, admin), so a
//! route added later cannot forget them:
//! - `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` on everything (JSON
//!   and feeds included; the page's links carry signed tokens, so no URL leaves in a Referer),
//!   unless the handler set a policy of its own (the console's `same-origin`: see
//!   [`crate::console`]);
//! - on HTML, a Content-Security-Policy that allows no script or style but the page's own,
//!   named by hash ([`content_security_policy`]), no framing (`frame-ancestors 'none'` and
//!   `X-Frame-Options: DENY`), and forms posting only to this origin;
//! - `Strict-Transport-Security` when the page's public URL is https;
//! - every error answer a JSON `{"error": {"status", "message"}}` unless its handler already
//!   wrote JSON or HTML: axum's plain-text rejections (a bad query string, a 413, a 405) and
//!   empty bodies are rewritten, with the handler's text kept as the message;
//! - request bodies over [`MAX_REQUEST_BODY`] refused with 413 on every route, and a body
//!   that trickles in slower than [`BODY_TIMEOUT`] cut off (the request fails with an error
//!   instead of holding its handler).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use http::header::{
    ACCEPT, ALLOW, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, TRANSFER_ENCODING, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use sha2::{Digest, Sha256};

/// Largest request body any route reads; routes may set a smaller limit of their own (the
/// admin API 256 KiB, pings 100 KiB).
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;
/// Longest a request body may take to arrive once its headers are in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes of a handler's plain-text error read to become the JSON message.
const MAX_ERROR_TEXT: usize = 1024;

/// The inline `<style>` and `<script>` elements the templates include, whose contents the
/// Content-Security-Policy allows by hash. A page that inlines anything else is refused by the
/// browser (and by `every_inline_element_is_allowed_by_the_policy` in the tests).
const INLINE_ASSETS: [&str; 5] = [
    include_str!("../templates/style.html"),
    include_str!("../templates/reports_style.html"),
    include_str!("../templates/script.html"),
    include_str!("../templates/console/style.html"),
    include_str!("../templates/console/script.html"),
];

/// How responses are hardened beyond the fixed headers.
#[derive(Debug, Clone, Default)]
pub struct Hardening {
    /// Send `Strict-Transport-Security` (the page's public URL is https).
    pub hsts: bool,
}

impl Hardening {
    /// Hardening for a page published at `public_url`: HSTS when it is `https://`.
    pub fn for_public_url(public_url: &str) -> Hardening {
        Hardening {
            hsts: public_url
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://")),
        }
    }
}

/// The ready-made header values, built once.
struct Headers {
    hsts: Option<HeaderValue>,
    csp: HeaderValue,
}

/// Wraps `router` so that every response it gives is hardened as the module says.
pub fn harden(router: Router, hardening: Hardening) -> Router {
    let headers = Arc::new(Headers {
        hsts: hardening
            .hsts
            .then(|| HeaderValue::from_static("max-age=31536000")),
        csp: HeaderValue::from_str(content_security_policy())
            // Built from base64 digests and fixed words: always a valid header value.
            .unwrap_or(HeaderValue::from_static("default-src 'none'")),
    });
    router.layer(SecureLayer { headers })
}

/// The layer [`harden`] adds: a hand-written service rather than `middleware::from_fn` and
/// tower-http's body layers, because it runs on every request of the public page and costs
/// one allocation there, against their five (measured: about 10 % of the page's throughput).
#[derive(Clone)]
struct SecureLayer {
    headers: Arc<Headers>,
}

impl<S> tower::Layer<S> for SecureLayer {
    type Service = Secure<S>;

    fn layer(&self, inner: S) -> Secure<S> {
        Secure {
            inner,
            headers: self.headers.clone(),
        }
    }
}

/// [`SecureLayer`]'s service around one route.
#[derive(Clone)]
struct Secure<S> {
    inner: S,
    headers: Arc<Headers>,
}

impl<S> tower::Service<Request> for Secure<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let method = req.method().clone();
        let uri = req.uri().clone();
        let headers = self.headers.clone();
        let future = bounded(req).map(|req| self.inner.call(req));
        Box::pin(async move {
            let mut response = match future {
                Some(future) => match future.await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
                None => error_response(StatusCode::PAYLOAD_TOO_LARGE, too_large_message()),
            };
            let status = response.status();
            if (status.is_client_error() || status.is_server_error())
                && !is_structured(response.headers())
            {
                response = json_error(response, &method, uri.path()).await;
            }
            headers.apply(response.headers_mut());
            Ok(response)
        })
    }
}

/// `req` with its body bounded, or `None` when `Content-Length` says it is over
/// [`MAX_REQUEST_BODY`] (refused at once, unread). A body that is there is cut off past that
/// size or when it trickles in slower than [`BODY_TIMEOUT`]; a `GET` without a body is passed
/// as it is.
fn bounded(req: Request) -> Option<Request> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        return None;
    }
    let has_body = declared.is_some_and(|n| n > 0) || req.headers().contains_key(TRANSFER_ENCODING);
    if !has_body {
        return Some(req);
    }
    Some(req.map(|body| {
        Body::new(http_body_util::Limited::new(
            tower_http::timeout::TimeoutBody::new(BODY_TIMEOUT, body),
            MAX_REQUEST_BODY,
        ))
    }))
}

fn too_large_message() -> String {
    format!("the request body is too large (this endpoint reads at most {MAX_REQUEST_BODY} bytes)")
}

impl Headers {
    /// Adds the security headers to a response's `headers`.
    fn apply(&self, h: &mut HeaderMap) {
        let is_html = h
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        // A handler's own policy stands (the console's `same-origin`, without which a
        // browser sends its forms' POSTs with `Origin: null`).
        if !h.contains_key(REFERRER_POLICY) {
            h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        }
        if is_html {
            h.insert(CONTENT_SECURITY_POLICY, self.csp.clone());
            h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        if let Some(hsts) = &self.hsts {
            h.insert(STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
    }
}

/// The Content-Security-Policy of every HTML page: nothing by default; scripts and styles
/// only the page's own inline elements, by SHA-256 hash (styles also from this origin);
/// images from this origin, `data:` and https (a configured logo may live on a CDN); forms
/// post only here; no `<base>`, no plugins, no framing.
pub fn content_security_policy() -> &'static str {
    static CSP: LazyLock<String> = LazyLock::new(|| {
        let hashes = |tag: &str| {
            INLINE_ASSETS
                .iter()
                .filter_map(|asset| inline_content(asset, tag))
                .map(|content| format!("'{}'", source_hash(content)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        format!(
            "default-src 'none'; script-src {}; style-src 'self' {}; img-src 'self' data: https:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            hashes("script"),
            hashes("style"),
        )
    });
    &CSP
}

/// `sha256-<base64>`: how a Content-Security-Policy names an inline element by its content.
pub fn source_hash(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The text between `<tag>` and `</tag>` in `html`, if both are there.
fn inline_content<'a>(html: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = html.find(&open)? + open.len();
    let end = start + html[start..].find(&close)?;
    Some(&html[start..end])
}

/// Whether a handler already wrote a body a client can read as an error: JSON (any
/// `application/…json`) or an HTML page.
fn is_structured(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "text/html" || v == "application/json" || v.ends_with("+json"))
}

/// The JSON error for `response`, keeping its status and headers (`Allow`, `Retry-After`, CORS)
/// and using its plain text, when short, as the message.
async fn json_error(response: Response, method: &Method, path: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let status = parts.status;
    let message = match (status, text) {
        (StatusCode::NOT_FOUND, None) => format!("no such endpoint: {method} {path}"),
        (StatusCode::METHOD_NOT_ALLOWED, None) => match parts.headers.get(ALLOW) {
            Some(allow) => format!(
                "{method} is not allowed on {path}; allowed: {}",
                allow.to_str().unwrap_or_default()
            ),
            None => format!("{method} is not allowed on {path}"),
        },
        (StatusCode::PAYLOAD_TOO_LARGE, _) => too_large_message(),
        (_, Some(text)) => text,
        (_, None) => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
    };
    let body = serde_json::json!({"error": {"status": status.as_u16(), "message": message}});
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// Whether the request comes from a browser that wants a page (`Accept` names `text/html`).
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// A JSON error answer with `status` and `message`, in the shape [`harden`] gives every error.
pub(crate) fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({"error": {"status": status.as_u16(), "message": message.into()}});
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_each_inline_asset_by_hash() {
        let csp = content_security_policy();
        assert!(
            csp.starts_with("default-src 'none'; script-src 'sha256-"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        // Three styles and two scripts.
        assert_eq!(csp.matches("'sha256-").count(), 5, "{csp}");
        let style = inline_content(INLINE_ASSETS[0], "style").unwrap();
        assert!(csp.contains(&source_hash(style)));
    }

    #[test]
    fn a_known_hash() {
        // The example from the CSP Level 3 specification, §8.4.
        assert_eq!(
            source_hash("alert('Hello, world.');"),
            "sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng="
        );
    }

    #[test]
    fn https_pages_get_hsts() {
        assert!(Hardening::for_public_url("https://status.example.com").hsts);
        assert!(Hardening::for_public_url("HTTPS://status.example.com").hsts);
        assert!(!Hardening::for_public_url("http://127.0.0.1:8080").hsts);
    }
}

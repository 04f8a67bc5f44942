//! CORS: the v2 API, the feeds, heartbeat pings and the subscribe endpoint may be read from any
//! origin. The headers are written here, in one place, rather than by `tower_http::cors`, whose
//! preflight answers `200 OK` where Pharos answers `204 No Content` (as Statuspage-era clients
//! and our tests expect), which adds `Vary: origin, access-control-request-method,
//! access-control-request-headers` to every response, and which as a layer would wrap the
//! snapshot routes that are served as plain services on purpose (see `routes.rs`).

use axum::body::Body;
use axum::response::Response;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE,
};
use http::{HeaderMap, HeaderValue, StatusCode};

const ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");
/// How long a browser may cache a preflight's answer: a day.
const MAX_AGE: HeaderValue = HeaderValue::from_static("86400");

/// Lets any origin read the response these headers belong to.
pub(crate) fn allow_any_origin(headers: &mut HeaderMap) {
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
}

/// The answer to a preflight from any origin: `204`, the allowed `methods`, the request
/// headers a browser may send (`allow_headers`, if any), cacheable for a day.
pub(crate) fn preflight(methods: HeaderValue, allow_headers: Option<HeaderValue>) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    allow_any_origin(h);
    h.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
    if let Some(allowed) = allow_headers {
        h.insert(ACCESS_CONTROL_ALLOW_HEADERS, allowed);
    }
    h.insert(ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    r
}

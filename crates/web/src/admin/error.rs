//! Every admin API failure is one [`ApiError`], written as
//! `{"error": {"status": 422, "message": "…", "field": "components.api"}}` (`field` only when
//! one field is at fault). Internals (storage errors, engine state) are logged once, here, and
//! never sent to the client. [`ApiJson`] is the request-body extractor behind the 400, 413 and
//! 415 answers: it names the field serde stopped at. Bodies deserialize straight into typed
//! commands, so a value that breaks a rule is also found there: it is a 422 with the rule's
//! message (see [`json_error`]).

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pharos_engine::{CommandError, DeskError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use super::MAX_BODY_BYTES;

/// What a 503 means, for the OpenAPI document.
pub(crate) const UNAVAILABLE: &str = "Storage did not answer, or did not confirm a change in time (the change is then retried), or Pharos is stopping; try again shortly";

/// The message of the JSON 404 for a path no admin route has.
pub(crate) const NO_SUCH_ENDPOINT: &str = "no such endpoint";

/// A refused or failed admin request, turned into a JSON answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<String>,
    /// Set for 401s: the `WWW-Authenticate` challenge.
    challenge: bool,
    /// `Retry-After` seconds, for 429s.
    retry_after: Option<u64>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    error: ErrorDetail,
}

/// What went wrong, and where.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// The HTTP status code, repeated.
    #[schema(example = 422)]
    status: u16,
    /// A sentence for a person.
    #[schema(example = "unknown component \"nope\"")]
    message: String,
    /// The request field at fault, as a path (`components.api`, `components[0]`); absent when
    /// no single field is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "components.nope")]
    field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
            challenge: false,
            retry_after: None,
        }
    }

    /// 429: this client tried too often; `Retry-After` says when it may again.
    pub(crate) fn too_many(wait: std::time::Duration) -> Self {
        let secs = crate::limit::retry_after(wait);
        Self {
            retry_after: Some(secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many failed attempts from this address; try again in {secs} s"),
            )
        }
    }

    /// 503 with `message`: retry later.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// Whether this is a 401 (no known credential).
    pub(crate) fn is_unauthorized(&self) -> bool {
        self.status == StatusCode::UNAUTHORIZED
    }

    /// 403 with `message`: the caller is known but may not do this.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 409 with `message`: the change would break a rule about what is stored (the last
    /// owner).
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 413 with `message`.
    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    /// 400: the request is not what the schema says, naming `field` when there is one.
    pub(crate) fn bad_request(message: impl Into<String>, field: Option<String>) -> Self {
        Self {
            field,
            ..Self::new(StatusCode::BAD_REQUEST, message)
        }
    }

    /// 401 with a `WWW-Authenticate: Bearer` challenge.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            challenge: true,
            ..Self::new(StatusCode::UNAUTHORIZED, message)
        }
    }

    /// 404 for an id nobody knows.
    pub(crate) fn not_found(what: &str, id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no {what} with id {id:?}"))
    }

    /// 404 for a path no route has.
    pub(crate) fn no_such_endpoint(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("{NO_SUCH_ENDPOINT}: {method} {path}"),
        )
    }

    /// 405 for a path that exists, with another method.
    pub(crate) fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}"),
        )
    }

    /// 422: the request is well-formed but breaks a rule of `field`.
    pub(crate) fn unprocessable(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
        }
    }

    /// The status, the field at fault and the message, as the console shows a refusal.
    pub(crate) fn shown(&self) -> (StatusCode, Option<&str>, &str) {
        (self.status, self.field.as_deref(), &self.message)
    }

    /// (status, field, message): for tests, and for the console, which shows the message on
    /// its page.
    pub(crate) fn parts(self) -> (StatusCode, Option<String>, String) {
        (self.status, self.field, self.message)
    }

    /// 500 for something that cannot happen; `internal` is logged, not sent.
    pub(crate) fn internal(internal: &str) -> Self {
        tracing::error!(error = internal, "admin API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the details are in Pharos's log",
        )
    }
}

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        match e {
            DeskError::NotFound { what, id } => Self::not_found(what, &id),
            DeskError::Rule(rule) => Self::unprocessable(rule.field(), rule.message()),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Desk(d) => d.into(),
            CommandError::Unavailable(internal) => {
                tracing::warn!(error = %internal, "admin API request could not be completed");
                // The engine's own sentences ("shutting down", "applied but not confirmed
                // yet") are written for people; storage errors from reads are not.
                let message = if internal.starts_with("reading") {
                    "storage is unavailable; try again shortly".to_owned()
                } else {
                    internal
                };
                Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                status: self.status.as_u16(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"pharos\""),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A JSON request body, checked like this: `Content-Type` must be JSON (else 415), the body at
/// most [`MAX_BODY_BYTES`] (else 413), and it must deserialize into `T` (else 400 naming the
/// field serde stopped at: a wrong type, a missing field, an unknown key).
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the request body must be JSON, sent with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the request body is larger than {} KiB",
                        MAX_BODY_BYTES / 1024
                    ),
                )
            } else {
                ApiError::bad_request(
                    format!(
                        "the request body could not be read: {}",
                        rejection.body_text()
                    ),
                    None,
                )
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Deserializes `bytes` as `T`, naming the field at fault on failure.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("a JSON body is required", None));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        json_error(&inner, &path)
    })?;
    de.end().map_err(|e| json_error(&e, "."))?;
    Ok(value)
}

/// The answer to a body that did not deserialize, `path` being where serde stopped:
/// - malformed JSON: 400, no field;
/// - a value that breaks a rule, refused inside a `Deserialize` impl with
///   [`pharos_domain::incident::rule_de_error`] (`"severity": "S9"`): 422 with the rule's
///   message and `path` as the field, like a `RuleError` from the engine;
/// - any other data error (a wrong type, a missing or unknown key): 400 naming the field.
fn json_error(e: &serde_json::Error, path: &str) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request(format!("malformed JSON: {e}"), None)
        }
        Category::Data => {
            let message = e.to_string();
            if let Some(rule) = pharos_domain::incident::rule_message(&message) {
                return ApiError {
                    field: (path != ".").then(|| path.to_owned()),
                    ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, rule)
                };
            }
            // A missing key is reported at the object that should hold it; name the key.
            // (An unknown key's path already ends with it.)
            let missing = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next());
            let field = match (path, missing) {
                (".", Some(k)) => Some(k.to_owned()),
                (p, Some(k)) => Some(format!("{p}.{k}")),
                (".", None) => None,
                (p, None) => Some(p.to_owned()),
            };
            let message = match &field {
                Some(f) => format!("{f}: {message}"),
                None => message,
            };
            ApiError::bad_request(message, field)
        }
    }
}

/// `application/json`, or any `…+json` type, with or without parameters.
fn is_json(value: Option<&HeaderValue>) -> bool {
    let Some(v) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = v
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        name: String,
        public: Option<bool>,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        x: u32,
    }

    fn field_of(json: &str) -> (StatusCode, Option<String>, String) {
        let e = parse::<Req>(json.as_bytes()).unwrap_err();
        (e.status, e.field, e.message)
    }

    #[test]
    fn names_the_field_at_fault() {
        assert_eq!(field_of(r#"{}"#).1.as_deref(), Some("name"));
        assert_eq!(
            field_of(r#"{"name":"a","nmae":1}"#).1.as_deref(),
            Some("nmae")
        );
        assert_eq!(
            field_of(r#"{"name":"a","public":"yes"}"#).1.as_deref(),
            Some("public")
        );
        assert_eq!(
            field_of(r#"{"name":"a","inner":{"x":1,"y":2}}"#)
                .1
                .as_deref(),
            Some("inner.y")
        );
        assert_eq!(
            field_of(r#"{"name":"a","inner":{}}"#).1.as_deref(),
            Some("inner.x")
        );
        assert_eq!(
            field_of(r#"{"name":"a","inner":{"x":"1"}}"#).1.as_deref(),
            Some("inner.x")
        );
        let (status, field, message) = field_of(r#"{"name": "#);
        assert_eq!((status, field), (StatusCode::BAD_REQUEST, None));
        assert!(message.starts_with("malformed JSON"), "{message}");
        assert!(field_of(r#"{"name":"a"} x"#)
            .2
            .starts_with("malformed JSON"));
        assert_eq!(field_of("  ").2, "a JSON body is required");
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rated {
        #[serde(deserialize_with = "pharos_domain::request::one")]
        severity: pharos_domain::Severity,
        #[serde(default, deserialize_with = "pharos_domain::request::list")]
        components: Vec<pharos_domain::ComponentId>,
    }

    #[test]
    fn a_rule_broken_in_the_body_is_422_naming_its_field_without_the_marker() {
        let refused = |json: &str| parse::<Rated>(json.as_bytes()).unwrap_err();
        let e = refused(r#"{"severity": "S9"}"#);
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.field.as_deref(), Some("severity"));
        assert_eq!(
            e.message,
            "unknown severity \"S9\"; expected S1, S2, S3 or S4"
        );
        let e = refused(r#"{"severity": "S1", "components": ["api", "No!"]}"#);
        assert_eq!(
            (e.status, e.field.as_deref(), e.message.as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("components[1]"),
                "unknown component \"No!\""
            )
        );
        // What reaches the client carries no marker.
        let body = serde_json::to_string(&ErrorBody {
            error: ErrorDetail {
                status: e.status.as_u16(),
                message: e.message,
                field: e.field,
            },
        })
        .unwrap();
        assert!(
            !body.contains("rule") && !body.contains("\\u0001"),
            "{body}"
        );
        // A wrong type is still a 400.
        let e = refused(r#"{"severity": 1}"#);
        assert_eq!(
            (e.status, e.field.as_deref()),
            (StatusCode::BAD_REQUEST, Some("severity"))
        );
    }

    #[test]
    fn json_content_types() {
        let ok = |s: &'static str| is_json(Some(&HeaderValue::from_static(s)));
        assert!(ok("application/json"));
        assert!(ok("application/json; charset=utf-8"));
        assert!(ok("Application/JSON"));
        assert!(ok("application/merge-patch+json"));
        assert!(!ok("text/plain"));
        assert!(!ok("application/x-www-form-urlencoded"));
        assert!(!is_json(None));
    }
}

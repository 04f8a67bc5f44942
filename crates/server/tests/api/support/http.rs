//! Requests to the app under test: one function per method, an optional bearer token, and
//! the whole answer (status, headers, text, and the text as JSON) in an [`Answer`].

use pharos_testkit::serde_json_value::Value;
use pharos_testkit::TestApp;
use reqwest::header::HeaderMap;
use reqwest::Method;

/// One answer: its status, headers and body.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body as text.
    pub text: String,
    /// The body as JSON (`Null` when it is empty or not JSON).
    pub json: Value,
}

impl Answer {
    /// Header `name`, when present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The `error.field` of an API error, when it names one.
    pub fn field(&self) -> Option<&str> {
        self.json["error"]["field"].as_str()
    }

    /// The `error.message` of an API error (empty when there is none).
    pub fn message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or("")
    }

    /// Panics unless the body is empty or JSON (what every admin API answer must be).
    pub fn json_or_empty(self) -> Answer {
        assert!(
            self.text.is_empty() || !self.json.is_null() || self.text.trim() == "null",
            "{} answer is not JSON: {:?}",
            self.status,
            self.text
        );
        self
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.json.is_null() {
            write!(f, "{} {}", self.status, self.text)
        } else {
            write!(f, "{} {}", self.status, self.json)
        }
    }
}

/// What a request carries.
pub enum Body<'a> {
    None,
    Json(&'a Value),
    /// `application/x-www-form-urlencoded`, as a browser sends a form.
    Form(&'a [(&'a str, &'a str)]),
}

/// `path` on the app (or, when it is a whole `http://` URL such as a link from an e-mail,
/// that URL).
pub fn url(app: &TestApp, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        path.to_owned()
    } else {
        format!("{}{path}", app.base_url)
    }
}

/// Sends `method` to `url` from `client`, with `token` as bearer when given.
pub async fn send_from(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Body<'_>,
) -> Answer {
    let mut req = client.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req = match body {
        Body::None => req,
        Body::Json(v) => req.json(v),
        Body::Form(pairs) => req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(pairs)),
    };
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        json,
    }
}

/// Sends `method` to `path` on the app with the app's client.
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Body<'_>,
) -> Answer {
    send_from(&app.client, method, &url(app, path), token, body).await
}

/// `GET path`.
pub async fn get(app: &TestApp, path: &str, token: Option<&str>) -> Answer {
    send(app, Method::GET, path, token, Body::None).await
}

/// `POST path` with `body` as JSON.
pub async fn post(app: &TestApp, path: &str, token: Option<&str>, body: &Value) -> Answer {
    send(app, Method::POST, path, token, Body::Json(body)).await
}

/// `PUT path` with `body` as JSON.
pub async fn put(app: &TestApp, path: &str, token: Option<&str>, body: &Value) -> Answer {
    send(app, Method::PUT, path, token, Body::Json(body)).await
}

/// `PATCH path` with `body` as JSON.
pub async fn patch(app: &TestApp, path: &str, token: Option<&str>, body: &Value) -> Answer {
    send(app, Method::PATCH, path, token, Body::Json(body)).await
}

/// `DELETE path`.
pub async fn delete(app: &TestApp, path: &str, token: Option<&str>) -> Answer {
    send(app, Method::DELETE, path, token, Body::None).await
}

/// `POST path` with `pairs` as a form.
pub async fn post_form(app: &TestApp, path: &str, pairs: &[(&str, &str)]) -> Answer {
    send(app, Method::POST, path, None, Body::Form(pairs)).await
}

/// `pairs` as `application/x-www-form-urlencoded`.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.replace('%', "%25")
            .replace('&', "%26")
            .replace('+', "%2B")
            .replace('=', "%3D")
            .replace(' ', "+")
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `POST path` with `body` as JSON and `token` as bearer when given: the status and the
/// answer as JSON (`Null` when it is not JSON), for tests that need no more.
pub async fn post_json(
    app: &TestApp,
    path: &str,
    body: &Value,
    token: Option<&str>,
) -> (u16, Value) {
    let a = post(app, path, token, body).await;
    (a.status, a.json)
}

//! The probe's side of the protocol (`pharos_wire::probe`): the two requests, what each
//! answer means, and the two things worth telling the operator about the connection — that it
//! was lost or is back (once each, not per retry), and that the clocks disagree.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pharos_domain::duration::format_duration;
use pharos_domain::Secret;
use pharos_wire::probe::{Assignment, BatchAnswer, ResultBatch, LONG_POLL};
use reqwest::{StatusCode, Url};

use super::Fatal;

/// Longest wait for a TCP (and TLS) connection to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a results request may take.
const POST_TIMEOUT: Duration = Duration::from_secs(30);
/// How far the clocks may disagree before the operator is told.
pub(crate) const CLOCK_TOLERANCE_MS: i64 = 5_000;

/// What an assignment request came back with.
#[derive(Debug)]
pub(crate) enum Polled {
    /// A new list of monitors.
    Changed(Box<Assignment>),
    /// The list is as it was (`304`).
    Unchanged,
}

/// What a results request came back with.
#[derive(Debug)]
pub(crate) enum Posted {
    /// Taken (200).
    Taken(BatchAnswer),
    /// Refused for good (400, 413): sending it again can never succeed.
    Rejected(String),
}

/// A failure that is worth retrying (the same request, later).
#[derive(Debug)]
pub(crate) struct Transient(pub(crate) String);

/// Talks to one server for one location and instance.
#[derive(Debug)]
pub(crate) struct Link {
    client: reqwest::Client,
    monitors_url: Url,
    results_url: Url,
    location: String,
    token: Secret,
    down: AtomicBool,
    clock_off: AtomicBool,
}

impl Link {
    /// A link to the server at `server` (validated: http or https, with a host).
    pub(crate) fn new(
        server: &Url,
        location: &str,
        instance: &str,
        token: Secret,
    ) -> Result<Link, Fatal> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("pharos-probe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Fatal::Setup(format!("cannot build the HTTP client: {e}")))?;
        let endpoint = |path: &str, pairs: &[(&str, &str)]| {
            let base = server.as_str().trim_end_matches('/');
            let mut url = Url::parse(&format!("{base}{path}"))
                .map_err(|e| Fatal::Setup(format!("cannot build the URL of {path}: {e}")))?;
            url.query_pairs_mut().extend_pairs(pairs);
            Ok::<_, Fatal>(url)
        };
        let ids = [("location", location), ("probe", instance)];
        Ok(Link {
            client,
            monitors_url: endpoint("/api/v1/probe/monitors", &ids)?,
            results_url: endpoint("/api/v1/probe/results", &ids)?,
            location: location.to_owned(),
            token,
            down: AtomicBool::new(false),
            clock_off: AtomicBool::new(false),
        })
    }

    /// Asks for the monitors, sending the version this probe runs (`None` before the first
    /// answer); the server holds the request up to [`LONG_POLL`] when nothing changed.
    pub(crate) async fn poll(
        &self,
        version: Option<&str>,
    ) -> Result<Result<Polled, Transient>, Fatal> {
        let mut url = self.monitors_url.clone();
        if let Some(v) = version {
            url.query_pairs_mut().append_pair("version", v);
        }
        let sent = self
            .client
            .get(url)
            .bearer_auth(self.token.expose())
            .timeout(LONG_POLL + Duration::from_secs(10))
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Ok(Err(Transient(describe(&e)))),
        };
        let status = response.status();
        match status {
            StatusCode::NOT_MODIFIED => Ok(Ok(Polled::Unchanged)),
            StatusCode::OK => {
                let body = match response.bytes().await {
                    Ok(b) => b,
                    Err(e) => return Ok(Err(Transient(describe(&e)))),
                };
                match serde_json::from_slice::<Assignment>(&body) {
                    Ok(a) => Ok(Ok(Polled::Changed(Box::new(a)))),
                    Err(e) => Ok(Err(Transient(format!(
                        "the server's list of monitors could not be read: {e}"
                    )))),
                }
            }
            StatusCode::UNAUTHORIZED => Err(self.refused()),
            _ => Ok(Err(Transient(answer_text(status, response).await))),
        }
    }

    /// Sends one batch (as it is: the caller sets `sent_at`).
    pub(crate) async fn post(
        &self,
        batch: &ResultBatch,
    ) -> Result<Result<Posted, Transient>, Fatal> {
        let body = serde_json::to_vec(batch)
            .map_err(|e| Fatal::Setup(format!("cannot write a batch of results: {e}")))?;
        let sent = self
            .client
            .post(self.results_url.clone())
            .bearer_auth(self.token.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(POST_TIMEOUT)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Ok(Err(Transient(describe(&e)))),
        };
        let status = response.status();
        match status {
            StatusCode::OK => {
                let body = match response.bytes().await {
                    Ok(b) => b,
                    Err(e) => return Ok(Err(Transient(describe(&e)))),
                };
                match serde_json::from_slice::<BatchAnswer>(&body) {
                    Ok(answer) => Ok(Ok(Posted::Taken(answer))),
                    // The server took the batch (200); its answer is only advice.
                    Err(e) => {
                        tracing::warn!(error = %e, "the server took a batch but its answer could not be read");
                        Ok(Ok(Posted::Taken(BatchAnswer {
                            accepted: batch.results.len(),
                            duplicate: false,
                            refused: Vec::new(),
                            clock_offset_ms: 0,
                        })))
                    }
                }
            }
            StatusCode::UNAUTHORIZED => Err(self.refused()),
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => {
                Ok(Ok(Posted::Rejected(answer_text(status, response).await)))
            }
            _ => Ok(Err(Transient(answer_text(status, response).await))),
        }
    }

    fn refused(&self) -> Fatal {
        Fatal::Refused {
            location: self.location.clone(),
        }
    }

    /// Notes a failed request: the first one after a success is logged.
    pub(crate) fn lost(&self, what: &str, reason: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                request = what,
                error = reason,
                "lost the connection to the server; checks keep running and their results are kept until it is back"
            );
        }
    }

    /// Notes a successful request: the first one after a failure is logged.
    pub(crate) fn restored(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("connection to the server restored");
        }
    }

    /// Notes how far this probe's clock is from the server's (milliseconds, positive when
    /// ahead), warning when it goes past [`CLOCK_TOLERANCE_MS`] and saying when it is back.
    pub(crate) fn clock_offset(&self, offset_ms: i64) {
        let off = offset_ms.abs() > CLOCK_TOLERANCE_MS;
        if off && !self.clock_off.swap(true, Ordering::Relaxed) {
            let by = format_duration(Duration::from_millis(offset_ms.unsigned_abs()));
            tracing::warn!(
                offset_ms,
                "this probe's clock is {by} {} the server's; the server corrects the times of its results, but the clock should be set right (NTP)",
                if offset_ms > 0 { "ahead of" } else { "behind" }
            );
        } else if !off && self.clock_off.swap(false, Ordering::Relaxed) {
            tracing::info!(
                offset_ms,
                "this probe's clock agrees with the server's again"
            );
        }
    }

    /// Compares an assignment's `server_time` with this probe's clock now.
    pub(crate) fn clock_from(&self, assignment: &Assignment) {
        let offset = pharos_engine::clock::now() - assignment.server_time;
        self.clock_offset(offset.num_milliseconds());
    }
}

/// A request error in words, without the URL (which carries no secret, but is long and the
/// same every time).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// An error answer in words: the status and the server's `{"error": …}` message if any.
async fn answer_text(status: StatusCode, response: reqwest::Response) -> String {
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| match &v["error"] {
            serde_json::Value::String(s) => Some(s.clone()),
            other => other["message"].as_str().map(str::to_owned),
        });
    match message {
        Some(m) => format!("the server answered {status}: {m}"),
        None => format!("the server answered {status}"),
    }
}

//! A notification as the exact HTTP request a channel sends, built without a network so that
//! payloads can be tested (and snapshotted) on their own.

use std::fmt;

/// One POST, complete: where, every header, and the exact body bytes.
///
/// Its `Debug` output names the host and the header names only: URLs of chat webhooks, bearer
/// tokens and PagerDuty routing keys (which travel in the body) are secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedRequest {
    /// The URL to POST to.
    pub url: String,
    /// Every header, in the order they are sent (`Content-Type`, `User-Agent`,
    /// `Idempotency-Key`, then the channel's own).
    pub headers: Vec<(&'static str, String)>,
    /// The body, byte for byte (a webhook's signature covers exactly these bytes).
    pub body: Vec<u8>,
}

impl RenderedRequest {
    /// POSTs it once within `timeout` and classifies the answer like every channel does
    /// (2xx sent; redirects, other statuses, timeouts and broken connections fail with a
    /// reason that never carries the URL or any of `secrets`). `client` must not follow
    /// redirects.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        timeout: std::time::Duration,
        secrets: &[&str],
    ) -> crate::Outcome {
        crate::http::post(client, self, timeout, secrets).await
    }

    /// The value of header `name` (case-insensitive), if the request carries it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl fmt::Debug for RenderedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "?".to_owned());
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("RenderedRequest")
            .field("host", &host)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Why an event could not be turned into a request. Retrying does not help: the event or the
/// notifier's configuration is wrong. Messages never contain a URL or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The event lacks what its kind needs, e.g. an `incident_opened` without an incident.
    #[error("{kind} event carries no {missing}")]
    Incomplete {
        /// The event's kind, e.g. `incident_opened`.
        kind: &'static str,
        /// What is missing: `incident`, `maintenance` or `component change`.
        missing: &'static str,
    },
    /// The notifier's configuration cannot produce a request (e.g. an ntfy URL without a
    /// topic).
    #[error("{0}")]
    Config(String),
    /// The payload could not be serialized.
    #[error("the payload could not be serialized: {0}")]
    Serialize(String),
}

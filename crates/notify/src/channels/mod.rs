//! One module per channel, each turning an [`Event`](crate::Event) into the body its receiver
//! expects:
//!
//! - [`webhook`]: Statuspage's subscriber webhook payload, optionally signed.
//! - [`slack`]: a Slack incoming-webhook message with Block Kit blocks.
//! - [`discord`]: a Discord webhook message with one embed.
//! - [`teams`]: a Microsoft Teams (workflow) message carrying an Adaptive Card.
//! - [`ntfy`]: an ntfy JSON publish to the server root.
//! - [`pagerduty`]: a PagerDuty Events API v2 trigger or resolve.
//! - [`email`]: an e-mail per recipient, plain text and HTML (sent over SMTP, not HTTP).
//!
//! [`Notifier::render`](crate::Notifier::render) picks the module and adds the headers every
//! request carries.

pub mod discord;
pub mod email;
pub mod ntfy;
pub mod pagerduty;
pub mod slack;
pub mod teams;
pub mod webhook;

use serde::Serialize;

use crate::render::{RenderError, RenderedRequest};

/// `Pharos/<version>`, the `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("Pharos/", env!("CARGO_PKG_VERSION"));

/// A JSON POST to `url` with the common headers, then `extra`.
pub(crate) fn json_request(
    url: String,
    delivery_id: &str,
    body: Vec<u8>,
    extra: Vec<(&'static str, String)>,
) -> RenderedRequest {
    let mut headers = vec![
        ("Content-Type", "application/json".to_owned()),
        ("User-Agent", USER_AGENT.to_owned()),
        ("Idempotency-Key", delivery_id.to_owned()),
    ];
    headers.extend(extra);
    RenderedRequest { url, headers, body }
}

/// `value` as JSON bytes.
pub(crate) fn to_json(value: &impl Serialize) -> Result<Vec<u8>, RenderError> {
    serde_json::to_vec(value).map_err(|e| RenderError::Serialize(e.to_string()))
}

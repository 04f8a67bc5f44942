//! The configured channels (`[[notifiers]]`) and one attempt to send an event to one of them:
//! [`Notifier::render`] builds the exact request (no network), [`Notifier::send`] POSTs it
//! once and classifies the answer into an [`Outcome`].

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::channels;
use crate::event::{Event, Route};
use crate::render::{RenderError, RenderedRequest};

/// Where a notifier sends, and in which format.
#[derive(Clone, PartialEq, Eq)]
pub enum Channel {
    /// Statuspage's subscriber webhook payload, POSTed as JSON; signed with HMAC-SHA256 when a
    /// secret is set.
    Webhook {
        /// Receiver URL (http or https).
        url: String,
        /// Signing secret.
        secret: Option<String>,
    },
    /// A Slack incoming webhook.
    Slack {
        /// Incoming-webhook URL.
        url: String,
    },
    /// A Discord webhook.
    Discord {
        /// Webhook URL.
        url: String,
    },
    /// A Microsoft Teams incoming webhook (workflow).
    Teams {
        /// Webhook URL.
        url: String,
    },
    /// An ntfy topic.
    Ntfy {
        /// Topic URL, e.g. `https://ntfy.sh/acme-status`.
        url: String,
        /// Access token, sent as a bearer token.
        token: Option<String>,
    },
    /// PagerDuty Events API v2: trigger on open, resolve on resolve, one `dedup_key` per
    /// incident.
    PagerDuty {
        /// Integration (routing) key.
        routing_key: String,
        /// Events API endpoint (default `https://events.pagerduty.com/v2/enqueue`).
        url: String,
    },
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // URLs of chat webhooks and keys are secrets: name the kind only.
        f.write_str(self.type_name())
    }
}

impl Channel {
    /// The `type` in `[[notifiers]]`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Webhook { .. } => "webhook",
            Self::Slack { .. } => "slack",
            Self::Discord { .. } => "discord",
            Self::Teams { .. } => "teams",
            Self::Ntfy { .. } => "ntfy",
            Self::PagerDuty { .. } => "pagerduty",
        }
    }

    /// The strings that must never appear in a reason or a log: the URL and its path and
    /// query (chat webhook URLs and ntfy topics are credentials), the signing secret, the
    /// token, the routing key.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        let (url, key) = match self {
            Self::Webhook { url, secret } => (url, secret.as_deref()),
            Self::Slack { url } | Self::Discord { url } | Self::Teams { url } => (url, None),
            Self::Ntfy { url, token } => (url, token.as_deref()),
            Self::PagerDuty { routing_key, url } => (url, Some(routing_key.as_str())),
        };
        let mut out = vec![url.as_str()];
        // The part after the host: `/services/T0/B0/XXXX`, `/acme-status?auth=…`.
        if let Some(rest) = url
            .split_once("://")
            .and_then(|(_, r)| r.find('/').map(|i| &r[i..]))
        {
            out.push(rest);
        }
        out.extend(key);
        out.retain(|s| !s.is_empty());
        out
    }
}

/// One configured notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifier {
    /// Its id in the configuration.
    pub id: String,
    /// Where and how it sends.
    pub channel: Channel,
    /// Which events it receives.
    pub route: Route,
    /// Longest one attempt may take.
    pub timeout: Duration,
    /// Most attempts in flight to it at once.
    pub concurrency: usize,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver accepted it (2xx).
    Sent,
    /// It failed; the reason is kept and the attempt retried until the delivery is too old.
    Failed {
        /// Why, e.g. `HTTP 503 Service Unavailable` or `timed out after 10s`.
        reason: String,
    },
}

/// Default time one attempt may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default attempts in flight per notifier.
pub const DEFAULT_CONCURRENCY: usize = 4;

impl Notifier {
    /// Sends `event` once. `delivery_id` is stable across retries and goes out as the
    /// `Idempotency-Key` header (and PagerDuty's `dedup_key` is derived from the incident).
    ///
    /// One POST, given at most [`Notifier::timeout`] from connecting to reading the answer:
    /// - a 2xx answer is [`Outcome::Sent`];
    /// - any other answer fails with its status and the start of its body, e.g.
    ///   `HTTP 503 Service Unavailable: try again later`; a 3xx is a failure too (Statuspage's
    ///   rule), so **`client` must be built with `redirect(reqwest::redirect::Policy::none())`**
    ///   (a client that follows redirects is caught: a request that ended at another URL is
    ///   reported as failed);
    /// - no answer in time fails with `timed out after 10s`; a refused, reset or closed
    ///   connection, or a name that does not resolve, says so.
    ///
    /// Events a channel does not take (maintenance and component events on PagerDuty) are
    /// [`Outcome::Sent`] without a request. Never panics; reasons never contain the URL or a
    /// secret of the notifier.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        delivery_id: &str,
        event: &Event,
    ) -> Outcome {
        let secrets = self.channel.secrets();
        let outcome = match self.render(delivery_id, event, Utc::now()) {
            Ok(Some(request)) => crate::http::post(client, &request, self.timeout, &secrets).await,
            Ok(None) => Outcome::Sent,
            Err(e) => Outcome::Failed {
                reason: crate::http::redact(&e.to_string(), &secrets),
            },
        };
        match &outcome {
            Outcome::Sent => tracing::debug!(
                notifier = %self.id,
                channel = self.channel.type_name(),
                delivery = delivery_id,
                "notification sent"
            ),
            Outcome::Failed { reason } => tracing::debug!(
                notifier = %self.id,
                channel = self.channel.type_name(),
                delivery = delivery_id,
                %reason,
                "notification failed"
            ),
        }
        outcome
    }

    /// The exact request [`Notifier::send`] would make for `event`, built without a network;
    /// `None` when the channel does not take this kind of event (PagerDuty: maintenance and
    /// component events). `now` is the attempt's time (the webhook's `X-Pharos-Timestamp`);
    /// nothing else depends on it, so a fixed `now` gives a fixed request.
    pub fn render(
        &self,
        delivery_id: &str,
        event: &Event,
        now: DateTime<Utc>,
    ) -> Result<Option<RenderedRequest>, RenderError> {
        let json = |url: &str, value: serde_json::Value, extra| {
            Ok(Some(channels::json_request(
                url.to_owned(),
                delivery_id,
                channels::to_json(&value)?,
                extra,
            )))
        };
        match &self.channel {
            Channel::Webhook { url, secret } => {
                channels::webhook::render(url, secret.as_deref(), delivery_id, event, now).map(Some)
            }
            Channel::Slack { url } => json(url, channels::slack::payload(event)?, vec![]),
            Channel::Discord { url } => json(url, channels::discord::payload(event)?, vec![]),
            Channel::Teams { url } => json(url, channels::teams::payload(event)?, vec![]),
            Channel::Ntfy { url, token } => {
                let (server, topic) = channels::ntfy::split_topic_url(url)?;
                let extra = token
                    .iter()
                    .map(|t| ("Authorization", format!("Bearer {t}")))
                    .collect();
                json(&server, channels::ntfy::payload(event, &topic)?, extra)
            }
            Channel::PagerDuty { routing_key, url } => {
                match channels::pagerduty::payload(event, routing_key)? {
                    Some(value) => json(url, value, vec![]),
                    None => Ok(None),
                }
            }
        }
    }
}

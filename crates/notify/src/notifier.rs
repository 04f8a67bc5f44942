//! The configured channels (`[[notifiers]]`) and one attempt to send an event to one of them.

use std::time::Duration;

use crate::event::{Event, Route};

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
    pub async fn send(&self, client: &reqwest::Client, delivery_id: &str, event: &Event) -> Outcome {
        let _ = (client, delivery_id, event);
        Outcome::Failed {
            reason: format!("{} is not implemented yet", self.channel.type_name()),
        }
    }
}

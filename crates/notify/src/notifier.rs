//! The configured channels (`[[notifiers]]`) and one attempt to send an event to one of them:
//! [`Notifier::render`] builds the exact HTTP request (no network) and
//! [`Notifier::render_emails`] the exact e-mails; [`Notifier::send`] sends them once and
//! classifies the answer into an [`Outcome`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt as _;
use pharos_domain::duration::format_duration;
use tokio::time::{timeout_at, Instant};

use crate::channels;
use crate::email::{Email, SmtpSettings};
use crate::event::{Event, Route};
use crate::render::{RenderError, RenderedRequest};

/// Most e-mails of one delivery in flight at once (one SMTP connection each).
const EMAILS_IN_FLIGHT: usize = 4;

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
    /// E-mail through the `[smtp]` server: one message per recipient, with a plain-text and
    /// an HTML part (see [`channels::email`]).
    Email {
        /// Recipient addresses, e.g. `oncall@example.com`.
        to: Vec<String>,
        /// The outgoing server (`[smtp]`).
        smtp: SmtpSettings,
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
            Self::Email { .. } => "email",
        }
    }

    /// The strings that must never appear in a reason or a log: the URL and its path and
    /// query (chat webhook URLs and ntfy topics are credentials), the signing secret, the
    /// token, the routing key. (E-mail redacts its SMTP password where it sends.)
    pub(crate) fn secrets(&self) -> Vec<&str> {
        let (url, key) = match self {
            Self::Email { smtp, .. } => {
                return smtp.password.as_deref().into_iter().collect();
            }
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
    ///
    /// E-mail sends [`Notifier::render_emails`] through the `[smtp]` server instead, one
    /// message per recipient (at most four connections at once), all within
    /// [`Notifier::timeout`] and each within the smaller of it and the server's own timeout.
    /// It is [`Outcome::Sent`] only when the server accepted every recipient's message;
    /// otherwise the reason names each recipient that failed and why (see [`send_emails`]).
    /// A retry sends to every recipient again, with the same `Message-ID` per recipient.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        delivery_id: &str,
        event: &Event,
    ) -> Outcome {
        let secrets = self.channel.secrets();
        let outcome = match (&self.channel, self.render_emails(delivery_id, event)) {
            (Channel::Email { smtp, .. }, Ok(Some(emails))) => {
                send_emails(smtp, &emails, self.timeout).await
            }
            (_, Err(e)) => Outcome::Failed {
                reason: crate::http::redact(&e.to_string(), &secrets),
            },
            _ => match self.render(delivery_id, event, Utc::now()) {
                Ok(Some(request)) => {
                    crate::http::post(client, &request, self.timeout, &secrets).await
                }
                Ok(None) => Outcome::Sent,
                Err(e) => Outcome::Failed {
                    reason: crate::http::redact(&e.to_string(), &secrets),
                },
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

    /// The exact HTTP request [`Notifier::send`] would make for `event`, built without a
    /// network; `None` when it makes none: the channel does not take this kind of event
    /// (PagerDuty: maintenance and component events), or it is not an HTTP channel at all
    /// (e-mail: see [`Notifier::render_emails`]). `now` is the attempt's time (the webhook's
    /// `X-Pharos-Timestamp`); nothing else depends on it, so a fixed `now` gives a fixed
    /// request.
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
            Channel::Email { .. } => Ok(None),
        }
    }

    /// The exact e-mails [`Notifier::send`] would send for `event`, one per recipient, built
    /// without a network; `None` for the HTTP channels (see [`Notifier::render`]).
    /// `delivery_id` makes each message's `Message-ID`.
    pub fn render_emails(
        &self,
        delivery_id: &str,
        event: &Event,
    ) -> Result<Option<Vec<Email>>, RenderError> {
        match &self.channel {
            Channel::Email { to, smtp } => {
                channels::email::emails(event, to, &smtp.from, &self.id, delivery_id).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// Sends `emails` through `smtp`, at most four at once, all within `timeout`
/// (each within the smaller of `timeout` and the server's own).
///
/// [`Outcome::Sent`] only if every message was accepted. Otherwise the reason names each
/// recipient that failed: `oncall@example.com: connection refused by smtp.example.com:587`
/// for one recipient, `1 of 3 recipients failed: bob@example.com: smtp.example.com:587
/// rejected the message: 550 …` for several, and `<reason> (all 3 recipients)` when they all
/// failed alike. A message still unsent when `timeout` runs out failed with `timed out after
/// 10s`.
pub async fn send_emails(smtp: &SmtpSettings, emails: &[Email], timeout: Duration) -> Outcome {
    if emails.is_empty() {
        return Outcome::Sent;
    }
    let each = SmtpSettings {
        timeout: smtp.timeout.min(timeout),
        ..smtp.clone()
    };
    let deadline = Instant::now() + timeout;
    let mut results: Vec<Option<Outcome>> = vec![None; emails.len()];
    let mut queue = emails.iter().enumerate();
    let mut in_flight = FuturesUnordered::new();
    for (i, email) in queue.by_ref().take(EMAILS_IN_FLIGHT) {
        in_flight.push(send_one(&each, i, email));
    }
    while let Ok(Some((i, outcome))) = timeout_at(deadline, in_flight.next()).await {
        results[i] = Some(outcome);
        if let Some((i, email)) = queue.next() {
            in_flight.push(send_one(&each, i, email));
        }
    }
    let timed_out = format!("timed out after {}", format_duration(timeout));
    let failures: Vec<(&str, String)> = emails
        .iter()
        .zip(results)
        .filter_map(|(email, result)| match result {
            Some(Outcome::Sent) => None,
            Some(Outcome::Failed { reason }) => Some((email.to.as_str(), reason)),
            None => Some((email.to.as_str(), timed_out.clone())),
        })
        .collect();
    if failures.is_empty() {
        return Outcome::Sent;
    }
    let n = emails.len();
    let reason = if n == 1 {
        format!("{}: {}", failures[0].0, failures[0].1)
    } else if failures.len() == n && failures.iter().all(|(_, r)| *r == failures[0].1) {
        format!("{} (all {n} recipients)", failures[0].1)
    } else {
        let list: Vec<String> = failures
            .iter()
            .map(|(to, reason)| format!("{to}: {reason}"))
            .collect();
        format!(
            "{} of {n} recipients failed: {}",
            failures.len(),
            list.join("; ")
        )
    };
    Outcome::Failed { reason }
}

/// [`crate::email::send_email`], tagged with the message's position.
async fn send_one(smtp: &SmtpSettings, i: usize, email: &Email) -> (usize, Outcome) {
    (i, crate::email::send_email(smtp, email).await)
}

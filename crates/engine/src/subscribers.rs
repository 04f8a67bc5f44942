//! Public subscribers: people and systems that asked the page for updates, by e-mail (double
//! opt-in) or by webhook (Statuspage's subscriber payload, active at once).
//!
//! - [`Subscribers`] is the live list, kept by the pipeline task: every subscribe, confirm,
//!   unsubscribe and removal is applied here first and queued as a write in the same batch as
//!   the confirmation e-mail it causes, so the list in memory and the database stay in step
//!   and a command's answer (which waits for the commit) means stored. `notices.rs` fans each
//!   public event out to the active subscribers that follow it.
//! - [`Tokens`] signs and checks the links subscribers get: a confirmation link that expires
//!   after [`CONFIRM_LINK_LIFETIME`] and an unsubscribe link that never expires, each an
//!   HMAC-SHA256 over the subscriber id, the link's purpose and its expiry, keyed with the
//!   page's stored key ([`pharos_store::Store::signing_key`]).
//! - [`event_email`] and [`confirmation_email`] are the e-mails themselves, in the words of
//!   [`pharos_notify::Message`], with the unsubscribe link in the body and in
//!   `List-Unsubscribe` (RFC 8058 one-click) headers.

use pharos_notify::channels::email;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use pharos_domain::{ComponentId, RuleError};
use pharos_notify::email::Email;
use pharos_notify::{Event, Message, RenderError};
use pharos_store::{OutboxPayload, OutboxRecord, SubscriberChange, SubscriberRecord};
pub use pharos_store::{SubscriberKind, SubscriberState};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::desk::DeskError;
use crate::view::PageInfo;
use crate::world::World;

/// How long a confirmation link works.
pub const CONFIRM_LINK_LIFETIME: ChronoDuration = ChronoDuration::days(7);
/// A repeated subscribe of an unconfirmed address sends a new confirmation e-mail at most
/// this often.
pub const CONFIRMATION_RESEND_AFTER: ChronoDuration = ChronoDuration::minutes(10);
/// The outbox event kind of a confirmation e-mail.
pub const CONFIRMATION_EVENT_KIND: &str = "subscriber_confirmation";
/// Outbox destinations of subscribers start with this, followed by the subscriber id.
pub const DESTINATION_PREFIX: &str = "subscriber:";
/// The longest e-mail address accepted (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_LEN: usize = 254;
/// The longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// How long subscribing waits for a webhook's name to resolve before accepting it unchecked
/// (every delivery checks again).
pub const SUBSCRIBE_LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// Bytes of HMAC kept in a link (128 bits).
const SIGNATURE_BYTES: usize = 16;

/// The outbox destination of a subscriber.
pub fn destination(subscriber_id: &str) -> String {
    format!("{DESTINATION_PREFIX}{subscriber_id}")
}

/// A public subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// Stable id: 12 characters of `[a-z0-9]`.
    pub id: String,
    /// E-mail or webhook.
    pub kind: SubscriberKind,
    /// The e-mail address, or the webhook URL.
    pub address: String,
    /// The e-mail address: `address` for e-mail subscribers, the optional contact address
    /// given with a webhook.
    pub email: Option<String>,
    /// Components followed; empty means the whole page.
    pub components: Vec<ComponentId>,
    /// When it subscribed.
    pub created_at: DateTime<Utc>,
    /// When it was confirmed (at once for a webhook).
    pub confirmed_at: Option<DateTime<Utc>>,
    /// When it unsubscribed.
    pub unsubscribed_at: Option<DateTime<Utc>>,
    /// When the last confirmation e-mail was queued.
    pub confirmation_sent_at: Option<DateTime<Utc>>,
}

/// What the engine keeps in a subscriber's `doc`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Doc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    confirmation_sent_at: Option<DateTime<Utc>>,
}

impl Subscriber {
    /// Pending, active or unsubscribed.
    pub fn state(&self) -> SubscriberState {
        SubscriberState::of(self.confirmed_at, self.unsubscribed_at)
    }

    /// A stored subscriber; an unreadable `doc` loses only what it held (logged).
    pub fn from_record(r: SubscriberRecord) -> Subscriber {
        let doc: Doc = serde_json::from_str(&r.doc).unwrap_or_else(|error| {
            tracing::warn!(subscriber = %r.id, %error, "a subscriber's stored details could not be read");
            Doc::default()
        });
        let email = match r.kind {
            SubscriberKind::Email => Some(r.address.clone()),
            SubscriberKind::Webhook => doc.email,
        };
        Subscriber {
            id: r.id,
            kind: r.kind,
            address: r.address,
            email,
            components: r.components,
            created_at: r.created_at,
            confirmed_at: r.confirmed_at,
            unsubscribed_at: r.unsubscribed_at,
            confirmation_sent_at: doc.confirmation_sent_at,
        }
    }

    /// The subscriber as stored.
    pub fn to_record(&self) -> SubscriberRecord {
        let doc = Doc {
            email: match self.kind {
                SubscriberKind::Email => None,
                SubscriberKind::Webhook => self.email.clone(),
            },
            confirmation_sent_at: self.confirmation_sent_at,
        };
        SubscriberRecord {
            id: self.id.clone(),
            kind: self.kind,
            address: self.address.clone(),
            components: self.components.clone(),
            created_at: self.created_at,
            confirmed_at: self.confirmed_at,
            unsubscribed_at: self.unsubscribed_at,
            // Two optional strings always serialize.
            doc: serde_json::to_string(&doc).unwrap_or_else(|_| "{}".to_owned()),
        }
    }

    /// Whether it follows any of `components` (or the whole page).
    pub fn follows_any<'a>(&self, mut components: impl Iterator<Item = &'a ComponentId>) -> bool {
        self.components.is_empty() || components.any(|c| self.components.contains(c))
    }
}

/// A request to subscribe, as the public sent it (checked by the engine).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewSubscriber {
    /// An e-mail address: alone, an e-mail subscription; with `endpoint`, the webhook's
    /// contact address.
    pub email: Option<String>,
    /// A webhook URL (http or https).
    pub endpoint: Option<String>,
    /// Component ids to follow; empty for the whole page.
    pub components: Vec<String>,
}

/// The answer to a subscribe.
///
/// Only [`Subscribed::accepted`] may be shown to whoever asked: it is built from the request
/// alone, so it reads the same for a new address, a pending one and a confirmed one. The
/// subscriber's id, creation time and state would tell a stranger whether an address was
/// already subscribed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    /// What was asked for, checked and normalized: the same whatever was stored before.
    pub accepted: Accepted,
    /// The subscriber, new or the one already there for that address. Never for the public.
    pub subscriber: Subscriber,
    /// Whether it is new rather than the existing one. Never for the public.
    pub created: bool,
}

/// A subscribe request as accepted: checked and normalized, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// E-mail or webhook.
    pub kind: SubscriberKind,
    /// The e-mail address, or the webhook URL, as asked for (normalized).
    pub address: String,
    /// The e-mail address: `address` for e-mail, the optional contact address of a webhook.
    pub email: Option<String>,
    /// The components asked for; empty for the whole page.
    pub components: Vec<ComponentId>,
}

/// Why a subscriber request failed.
#[derive(Debug, thiserror::Error)]
pub enum SubscriberError {
    /// A field is not acceptable; nothing changed.
    #[error("{field}: {message}")]
    Invalid {
        /// `email`, `endpoint` or `component_ids`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A confirmation or unsubscribe link that is forged, damaged, expired, or for a
    /// subscription that no longer exists; nothing changed.
    #[error("this link is not valid")]
    InvalidLink,
    /// No subscriber has this id.
    #[error("no subscriber with id {0:?}")]
    NotFound(String),
    /// Storage did not answer or confirm in time, or Pharos is stopping.
    #[error("{0}")]
    Unavailable(String),
}

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirms an e-mail subscription (expires).
    Confirm,
    /// Ends a subscription (never expires).
    Unsubscribe,
}

impl Purpose {
    fn code(self) -> &'static str {
        match self {
            Purpose::Confirm => "c",
            Purpose::Unsubscribe => "u",
        }
    }
}

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Malformed, forged, or made for another purpose.
    #[error("the link is not valid")]
    Invalid,
    /// Genuine, but past its expiry.
    #[error("the link has expired")]
    Expired,
}

/// Signs and checks subscribers' links. Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct Tokens {
    key: Arc<[u8]>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(***)")
    }
}

impl Tokens {
    /// Links signed with `key`.
    pub fn new(key: impl Into<Vec<u8>>) -> Tokens {
        Tokens {
            key: Arc::from(key.into()),
        }
    }

    fn mac(&self, id: &str, purpose: Purpose, expires: i64) -> Option<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).ok()?;
        mac.update(b"pharos-subscriber-link\n");
        mac.update(id.as_bytes());
        mac.update(b"\n");
        mac.update(purpose.code().as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        Some(mac)
    }

    fn client_mac(&self, client: &str) -> Option<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).ok()?;
        mac.update(b"pharos-forwarded-client\n");
        mac.update(client.as_bytes());
        Some(mac)
    }

    /// A 32-byte key for another purpose, derived from this signer's key (the database's):
    /// HMAC-SHA256 over a fixed prefix and `label`, so each label gets its own key, every
    /// node of a cluster derives the same one, and no key derived here can stand for a link
    /// signature or another label's key. The console signs its CSRF tokens with
    /// `derive_key(b"console csrf")`.
    pub fn derive_key(&self, label: &[u8]) -> [u8; 32] {
        // HMAC takes a key of any length (RFC 2104 §2), so `new_from_slice` cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC accepts a key of any length");
        mac.update(b"pharos-derived-key\n");
        mac.update(label);
        mac.finalize().into_bytes().into()
    }

    /// Vouches for `client`, the address a request came from, when a node of a cluster
    /// forwards it to the leader: every node shares the key (it is the database's), so the
    /// leader counts the client's own allowance, not the forwarding node's (hex signature).
    pub fn sign_client(&self, client: &str) -> String {
        self.client_mac(client)
            .map(|m| {
                let tag = m.finalize().into_bytes();
                hex::encode(tag.get(..SIGNATURE_BYTES).unwrap_or_default())
            })
            .unwrap_or_default()
    }

    /// Whether `signature` is [`Tokens::sign_client`]'s for `client`.
    pub fn verify_client(&self, client: &str, signature: &str) -> bool {
        let Ok(sig) = hex::decode(signature.trim()) else {
            return false;
        };
        sig.len() == SIGNATURE_BYTES
            && self
                .client_mac(client)
                .is_some_and(|m| m.verify_truncated_left(&sig).is_ok())
    }

    /// A token for subscriber `id`: `<id>.<purpose>.<expiry unix seconds, 0 for never>.<hex
    /// signature>`, safe in a URL as it is.
    pub fn sign(&self, id: &str, purpose: Purpose, expires: Option<DateTime<Utc>>) -> String {
        let exp = expires.map_or(0, |t| t.timestamp().max(1));
        let sig = self
            .mac(id, purpose, exp)
            .map(|m| {
                let tag = m.finalize().into_bytes();
                hex::encode(tag.get(..SIGNATURE_BYTES).unwrap_or_default())
            })
            .unwrap_or_default();
        format!("{id}.{}.{exp}.{sig}", purpose.code())
    }

    /// The subscriber id a genuine, unexpired `token` made for `purpose` names.
    pub fn verify(
        &self,
        token: &str,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> Result<String, LinkError> {
        let mut parts = token.trim().split('.');
        let (Some(id), Some(code), Some(exp), Some(sig), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(LinkError::Invalid);
        };
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let exp: i64 = exp.parse().map_err(|_| LinkError::Invalid)?;
        let sig = hex::decode(sig).map_err(|_| LinkError::Invalid)?;
        if !id_ok || code != purpose.code() || sig.len() != SIGNATURE_BYTES || exp < 0 {
            return Err(LinkError::Invalid);
        }
        let mac = self.mac(id, purpose, exp).ok_or(LinkError::Invalid)?;
        mac.verify_truncated_left(&sig)
            .map_err(|_| LinkError::Invalid)?;
        if exp != 0 && now.timestamp() > exp {
            return Err(LinkError::Expired);
        }
        Ok(id.to_owned())
    }

    /// `<page>/subscribe/confirm?token=…`, working until `expires`.
    pub fn confirm_link(&self, page_url: &str, id: &str, expires: DateTime<Utc>) -> String {
        format!(
            "{}/subscribe/confirm?token={}",
            page_url.trim_end_matches('/'),
            self.sign(id, Purpose::Confirm, Some(expires))
        )
    }

    /// `<page>/unsubscribe?token=…`, working forever.
    pub fn unsubscribe_link(&self, page_url: &str, id: &str) -> String {
        format!(
            "{}/unsubscribe?token={}",
            page_url.trim_end_matches('/'),
            self.sign(id, Purpose::Unsubscribe, None)
        )
    }
}

/// What a confirmation e-mail says, stored in the outbox so it survives a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationPayload {
    /// The page's name.
    pub page_name: String,
    /// The page's public URL.
    pub page_url: String,
    /// Names of the components chosen; empty for the whole page.
    pub components: Vec<String>,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

/// A request, checked.
struct Checked {
    kind: SubscriberKind,
    address: String,
    email: Option<String>,
    components: Vec<ComponentId>,
}

/// The live subscribers (every one not unsubscribed), owned by the pipeline task.
pub(crate) struct Subscribers {
    page: PageInfo,
    email_enabled: bool,
    live: BTreeMap<String, Subscriber>,
    by_address: HashMap<(SubscriberKind, String), String>,
    writes: Vec<SubscriberChange>,
    outbox: Vec<OutboxRecord>,
}

impl Subscribers {
    /// The list as stored (unsubscribed records are skipped). `email_enabled` says whether
    /// an SMTP server is configured.
    pub(crate) fn new(
        page: PageInfo,
        email_enabled: bool,
        records: Vec<SubscriberRecord>,
    ) -> Subscribers {
        let mut s = Subscribers {
            page,
            email_enabled,
            live: BTreeMap::new(),
            by_address: HashMap::new(),
            writes: Vec::new(),
            outbox: Vec::new(),
        };
        for r in records {
            if r.unsubscribed_at.is_none() {
                s.insert(Subscriber::from_record(r));
            }
        }
        s
    }

    fn insert(&mut self, sub: Subscriber) {
        self.by_address.insert(
            (sub.kind, address_key(sub.kind, &sub.address)),
            sub.id.clone(),
        );
        self.live.insert(sub.id.clone(), sub);
    }

    fn forget(&mut self, id: &str) -> Option<Subscriber> {
        let sub = self.live.remove(id)?;
        self.by_address
            .remove(&(sub.kind, address_key(sub.kind, &sub.address)));
        Some(sub)
    }

    /// Active (confirmed) subscribers, in id order.
    pub(crate) fn active(&self) -> impl Iterator<Item = &Subscriber> {
        self.live
            .values()
            .filter(|s| s.state() == SubscriberState::Active)
    }

    /// Whether any active subscriber takes component events (webhooks do).
    pub(crate) fn wants_component_events(&self) -> bool {
        self.active().any(|s| s.kind == SubscriberKind::Webhook)
    }

    /// Takes the queued writes and the confirmation e-mails they cause.
    pub(crate) fn take_writes(&mut self) -> (Vec<SubscriberChange>, Vec<OutboxRecord>) {
        (
            std::mem::take(&mut self.writes),
            std::mem::take(&mut self.outbox),
        )
    }

    /// Checks `req` and subscribes, or answers with the subscriber already there for that
    /// address (an unconfirmed one is sent a new confirmation e-mail at most every
    /// [`CONFIRMATION_RESEND_AFTER`]). Bad input changes nothing.
    pub(crate) fn subscribe(
        &mut self,
        world: &World,
        req: NewSubscriber,
        now: DateTime<Utc>,
    ) -> Result<Subscribed, DeskError> {
        let checked = check(req, self.email_enabled, world)?;
        let accepted = Accepted {
            kind: checked.kind,
            address: checked.address.clone(),
            email: checked.email.clone(),
            components: checked.components.clone(),
        };
        let key = (checked.kind, address_key(checked.kind, &checked.address));
        if let Some(id) = self.by_address.get(&key).cloned() {
            let Some(mut sub) = self.live.get(&id).cloned() else {
                return Err(DeskError::NotFound {
                    what: "subscriber",
                    id,
                });
            };
            let resend = sub.state() == SubscriberState::Pending
                && sub
                    .confirmation_sent_at
                    .is_none_or(|at| now - at >= CONFIRMATION_RESEND_AFTER);
            if resend {
                self.queue_confirmation(world, &mut sub, now);
                self.live.insert(sub.id.clone(), sub.clone());
            }
            // Written again even when nothing changed, so that the answer waits for a write
            // as it does for a new address: how long it takes tells nothing either.
            self.writes.push(SubscriberChange::Upsert(sub.to_record()));
            return Ok(Subscribed {
                accepted,
                subscriber: sub,
                created: false,
            });
        }
        let webhook = checked.kind == SubscriberKind::Webhook;
        let mut sub = Subscriber {
            id: self.new_id(),
            kind: checked.kind,
            address: checked.address,
            email: checked.email,
            components: checked.components,
            created_at: now,
            // Statuspage sends no confirmation for webhooks: they are active at once.
            confirmed_at: webhook.then_some(now),
            unsubscribed_at: None,
            confirmation_sent_at: None,
        };
        if !webhook {
            self.queue_confirmation(world, &mut sub, now);
        }
        self.writes.push(SubscriberChange::Upsert(sub.to_record()));
        self.insert(sub.clone());
        tracing::info!(subscriber = %sub.id, kind = sub.kind.as_str(), "new subscriber");
        Ok(Subscribed {
            accepted,
            subscriber: sub,
            created: true,
        })
    }

    /// Confirms subscriber `id` (a second confirmation changes nothing). An unsubscribed or
    /// removed one is not found.
    pub(crate) fn confirm(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Subscriber, DeskError> {
        let Some(sub) = self.live.get_mut(id) else {
            return Err(DeskError::NotFound {
                what: "subscriber",
                id: id.to_owned(),
            });
        };
        if sub.confirmed_at.is_none() {
            sub.confirmed_at = Some(now);
            self.writes.push(SubscriberChange::Upsert(sub.to_record()));
            tracing::info!(subscriber = %id, "subscriber confirmed");
        }
        Ok(sub.clone())
    }

    /// Unsubscribes `id`; `None` when it is not subscribed (any more).
    pub(crate) fn unsubscribe(&mut self, id: &str, now: DateTime<Utc>) -> Option<Subscriber> {
        let mut sub = self.forget(id)?;
        sub.unsubscribed_at = Some(now);
        self.writes.push(SubscriberChange::Upsert(sub.to_record()));
        tracing::info!(subscriber = %id, "subscriber unsubscribed");
        Some(sub)
    }

    /// Deletes `id` for good (the admin API), whatever its state.
    pub(crate) fn remove(&mut self, id: &str) {
        self.forget(id);
        self.writes.push(SubscriberChange::Remove(id.to_owned()));
        tracing::info!(subscriber = %id, "subscriber removed");
    }

    fn new_id(&self) -> String {
        loop {
            let id = crate::random_string(12);
            if !self.live.contains_key(&id) {
                return id;
            }
        }
    }

    fn queue_confirmation(&mut self, world: &World, sub: &mut Subscriber, now: DateTime<Utc>) {
        sub.confirmation_sent_at = Some(now);
        let payload = ConfirmationPayload {
            page_name: self.page.name.clone(),
            page_url: self.page.url.clone(),
            components: sub
                .components
                .iter()
                .map(|c| {
                    world
                        .component(c)
                        .map_or_else(|| c.to_string(), |(name, _)| name.to_owned())
                })
                .collect(),
            expires_at: now + CONFIRM_LINK_LIFETIME,
        };
        let payload = match serde_json::to_string(&payload) {
            Ok(p) => p,
            Err(error) => {
                tracing::error!(%error, "serializing a confirmation e-mail failed; it is not sent");
                return;
            }
        };
        let id = format!("confirm.{}.{}", sub.id, now.timestamp_micros());
        self.outbox.push(OutboxRecord {
            // A confirmation is for one subscriber: its payload is its own.
            payload: OutboxPayload::shared(id.clone(), payload),
            id,
            destination: destination(&sub.id),
            event_kind: CONFIRMATION_EVENT_KIND.to_owned(),
            created_at: now,
            due_at: now,
        });
    }
}

/// How addresses compare: e-mail addresses without regard to case, URLs as parsed.
fn address_key(kind: SubscriberKind, address: &str) -> String {
    match kind {
        SubscriberKind::Email => address.to_lowercase(),
        SubscriberKind::Webhook => address.to_owned(),
    }
}

/// Checks every field before anything changes.
fn check(req: NewSubscriber, email_enabled: bool, world: &World) -> Result<Checked, RuleError> {
    let present = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let email = present(req.email);
    let endpoint = present(req.endpoint);
    let (kind, address, email) = match (endpoint, email) {
        (Some(url), email) => {
            let url = check_url(&url)?;
            let email = email.map(|e| check_email(&e)).transpose()?;
            (SubscriberKind::Webhook, url, email)
        }
        (None, Some(email)) => {
            if !email_enabled {
                return Err(RuleError::invalid(
                    "email",
                    "this page does not offer e-mail subscriptions",
                ));
            }
            let email = check_email(&email)?;
            (SubscriberKind::Email, email.clone(), Some(email))
        }
        (None, None) => {
            return Err(RuleError::invalid(
                "email",
                "give an e-mail address or a webhook endpoint",
            ))
        }
    };
    let mut components: Vec<ComponentId> = Vec::new();
    for raw in &req.components {
        let known = ComponentId::new(raw.trim())
            .ok()
            .filter(|id| world.component(id).is_some());
        match known {
            Some(id) if !components.contains(&id) => components.push(id),
            Some(_) => {}
            None => {
                return Err(RuleError::invalid(
                    "component_ids",
                    format!("unknown component {raw:?}"),
                ))
            }
        }
    }
    Ok(Checked {
        kind,
        address,
        email,
        components,
    })
}

/// A proper e-mail address (RFC 5322 `addr-spec` with a domain of at least two labels, no
/// display name, no domain literal), as written.
fn check_email(s: &str) -> Result<String, RuleError> {
    if s.len() > MAX_EMAIL_LEN {
        return Err(RuleError::invalid(
            "email",
            format!("an e-mail address has at most {MAX_EMAIL_LEN} characters"),
        ));
    }
    let options = email_address::Options::default()
        .with_required_tld()
        .without_domain_literal()
        .without_display_text();
    let parsed = email_address::EmailAddress::parse_with_options(s, options)
        .map(|a| a.email())
        .map_err(|e| {
            RuleError::invalid("email", format!("{s:?} is not a valid e-mail address: {e}"))
        })?;
    // And the mail client must take it, or the subscriber could never be written to.
    pharos_notify::email::check_address(&parsed).map_err(|problem| {
        RuleError::invalid(
            "email",
            format!("{s:?} is not a valid e-mail address: {problem}"),
        )
    })?;
    Ok(parsed)
}

/// An absolute `http` or `https` URL with a host, normalized. (Where it may lead is checked
/// apart, with DNS: see [`pharos_notify::guard`].)
pub(crate) fn check_url(s: &str) -> Result<String, RuleError> {
    if s.len() > MAX_URL_LEN {
        return Err(RuleError::invalid(
            "endpoint",
            format!("a webhook URL has at most {MAX_URL_LEN} characters"),
        ));
    }
    let url = reqwest::Url::parse(s)
        .map_err(|e| RuleError::invalid("endpoint", format!("{s:?} is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(RuleError::invalid(
            "endpoint",
            format!(
                "a webhook URL must start with http:// or https://, not {}://",
                url.scheme()
            ),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(RuleError::invalid(
            "endpoint",
            format!("{s:?} names no host"),
        ));
    }
    Ok(url.to_string())
}

/// The e-mail for an incident or maintenance event, in [`Message`]'s words, with
/// `unsubscribe` in the body and in RFC 8058 one-click `List-Unsubscribe` headers.
pub fn event_email(event: &Event, to: &str, unsubscribe: &str) -> Result<Email, RenderError> {
    let m = Message::of(event)?;
    let page = &event.page.name;
    let mut facts = vec![format!("Status: {}", m.status)];
    if let Some(impact) = &m.impact {
        facts.push(format!("Impact: {impact}"));
    }
    let facts = facts.join(" · ");
    let mut text = format!("{}\n\n{facts}\n", m.title);
    if let Some(window) = &m.window {
        text.push_str(&format!("Scheduled for {window}\n"));
    }
    if let Some(body) = &m.body {
        text.push_str(&format!("\n{body}\n"));
    }
    if !m.components.is_empty() {
        text.push_str("\nAffected components:\n");
        for c in &m.components {
            text.push_str(&format!("- {c}\n"));
        }
    }
    text.push_str(&format!("\n{}\n{}: {}\n", m.when, m.link_text, m.link));
    text.push_str(&format!(
        "\n--\nYou receive this because you subscribed to updates from {page}.\n\
         Unsubscribe: {unsubscribe}\n"
    ));
    let html = email::subscriber_html(page, &m, &facts, unsubscribe);
    Ok(Email {
        to: to.to_owned(),
        subject: email::subject(event, &m),
        text,
        html,
        headers: vec![
            ("Auto-Submitted".to_owned(), "auto-generated".to_owned()),
            (
                email::EVENT_HEADER.to_owned(),
                event.kind.as_str().to_owned(),
            ),
            ("List-Unsubscribe".to_owned(), format!("<{unsubscribe}>")),
            (
                "List-Unsubscribe-Post".to_owned(),
                "List-Unsubscribe=One-Click".to_owned(),
            ),
        ],
    })
}

/// The double opt-in e-mail: nothing else is sent to `to` until `confirm` is followed.
pub fn confirmation_email(payload: &ConfirmationPayload, to: &str, confirm: &str) -> Email {
    let page = &payload.page_name;
    let what = if payload.components.is_empty() {
        "every incident and maintenance".to_owned()
    } else {
        format!(
            "incidents and maintenances of {}",
            payload.components.join(", ")
        )
    };
    let expires = payload.expires_at.format("%b %-d, %Y %H:%M UTC");
    let text = format!(
        "Confirm your subscription to {page}\n\n\
         Someone, hopefully you, asked to receive e-mail about {what} on {page}'s status page \
         ({url}).\n\n\
         Confirm by opening this link (it works until {expires}):\n{confirm}\n\n\
         If you did not ask for this, ignore this e-mail: nothing more will be sent.\n",
        url = payload.page_url,
    );
    let html = email::confirmation_html(
        page,
        &payload.page_url,
        &what,
        confirm,
        &expires.to_string(),
    );
    Email {
        to: to.to_owned(),
        subject: format!("Confirm your subscription to {page} status"),
        text,
        html,
        headers: vec![("Auto-Submitted".to_owned(), "auto-generated".to_owned())],
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn derived_keys_differ_by_label_and_by_key() {
        let tokens = Tokens::new(b"0123456789abcdef0123456789abcdef".to_vec());
        let console = tokens.derive_key(b"console csrf");
        assert_eq!(console, tokens.derive_key(b"console csrf"), "stable");
        assert_ne!(console, tokens.derive_key(b"something else"));
        assert_ne!(
            console,
            Tokens::new(b"another key".to_vec()).derive_key(b"console csrf")
        );
    }

    #[test]
    fn links_verify_only_as_signed() {
        let tokens = Tokens::new(b"0123456789abcdef0123456789abcdef".to_vec());
        let now = at("2026-01-01T00:00:00Z");
        let confirm = tokens.sign(
            "abc123",
            Purpose::Confirm,
            Some(now + CONFIRM_LINK_LIFETIME),
        );
        assert_eq!(
            tokens.verify(&confirm, Purpose::Confirm, now).unwrap(),
            "abc123"
        );
        // Not for another purpose, not after its expiry, not with another key.
        assert_eq!(
            tokens.verify(&confirm, Purpose::Unsubscribe, now),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            tokens.verify(&confirm, Purpose::Confirm, now + ChronoDuration::days(8)),
            Err(LinkError::Expired)
        );
        let other = Tokens::new(b"another key".to_vec());
        assert_eq!(
            other.verify(&confirm, Purpose::Confirm, now),
            Err(LinkError::Invalid)
        );
        // Tampering with the id or the expiry breaks the signature.
        let forged = confirm.replacen("abc123", "abc124", 1);
        assert_eq!(
            tokens.verify(&forged, Purpose::Confirm, now),
            Err(LinkError::Invalid)
        );
        let parts: Vec<&str> = confirm.split('.').collect();
        let later = format!(
            "{}.{}.{}.{}",
            parts[0], parts[1], 9_999_999_999i64, parts[3]
        );
        assert_eq!(
            tokens.verify(&later, Purpose::Confirm, now),
            Err(LinkError::Invalid)
        );
        for junk in [
            "",
            "x",
            "a.b.c.d",
            "abc123.c.0.zz",
            "ABC.u.0.00",
            "a.u.0.00.extra",
        ] {
            assert_eq!(
                tokens.verify(junk, Purpose::Unsubscribe, now),
                Err(LinkError::Invalid),
                "{junk}"
            );
        }
        // Unsubscribe links never expire.
        let unsubscribe = tokens.sign("abc123", Purpose::Unsubscribe, None);
        assert_eq!(
            tokens
                .verify(
                    &unsubscribe,
                    Purpose::Unsubscribe,
                    at("2099-01-01T00:00:00Z")
                )
                .unwrap(),
            "abc123"
        );
        assert_eq!(
            tokens.unsubscribe_link("https://status.example.com/", "abc123"),
            format!("https://status.example.com/unsubscribe?token={unsubscribe}")
        );
        assert!(!format!("{tokens:?}").contains("0123"));
    }

    #[test]
    fn e_mail_addresses_and_urls_are_checked() {
        assert_eq!(check_email("ann@example.com").unwrap(), "ann@example.com");
        for bad in [
            "ann",
            "ann@",
            "@example.com",
            "ann@localhost",
            "Ann <ann@example.com>",
            "ann@[127.0.0.1]",
            "a b@example.com",
        ] {
            let e = check_email(bad).unwrap_err();
            assert_eq!(e.field(), "email", "{bad}");
        }
        assert!(check_email(&format!("{}@example.com", "a".repeat(250))).is_err());
        assert_eq!(
            check_url("https://hooks.example.com/x?y=1").unwrap(),
            "https://hooks.example.com/x?y=1"
        );
        assert_eq!(
            check_url("http://127.0.0.1:9/").unwrap(),
            "http://127.0.0.1:9/"
        );
        for bad in [
            "ftp://files.example.com/x",
            "hooks.example.com",
            "https://",
            "mailto:a@b.c",
        ] {
            let e = check_url(bad).unwrap_err();
            assert_eq!(e.field(), "endpoint", "{bad}");
        }
    }

    #[test]
    fn subscribers_round_trip_through_their_record() {
        let sub = Subscriber {
            id: "abc".into(),
            kind: SubscriberKind::Webhook,
            address: "https://hooks.example.com/".into(),
            email: Some("ops@example.com".into()),
            components: vec![ComponentId::new("api").unwrap()],
            created_at: at("2026-01-01T00:00:00Z"),
            confirmed_at: Some(at("2026-01-01T00:00:00Z")),
            unsubscribed_at: None,
            confirmation_sent_at: None,
        };
        assert_eq!(Subscriber::from_record(sub.to_record()), sub);
        assert!(sub.follows_any([ComponentId::new("api").unwrap()].iter()));
        assert!(!sub.follows_any([ComponentId::new("db").unwrap()].iter()));
        assert_eq!(sub.state(), SubscriberState::Active);
    }
}

//! Notifications: turns what happened (an [`Event`], captured with everything a message needs
//! at the moment it happened) into a message on one channel, and says how the attempt went
//! ([`Outcome`]). Knows nothing of the outbox, the database or the schedule: the engine
//! writes deliveries durably and calls [`Notifier::send`] for each due one.
//!
//! - [`event`]: the event model (incident opened / updated / resolved, maintenance scheduled /
//!   started / completed, component status) and who may receive it ([`Route`]).
//! - [`notifier`]: the configured channels (`[[notifiers]]`) and sending to them.
//! - [`message`]: the words every channel shows (title, status, impact, latest update,
//!   components, time in the page's zone, link).
//! - [`channels`]: one module per channel, each turning an event into the exact request body
//!   its receiver expects; [`Notifier::render`] builds the whole request without a network
//!   ([`Notifier::render_emails`] the e-mails of an `email` notifier).
//! - [`email`]: the `[smtp]` settings and [`email::send_email`], one e-mail over SMTP with
//!   STARTTLS, TLS or (for local relays) no encryption.
//! - [`render`]: the rendered request ([`RenderedRequest`]) and why rendering can fail.
//! - [`guard`]: subscribers' webhooks, sent to public addresses only ([`guard::WebhookGuard`]:
//!   its own client, whose resolver keeps only allowed addresses).
//!
//! Sending POSTs the rendered request once, with the notifier's timeout, an `Idempotency-Key`
//! equal to the delivery id and `User-Agent: Pharos/<version>`. Only a 2xx answer counts as
//! sent: redirects are failures, so **the `reqwest::Client` passed to [`Notifier::send`] must
//! be built with `redirect(reqwest::redirect::Policy::none())`** (a client that follows them
//! is caught too: a request that ended at another URL is reported as failed). E-mail goes over
//! SMTP instead and ignores the client.

pub mod channels;
pub mod email;
pub mod event;
pub mod guard;
mod http;
pub mod message;
pub mod notifier;
pub mod render;
mod time;

pub use event::{ComponentContext, Event, EventKind, LocationContext, PageContext, Route};
pub use message::{Message, Tone};
pub use notifier::{Channel, Notifier, Outcome};
pub use render::{RenderError, RenderedRequest};

//! Notifications: turns what happened (an [`Event`], captured with everything a message needs
//! at the moment it happened) into a message on one channel, and says how the attempt went
//! ([`Outcome`]). Knows nothing of the outbox, the database or the schedule: the engine
//! writes deliveries durably and calls [`Notifier::send`] for each due one.
//!
//! - [`event`]: the event model (incident opened / updated / resolved, maintenance scheduled /
//!   started / completed, component status) and who may receive it ([`Route`]).
//! - [`notifier`]: the configured channels (`[[notifiers]]`) and sending to them.

pub mod event;
pub mod notifier;

pub use event::{ComponentContext, Event, EventKind, PageContext, Route};
pub use notifier::{Channel, Notifier, Outcome};

//! Statuspage's JSON, one set of types for every place Pharos writes it: the public v2 API
//! (`pharos-web`) and the subscriber webhook payload (`pharos-notify`).
//!
//! - [`ApiTime`]: Statuspage's timestamp (RFC 3339, three millisecond digits, the page's
//!   offset, `Z` only for zones called UTC).
//! - [`v2`]: the v2 API's objects (page, status, component, incident, incident update,
//!   affected component, scheduled maintenance) and responses, exactly as Statuspage writes them,
//!   and the conversion of the domain's incidents and maintenances into them.
//! - [`webhook`]: the subscriber webhook payload, whose `incident` is the v2 incident with the
//!   legacy fields Statuspage still sends there, in the webhook's field order.
//!
//! # Why a crate of its own
//!
//! The API lives in `pharos-web` and the webhook in `pharos-notify`, and web depends on notify
//! (web → engine → notify → domain), so the shared types must sit at or below notify. They are
//! not in `pharos-domain` because they are not rules: the domain says what an incident *is*,
//! this crate says how one third-party product spells it (field order, legacy fields, `null`s,
//! the timestamp format), and that spelling changes for reasons of its own (a new Statuspage
//! field, a client's quirk). Kept apart, the domain stays free of presentation, and a change to
//! the wire format rebuilds only what writes it. The crate depends on the domain, serde and
//! chrono only.
//!
//! Every v2 type both serializes and deserializes, so the same types parse real Statuspage
//! payloads (`pharos-web`'s `tests/compat.rs` proves them key for key against published ones).

pub mod probe;
pub mod time;
pub mod v2;
pub mod webhook;

pub use time::ApiTime;

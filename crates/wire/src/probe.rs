//! The probe protocol (SPEC §7): what a `pharos probe` and the server say to each other,
//! over HTTP with `Authorization: Bearer <location token>`.
//!
//! - `GET /api/v1/probe/monitors?location=ID&probe=INSTANCE&version=V` → [`Assignment`]: the
//!   monitors this probe instance runs. With `version` equal to the current one the server
//!   holds the request up to [`LONG_POLL`] and answers `304 Not Modified` if nothing
//!   changed, so a probe hears of a change within a second and asks at least every
//!   [`LONG_POLL`] (which is also how the server knows it is alive).
//! - `POST /api/v1/probe/results?location=ID&probe=INSTANCE` with a [`ResultBatch`] →
//!   [`BatchAnswer`]. A batch is retried with the same `key` until answered; a key the
//!   server has seen is answered again as `duplicate` and nothing is counted twice.
//!
//! Errors are JSON `{"error": "..."}`: 401 for a missing or wrong token (the same answer for
//! an unknown location, so locations cannot be discovered), 400 for a malformed request,
//! 413 for a batch over [`MAX_BATCH`] results, 503 while the server cannot take results
//! (retry later, same key).

use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_domain::{CheckResult, MonitorSpec};
use serde::{Deserialize, Serialize};

/// Longest the server holds an assignment request that has nothing new.
pub const LONG_POLL: Duration = Duration::from_secs(20);
/// Most results in one batch.
pub const MAX_BATCH: usize = 1_000;

/// The monitors one probe instance runs, as the server sees them now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The location, as asked.
    pub location: String,
    /// Changes whenever the list (or any monitor in it) changes; sent back as `version`.
    pub version: String,
    /// The monitors, in full (secrets included: the server serializes them in clear for the
    /// authenticated probe only).
    pub monitors: Vec<MonitorSpec>,
    /// The server's clock when it answered, so a probe can tell its own is off.
    pub server_time: DateTime<Utc>,
}

/// Results a probe sends together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultBatch {
    /// Unique per batch (a probe uses its instance id and a counter); the same on a retry.
    pub key: String,
    /// The probe's version (`pharos --version`'s number).
    pub version: String,
    /// The probe's clock when it sent the batch: the server corrects `started_at` of every
    /// result by how far it is off.
    pub sent_at: DateTime<Utc>,
    /// The results, oldest first; each `location` is ignored (the token says where).
    pub results: Vec<CheckResult>,
}

/// The server's answer to a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchAnswer {
    /// Results counted.
    pub accepted: usize,
    /// Whether the batch had been received before (nothing was counted this time).
    pub duplicate: bool,
    /// Results not counted, each with why (a monitor not assigned to the location).
    pub refused: Vec<RefusedResult>,
    /// How far the probe's clock is from the server's, in milliseconds (positive: ahead).
    pub clock_offset_ms: i64,
}

/// A result the server did not count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusedResult {
    /// Its monitor.
    pub monitor_id: String,
    /// Why.
    pub reason: String,
}

//! The one clock Pharos reads: UTC now, plus an offset that is zero in production.
//!
//! `PHAROS_CLOCK_OFFSET` (a duration such as `"4d"`, read once at first use) moves the whole
//! process forward in time. It exists so scenarios that span days — a leak that comes back
//! four days after the first incident — can be replayed through the real binary in seconds,
//! against the same database, without waiting. Every timestamp Pharos writes (check results,
//! incidents, timelines, deliveries) comes from here, so the moved clock stays consistent.
//! Never set it in production; `pharos serve` warns when it is set.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};

/// The environment variable that moves the clock forward.
pub const OFFSET_VAR: &str = "PHAROS_CLOCK_OFFSET";

static OFFSET: OnceLock<chrono::Duration> = OnceLock::new();

/// Now, in UTC, as Pharos sees it.
pub fn now() -> DateTime<Utc> {
    Utc::now() + offset()
}

/// How far the clock is moved (zero unless `PHAROS_CLOCK_OFFSET` is set). An unreadable value
/// is ignored with an error in the log: the real time is always a safe fallback.
pub fn offset() -> chrono::Duration {
    *OFFSET.get_or_init(|| {
        let Ok(text) = std::env::var(OFFSET_VAR) else {
            return chrono::Duration::zero();
        };
        match pharos_domain::duration::parse_duration(text.trim())
            .ok()
            .and_then(|d| chrono::Duration::from_std(d).ok())
        {
            Some(d) => d,
            None => {
                tracing::error!(value = %text, "{OFFSET_VAR} is not a duration like \"4d\"; ignored");
                chrono::Duration::zero()
            }
        }
    })
}

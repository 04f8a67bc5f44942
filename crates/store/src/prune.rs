//! Retention: rollups age out by granularity, and settled outbox deliveries age out by how
//! they ended. Raw results need no pruning (the ring is bounded) and component status events
//! are kept forever, since they only grow with real status changes and carry the uptime
//! history. Incidents, maintenances and their timeline events are the permanent record and
//! are never pruned either; nor are pending deliveries, nor the audit trail. Expired console
//! sessions are deleted.

use chrono::{DateTime, Duration, Utc};

use crate::error::OpError;
use crate::model::{DeliveryState, Granularity, PruneReport};
use crate::sql::ms;
use crate::{Result, Store};

/// How long minute rollups are kept.
pub const MINUTE_ROLLUP_RETENTION: Duration = Duration::hours(48);
/// How long hour rollups are kept.
pub const HOUR_ROLLUP_RETENTION: Duration = Duration::days(90);
/// How long day rollups are kept.
pub const DAY_ROLLUP_RETENTION: Duration = Duration::days(400);
/// How long a sent delivery is kept after its `sent_at`, for the admin API's history.
pub const SENT_DELIVERY_RETENTION: Duration = Duration::days(7);
/// How long a dead delivery is kept after its last attempt, so an operator has time to see
/// what was never delivered and why.
pub const DEAD_DELIVERY_RETENTION: Duration = Duration::days(30);

impl Store {
    /// Deletes rollups whose bucket starts before its retention: minute rollups older than
    /// 48 hours, hour rollups older than 90 days, day rollups older than 400 days (a bucket
    /// starting exactly at the cut-off is kept). Uses the `(granularity, bucket_start)` index.
    ///
    /// Deletes outbox deliveries sent more than [`SENT_DELIVERY_RETENTION`] (7 days) ago, by
    /// `sent_at`, and dead ones whose last attempt was more than [`DEAD_DELIVERY_RETENTION`]
    /// (30 days) ago; one exactly at the cut-off is kept. Pending deliveries are never
    /// pruned. A payload is deleted once no delivery names it. Console sessions whose
    /// `expires_at` is at or before `now` are deleted. Nothing else is deleted: incidents and
    /// their events, and the audit trail, are kept forever.
    pub async fn prune(&self, now: DateTime<Utc>) -> Result<PruneReport> {
        const OP: &str = "prune";
        // A leader of several nodes paused past its lease deletes nothing either.
        self.fence_locally(OP)?;
        let cutoff = |retention: Duration| ms(now) - retention.num_milliseconds();
        let plan = [
            (Granularity::Minute, cutoff(MINUTE_ROLLUP_RETENTION)),
            (Granularity::Hour, cutoff(HOUR_ROLLUP_RETENTION)),
            (Granularity::Day, cutoff(DAY_ROLLUP_RETENTION)),
        ];
        let mut deleted = [0u64; 3];
        for (slot, (granularity, before)) in deleted.iter_mut().zip(plan) {
            // One statement per granularity, each its own implicit transaction: pruning is
            // idempotent, and short statements keep the single SQLite writer available.
            *slot = db_run!(self, |pool, d| {
                sqlx::query("DELETE FROM rollups WHERE granularity = $1 AND bucket_start < $2")
                    .bind(granularity.code())
                    .bind(before)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected())
            })
            .map_err(|e| OpError::from(e).at(OP))?;
        }
        // Settled deliveries, through the (state, due_at) index's leading column. The time
        // each state records its ending in differs, hence two statements.
        let sent_deliveries = db_run!(self, |pool, d| {
            sqlx::query("DELETE FROM outbox WHERE state = $1 AND sent_at < $2")
                .bind(DeliveryState::Sent.as_str())
                .bind(cutoff(SENT_DELIVERY_RETENTION))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        let dead_deliveries = db_run!(self, |pool, d| {
            sqlx::query("DELETE FROM outbox WHERE state = $1 AND last_attempt_at < $2")
                .bind(DeliveryState::Dead.as_str())
                .bind(cutoff(DEAD_DELIVERY_RETENTION))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        // Then the payloads those deliveries carried, once no delivery names them.
        let payloads = db_run!(self, |pool, d| {
            sqlx::query(
                "DELETE FROM outbox_payloads WHERE NOT EXISTS \
                 (SELECT 1 FROM outbox WHERE outbox.payload_id = outbox_payloads.id)",
            )
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        // Console sessions past their absolute end: they are never read again.
        let sessions = db_run!(self, |pool, d| {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(ms(now))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        let report = PruneReport {
            minute_rollups: deleted[0],
            hour_rollups: deleted[1],
            day_rollups: deleted[2],
            sent_deliveries,
            dead_deliveries,
            payloads,
            sessions,
        };
        if report != PruneReport::default() {
            tracing::info!(
                minute = report.minute_rollups,
                hour = report.hour_rollups,
                day = report.day_rollups,
                sent_deliveries = report.sent_deliveries,
                dead_deliveries = report.dead_deliveries,
                payloads = report.payloads,
                sessions = report.sessions,
                "pruned old rollups, settled deliveries and expired sessions"
            );
        }
        Ok(report)
    }
}

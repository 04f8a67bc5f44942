//! Retention: rollups age out by granularity. Raw results need no pruning (the ring is
//! bounded) and component status events are kept forever, since they only grow with real
//! status changes and carry the uptime history. Incidents, maintenances and their timeline
//! events are the permanent record and are never pruned either.

use chrono::{DateTime, Duration, Utc};

use crate::error::OpError;
use crate::model::{Granularity, PruneReport};
use crate::sql::ms;
use crate::{Result, Store};

/// How long minute rollups are kept.
pub const MINUTE_ROLLUP_RETENTION: Duration = Duration::hours(48);
/// How long hour rollups are kept.
pub const HOUR_ROLLUP_RETENTION: Duration = Duration::days(90);
/// How long day rollups are kept.
pub const DAY_ROLLUP_RETENTION: Duration = Duration::days(400);

impl Store {
    /// Deletes rollups whose bucket starts before its retention: minute rollups older than
    /// 48 hours, hour rollups older than 90 days, day rollups older than 400 days (a bucket
    /// starting exactly at the cut-off is kept). Uses the `(granularity, bucket_start)` index.
    /// Nothing else is deleted: incidents and their events are kept forever.
    pub async fn prune(&self, now: DateTime<Utc>) -> Result<PruneReport> {
        const OP: &str = "prune";
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
        let report = PruneReport {
            minute_rollups: deleted[0],
            hour_rollups: deleted[1],
            day_rollups: deleted[2],
        };
        if report != PruneReport::default() {
            tracing::info!(
                minute = report.minute_rollups,
                hour = report.hour_rollups,
                day = report.day_rollups,
                "pruned old rollups"
            );
        }
        Ok(report)
    }
}

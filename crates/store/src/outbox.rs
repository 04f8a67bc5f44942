//! The outbox of notifications: deliveries enqueued by [`Store::write_batch`] in the same
//! transaction as the change that caused them, then claimed, sent and settled by a
//! dispatcher.
//!
//! A claim takes a lease instead of holding a transaction open while sending:
//! [`Store::claim_due`] sets `locked_until = now + lease` on the rows it returns and commits
//! at once. No other claim returns those rows until the lease ends, and a crashed
//! dispatcher's rows come back by themselves when it does. On PostgreSQL the claim picks its
//! rows with `FOR UPDATE SKIP LOCKED` (see `dialect.rs`), so nodes claiming at the same time
//! split the due rows between them and never both return one row.
//!
//! The lease must outlast the longest send: a dispatcher still sending when its lease runs
//! out may see the row claimed and sent again (the receiver can deduplicate by the delivery
//! id, which is the Idempotency-Key). A settled row is final in one direction only: a late
//! success still marks a dead row sent, but a late failure never undoes a success.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::audit::insert_audit;
use crate::error::OpError;
use crate::model::{AuditRecord, DeliveryState, OutboxPayload, OutboxRow};
use crate::sql::{from_ms, from_opt_ms, ms, to_u32, to_u64};
use crate::{Result, Store};

/// The longest error text [`Store::mark_failed`] stores, in characters (Unicode scalar
/// values); a longer one is cut to its first `OUTBOX_ERROR_MAX_CHARS` characters.
pub const OUTBOX_ERROR_MAX_CHARS: usize = 1_000;

/// Most payload ids read in one statement (well under SQLite's bound-parameter limit).
const PAYLOADS_PER_READ: usize = 500;

/// The columns of an [`OutboxRow`], in the order of [`DbRow`].
macro_rules! outbox_columns {
    () => {
        "id, destination, event_kind, payload_id, created_at, due_at, attempts, state, \
         last_error, last_attempt_at, sent_at"
    };
}

/// `(id, destination, event_kind, payload_id, created_at, due_at, attempts, state, last_error,
/// last_attempt_at, sent_at)`
type DbRow = (
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

impl Store {
    /// Claims up to `limit` deliveries that are due and returns them, oldest `due_at` first
    /// (then by id).
    ///
    /// A delivery is due when it is pending, its `due_at` is at or before `now`, and it is
    /// not leased (never claimed, or its lease ended at or before `now`). Claiming sets its
    /// lease to end at `now + lease` and changes nothing else; the dispatcher then reports
    /// the outcome with [`mark_sent`](Store::mark_sent) or
    /// [`mark_failed`](Store::mark_failed). A delivery whose lease ends unreported (its
    /// dispatcher crashed) is due again.
    ///
    /// A store carrying a leader's [`Fence`](crate::Fence) claims only while the lease is its
    /// own ([`StoreError::Fenced`](crate::StoreError::Fenced) otherwise, nothing claimed).
    ///
    /// On PostgreSQL, concurrent claims (from this node or others on the same database)
    /// never return the same delivery: each skips the rows another is claiming rather than
    /// waiting for them. SQLite serves one node, and its claims run one at a time.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<OutboxRow>> {
        const OP: &str = "claim_due";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now_ms = ms(now);
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let locked_until = now_ms.saturating_add(lease_ms);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.fence_locally(OP)?;
        let rows: Vec<DbRow> = db_run!(self, |pool, d| {
            // One statement, so one transaction: the rows are picked and leased atomically.
            let sql = format!(
                "UPDATE outbox SET locked_until = $1 WHERE id IN (SELECT id FROM outbox \
                 WHERE state = 'pending' AND due_at <= $2 \
                 AND (locked_until IS NULL OR locked_until <= $2) \
                 ORDER BY due_at, id LIMIT $3{}) RETURNING {}",
                d.claim_lock,
                outbox_columns!()
            );
            let claim = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(locked_until)
                .bind(now_ms)
                .bind(limit);
            async {
                if self.fence.is_none() {
                    return Ok(claim.fetch_all(pool).await?);
                }
                // A leader claims only while it still leads: the fence and the claim in one
                // transaction.
                let mut tx = pool.begin().await?;
                check_fence!(self, tx, d);
                let rows = claim.fetch_all(&mut *tx).await?;
                tx.commit().await?;
                Ok::<_, OpError>(rows)
            }
            .await
        })
        .map_err(|e| e.at(OP))?;
        // RETURNING gives no order.
        let mut rows = self.with_payloads(rows).await.map_err(|e| e.at(OP))?;
        rows.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        Ok(rows)
    }

    /// Records that delivery `id` was sent at `at`: it becomes `sent` with `sent_at` and
    /// `last_attempt_at` set to `at`, one more attempt counted, and its lease released.
    ///
    /// A delivery already sent is left as it is (a duplicate report changes nothing); a dead
    /// one is marked sent, since the send did happen. An unknown id is rejected with
    /// [`StoreError::InvalidInput`](crate::StoreError::InvalidInput).
    pub async fn mark_sent(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        self.settle_one("mark_sent", Settlement::sent(id, at)).await
    }

    /// Records that an attempt to send delivery `id` failed at `at` with `error`: one more
    /// attempt counted, `last_error` and `last_attempt_at` set, and its lease released.
    ///
    /// With `retry_at`, the delivery stays pending and is due again at that time; without,
    /// it is given up (`dead`). `error` is stored cut to [`OUTBOX_ERROR_MAX_CHARS`]
    /// characters, with any NUL character replaced by U+FFFD (PostgreSQL cannot store NUL).
    ///
    /// Only a pending delivery changes: a report about one already sent or dead (from a
    /// dispatcher whose lease ran out meanwhile) is ignored. An unknown id is rejected with
    /// [`StoreError::InvalidInput`](crate::StoreError::InvalidInput).
    pub async fn mark_failed(
        &self,
        id: &str,
        at: DateTime<Utc>,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let settlement = Settlement::failed(id, at, error, retry_at);
        self.settle_one("mark_failed", settlement).await
    }

    /// Records many outcomes in one transaction, each as [`mark_sent`](Store::mark_sent) or
    /// [`mark_failed`](Store::mark_failed) would: a dispatcher sending thousands of
    /// deliveries then commits once per batch instead of once per delivery. Reports about
    /// deliveries already settled are ignored; if any id is unknown, the others are still
    /// recorded and the first unknown one is rejected with
    /// [`StoreError::InvalidInput`](crate::StoreError::InvalidInput).
    pub async fn settle(&self, settlements: &[Settlement]) -> Result<()> {
        const OP: &str = "settle";
        self.settle_all(OP, settlements).await
    }

    async fn settle_one(&self, op: &'static str, settlement: Settlement) -> Result<()> {
        self.settle_all(op, std::slice::from_ref(&settlement)).await
    }

    async fn settle_all(&self, op: &'static str, settlements: &[Settlement]) -> Result<()> {
        if settlements.is_empty() {
            return Ok(());
        }
        let unchanged: Vec<&str> = db_run!(self, |pool, d| {
            async {
                let mut tx = pool.begin().await?;
                let mut unchanged = Vec::new();
                for s in settlements {
                    let done = match &s.outcome {
                        SettledAs::Sent => {
                            sqlx::query(
                                "UPDATE outbox SET state = 'sent', sent_at = $1, \
                                 last_attempt_at = $1, attempts = attempts + 1, \
                                 locked_until = NULL WHERE id = $2 AND state <> 'sent'",
                            )
                            .bind(ms(s.at))
                            .bind(s.id.as_str())
                            .execute(&mut *tx)
                            .await?
                        }
                        SettledAs::Failed { error, retry_at } => {
                            let state = if retry_at.is_some() {
                                DeliveryState::Pending
                            } else {
                                DeliveryState::Dead
                            };
                            sqlx::query(
                                "UPDATE outbox SET state = $1, due_at = COALESCE($2, due_at), \
                                 attempts = attempts + 1, last_error = $3, \
                                 last_attempt_at = $4, locked_until = NULL \
                                 WHERE id = $5 AND state = 'pending'",
                            )
                            .bind(state.as_str())
                            .bind(retry_at.map(ms))
                            .bind(error.as_str())
                            .bind(ms(s.at))
                            .bind(s.id.as_str())
                            .execute(&mut *tx)
                            .await?
                        }
                    };
                    if done.rows_affected() == 0 {
                        unchanged.push(s.id.as_str());
                    }
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(unchanged)
            }
            .await
        })
        .map_err(|e| OpError::from(e).at(op))?;
        for id in unchanged {
            self.settled_already(op, id).await?;
        }
        Ok(())
    }

    /// Gives a dead delivery another chance: it becomes pending and due at `now`, unleased,
    /// with its attempts, last error and times kept (the next attempt's outcome replaces the
    /// error). The dispatcher then sends it as any due delivery; one that fails again is
    /// retried while younger than the dispatcher's age limit, else dead again at once.
    ///
    /// Says so, changing nothing, when no delivery has this id or it is not dead (a pending
    /// one is already going to be tried; a sent one was delivered). With `audit`, the entry
    /// is written in the same transaction as the change (and only with a change).
    pub async fn requeue_dead_delivery(
        &self,
        id: &str,
        now: DateTime<Utc>,
        audit: Option<&AuditRecord>,
    ) -> Result<Requeue> {
        const OP: &str = "requeue_dead_delivery";
        if let Some(a) = audit {
            crate::audit::check_audit(a).map_err(|e| e.at(OP))?;
        }
        self.fence_locally(OP)?;
        let outcome: Result<Option<DbRow>, String> = db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let row: Option<DbRow> = sqlx::query_as(concat!(
                "UPDATE outbox SET state = 'pending', due_at = $1, locked_until = NULL \
                 WHERE id = $2 AND state = 'dead' RETURNING ",
                outbox_columns!()
            ))
            .bind(ms(now))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                // Nothing changed: say why (unknown, or not dead).
                let state: Option<String> =
                    sqlx::query_scalar("SELECT state FROM outbox WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                tx.rollback().await?;
                return Ok::<_, OpError>(match state {
                    Some(state) => Err(state),
                    None => Ok(None),
                });
            };
            if let Some(a) = audit {
                insert_audit!(tx, a);
            }
            tx.commit().await?;
            Ok(Ok(Some(row)))
        }
        .await)
        .map_err(|e| e.at(OP))?;
        match outcome {
            Ok(None) => Ok(Requeue::Unknown),
            Ok(Some(row)) => {
                let mut rows = self.with_payloads(vec![row]).await.map_err(|e| e.at(OP))?;
                rows.pop()
                    .map(Requeue::Queued)
                    .ok_or_else(|| OpError::Corrupt(format!("delivery {id:?} vanished")).at(OP))
            }
            Err(state) => DeliveryState::parse(&state)
                .map(Requeue::NotDead)
                .ok_or_else(|| {
                    OpError::Corrupt(format!("delivery {id}: unknown state {state:?}")).at(OP)
                }),
        }
    }

    /// Up to `limit` deliveries, newest `created_at` first (then by id, descending), only
    /// those in `state` when one is given. For the admin API.
    pub async fn outbox_rows(
        &self,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>> {
        const OP: &str = "outbox_rows";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<DbRow> = db_run!(self, |pool, d| {
            match state {
                Some(state) => {
                    sqlx::query_as(concat!(
                        "SELECT ",
                        outbox_columns!(),
                        " FROM outbox WHERE state = $1 ORDER BY created_at DESC, id DESC \
                         LIMIT $2"
                    ))
                    .bind(state.as_str())
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                }
                None => {
                    sqlx::query_as(concat!(
                        "SELECT ",
                        outbox_columns!(),
                        " FROM outbox ORDER BY created_at DESC, id DESC LIMIT $1"
                    ))
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                }
            }
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        self.with_payloads(rows).await.map_err(|e| e.at(OP))
    }

    /// Stored rows back as the model, each with its payload; rows naming one payload share
    /// it (read once).
    async fn with_payloads(&self, rows: Vec<DbRow>) -> Result<Vec<OutboxRow>, OpError> {
        let mut ids: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut payloads: HashMap<String, Arc<OutboxPayload>> = HashMap::new();
        for chunk in ids.chunks(PAYLOADS_PER_READ) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, body FROM outbox_payloads WHERE id IN ({})",
                placeholders.join(", ")
            );
            let found: Vec<(String, String)> = db_run!(self, |pool, d| {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(pool).await
            })?;
            for (id, body) in found {
                payloads.insert(id.clone(), Arc::new(OutboxPayload { id, body }));
            }
        }
        rows.into_iter()
            .map(|r| {
                let payload = payloads.get(&r.3).cloned().ok_or_else(|| {
                    OpError::Corrupt(format!("delivery {}: payload {:?} is missing", r.0, r.3))
                })?;
                to_row(r, payload)
            })
            .collect()
    }

    /// How many deliveries are `(pending, sent, dead)`, for metrics. Pending includes those
    /// claimed and not yet reported.
    pub async fn outbox_counts(&self) -> Result<(u64, u64, u64)> {
        const OP: &str = "outbox_counts";
        let rows: Vec<(String, i64)> = db_run!(self, |pool, d| {
            sqlx::query_as("SELECT state, COUNT(*) FROM outbox GROUP BY state")
                .fetch_all(pool)
                .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        let mut counts = (0, 0, 0);
        for (state, n) in rows {
            let n = to_u64(n, "delivery count").map_err(|e| e.at(OP))?;
            match DeliveryState::parse(&state) {
                Some(DeliveryState::Pending) => counts.0 = n,
                Some(DeliveryState::Sent) => counts.1 = n,
                Some(DeliveryState::Dead) => counts.2 = n,
                None => {
                    return Err(
                        OpError::Corrupt(format!("unknown delivery state {state:?}")).at(OP),
                    )
                }
            }
        }
        Ok(counts)
    }

    /// After a settling update changed nothing: fine when delivery `id` exists (it was
    /// already settled), an error when it does not.
    async fn settled_already(&self, op: &'static str, id: &str) -> Result<()> {
        let state: Option<String> = db_run!(self, |pool, d| {
            sqlx::query_scalar("SELECT state FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })
        .map_err(|e| OpError::from(e).at(op))?;
        match state {
            Some(state) => {
                tracing::debug!(delivery = id, %state, op, "late report on a settled delivery ignored");
                Ok(())
            }
            None => Err(OpError::Invalid(format!("unknown delivery {id:?}")).at(op)),
        }
    }
}

/// What [`Store::requeue_dead_delivery`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Requeue {
    /// The dead delivery is pending again, as it is now.
    Queued(OutboxRow),
    /// The delivery is in this state, not dead; nothing changed.
    NotDead(DeliveryState),
    /// No delivery has this id.
    Unknown,
}

/// One outcome to record with [`Store::settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    id: String,
    at: DateTime<Utc>,
    outcome: SettledAs,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SettledAs {
    Sent,
    Failed {
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

impl Settlement {
    /// Delivery `id` was sent at `at` (as [`Store::mark_sent`]).
    pub fn sent(id: impl Into<String>, at: DateTime<Utc>) -> Settlement {
        Settlement {
            id: id.into(),
            at,
            outcome: SettledAs::Sent,
        }
    }

    /// An attempt to send delivery `id` failed at `at` with `error`; it is due again at
    /// `retry_at`, or given up without (as [`Store::mark_failed`]).
    pub fn failed(
        id: impl Into<String>,
        at: DateTime<Utc>,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Settlement {
        Settlement {
            id: id.into(),
            at,
            outcome: SettledAs::Failed {
                error: clip_error(error),
                retry_at,
            },
        }
    }

    /// The delivery it is about.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// An error text as stored: at most [`OUTBOX_ERROR_MAX_CHARS`] characters, cut on a
/// character boundary, NUL replaced (one character for one, so the count holds).
fn clip_error(error: &str) -> String {
    let end = error
        .char_indices()
        .nth(OUTBOX_ERROR_MAX_CHARS)
        .map_or(error.len(), |(i, _)| i);
    error[..end].replace('\0', "\u{fffd}")
}

/// A stored row back as the model, with its payload.
fn to_row(r: DbRow, payload: Arc<OutboxPayload>) -> Result<OutboxRow, OpError> {
    Ok(OutboxRow {
        state: DeliveryState::parse(&r.7).ok_or_else(|| {
            OpError::Corrupt(format!("delivery {}: unknown state {:?}", r.0, r.7))
        })?,
        id: r.0,
        destination: r.1,
        event_kind: r.2,
        payload,
        created_at: from_ms(r.4)?,
        due_at: from_ms(r.5)?,
        attempts: to_u32(r.6, "attempts")?,
        last_error: r.8,
        last_attempt_at: from_opt_ms(r.9)?,
        sent_at: from_opt_ms(r.10)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_are_cut_on_a_char_boundary() {
        assert_eq!(clip_error("refused"), "refused");
        let long = "é".repeat(OUTBOX_ERROR_MAX_CHARS + 5);
        let clipped = clip_error(&long);
        assert_eq!(clipped.chars().count(), OUTBOX_ERROR_MAX_CHARS);
        assert!(long.starts_with(&clipped));
        let exact = "🔥".repeat(OUTBOX_ERROR_MAX_CHARS);
        assert_eq!(clip_error(&exact), exact);
        assert_eq!(clip_error("a\0b"), "a\u{fffd}b");
    }
}

//! The audit trail: who changed what, when, from where, with the subject before and after.
//!
//! Entries are appended in the transaction of the change they record: every write of
//! [`people`](crate::people) takes its [`AuditRecord`], and a [`Batch`](crate::Batch) carries
//! those of its changes in [`Batch::audit`](crate::Batch::audit), so a change and its entry are
//! stored together or not at all. [`Store::append_audit`] writes an entry that records no
//! stored change (a refused sign-in). The table is append-only: the schema's triggers refuse
//! any `UPDATE` or `DELETE` (and, on PostgreSQL, `TRUNCATE`), and nothing prunes it.
//!
//! [`Store::audit`] reads it newest first, by sequence number, filtered by [`AuditFilter`],
//! in pages of at most [`AUDIT_PAGE_MAX`] entries.

use chrono::{DateTime, Utc};

use crate::error::OpError;
use crate::model::{ActorKind, AuditRecord};
use crate::sql::{from_ms, ms};
use crate::{Result, Store};

/// The most entries one [`Store::audit`] read returns.
pub const AUDIT_PAGE_MAX: usize = 500;

/// Which audit entries [`Store::audit`] reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries whose `actor_id` or `actor_name` is exactly this.
    pub actor: Option<String>,
    /// Only entries whose action starts with this (`"user."`, `"incident.create"`), compared
    /// exactly, character by character.
    pub action_prefix: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only entries with a sequence number below this: the `seq` of the last entry of the
    /// previous page, to read the next (older) one.
    pub before_seq: Option<i64>,
    /// At most this many; [`AUDIT_PAGE_MAX`] when `None`, and never more.
    pub limit: Option<usize>,
}

/// One stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its place in the trail: grows with every entry, never reused.
    pub seq: i64,
    /// The entry as written.
    pub record: AuditRecord,
}

/// Appends one [`AuditRecord`] inside the write transaction `$tx`, evaluating to its `seq`;
/// `?` on errors. The record must have passed [`check_audit`].
macro_rules! insert_audit {
    ($tx:ident, $record:expr) => {{
        let r: &$crate::model::AuditRecord = $record;
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, subject, \
             before, after, request_id, address) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
        )
        .bind($crate::sql::ms(r.at))
        .bind(r.actor_kind.as_str())
        .bind(r.actor_id.as_deref())
        .bind(r.actor_name.as_str())
        .bind(r.action.as_str())
        .bind(r.subject.as_deref())
        .bind(r.before.as_deref())
        .bind(r.after.as_deref())
        .bind(r.request_id.as_deref())
        .bind(r.address.as_deref())
        .fetch_one(&mut *$tx)
        .await?;
        seq
    }};
}
pub(crate) use insert_audit;

/// Refuses an audit record the store cannot keep as given: text holding a NUL character
/// (PostgreSQL's TEXT cannot), an empty action, or `before` / `after` that are not JSON.
pub(crate) fn check_audit(r: &AuditRecord) -> Result<(), OpError> {
    let texts = [
        Some(r.actor_name.as_str()),
        Some(r.action.as_str()),
        r.actor_id.as_deref(),
        r.subject.as_deref(),
        r.before.as_deref(),
        r.after.as_deref(),
        r.request_id.as_deref(),
        r.address.as_deref(),
    ];
    if texts.into_iter().flatten().any(|t| t.contains('\0')) {
        return Err(OpError::Invalid(format!(
            "audit entry {:?} contains a NUL character",
            r.action
        )));
    }
    if r.action.is_empty() {
        return Err(OpError::Invalid("audit entry without an action".into()));
    }
    for (field, doc) in [("before", &r.before), ("after", &r.after)] {
        if let Some(doc) = doc {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(doc) {
                return Err(OpError::Invalid(format!(
                    "audit entry {:?}: {field} is not JSON: {e}",
                    r.action
                )));
            }
        }
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    seq: i64,
    at: i64,
    actor_kind: String,
    actor_id: Option<String>,
    actor_name: String,
    action: String,
    subject: Option<String>,
    before: Option<String>,
    after: Option<String>,
    request_id: Option<String>,
    address: Option<String>,
}

impl AuditRow {
    fn into_entry(self) -> Result<AuditEntry, OpError> {
        let actor_kind = ActorKind::parse(&self.actor_kind).ok_or_else(|| {
            OpError::Corrupt(format!(
                "audit entry {} has unknown actor kind {:?}",
                self.seq, self.actor_kind
            ))
        })?;
        Ok(AuditEntry {
            seq: self.seq,
            record: AuditRecord {
                at: from_ms(self.at)?,
                actor_kind,
                actor_id: self.actor_id,
                actor_name: self.actor_name,
                action: self.action,
                subject: self.subject,
                before: self.before,
                after: self.after,
                request_id: self.request_id,
                address: self.address,
            },
        })
    }
}

impl Store {
    /// Appends one audit entry on its own, for what changes nothing stored (a refused
    /// sign-in, a denied request), and answers its `seq`. A change to people, sessions or
    /// tokens writes its entry itself, and a batch's go in [`Batch::audit`](crate::Batch).
    ///
    /// Refused with [`StoreError::InvalidInput`](crate::StoreError::InvalidInput) for a NUL
    /// character, an empty action or `before` / `after` that are not JSON, and with
    /// [`StoreError::Fenced`](crate::StoreError::Fenced) on a deposed leader.
    pub async fn append_audit(&self, record: &AuditRecord) -> Result<i64> {
        const OP: &str = "append_audit";
        check_audit(record).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let seq = insert_audit!(tx, record);
            tx.commit().await?;
            Ok::<_, OpError>(seq)
        }
        .await)
        .map_err(|e| e.at(OP))
    }

    /// The audit entries `filter` selects, newest first (by `seq`), at most
    /// [`AUDIT_PAGE_MAX`]. To read the next page, ask again with `before_seq` set to the
    /// last entry's `seq`.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        const OP: &str = "audit";
        let limit = filter.limit.unwrap_or(AUDIT_PAGE_MAX).min(AUDIT_PAGE_MAX);
        let limit = i64::try_from(limit).unwrap_or(0);
        // `substr` counts characters on both engines, and compares exactly (LIKE would treat
        // `_` and `%` as wildcards and, on SQLite, ignore ASCII case).
        let prefix_len = filter
            .action_prefix
            .as_deref()
            .map(|p| i32::try_from(p.chars().count()).unwrap_or(i32::MAX));
        let rows: Vec<AuditRow> = db_run!(self, |pool, d| {
            sqlx::query_as(
                "SELECT seq, at, actor_kind, actor_id, actor_name, action, subject, before, \
                 after, request_id, address FROM audit_log \
                 WHERE ($1 IS NULL OR actor_id = $1 OR actor_name = $1) \
                 AND ($2 IS NULL OR substr(action, 1, $3) = $2) \
                 AND at >= $4 AND seq < $5 \
                 ORDER BY seq DESC LIMIT $6",
            )
            .bind(filter.actor.as_deref())
            .bind(filter.action_prefix.as_deref())
            .bind(prefix_len)
            .bind(filter.since.map_or(i64::MIN, ms))
            .bind(filter.before_seq.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(AuditRow::into_entry)
            .collect::<Result<_, _>>()
            .map_err(|e| e.at(OP))
    }
}

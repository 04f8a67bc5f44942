//! Changes and their release-regression verdicts. A change is inserted once and never updated
//! or deleted (the schema's triggers refuse both); a correction is a new row that supersedes
//! the old one, and reads show each row with the id of the row superseding it. The verdict
//! of a change's regression check lives in its own table, beside the change, upserted as the
//! check goes on. Raw check results between two times are read here too, from the ring, for
//! that check.

use chrono::{DateTime, Utc};
use pharos_domain::{Change, ChangeEntry, CheckOutcome, ComponentId, MonitorId, Regression};

use crate::error::OpError;
use crate::sql::{component_id, from_ms, from_opt_ms, ms, outcome, to_u64};
use crate::{Result, Store};

/// Which changes [`Store::changes`] reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    /// Only changes to this component.
    pub component: Option<ComponentId>,
    /// Only changes that started at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Only changes that started before this.
    pub until: Option<DateTime<Utc>>,
    /// At most this many (the newest); all when `None`.
    pub limit: Option<usize>,
}

/// Why [`Store::insert_change`] stored nothing, though the database was fine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeConflict {
    /// `supersedes` names no stored change.
    #[error("no change with id {0:?}")]
    UnknownSupersedes(String),
    /// The change named in `supersedes` already has a correction.
    #[error("change {id} is already superseded by {by}; supersede {by} instead")]
    AlreadySuperseded {
        /// The change asked to supersede.
        id: String,
        /// The record that already supersedes it.
        by: String,
    },
    /// A change with this id is already stored.
    #[error("a change with id {0:?} is already stored")]
    DuplicateId(String),
    /// The same source already sent a change with this `external_id`: a retry.
    #[error(
        "a change with external_id {external_id:?} from this source is already recorded as {id}"
    )]
    AlreadyRecorded {
        /// The sender's id for the change.
        external_id: String,
        /// The record stored the first time.
        id: String,
    },
}

/// One stored check result, as the regression check needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckSample {
    /// When the check started.
    pub started_at: DateTime<Utc>,
    /// How long it took, ms.
    pub duration_ms: u64,
    /// Its verdict.
    pub outcome: CheckOutcome,
}

/// The columns every change read selects, in the order of [`ChangeRow`].
macro_rules! change_select {
    () => {
        "SELECT c.id, c.component_id, c.kind, c.summary, c.version, c.commit_id, \
         c.environment, c.author, c.url, c.started_at, c.finished_at, c.external_id, \
         c.supersedes, c.source, c.recorded_at, c.recorded_by, s.id AS superseded_by, \
         r.doc AS regression \
         FROM changes c LEFT JOIN changes s ON s.supersedes = c.id \
         LEFT JOIN change_regressions r ON r.change_id = c.id "
    };
}

/// Newest first; ties by recording time, then id, so the order is total.
const NEWEST_FIRST: &str = " ORDER BY c.started_at DESC, c.recorded_at DESC, c.id DESC";

#[derive(sqlx::FromRow)]
struct ChangeRow {
    id: String,
    component_id: String,
    kind: String,
    summary: String,
    version: Option<String>,
    commit_id: Option<String>,
    environment: Option<String>,
    author: Option<String>,
    url: Option<String>,
    started_at: i64,
    finished_at: Option<i64>,
    external_id: Option<String>,
    supersedes: Option<String>,
    source: String,
    recorded_at: i64,
    recorded_by: String,
    superseded_by: Option<String>,
    regression: Option<String>,
}

impl ChangeRow {
    fn into_entry(self) -> Result<ChangeEntry, OpError> {
        let regression = match self.regression {
            None => None,
            Some(doc) => match serde_json::from_str::<Regression>(&doc) {
                Ok(r) => Some(r),
                Err(e) => {
                    // A derived verdict is not worth failing the read of the record over.
                    tracing::warn!(change = %self.id, error = %e, "unreadable regression verdict skipped");
                    None
                }
            },
        };
        Ok(ChangeEntry {
            change: Change {
                component: component_id(self.component_id)?,
                kind: self.kind,
                summary: self.summary,
                version: self.version,
                commit: self.commit_id,
                environment: self.environment,
                author: self.author,
                url: self.url,
                started_at: from_ms(self.started_at)?,
                finished_at: from_opt_ms(self.finished_at)?,
                external_id: self.external_id,
                supersedes: self.supersedes,
                source: self.source,
                recorded_at: from_ms(self.recorded_at)?,
                recorded_by: self.recorded_by,
                id: self.id,
            },
            superseded_by: self.superseded_by,
            regression,
        })
    }
}

fn entries(rows: Vec<ChangeRow>) -> Result<Vec<ChangeEntry>, OpError> {
    rows.into_iter().map(ChangeRow::into_entry).collect()
}

fn check_text(change: &Change) -> Result<(), OpError> {
    let texts = [
        Some(change.id.as_str()),
        Some(change.kind.as_str()),
        Some(change.summary.as_str()),
        change.version.as_deref(),
        change.commit.as_deref(),
        change.environment.as_deref(),
        change.author.as_deref(),
        change.url.as_deref(),
        change.external_id.as_deref(),
        change.supersedes.as_deref(),
        Some(change.source.as_str()),
        Some(change.recorded_by.as_str()),
    ];
    if texts.into_iter().flatten().any(|t| t.contains('\0')) {
        return Err(OpError::Invalid(format!(
            "change {:?} contains a NUL character",
            change.id
        )));
    }
    Ok(())
}

impl Store {
    /// Stores a new change, in one transaction: when it carries an `external_id`, its source
    /// must not have sent one with the same id before; when it supersedes another, that one
    /// must be stored and not yet superseded. Answers `Ok(Err(conflict))` when it stored nothing for
    /// one of those reasons (or because the id is taken); `Err` is a database fault, or
    /// [`StoreError::InvalidInput`](crate::StoreError::InvalidInput) for text holding a NUL
    /// character or a component that was never configured.
    pub async fn insert_change(&self, change: &Change) -> Result<Result<(), ChangeConflict>> {
        const OP: &str = "insert_change";
        check_text(change).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        let outcome: Result<Result<(), ChangeConflict>, OpError> = db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let taken: Option<(String,)> = sqlx::query_as("SELECT id FROM changes WHERE id = $1")
                .bind(&change.id)
                .fetch_optional(&mut *tx)
                .await?;
            // Every early answer rolls back explicitly: a dropped transaction is only rolled
            // back when its connection is next used, and until then it holds its locks.
            if taken.is_some() {
                tx.rollback().await?;
                return Ok(Err(ChangeConflict::DuplicateId(change.id.clone())));
            }
            let known: Option<(String,)> =
                sqlx::query_as("SELECT id FROM components WHERE id = $1")
                    .bind(change.component.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if known.is_none() {
                tx.rollback().await?;
                return Err(OpError::Invalid(format!(
                    "component {:?} was never configured",
                    change.component.as_str()
                )));
            }
            if let Some(external_id) = &change.external_id {
                let first: Option<(String,)> = sqlx::query_as(
                    "SELECT id FROM changes WHERE source = $1 AND external_id = $2 \
                     ORDER BY recorded_at, id LIMIT 1",
                )
                .bind(&change.source)
                .bind(external_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((id,)) = first {
                    tx.rollback().await?;
                    return Ok(Err(ChangeConflict::AlreadyRecorded {
                        external_id: external_id.clone(),
                        id,
                    }));
                }
            }
            if let Some(old) = &change.supersedes {
                let exists: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM changes WHERE id = $1")
                        .bind(old)
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_none() {
                    tx.rollback().await?;
                    return Ok(Err(ChangeConflict::UnknownSupersedes(old.clone())));
                }
                let by: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM changes WHERE supersedes = $1")
                        .bind(old)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some((by,)) = by {
                    tx.rollback().await?;
                    return Ok(Err(ChangeConflict::AlreadySuperseded {
                        id: old.clone(),
                        by,
                    }));
                }
            }
            sqlx::query(
                "INSERT INTO changes (id, component_id, kind, summary, version, commit_id, \
                 environment, author, url, started_at, finished_at, external_id, supersedes, \
                 source, recorded_at, recorded_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(&change.id)
            .bind(change.component.as_str())
            .bind(&change.kind)
            .bind(&change.summary)
            .bind(&change.version)
            .bind(&change.commit)
            .bind(&change.environment)
            .bind(&change.author)
            .bind(&change.url)
            .bind(ms(change.started_at))
            .bind(change.finished_at.map(ms))
            .bind(&change.external_id)
            .bind(&change.supersedes)
            .bind(&change.source)
            .bind(ms(change.recorded_at))
            .bind(&change.recorded_by)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        }
        .await);
        outcome.map_err(|e| e.at(OP))
    }

    /// One change with its correction and verdict; `None` for an unknown id.
    pub async fn change(&self, id: &str) -> Result<Option<ChangeEntry>> {
        const OP: &str = "change";
        let row: Option<ChangeRow> = db_run!(self, |pool, d| {
            sqlx::query_as(concat!(change_select!(), "WHERE c.id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        row.map(ChangeRow::into_entry)
            .transpose()
            .map_err(|e| e.at(OP))
    }

    /// The changes `filter` selects, newest first (by `started_at`, then `recorded_at`).
    pub async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<ChangeEntry>> {
        const OP: &str = "changes";
        let since = filter.since.map_or(i64::MIN, ms);
        let until = filter.until.map_or(i64::MAX, ms);
        let limit = filter
            .limit
            .map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let component = filter.component.as_ref().map(|c| c.as_str().to_owned());
        let sql = format!(
            "{}WHERE ($1 IS NULL OR c.component_id = $1) AND c.started_at >= $2 \
             AND c.started_at < $3{NEWEST_FIRST} LIMIT $4",
            change_select!()
        );
        let rows: Vec<ChangeRow> = db_run!(self, |pool, d| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(component.clone())
                .bind(since)
                .bind(until)
                .bind(limit)
                .fetch_all(pool)
                .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        entries(rows).map_err(|e| e.at(OP))
    }

    /// The changes to any of `components` that started between `from` and `to` (both
    /// included), newest first, each with its correction and verdict: what preceded an
    /// incident on those components.
    pub async fn changes_between(
        &self,
        components: &[ComponentId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ChangeEntry>> {
        const OP: &str = "changes_between";
        if components.is_empty() || to < from {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{}WHERE c.started_at >= $1 AND c.started_at <= $2{NEWEST_FIRST}",
            change_select!()
        );
        let rows: Vec<ChangeRow> = db_run!(self, |pool, d| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(ms(from))
                .bind(ms(to))
                .fetch_all(pool)
                .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        // A few hours of changes: filtering here keeps the SQL one fixed text.
        let rows = rows
            .into_iter()
            .filter(|r| components.iter().any(|c| c.as_str() == r.component_id))
            .collect();
        entries(rows).map_err(|e| e.at(OP))
    }

    /// Stores (or replaces) the regression verdict of change `change_id`. The change itself
    /// is untouched.
    pub async fn put_regression(&self, change_id: &str, regression: &Regression) -> Result<()> {
        const OP: &str = "put_regression";
        let doc = serde_json::to_string(regression)
            .map_err(|e| OpError::Invalid(format!("regression: {e}")).at(OP))?;
        if doc.contains('\0') {
            return Err(OpError::Invalid("regression contains a NUL character".into()).at(OP));
        }
        self.fence_locally(OP)?;
        db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            sqlx::query(
                "INSERT INTO change_regressions (change_id, state, suspect, evaluated_at, doc) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (change_id) DO UPDATE SET \
                 state = excluded.state, suspect = excluded.suspect, \
                 evaluated_at = excluded.evaluated_at, doc = excluded.doc",
            )
            .bind(change_id)
            .bind(regression.state.as_str())
            .bind(regression.suspect)
            .bind(ms(regression.evaluated_at))
            .bind(&doc)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, OpError>(())
        }
        .await)
        .map_err(|e| e.at(OP))
    }

    /// `monitor`'s stored results that started in `[from, to)`, oldest first. Only the ring's
    /// newest [`RING_SIZE`](crate::RING_SIZE) results are kept, so older ones are absent.
    pub async fn results_between(
        &self,
        monitor: &MonitorId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CheckSample>> {
        const OP: &str = "results_between";
        let rows: Vec<(i64, i64, String)> = db_run!(self, |pool, d| {
            sqlx::query_as(
                "SELECT started_at, duration_ms, outcome FROM check_results \
                 WHERE monitor_id = $1 AND started_at >= $2 AND started_at < $3 ORDER BY seq",
            )
            .bind(monitor.as_str())
            .bind(ms(from))
            .bind(ms(to))
            .fetch_all(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(|(at, duration, o)| {
                Ok(CheckSample {
                    started_at: from_ms(at)?,
                    duration_ms: to_u64(duration, "duration_ms")?,
                    outcome: outcome(&o)?,
                })
            })
            .collect::<Result<_, OpError>>()
            .map_err(|e| e.at(OP))
    }
}

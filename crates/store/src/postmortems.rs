//! Postmortems: the human part of each incident's postmortem (a JSON document the engine
//! owns, stored verbatim), when it was last saved, and when it was last published. The rest of
//! a postmortem is drafted from the incident's record on every read, so only this is stored.
//! Like incidents, postmortems are the permanent record: nothing prunes them.

use chrono::{DateTime, Utc};

use crate::audit::insert_audit;
use crate::error::OpError;
use crate::model::AuditRecord;
use crate::sql::{from_ms, from_opt_ms, ms};
use crate::{Result, Store};

/// One incident's stored postmortem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostmortemRecord {
    /// The incident it belongs to.
    pub incident_id: String,
    /// The human part, as the engine's JSON.
    pub doc: String,
    /// When the human part was last saved.
    pub updated_at: DateTime<Utc>,
    /// When it was last published; `None` while it never was.
    pub published_at: Option<DateTime<Utc>>,
}

/// `(incident_id, doc, updated_at, published_at)`
type DbRow = (String, String, i64, Option<i64>);

const COLUMNS: &str = "incident_id, doc, updated_at, published_at";

impl Store {
    /// The postmortem of `incident_id`, if one was ever saved or published.
    pub async fn postmortem(&self, incident_id: &str) -> Result<Option<PostmortemRecord>> {
        const OP: &str = "postmortem";
        let row: Option<DbRow> = db_run!(self, |pool, d| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM postmortems WHERE incident_id = $1"
            )))
            .bind(incident_id)
            .fetch_optional(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        row.map(to_record).transpose().map_err(|e| e.at(OP))
    }

    /// Every stored postmortem, by incident id.
    pub async fn postmortems(&self) -> Result<Vec<PostmortemRecord>> {
        const OP: &str = "postmortems";
        let rows: Vec<DbRow> = db_run!(self, |pool, d| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM postmortems ORDER BY incident_id"
            )))
            .fetch_all(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(to_record)
            .collect::<Result<_, _>>()
            .map_err(|e| e.at(OP))
    }

    /// Saves the human part of `incident_id`'s postmortem (replacing what was saved), at `at`.
    /// Its publication time is kept. The incident must be stored
    /// ([`StoreError::InvalidInput`](crate::StoreError::InvalidInput) otherwise, and nothing
    /// is written).
    /// With `audit`, the entry is written in the same transaction.
    pub async fn save_postmortem(
        &self,
        incident_id: &str,
        doc: &str,
        at: DateTime<Utc>,
        audit: Option<&AuditRecord>,
    ) -> Result<PostmortemRecord> {
        const OP: &str = "save_postmortem";
        self.upsert_postmortem(
            OP,
            incident_id,
            doc,
            at,
            None,
            "ON CONFLICT (incident_id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
            audit,
        )
        .await
    }

    /// Records that `incident_id`'s postmortem was published at `at` (a postmortem published
    /// again keeps the latest time). A postmortem never saved is stored with an empty
    /// document (`{}`). The incident must be stored, as for [`Store::save_postmortem`].
    pub async fn mark_postmortem_published(
        &self,
        incident_id: &str,
        at: DateTime<Utc>,
    ) -> Result<PostmortemRecord> {
        const OP: &str = "mark_postmortem_published";
        self.upsert_postmortem(
            OP,
            incident_id,
            "{}",
            at,
            Some(at),
            "ON CONFLICT (incident_id) DO UPDATE SET published_at = excluded.published_at",
            None,
        )
        .await
    }

    // Private, and each argument is one column or rule of the one statement it writes.
    #[allow(clippy::too_many_arguments)]
    async fn upsert_postmortem(
        &self,
        op: &'static str,
        incident_id: &str,
        doc: &str,
        at: DateTime<Utc>,
        published_at: Option<DateTime<Utc>>,
        on_conflict: &str,
        audit: Option<&AuditRecord>,
    ) -> Result<PostmortemRecord> {
        if let Some(a) = audit {
            crate::audit::check_audit(a).map_err(|e| e.at(op))?;
        }
        let sql = format!(
            "INSERT INTO postmortems ({COLUMNS}) \
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM incidents WHERE id = $1) \
             {on_conflict} RETURNING {COLUMNS}"
        );
        self.fence_locally(op)?;
        let row: Option<DbRow> = db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let row = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(incident_id)
                .bind(doc)
                .bind(ms(at))
                .bind(published_at.map(ms))
                .fetch_optional(&mut *tx)
                .await?;
            // No row: no incident, nothing saved, and so nothing to record.
            if let (Some(_), Some(a)) = (&row, audit) {
                insert_audit!(tx, a);
            }
            tx.commit().await?;
            Ok::<_, OpError>(row)
        }
        .await)
        .map_err(|e| e.at(op))?;
        match row {
            Some(row) => to_record(row).map_err(|e| e.at(op)),
            None => Err(OpError::Invalid(format!("no incident with id {incident_id:?}")).at(op)),
        }
    }
}

fn to_record(r: DbRow) -> Result<PostmortemRecord, OpError> {
    Ok(PostmortemRecord {
        incident_id: r.0,
        doc: r.1,
        updated_at: from_ms(r.2)?,
        published_at: from_opt_ms(r.3)?,
    })
}

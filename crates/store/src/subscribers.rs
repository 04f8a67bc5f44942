//! Public subscribers and the page's settings. Subscribers are written by a
//! [`Batch`](crate::Batch) (`SubscriberChange`), in the same transaction as the confirmation
//! e-mail or the change that goes with them; this module reads them back, and keeps the key
//! that signs subscribers' confirmation and unsubscribe links.

use crate::error::OpError;
use crate::model::{SubscriberFilter, SubscriberKind, SubscriberRecord};
use crate::sql::{component_id, from_ms, from_opt_ms};
use crate::{Result, Store};

/// The `settings` key of the link-signing key.
const SIGNING_KEY: &str = "subscriber_signing_key";
/// Bytes of a new signing key.
const SIGNING_KEY_BYTES: usize = 32;

/// The columns of a [`SubscriberRecord`], in the order of [`DbRow`].
macro_rules! subscriber_columns {
    () => {
        "id, kind, address, components, created_at, confirmed_at, unsubscribed_at, doc"
    };
}

/// `(id, kind, address, components, created_at, confirmed_at, unsubscribed_at, doc)`
type DbRow = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    String,
);

impl Store {
    /// The subscribers `filter` selects, oldest first (then by id).
    pub async fn subscribers(&self, filter: &SubscriberFilter) -> Result<Vec<SubscriberRecord>> {
        const OP: &str = "subscribers";
        let rows: Vec<DbRow> = db_run!(self, |pool, d| {
            sqlx::query_as(concat!(
                "SELECT ",
                subscriber_columns!(),
                " FROM subscribers ORDER BY created_at, id"
            ))
            .fetch_all(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let record = to_record(row).map_err(|e| e.at(OP))?;
            let state_ok = filter.states.is_empty() || filter.states.contains(&record.state());
            let component_ok = filter.component.as_ref().is_none_or(|c| record.follows(c));
            if state_ok && component_ok {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// The subscriber with this id, in any state.
    pub async fn subscriber(&self, id: &str) -> Result<Option<SubscriberRecord>> {
        const OP: &str = "subscriber";
        let row: Option<DbRow> = db_run!(self, |pool, d| {
            sqlx::query_as(concat!(
                "SELECT ",
                subscriber_columns!(),
                " FROM subscribers WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        row.map(to_record).transpose().map_err(|e| e.at(OP))
    }

    /// The subscribers with these ids, in any state, by id; ids not stored are absent.
    /// Duplicates in `ids` are fine.
    pub async fn subscribers_by_id(
        &self,
        ids: &[&str],
    ) -> Result<std::collections::HashMap<String, SubscriberRecord>> {
        const OP: &str = "subscribers_by_id";
        /// Ids per statement, well under SQLite's bound-parameter limit.
        const PER_READ: usize = 500;
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(PER_READ) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                concat!(
                    "SELECT ",
                    subscriber_columns!(),
                    " FROM subscribers WHERE id IN ({})"
                ),
                placeholders.join(", ")
            );
            let rows: Vec<DbRow> = db_run!(self, |pool, d| {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(pool).await
            })
            .map_err(|e| OpError::from(e).at(OP))?;
            for row in rows {
                let record = to_record(row).map_err(|e| e.at(OP))?;
                found.insert(record.id.clone(), record);
            }
        }
        Ok(found)
    }

    /// The key subscribers' links are signed with: 32 random bytes made on first use and
    /// kept from then on, so links stay valid across restarts (and are shared by every node
    /// on one database; when two nodes make one at once, both end up with the first stored).
    pub async fn signing_key(&self) -> Result<Vec<u8>> {
        const OP: &str = "signing_key";
        let candidate: [u8; SIGNING_KEY_BYTES] = rand::random();
        let candidate = hex::encode(candidate);
        let stored: String = db_run!(self, |pool, d| async {
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(SIGNING_KEY)
            .bind(candidate.as_str())
            .execute(pool)
            .await?;
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(SIGNING_KEY)
                .fetch_one(pool)
                .await
        }
        .await)
        .map_err(|e| OpError::from(e).at(OP))?;
        hex::decode(&stored)
            .ok()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| OpError::Corrupt("the stored signing key is not hex".to_owned()).at(OP))
    }
}

/// A stored row back as the model.
fn to_record(r: DbRow) -> Result<SubscriberRecord, OpError> {
    let kind = SubscriberKind::parse(&r.1)
        .ok_or_else(|| OpError::Corrupt(format!("subscriber {}: unknown kind {:?}", r.0, r.1)))?;
    let ids: Vec<String> = serde_json::from_str(&r.3).map_err(|e| {
        OpError::Corrupt(format!(
            "subscriber {}: components are not a JSON list: {e}",
            r.0
        ))
    })?;
    let components = ids
        .into_iter()
        .map(component_id)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SubscriberRecord {
        id: r.0,
        kind,
        address: r.2,
        components,
        created_at: from_ms(r.4)?,
        confirmed_at: from_opt_ms(r.5)?,
        unsubscribed_at: from_opt_ms(r.6)?,
        doc: r.7,
    })
}

/// The components column: a JSON list of ids.
pub(crate) fn components_json(record: &SubscriberRecord) -> String {
    let ids: Vec<&str> = record.components.iter().map(|c| c.as_str()).collect();
    // A list of strings always serializes.
    serde_json::to_string(&ids).unwrap_or_else(|_| "[]".to_owned())
}

//! Several nodes on one PostgreSQL database: the leader's lease and its fencing token, each
//! node's row, and the status view the leader publishes for the followers.
//!
//! Every time here is the database's clock (`clock_timestamp()`), never a node's: two nodes
//! whose clocks disagree still agree on when a lease ends.
//!
//! - [`Store::acquire_lease`] takes or renews the `leader` lease in one statement: a node gets
//!   it when it holds it already or when it has expired. The fencing token grows by one on
//!   every change of holder.
//! - A [`Fence`] is what the leader's writes carry: a store made with [`Store::with_fence`]
//!   checks, inside the transaction of each [`write_batch`](Store::write_batch),
//!   [`claim_due`](Store::claim_due) and [`publish_view`](Store::publish_view), that the lease
//!   is still this holder's with this token and unexpired (the lease row is read `FOR SHARE`,
//!   so a takeover waits for the write to commit, and a write after a takeover is refused with
//!   [`StoreError::Fenced`]; the transaction may not idle longer than the lease, so a leader
//!   paused inside one cannot block a takeover). Before asking the database, it checks locally that the lease was
//!   renewed less than its length ago ([`Fence::holds_locally`]), so a leader that was paused
//!   past its lease does nothing at all when it wakes.
//! - Without a fence (one node, SQLite or PostgreSQL without `[cluster]`), nothing is checked
//!   and nothing here is used.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::OpError;
use crate::sql::from_ms;
use crate::{Db, Result, Store, StoreError};

/// The name of the one lease: who leads.
const LEADER: &str = "leader";
/// The name of the published view's row.
const VIEW: &str = "status";
/// The database's clock, in unix milliseconds (PostgreSQL).
pub(crate) const PG_NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// What a leader's writes carry so that they are refused once it no longer leads: its node id,
/// the fencing token it was given, the lease's length, and when it last renewed the lease
/// (a monotonic instant, taken before the renewal was sent).
#[derive(Debug)]
pub struct Fence {
    holder: String,
    token: i64,
    lease: Duration,
    renewed: Mutex<Instant>,
}

impl Fence {
    /// A fence for `holder` holding the lease with `token`, of length `lease`, last renewed by
    /// a request sent at `renewed`.
    pub fn new(holder: impl Into<String>, token: i64, lease: Duration, renewed: Instant) -> Fence {
        Fence {
            holder: holder.into(),
            token,
            lease,
            renewed: Mutex::new(renewed),
        }
    }

    /// The node holding the lease.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The fencing token.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// The lease's length.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Records a renewal whose request was sent at `at` (an earlier one changes nothing).
    pub fn renewed(&self, at: Instant) {
        let mut last = self.renewed.lock().unwrap_or_else(|e| e.into_inner());
        if at > *last {
            *last = at;
        }
    }

    /// Whether the lease was renewed less than its length ago, by this process's monotonic
    /// clock. The renewal's request left before the database set the new expiry, so this
    /// turns false no later than the lease ends in the database (clock rates aside).
    pub fn holds_locally(&self) -> bool {
        let last = *self.renewed.lock().unwrap_or_else(|e| e.into_inner());
        last.elapsed() < self.lease
    }
}

/// The lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The node that holds (or last held) it.
    pub holder: String,
    /// Its fencing token.
    pub token: i64,
    /// When it ends (or ended).
    pub expires_at: DateTime<Utc>,
    /// Whether it has ended, by the database's clock.
    pub expired: bool,
}

/// One node's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// The node's id.
    pub id: String,
    /// The URL other nodes reach it at.
    pub address: String,
    /// `leader` or `follower`, as the node last said.
    pub role: String,
    /// The Pharos version it runs.
    pub version: String,
    /// When it last said it was alive.
    pub last_seen_at: DateTime<Utc>,
    /// How long ago that was, by the database's clock.
    pub silent_for: Duration,
}

/// The status view the leader last published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewRecord {
    /// The fencing token of the leader that published it.
    pub token: i64,
    /// Grows with every publication.
    pub seq: i64,
    /// When it was published.
    pub published_at: DateTime<Utc>,
    /// The engine's JSON document, verbatim.
    pub doc: String,
}

impl Store {
    /// This store, with every batch write, outbox claim and view publication checked against
    /// `fence` in its own transaction (see the [module](crate::cluster) documentation).
    pub fn with_fence(&self, fence: Arc<Fence>) -> Store {
        Store {
            db: self.db.clone(),
            fence: Some(fence),
        }
    }

    /// The fence this store's writes carry, if any.
    pub fn fence(&self) -> Option<&Arc<Fence>> {
        self.fence.as_ref()
    }

    /// Whether this process may still act as the one that writes and sends: always without a
    /// fence; with one, while the lease was renewed less than its length ago
    /// ([`Fence::holds_locally`]). Checked before every notification is sent.
    pub fn may_act(&self) -> bool {
        self.fence.as_ref().is_none_or(|f| f.holds_locally())
    }

    /// Refuses at once, without asking the database, when the fence no longer holds locally.
    pub(crate) fn fence_locally(&self, op: &'static str) -> Result<()> {
        match &self.fence {
            Some(f) if !f.holds_locally() => Err(StoreError::Fenced {
                op,
                message: format!(
                    "the lease of node {} (token {}) was not renewed in time",
                    f.holder, f.token
                ),
            }),
            _ => Ok(()),
        }
    }

    fn postgres(&self, op: &'static str) -> Result<&PgPool> {
        match &self.db {
            Db::Postgres(pool) => Ok(pool),
            Db::Sqlite(_) => Err(StoreError::InvalidInput {
                op,
                message: "several nodes need PostgreSQL; SQLite is single-node".to_owned(),
            }),
        }
    }

    /// Takes the leader's lease for `node` for `lease` from now (by the database's clock), or
    /// renews it: it is taken when nobody holds it, when `node` holds it already (even
    /// expired), or when the holder's lease has expired. Returns the fencing token when
    /// `node` holds the lease afterwards, `None` when another node does. The token grows by
    /// one on every change of holder and stays the same on a renewal. PostgreSQL only.
    pub async fn acquire_lease(&self, node: &str, lease: Duration) -> Result<Option<i64>> {
        const OP: &str = "acquire_lease";
        let pool = self.postgres(OP)?;
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let sql = format!(
            "INSERT INTO cluster_lease (name, holder, token, expires_at) \
             VALUES ($1, $2, 1, {PG_NOW_MS} + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, \
             token = CASE WHEN cluster_lease.holder = EXCLUDED.holder \
                     THEN cluster_lease.token ELSE cluster_lease.token + 1 END, \
             expires_at = EXCLUDED.expires_at \
             WHERE cluster_lease.holder = EXCLUDED.holder OR cluster_lease.expires_at < {PG_NOW_MS} \
             RETURNING token"
        );
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(LEADER)
            .bind(node)
            .bind(lease_ms)
            .fetch_optional(pool)
            .await
            .map_err(|e| OpError::from(e).at(OP))
    }

    /// Ends `node`'s lease now, if it holds it, so another node takes over at its next
    /// attempt instead of waiting for the lease to run out (a clean shutdown). The token is
    /// kept: the next holder's is one more. PostgreSQL only.
    pub async fn release_lease(&self, node: &str) -> Result<()> {
        const OP: &str = "release_lease";
        let pool = self.postgres(OP)?;
        sqlx::query("UPDATE cluster_lease SET expires_at = 0 WHERE name = $1 AND holder = $2")
            .bind(LEADER)
            .bind(node)
            .execute(pool)
            .await
            .map_err(|e| OpError::from(e).at(OP))?;
        Ok(())
    }

    /// The leader's lease as stored, `None` before any node took it. PostgreSQL only.
    pub async fn lease(&self) -> Result<Option<LeaseRecord>> {
        const OP: &str = "lease";
        let pool = self.postgres(OP)?;
        let sql = format!(
            "SELECT holder, token, expires_at, expires_at <= {PG_NOW_MS} \
             FROM cluster_lease WHERE name = $1"
        );
        let row: Option<(String, i64, i64, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(LEADER)
            .fetch_optional(pool)
            .await
            .map_err(|e| OpError::from(e).at(OP))?;
        row.map(|(holder, token, expires_at, expired)| {
            Ok(LeaseRecord {
                holder,
                token,
                expires_at: from_ms(expires_at).map_err(|e| e.at(OP))?,
                expired,
            })
        })
        .transpose()
    }

    /// Records that node `id` is alive now (by the database's clock), reachable at `address`,
    /// in `role`, running `version`. PostgreSQL only.
    pub async fn heartbeat_node(
        &self,
        id: &str,
        address: &str,
        role: &str,
        version: &str,
    ) -> Result<()> {
        const OP: &str = "heartbeat_node";
        let pool = self.postgres(OP)?;
        let sql = format!(
            "INSERT INTO cluster_nodes (id, address, role, version, last_seen_at) \
             VALUES ($1, $2, $3, $4, {PG_NOW_MS}) \
             ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, role = EXCLUDED.role, \
             version = EXCLUDED.version, last_seen_at = EXCLUDED.last_seen_at"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(address)
            .bind(role)
            .bind(version)
            .execute(pool)
            .await
            .map_err(|e| OpError::from(e).at(OP))?;
        Ok(())
    }

    /// Removes the rows of nodes silent for longer than `silent_for` (each start of a node
    /// without a `node_id` adds a row). PostgreSQL only.
    pub async fn forget_nodes(&self, silent_for: Duration) -> Result<u64> {
        const OP: &str = "forget_nodes";
        let pool = self.postgres(OP)?;
        let silent_ms = i64::try_from(silent_for.as_millis()).unwrap_or(i64::MAX);
        let sql = format!("DELETE FROM cluster_nodes WHERE last_seen_at < {PG_NOW_MS} - $1");
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(silent_ms)
            .execute(pool)
            .await
            .map_err(|e| OpError::from(e).at(OP))?;
        Ok(done.rows_affected())
    }

    /// Every node's row, by id. PostgreSQL only.
    pub async fn cluster_nodes(&self) -> Result<Vec<NodeRecord>> {
        const OP: &str = "cluster_nodes";
        let pool = self.postgres(OP)?;
        let sql = format!(
            "SELECT id, address, role, version, last_seen_at, {PG_NOW_MS} - last_seen_at \
             FROM cluster_nodes ORDER BY id"
        );
        let rows: Vec<(String, String, String, String, i64, i64)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(|(id, address, role, version, seen, silent)| {
                Ok(NodeRecord {
                    id,
                    address,
                    role,
                    version,
                    last_seen_at: from_ms(seen).map_err(|e| e.at(OP))?,
                    silent_for: Duration::from_millis(u64::try_from(silent).unwrap_or(0)),
                })
            })
            .collect()
    }

    /// Stores `doc` as the published status view, checked against this store's fence in the
    /// same transaction (a store without one is refused: only a leader publishes).
    /// PostgreSQL only.
    pub async fn publish_view(&self, doc: &str) -> Result<()> {
        const OP: &str = "publish_view";
        let pool = self.postgres(OP)?;
        let Some(token) = self.fence.as_ref().map(|f| f.token()) else {
            return Err(StoreError::Fenced {
                op: OP,
                message: "only the leader publishes the view".to_owned(),
            });
        };
        self.fence_locally(OP)?;
        let done = async {
            let mut tx = pool.begin().await?;
            check_fence!(self, tx, crate::dialect::POSTGRES);
            let sql = format!(
                "INSERT INTO cluster_view (name, token, seq, published_at, doc) \
                 VALUES ($1, $2, 1, {PG_NOW_MS}, $3) \
                 ON CONFLICT (name) DO UPDATE SET token = EXCLUDED.token, \
                 seq = cluster_view.seq + 1, published_at = EXCLUDED.published_at, \
                 doc = EXCLUDED.doc"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(VIEW)
                .bind(token)
                .bind(doc)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, OpError>(())
        }
        .await;
        done.map_err(|e| e.at(OP))
    }

    /// The published status view when it differs from the one numbered `seen` (its `seq`),
    /// else `None` (nothing published yet, or nothing new). PostgreSQL only.
    pub async fn published_view(&self, seen: Option<i64>) -> Result<Option<ViewRecord>> {
        const OP: &str = "published_view";
        let pool = self.postgres(OP)?;
        let row: Option<(i64, i64, i64, String)> = sqlx::query_as(
            "SELECT token, seq, published_at, doc FROM cluster_view \
             WHERE name = $1 AND seq IS DISTINCT FROM $2",
        )
        .bind(VIEW)
        .bind(seen)
        .fetch_optional(pool)
        .await
        .map_err(|e| OpError::from(e).at(OP))?;
        row.map(|(token, seq, published_at, doc)| {
            Ok(ViewRecord {
                token,
                seq,
                published_at: from_ms(published_at).map_err(|e| e.at(OP))?,
                doc,
            })
        })
        .transpose()
    }
}

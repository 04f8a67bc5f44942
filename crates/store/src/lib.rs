//! Pharos storage: the only SQL in Pharos, over embedded SQLite (the default) or PostgreSQL.
//!
//! One [`Store`] wraps a pool for whichever engine the URL names. Every query is written once
//! in portable SQL (`$1` placeholders, `RETURNING`, `ON CONFLICT`, unix-millisecond BIGINT
//! timestamps, TEXT ids and JSON) and run against the live pool through the `db_run!` macro;
//! the little that differs between engines lives in `dialect.rs` and in the two migration
//! directories, `migrations/sqlite/` and `migrations/postgres/`, which hold the same file
//! names.
//!
//! Storage is bounded by design: raw check results live in a ring of [`RING_SIZE`] rows per
//! monitor, uptime is kept as minute / hour / day [rollups](Rollup) that [`Store::prune`]
//! ages out, and component status changes are an append-only event log that only grows
//! with real changes. Incidents, maintenances and their timelines are the permanent record:
//! the engine serializes each as a JSON document, which the store keeps verbatim and never
//! prunes.
//!
//! Notifications go through a durable outbox: a [`Batch`] carries the deliveries its changes
//! cause, so both commit together, and a dispatcher takes due deliveries with
//! [`Store::claim_due`] (a lease, taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL so
//! several nodes never claim one delivery at once) and settles them with
//! [`Store::mark_sent`] or [`Store::mark_failed`]. Settled deliveries age out in
//! [`Store::prune`].
//!
//! Public subscribers are upserted and removed by a [`Batch`] too (so a confirmation e-mail
//! commits with its subscriber) and read with [`Store::subscribers`] and
//! [`Store::subscriber`]; [`Store::signing_key`] keeps the key their links are signed with.
//!
//! Changes (deploys, configuration pushes…) are append-only: [`Store::insert_change`] adds
//! one (a correction supersedes an older record, which stays), [`Store::changes`],
//! [`Store::change`] and [`Store::changes_between`] read them with the id of their correction
//! and their release-regression verdict, which [`Store::put_regression`] keeps beside them.
//!
//! Postmortems keep only their human part (a JSON document the engine owns) with when it was
//! saved and published: [`Store::save_postmortem`], [`Store::mark_postmortem_published`],
//! [`Store::postmortem`] and [`Store::postmortems`].
//!
//! The responders' console keeps its people and service accounts ([`Store::add_user`],
//! [`Store::update_user`], which never lets the last enabled owner go), their recovery codes,
//! sessions ([`Store::session`] reads a live one with its user) and API tokens
//! ([`Store::api_token`]). Each of those writes takes the [`AuditRecord`] describing it and
//! appends it to the append-only audit trail in the same transaction, as a [`Batch`] does with
//! [`Batch::audit`]; [`Store::audit`] reads the trail newest first.
//!
//! Write operations ([`Store::reconcile`], [`Store::write_batch`]) each run in one
//! transaction: they either happen entirely or not at all.
//!
//! Several nodes on one PostgreSQL database elect a leader through a lease with a fencing
//! token ([`cluster`]): the leader's store carries a [`Fence`] ([`Store::with_fence`]), and
//! its batch writes and outbox claims are refused ([`StoreError::Fenced`]) once the lease is
//! no longer its own.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

/// Runs the same query body against whichever pool is live (vaultwarden's `db_run!` idea).
///
/// `db_run!(store, |pool, dialect| body)` expands `body` once per engine, with `pool` bound to
/// `&SqlitePool` or `&PgPool` and `dialect` to that engine's [`dialect::Dialect`]. The body is
/// compiled twice, so it must only use SQL and Rust that both engines accept.
macro_rules! db_run {
    ($store:expr, |$pool:ident, $dialect:ident| $body:expr) => {
        match &$store.db {
            $crate::Db::Sqlite($pool) => {
                #[allow(unused_variables)]
                let $dialect = &$crate::dialect::SQLITE;
                $body
            }
            $crate::Db::Postgres($pool) => {
                #[allow(unused_variables)]
                let $dialect = &$crate::dialect::POSTGRES;
                $body
            }
        }
    };
}

/// Inside a write transaction `tx` of a store that carries a [`Fence`]: refuses with
/// `OpError::Fenced` unless the lease is still the fence's holder's, with its token, and
/// unexpired by the database's clock. The lease row is read with the dialect's shared lock
/// (`FOR SHARE` on PostgreSQL), so a node taking the lease over waits for this transaction:
/// whatever it commits happens before the takeover; and on PostgreSQL the transaction may not
/// idle longer than the lease, so a holder paused mid-transaction cannot block a takeover.
/// Without a fence, nothing is asked.
macro_rules! check_fence {
    ($store:expr, $tx:expr, $dialect:expr) => {
        if let Some(fence) = &$store.fence {
            if let Some(limit) = $dialect.idle_limit {
                // A leader paused inside this transaction would hold the lease row's lock
                // and keep every other node from taking over: the server ends the
                // transaction once it has idled for the lease's length.
                sqlx::query(limit)
                    .bind(fence.lease().as_millis().to_string())
                    .execute(&mut *$tx)
                    .await?;
            }
            let sql = format!(
                "SELECT 1 FROM cluster_lease WHERE name = 'leader' AND holder = $1 \
                 AND token = $2 AND expires_at > {}{}",
                $dialect.now_ms, $dialect.lock_shared
            );
            let held: Option<i32> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(fence.holder())
                .bind(fence.token())
                .fetch_optional(&mut *$tx)
                .await?;
            if held.is_none() {
                return Err($crate::error::OpError::Fenced(format!(
                    "node {} no longer holds the lease with token {}",
                    fence.holder(),
                    fence.token()
                )));
            }
        }
    };
}

mod audit;
mod changes;
pub mod cluster;
mod dialect;
mod error;
mod model;
mod outbox;
mod people;
mod postmortems;
mod prune;
mod read;
mod reconcile;
mod sql;
mod subscribers;
mod write;

pub use audit::{AuditEntry, AuditFilter, AUDIT_PAGE_MAX};
pub use changes::{ChangeConflict, ChangeFilter, CheckSample};
pub use cluster::{Fence, LeaseRecord, NodeRecord, ViewRecord};
pub use error::StoreError;
pub use model::{
    ActorKind, ArchivedMonitor, AuditRecord, Batch, ComponentRecord, DeliveryState, Granularity,
    HeldAlertChange, HeldAlertRecord, IncidentEventRecord, IncidentKind, IncidentRecord,
    MonitorRecord, OutboxPayload, OutboxRecord, OutboxRow, OverrideChange, OverrideRecord,
    PruneReport, ReconcileReport, Rollup, StoredComponent, SubscriberChange, SubscriberFilter,
    SubscriberKind, SubscriberRecord, SubscriberState, RING_SIZE,
};
pub use outbox::{Requeue, Settlement, OUTBOX_ERROR_MAX_CHARS};
pub use people::{
    ApiTokenRecord, PendingSignInRecord, PeopleConflict, RecoveryCodeRecord, SessionRecord,
    SessionWithUser, TokenWithOwner, TotpEnable, UserKind, UserPatch, UserRecord,
    USER_AGENT_MAX_CHARS,
};
pub use postmortems::PostmortemRecord;
pub use prune::{
    DAY_ROLLUP_RETENTION, DEAD_DELIVERY_RETENTION, HOUR_ROLLUP_RETENTION, MINUTE_ROLLUP_RETENTION,
    SENT_DELIVERY_RETENTION,
};

/// The `Result` of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How long [`Store::connect`] keeps trying to reach the database before giving up.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a SQLite connection waits for another writer before failing with "busy".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite has one writer; a few connections let readers run beside it (WAL).
const SQLITE_MAX_CONNECTIONS: u32 = 4;
/// A modest PostgreSQL pool: the engine has one batched writer plus a handful of readers.
const POSTGRES_MAX_CONNECTIONS: u32 = 8;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Embedded SQLite (one file, or in memory).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The engine's display name, `"SQLite"` or `"PostgreSQL"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The live pool, one variant per engine.
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Pharos's storage: a cheap-to-clone handle on a connection pool to SQLite or PostgreSQL.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Db,
    /// The leader's fence, when this store writes for the leader of several nodes
    /// ([`Store::with_fence`]); `None` on a single node.
    pub(crate) fence: Option<std::sync::Arc<cluster::Fence>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database named by `url` and brings its schema up to date.
    ///
    /// - `sqlite://path/to/file.db` (relative to the working directory) creates the parent
    ///   directories and the file on first start, and runs with WAL, `synchronous=NORMAL`,
    ///   foreign keys and a 5 s busy timeout.
    /// - `sqlite::memory:` is a private in-memory database that lives as long as the store.
    /// - `postgres://…` or `postgresql://…` connects to PostgreSQL; libpq-style parameters
    ///   such as `?options=-c%20search_path%3Dmyschema` are honoured, and the schema is created
    ///   in the first schema of the search path.
    ///
    /// Gives up after [`DEFAULT_CONNECT_TIMEOUT`] when the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Store> {
        Self::connect_with_timeout(url, DEFAULT_CONNECT_TIMEOUT).await
    }

    /// [`Store::connect`] with a chosen limit on how long to keep trying to reach the
    /// database (and, afterwards, to wait for a free pooled connection).
    pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Store> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        let store = match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => connect_sqlite(url, timeout).await?,
            "postgres" | "postgresql" => connect_postgres(url, timeout).await?,
            _ => {
                return Err(StoreError::UnsupportedUrl {
                    scheme: scheme.to_owned(),
                })
            }
        };
        let migrated = match &store.db {
            Db::Sqlite(pool) => SQLITE_MIGRATOR.run(pool).await,
            Db::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await,
        };
        if let Err(source) = migrated {
            store.close().await;
            return Err(StoreError::Migrate {
                backend: store.backend(),
                source,
            });
        }
        tracing::debug!(backend = %store.backend(), "store opened and migrated");
        Ok(store)
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        db_run!(self, |pool, d| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|source| StoreError::Database { op: "ping", source })
    }

    /// Closes every pooled connection, waiting for those in use to be returned. Operations
    /// after `close` fail with an error.
    pub async fn close(&self) {
        db_run!(self, |pool, d| pool.close().await)
    }
}

async fn connect_sqlite(url: &str, timeout: Duration) -> Result<Store> {
    let in_memory = is_sqlite_memory_url(url);
    let connect_error = |target: String| move |source| StoreError::Connect { target, source };
    let options = SqliteConnectOptions::from_str(url)
        .map_err(connect_error("SQLite database (bad URL)".to_owned()))?
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        // Zero what a write removes from the pages it writes anyway, at no extra I/O: text
        // rewritten in place (a monitor definition an older version stored with its secrets)
        // does not linger in the file's free space.
        .pragma("secure_delete", "fast");
    let target = if in_memory {
        "in-memory SQLite database".to_owned()
    } else {
        format!("SQLite database {}", options.get_filename().display())
    };
    let pool_options = SqlitePoolOptions::new().acquire_timeout(timeout);
    let (options, pool_options) = if in_memory {
        // An in-memory database vanishes with its last connection, and shared-cache locking
        // reports conflicts as SQLITE_LOCKED, which the busy timeout does not retry: keep
        // exactly one connection, forever.
        (
            options,
            pool_options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None),
        )
    } else {
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                tokio::fs::create_dir_all(parent).await.map_err(|source| {
                    StoreError::CreateDir {
                        path: parent.to_path_buf(),
                        source,
                    }
                })?;
            }
        }
        (
            options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal),
            pool_options.max_connections(SQLITE_MAX_CONNECTIONS),
        )
    };
    let pool = pool_options
        .connect_with(options)
        .await
        .map_err(connect_error(target))?;
    Ok(Store {
        db: Db::Sqlite(pool),
        fence: None,
    })
}

/// The file a `sqlite:` URL names; `None` for PostgreSQL, an in-memory SQLite database or a URL
/// that is not one.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    if scheme.as_deref() != Some("sqlite") || is_sqlite_memory_url(url) {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

fn is_sqlite_memory_url(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    rest.starts_with(":memory:") || rest.is_empty() || url.contains("mode=memory")
}

async fn connect_postgres(url: &str, timeout: Duration) -> Result<Store> {
    let options = PgConnectOptions::from_str(url).map_err(|source| StoreError::Connect {
        target: "PostgreSQL database (bad URL)".to_owned(),
        source,
    })?;
    // Never echo the URL: it may hold a password.
    let target = format!(
        "PostgreSQL database {:?} on {}:{}",
        options.get_database().unwrap_or("(default)"),
        options.get_host(),
        options.get_port()
    );
    let pool = PgPoolOptions::new()
        .max_connections(POSTGRES_MAX_CONNECTIONS)
        .acquire_timeout(timeout)
        .connect_with(options)
        .await
        .map_err(|source| StoreError::Connect { target, source })?;
    Ok(Store {
        db: Db::Postgres(pool),
        fence: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_in_memory_sqlite_urls() {
        assert!(is_sqlite_memory_url("sqlite::memory:"));
        assert!(is_sqlite_memory_url("sqlite://:memory:"));
        assert!(is_sqlite_memory_url("sqlite://?mode=memory"));
        assert!(!is_sqlite_memory_url("sqlite://pharos-data/pharos.db"));
        assert!(!is_sqlite_memory_url("sqlite:pharos.db"));
    }

    /// Both engines must see the same migrations, in the same order.
    #[test]
    fn migration_directories_are_in_lockstep() {
        let names = |engine: &str| -> Vec<String> {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(engine);
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let sqlite = names("sqlite");
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, names("postgres"));
        let versions = |m: &sqlx::migrate::Migrator| -> Vec<(i64, String)> {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect()
        };
        assert_eq!(versions(&SQLITE_MIGRATOR), versions(&POSTGRES_MIGRATOR));
        assert_eq!(versions(&SQLITE_MIGRATOR).len(), sqlite.len());
    }
}

//! Test support that needs nothing from Pharos: [`TestDb`], a fresh SQLite or PostgreSQL
//! database per test (with [`contract_tests!`] to run one test body on both), and the fake
//! servers [`FakeDns`] and [`FakeSmtp`].
//!
//! Why a crate of its own: `pharos-testkit` starts the whole app, so it depends on
//! `pharos-server` and through it on the store, probe and notify crates. Those crates' tests
//! cannot use it: a store test depending on it would build a second copy of `pharos-store`
//! (one the testkit links, one under test), and pharos-probe's unit tests could not reach it
//! at all. This crate depends only on sqlx, tokio and the fakes' protocol libraries, so every
//! crate's tests (and the testkit itself, which re-exports it) share one harness.
//!
//! Every database is isolated: a SQLite file in a temporary directory, or a PostgreSQL schema
//! of its own on the server named by `PHAROS_TEST_POSTGRES_URL`, dropped (best effort) when
//! the [`TestDb`] is.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection as _;

pub mod dns;
mod smtp;

pub use dns::{DnsQuery, DnsTransport, FakeDns};
pub use smtp::{FakeSmtp, SmtpMessage, SmtpMode};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in a temporary directory.
    Sqlite,
    /// PostgreSQL from `PHAROS_TEST_POSTGRES_URL`, in a fresh schema.
    Postgres,
}

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "PHAROS_TEST_POSTGRES_URL";

/// SQLite always; PostgreSQL too when `PHAROS_TEST_POSTGRES_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Sqlite];
    if std::env::var(POSTGRES_ENV).is_ok() {
        b.push(Backend::Postgres);
    } else {
        eprintln!("note: {POSTGRES_ENV} is not set; PostgreSQL variants skipped");
    }
    b
}

/// A fresh, isolated database for one test.
pub struct TestDb {
    /// The URL to connect to (`sqlite://…` or `postgres://…` with the schema as search path).
    pub url: String,
    /// Which engine.
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<PgSchema>,
}

impl TestDb {
    /// Creates a fresh database on `backend`: a new SQLite file, or a new PostgreSQL schema
    /// (panicking when `PHAROS_TEST_POSTGRES_URL` is not set; see [`backends`]).
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres => {
                let base = std::env::var(POSTGRES_ENV).unwrap();
                TestDb::postgres_at(&base).await
            }
        }
    }

    /// A SQLite file in a new temporary directory. The file's parent directories do not exist
    /// yet: whatever connects first must create them.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("nested").join("pharos.db");
        TestDb {
            url: format!("sqlite://{}", path.display()),
            backend: Backend::Sqlite,
            _dir: Some(dir),
            _schema: None,
        }
    }

    /// A new PostgreSQL schema, or `None` (with a note naming `test`) when
    /// `PHAROS_TEST_POSTGRES_URL` is not set.
    pub async fn postgres(test: &str) -> Option<TestDb> {
        let Ok(base) = std::env::var(POSTGRES_ENV) else {
            eprintln!("note: {POSTGRES_ENV} is not set; skipping postgres::{test}");
            return None;
        };
        Some(TestDb::postgres_at(&base).await)
    }

    async fn postgres_at(base: &str) -> TestDb {
        let schema = PgSchema::create(base).await;
        let sep = if base.contains('?') { '&' } else { '?' };
        TestDb {
            url: format!("{base}{sep}options=-c%20search_path%3D{}", schema.name),
            backend: Backend::Postgres,
            _dir: None,
            _schema: Some(schema),
        }
    }

    /// Runs `statement` (one or more SQL statements) behind the back of whatever uses the
    /// database; the driver's error, if any, as text.
    pub async fn raw(&self, statement: &str) -> Result<(), String> {
        let sql = sqlx::AssertSqlSafe(statement.to_owned());
        let done = match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.map(|_| ())
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.map(|_| ())
            }
        };
        done.map_err(|e| e.to_string())
    }

    /// Runs raw SQL against the database behind Pharos's back (to break or inspect it),
    /// panicking when it fails.
    pub async fn execute(&self, statement: &str) {
        if let Err(e) = self.raw(statement).await {
            panic!("{statement}: {e}");
        }
    }

    /// Runs a query returning one text value, e.g. a stored setting.
    pub async fn query_string(&self, query: &str) -> String {
        let sql = sqlx::AssertSqlSafe(query.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
            }
        }
    }

    /// Runs a query returning one integer, e.g. a `COUNT(*)`.
    pub async fn query_i64(&self, query: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(query.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
            }
        }
    }
}

/// A uniquely named PostgreSQL schema, dropped (best effort) when the test ends, even by
/// panic.
struct PgSchema {
    base_url: String,
    name: String,
}

impl PgSchema {
    async fn create(base_url: &str) -> PgSchema {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        // Ours alone (digits and hex), never input: safe to splice into SQL.
        let name = format!(
            "pharos_test_{}_{}_{:016x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u64>()
        );
        let mut conn = sqlx::PgConnection::connect(base_url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.ok();
        PgSchema {
            base_url: base_url.to_owned(),
            name,
        }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, name) = (self.base_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; use a thread with its own runtime. An app
        // still running on the schema may hold locks in an open transaction, and on a
        // current-thread runtime it cannot finish while this waits: give up after a while
        // rather than hang (the schema then stays behind, as any leftover would).
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                    let sql =
                        format!("SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS {name} CASCADE");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Runs each named test, an `async fn(&TestDb)` in the calling module, twice: on SQLite as
/// `sqlite::name`, and on PostgreSQL as `postgres::name` (which passes with a note when
/// `PHAROS_TEST_POSTGRES_URL` is not set). The calling crate needs tokio with `macros`.
#[macro_export]
macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::TestDb::sqlite();
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = $crate::TestDb::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::$name(&db).await;
                }
            )*
        }
    };
}

//! The store's one error type. Every message says which operation failed, so a log line is
//! enough to find the cause; a database URL is never echoed, since it may hold a password.

use std::path::PathBuf;

use crate::Backend;

/// Why a store operation failed. These are Pharos's own faults (a database that is down, a
/// corrupt row, a caller bug), never a monitored target being down.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names a database Pharos does not support.
    #[error(
        "unsupported database URL scheme {scheme:?}: Pharos stores its data in SQLite \
         (sqlite://path/to/file.db or sqlite::memory:) or PostgreSQL (postgres://user@host/db)"
    )]
    UnsupportedUrl {
        /// The scheme found, e.g. `"mysql"`.
        scheme: String,
    },
    /// The database could not be opened or reached.
    #[error("cannot open {target}: {source}")]
    Connect {
        /// What was being opened, e.g. `SQLite database pharos-data/pharos.db`.
        target: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The directory for a SQLite file could not be created.
    #[error("cannot create directory {path} for the SQLite database: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The file system's error.
        #[source]
        source: std::io::Error,
    },
    /// Bringing the schema up to date failed.
    #[error("cannot migrate the {backend} schema: {source}")]
    Migrate {
        /// The engine.
        backend: Backend,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed; the operation's transaction, if any, was rolled back.
    #[error("store operation {op} failed: {source}")]
    Database {
        /// The operation, e.g. `write_batch`.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The caller passed something the store cannot accept (an unknown monitor, a duplicate
    /// id); nothing was written.
    #[error("store operation {op} rejected its input: {message}")]
    InvalidInput {
        /// The operation.
        op: &'static str,
        /// What was wrong.
        message: String,
    },
    /// A stored row could not be read back into the model (a value out of range or an
    /// unknown enum string).
    #[error("store operation {op} found a corrupt row: {message}")]
    Corrupt {
        /// The operation.
        op: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The write was for the leader of several nodes, and this node no longer holds the
    /// lease with the token its writes carry (another node took over, or the lease ran out);
    /// nothing was written.
    #[error("store operation {op} refused: {message}")]
    Fenced {
        /// The operation.
        op: &'static str,
        /// Why.
        message: String,
    },
}

impl StoreError {
    /// Whether this is a refusal by the leader's fence ([`StoreError::Fenced`]).
    pub fn is_fenced(&self) -> bool {
        matches!(self, StoreError::Fenced { .. })
    }
}

/// An error inside an operation, before it is tagged with the operation's name.
#[derive(Debug)]
pub(crate) enum OpError {
    Sql(sqlx::Error),
    Invalid(String),
    Corrupt(String),
    Fenced(String),
}

impl From<sqlx::Error> for OpError {
    fn from(e: sqlx::Error) -> Self {
        OpError::Sql(e)
    }
}

impl OpError {
    /// Names the operation that failed.
    pub(crate) fn at(self, op: &'static str) -> StoreError {
        match self {
            OpError::Sql(source) => StoreError::Database { op, source },
            OpError::Invalid(message) => StoreError::InvalidInput { op, message },
            OpError::Corrupt(message) => StoreError::Corrupt { op, message },
            OpError::Fenced(message) => StoreError::Fenced { op, message },
        }
    }
}

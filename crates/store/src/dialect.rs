//! What only one engine can say. Everything else in the store is portable SQL; keep this
//! module small, and prefer a portable spelling (such as `CASE` instead of SQLite's scalar
//! `max()` / PostgreSQL's `GREATEST()`) whenever one exists.

/// The engine-specific bits of SQL for one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dialect {
    /// Starts a transaction that will write.
    ///
    /// SQLite takes the write lock up front (`BEGIN IMMEDIATE`): a deferred transaction that
    /// reads first and writes later fails with `SQLITE_BUSY` without waiting for the busy
    /// timeout when another writer got in between. PostgreSQL locks rows as it goes.
    pub(crate) begin_write: &'static str,
    /// Appended to the `SELECT` that picks outbox rows to claim.
    ///
    /// PostgreSQL may run several Pharos nodes on one database: `FOR UPDATE SKIP LOCKED`
    /// locks the picked rows until the claim commits and lets a concurrent claim pass over
    /// them instead of waiting, so two nodes never take the same row (a row whose claim
    /// committed meanwhile is re-checked, and its fresh lease excludes it). SQLite has one
    /// writer at a time, so the claiming `UPDATE` is already alone and needs no clause.
    pub(crate) claim_lock: &'static str,
    /// The database's clock in unix milliseconds, read when the statement runs (lease
    /// expiry is judged by the database, never by a node).
    pub(crate) now_ms: &'static str,
    /// Appended to a `SELECT` whose rows must not change until the transaction ends: the
    /// lease row a fenced write checks. SQLite's one writer needs none.
    pub(crate) lock_shared: &'static str,
    /// Appended to a `SELECT` whose rows this transaction is about to change, so a concurrent
    /// transaction deciding on the same rows waits for it (the last owner's guard). SQLite's
    /// one writer (`BEGIN IMMEDIATE`) needs none.
    pub(crate) lock_update: &'static str,
    /// Limits how long the current transaction may sit idle (`$1`, milliseconds as text),
    /// after which the server ends it and its locks go: a fenced write's transaction holds
    /// the lease row, and a leader paused inside one must not hold it for ever. SQLite has
    /// one process, so none.
    pub(crate) idle_limit: Option<&'static str>,
}

/// SQLite's dialect.
pub(crate) const SQLITE: Dialect = Dialect {
    begin_write: "BEGIN IMMEDIATE",
    claim_lock: "",
    now_ms: "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
    lock_shared: "",
    lock_update: "",
    idle_limit: None,
};

/// PostgreSQL's dialect.
pub(crate) const POSTGRES: Dialect = Dialect {
    begin_write: "BEGIN",
    claim_lock: " FOR UPDATE SKIP LOCKED",
    now_ms: crate::cluster::PG_NOW_MS,
    lock_shared: " FOR SHARE",
    lock_update: " FOR UPDATE",
    idle_limit: Some("SELECT set_config('idle_in_transaction_session_timeout', $1, true)"),
};

//! Small helpers shared by the operations: conversions between model values and the stored
//! integers, and multi-row statements.
//!
//! Multi-row `INSERT … VALUES (…), (…)` statements are cut into chunks of a few fixed sizes
//! ([`chunk_sizes`]), so each statement kind has at most four distinct SQL texts and they all
//! stay in the driver's prepared-statement cache instead of being parsed on every batch.

use chrono::{DateTime, Utc};

use crate::error::OpError;

/// One value to bind in a multi-row statement.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
    Bool(bool),
}

/// Binds every [`Val`] from an iterator onto a query, in order.
macro_rules! bind_vals {
    ($query:expr, $vals:expr) => {{
        let mut q = $query;
        for v in $vals {
            q = match v {
                $crate::sql::Val::Int(x) => q.bind(x),
                $crate::sql::Val::OptInt(x) => q.bind(x),
                $crate::sql::Val::Text(x) => q.bind(x),
                $crate::sql::Val::OptText(x) => q.bind(x),
                $crate::sql::Val::Bool(x) => q.bind(x),
            };
        }
        q
    }};
}
pub(crate) use bind_vals;

/// Executes `head VALUES (…), (…) tail` for rows of `cols` values (flattened in `vals`),
/// in chunks, on `conn` (a transaction). Evaluates to the rows affected; `?` on errors.
macro_rules! exec_rows {
    ($conn:ident, $head:expr, $cols:expr, $tail:expr, $vals:expr) => {{
        let cols: usize = $cols;
        let vals: Vec<$crate::sql::Val> = $vals;
        debug_assert_eq!(vals.len() % cols, 0);
        let mut vals = vals.into_iter();
        let mut affected: u64 = 0;
        for n in $crate::sql::chunk_sizes(vals.len() / cols) {
            let sql = $crate::sql::values_sql($head, cols, n, $tail);
            let q = $crate::sql::bind_vals!(
                sqlx::query(sqlx::AssertSqlSafe(sql)),
                vals.by_ref().take(n * cols)
            );
            affected += q.execute(&mut *$conn).await?.rows_affected();
        }
        affected
    }};
}
pub(crate) use exec_rows;

/// Like [`exec_rows!`], for statements with `RETURNING`: evaluates to every returned row as
/// the tuple type `$row`.
macro_rules! fetch_rows {
    ($conn:ident, $row:ty, $head:expr, $cols:expr, $tail:expr, $vals:expr) => {{
        let cols: usize = $cols;
        let vals: Vec<$crate::sql::Val> = $vals;
        debug_assert_eq!(vals.len() % cols, 0);
        let mut vals = vals.into_iter();
        let mut rows: Vec<$row> = Vec::new();
        for n in $crate::sql::chunk_sizes(vals.len() / cols) {
            let sql = $crate::sql::values_sql($head, cols, n, $tail);
            let q = $crate::sql::bind_vals!(
                sqlx::query_as::<_, $row>(sqlx::AssertSqlSafe(sql)),
                vals.by_ref().take(n * cols)
            );
            rows.extend(q.fetch_all(&mut *$conn).await?);
        }
        rows
    }};
}
pub(crate) use fetch_rows;

/// Row counts per multi-row statement. Bounded so the bind count stays far below both
/// engines' limits (SQLite 32 766, PostgreSQL 65 535) at ten columns.
// At most 32 rows per statement: sqlx-sqlite binds `$N` parameters by name, and SQLite's name
// lookup scans a list, so the cost grows with the square of the parameter count. With 128-row
// chunks (1,152 parameters) that lookup alone took 16 % of Pharos's CPU at 10,000 monitors.
const CHUNK_SHAPES: [usize; 3] = [32, 8, 1];

/// Splits `rows` into chunks of the sizes in `CHUNK_SHAPES`, largest first.
pub(crate) fn chunk_sizes(mut rows: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for shape in CHUNK_SHAPES {
        while rows >= shape {
            out.push(shape);
            rows -= shape;
        }
    }
    out
}

/// `head VALUES ($1, $2), ($3, $4) tail` for `rows` rows of `cols` placeholders.
pub(crate) fn values_sql(head: &str, cols: usize, rows: usize, tail: &str) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * cols * 6 + 16);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            // Writing to a String cannot fail.
            let _ = write!(sql, "${n}");
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

/// An instant as stored: unix milliseconds.
pub(crate) fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A stored instant back as a time.
pub(crate) fn from_ms(ms: i64) -> Result<DateTime<Utc>, OpError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| OpError::Corrupt(format!("timestamp {ms} ms is out of range")))
}

/// An optional stored instant back as a time.
pub(crate) fn from_opt_ms(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, OpError> {
    ms.map(from_ms).transpose()
}

/// An unsigned count as stored (BIGINT); saturates, as no real count comes near 2^63.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored count back as unsigned; the store never writes negatives.
pub(crate) fn to_u64(n: i64, what: &str) -> Result<u64, OpError> {
    u64::try_from(n).map_err(|_| OpError::Corrupt(format!("{what} is negative ({n})")))
}

/// A stored count back as `u32`.
pub(crate) fn to_u32(n: i64, what: &str) -> Result<u32, OpError> {
    u32::try_from(n).map_err(|_| OpError::Corrupt(format!("{what} {n} does not fit in u32")))
}

/// A stored component id back as the domain type.
pub(crate) fn component_id(s: String) -> Result<pharos_domain::ComponentId, OpError> {
    pharos_domain::ComponentId::new(s).map_err(|e| OpError::Corrupt(format!("component id: {e}")))
}

/// A stored monitor id back as the domain type.
pub(crate) fn monitor_id(s: String) -> Result<pharos_domain::MonitorId, OpError> {
    pharos_domain::MonitorId::new(s).map_err(|e| OpError::Corrupt(format!("monitor id: {e}")))
}

/// A stored component status back as the domain type.
pub(crate) fn component_status(s: &str) -> Result<pharos_domain::ComponentStatus, OpError> {
    pharos_domain::ComponentStatus::parse(s)
        .ok_or_else(|| OpError::Corrupt(format!("unknown component status {s:?}")))
}

/// A stored check outcome back as the domain type.
pub(crate) fn outcome(s: &str) -> Result<pharos_domain::CheckOutcome, OpError> {
    pharos_domain::CheckOutcome::parse(s)
        .ok_or_else(|| OpError::Corrupt(format!("unknown check outcome {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_use_few_shapes() {
        assert_eq!(chunk_sizes(0), Vec::<usize>::new());
        assert_eq!(
            chunk_sizes(333),
            [32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 8, 1, 1, 1, 1, 1]
        );
        assert_eq!(chunk_sizes(333).iter().sum::<usize>(), 333);
    }

    #[test]
    fn numbers_placeholders_across_rows() {
        assert_eq!(
            values_sql("INSERT INTO t (a, b)", 2, 2, "ON CONFLICT DO NOTHING"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
        );
    }
}

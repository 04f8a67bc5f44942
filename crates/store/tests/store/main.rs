//! The store contract against real databases: SQLite always, PostgreSQL whenever
//! `PHAROS_TEST_POSTGRES_URL` is set (each PostgreSQL test in a schema of its own, dropped
//! afterwards). One test binary with a module per area, so the suite links once. No mocks.

// Test code: a failed set-up step should panic on the spot.
#![allow(clippy::unwrap_used)]

mod common;

mod changes;
mod cluster;
mod contract;
mod people;
mod postmortems;

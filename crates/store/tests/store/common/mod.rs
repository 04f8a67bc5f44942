//! What the store's tests share: the database harness from `pharos-testkit-core`, and a way
//! to open the store on it.

use pharos_store::Store;
pub use pharos_testkit_core::{contract_tests, TestDb};

/// Opens the store on a [`TestDb`], as Pharos would (creating and migrating the database).
pub trait OpenStore {
    /// Connects the store to this database, panicking when it cannot.
    async fn open(&self) -> Store;
}

impl OpenStore for TestDb {
    async fn open(&self) -> Store {
        Store::connect(&self.url).await.unwrap()
    }
}

/// An RFC 3339 time, in UTC.
pub fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// A component id (panics when `s` is not a valid one).
pub fn cid(s: &str) -> pharos_domain::ComponentId {
    pharos_domain::ComponentId::new(s).unwrap()
}

/// A monitor id (panics when `s` is not a valid one).
pub fn mid(s: &str) -> pharos_domain::MonitorId {
    pharos_domain::MonitorId::new(s).unwrap()
}

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

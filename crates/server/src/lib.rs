//! The composition root of Pharos: reads the configuration, opens storage, starts the engine
//! and the HTTP server, and shuts them down cleanly; on several nodes, elects the leader that
//! runs the engine (`cluster`). `main.rs` only parses the command line.

pub mod app;
pub mod cluster;
pub mod config;
pub mod people;
pub mod probe;

pub use app::{App, Settings};

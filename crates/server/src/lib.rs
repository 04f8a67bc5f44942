//! The composition root of Pharos: reads the configuration, opens storage, starts the engine
//! and the HTTP server, and shuts them down cleanly. `main.rs` only parses the command line.

pub mod app;
pub mod config;
pub mod probe;

pub use app::{App, Settings};

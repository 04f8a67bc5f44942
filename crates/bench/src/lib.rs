//! Pharos benchmark support: the local sinks that receive a notification fan-out and count
//! what arrives, and a reader of a process's CPU time and memory from `/proc`.
//!
//! The `pharos-fanout` binary (`src/main.rs`) drives a real Pharos process against these
//! sinks; they live in this library so tests can start them in-process.
//!
//! - [`webhook::start`]: an HTTP/1.1 server answering `200` to every request and counting
//!   distinct `Idempotency-Key` values.
//! - [`smtp::start`]: a lean SMTP server that accepts every message without storing it and
//!   counts distinct recipients.
//! - [`sink::Sink`]: the listener both run on.
//! - [`tally::Tally`]: what both count, and when the last new delivery arrived.
//! - [`procfs`]: CPU seconds and peak RSS of a running process.

pub mod procfs;
pub mod sink;
pub mod smtp;
pub mod tally;
pub mod webhook;

//! Pharos benchmark support: the local sinks that receive a notification fan-out and count
//! what arrives, the probe target and blackbox_exporter driver of the check-cost benchmark,
//! and a reader of a process's CPU time and memory from `/proc`.
//!
//! The `pharos-fanout` binary (`src/main.rs`) drives a real Pharos process against these
//! sinks, and `pharos-checkcost` (`src/bin/checkcost.rs`) measures the CPU time per check
//! of Pharos and of blackbox_exporter against [`target::ProbeTarget`]; the pieces live in
//! this library so tests can start them in-process.
//!
//! - [`webhook::start`]: an HTTP/1.1 server answering `200` to every request and counting
//!   distinct `Idempotency-Key` values.
//! - [`smtp::start`]: a lean SMTP server that accepts every message without storing it and
//!   counts distinct recipients.
//! - [`sink::Sink`]: the listener both run on.
//! - [`tally::Tally`]: what both count, and when the last new delivery arrived.
//! - [`procfs`]: CPU seconds and peak RSS of a running process; the machine's CPU and load.
//! - [`target::ProbeTarget`]: an HTTP server and an accept-and-close TCP listener that count
//!   the checks they receive.
//! - [`blackbox`]: blackbox_exporter's configuration, and a driver that asks it for probes
//!   on a fixed schedule, as Prometheus would.

pub mod blackbox;
pub mod process;
pub mod procfs;
pub mod sink;
pub mod smtp;
pub mod tally;
pub mod target;
pub mod webhook;

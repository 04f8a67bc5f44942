//! The notifiers against real local servers (HTTP receivers, `FakeSmtp`, `FakeDns`), and their
//! payloads pinned with snapshots. One test binary with a module per area, so the suite links
//! once; what the areas share is in [`common`].

#![allow(missing_docs, clippy::unwrap_used)]

mod common;

mod compliance;
mod email;
mod guard;
mod payloads;

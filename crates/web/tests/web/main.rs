//! The public pages, feeds and APIs as rendered and served, without a network or with a local
//! one (and in a real browser when `PHAROS_TEST_CHROMIUM` is set). One test binary with a
//! module per area, so the suite links once; the shared view and XML reader are in
//! [`common`]. Real Statuspage payloads are in `tests/fixtures` (see its README).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken fixtures

mod common;

mod browser;
mod cluster;
mod compat;
mod feeds;
mod http;
mod incidents;
mod render;

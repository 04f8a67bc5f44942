//! Pharos end to end, through the real app (and the real `pharos` binary) over real sockets:
//! one test binary with a module per area, so the suite links once. What the areas share is
//! in [`support`]; the app, the database harness and the fake servers come from
//! `pharos-testkit`.
//!
//! Everything here runs in one process. Tests that change process-wide state must keep it
//! harmless to the others: `slow_clients` raises the open-files limit (only ever up), and
//! nothing sets environment variables or a global tracing subscriber; the real binary, run as
//! a child process, gets its environment through `Command::env`.

// Test code: a failed set-up step should panic on the spot.
#![allow(clippy::unwrap_used)]

mod support;

mod admin;
mod alerts;
mod browser_harness;
mod changes;
mod cli;
mod cluster;
mod console;
mod console_incidents;
mod console_ops;
mod console_people;
mod console_sso;
mod console_totp;
mod coverage;
mod depends_on;
mod dns;
mod e2e;
mod email;
mod heartbeats;
mod http_extras;
mod incidents;
mod locations;
mod metrics;
mod mirror;
mod notifications;
mod postmortems;
mod privacy;
mod probes;
mod prometheus;
mod public_surface;
mod quiet;
mod regions;
mod replay;
mod reports;
mod roles;
mod slow_clients;
mod subscribers;
mod tls_icmp;

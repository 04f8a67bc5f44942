//! The benchmark's own parts in-process (targets, probe driver, sinks): one test binary with a
//! module per area, so the suite links once.

// Test code: a failed set-up step should panic on the spot.
#![allow(clippy::unwrap_used)]

mod checkcost;
mod sinks;

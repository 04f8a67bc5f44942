//! Pharos composition root: configuration, start-up, shutdown, and the pharos binary.

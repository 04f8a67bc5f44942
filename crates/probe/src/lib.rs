//! Pharos probes: run one check against the outside world and report what it saw.

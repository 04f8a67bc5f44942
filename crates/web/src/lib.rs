//! Pharos HTTP: the public status page, the Statuspage-compatible API, health and metrics.

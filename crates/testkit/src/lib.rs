//! Test support for Pharos: spawn the real app on port 0 over a fresh SQLite or PostgreSQL database.

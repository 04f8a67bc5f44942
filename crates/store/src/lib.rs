//! Pharos storage: the only SQL, over embedded SQLite or PostgreSQL.

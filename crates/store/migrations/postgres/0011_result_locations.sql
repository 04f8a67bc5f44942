-- Pharos schema, version 11 (PostgreSQL): where each check ran from, the location's id (SPEC §7).
-- Keep in lockstep with ../sqlite/0011_result_locations.sql.
-- Results stored before this version, and every result the server checked itself, are
-- 'local'.

ALTER TABLE check_results ADD COLUMN location TEXT NOT NULL DEFAULT 'local';

-- Pharos schema, version 9 (SQLite): finding a change by the id its sender gave it. Keep in
-- lockstep with ../postgres/0009_change_external_ids.sql.
-- A sender that retries a change with the same `external_id` (a CI run id, a deploy id) gets
-- the record already stored instead of a second one, per source. The rule is checked when a
-- change is recorded rather than by a unique index, so databases that already hold such
-- duplicates from older releases still upgrade; both stay, as changes are append-only.
CREATE INDEX changes_by_external_id ON changes (source, external_id) WHERE external_id IS NOT NULL;

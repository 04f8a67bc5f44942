-- Pharos schema, version 8 (SQLite): postmortems. Keep in lockstep with
-- ../postgres/0008_postmortems.sql.
-- One row per incident that has one: `doc` is the human part (root cause, remediation,
-- action items, overrides of the drafted text) as the engine's JSON, stored verbatim; the rest
-- of a postmortem is drafted from the incident's record each time it is read. `updated_at` is
-- when the human part was last saved, `published_at` when the postmortem was last published
-- (NULL: never). Postmortems are part of the permanent record: nothing prunes them.
-- Times are unix milliseconds.
CREATE TABLE postmortems (
    incident_id  TEXT PRIMARY KEY NOT NULL REFERENCES incidents (id),
    doc          TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    published_at BIGINT NULL
);

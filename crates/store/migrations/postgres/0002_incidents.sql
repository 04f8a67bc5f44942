-- Pharos schema, version 2 (PostgreSQL): incidents, maintenances, their timelines and component
-- overrides. Keep in lockstep with ../sqlite/0002_incidents.sql.
-- The engine owns the JSON documents (`doc`); the store keeps them verbatim and never reads
-- into them. Incidents and their events are the permanent record: nothing prunes them.
-- Ids are NOT NULL explicitly: SQLite lets a non-INTEGER PRIMARY KEY hold NULL otherwise.
-- No WITHOUT ROWID here: documents can be large, and SQLite advises rowid tables for big rows.

-- One row per incident or maintenance ('incident' | 'maintenance'), upserted by id.
CREATE TABLE incidents (
    id         TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX incidents_by_kind_created ON incidents (kind, created_at);

-- Append-only timeline of an incident; an id already stored is ignored on insert.
CREATE TABLE incident_events (
    id          TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    seq         BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX incident_events_by_incident ON incident_events (incident_id, occurred_at, seq);

-- A status set by hand on a component, optionally until a time (NULL: until cleared).
CREATE TABLE component_overrides (
    component_id TEXT PRIMARY KEY NOT NULL REFERENCES components (id),
    status       TEXT NOT NULL,
    until_at     BIGINT NULL,
    set_at       BIGINT NOT NULL,
    doc          TEXT NOT NULL
);

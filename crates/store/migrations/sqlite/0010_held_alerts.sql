-- Pharos schema, version 10 (SQLite): alerts held outside any incident. Keep in lockstep with
-- ../postgres/0010_held_alerts.sql.
-- An alert that opens no incident (`[incidents] auto_open = false`, or routed to no
-- component status) is still held: it shows on its components while it fires, and its
-- resolve must find it. One row per dedup key; `doc` is the engine's JSON, stored verbatim.
-- Alerts held by an incident live in that incident's document instead. Times are unix ms.
CREATE TABLE held_alerts (
    alert_key  TEXT PRIMARY KEY NOT NULL,
    updated_at BIGINT NOT NULL,
    doc        TEXT NOT NULL
);

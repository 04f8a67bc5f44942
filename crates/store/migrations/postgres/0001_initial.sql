-- Pharos schema, version 1 (PostgreSQL). Keep in lockstep with ../sqlite/0001_initial.sql.
-- Timestamps are unix milliseconds (BIGINT), ids TEXT, JSON TEXT. A shipped migration is
-- never edited: change the schema with a new file in both directories.

-- Components and groups shown on the status page. Rows are soft-archived, never deleted, so
-- their history comes back when the id reappears in the configuration.
CREATE TABLE components (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    group_id    TEXT,
    is_group    BOOLEAN NOT NULL,
    position    BIGINT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    archived_at BIGINT
);
CREATE INDEX components_live_by_position ON components (position, id) WHERE archived_at IS NULL;

-- Append-only log of component status changes: the source of uptime timelines.
CREATE TABLE component_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    component_id TEXT NOT NULL REFERENCES components (id),
    at           BIGINT NOT NULL,
    from_status  TEXT,
    status       TEXT NOT NULL
);
CREATE INDEX component_events_by_component_at ON component_events (component_id, at, id);

-- Monitors as configured. `ring_seq` counts results ever written, to place them in the ring.
CREATE TABLE monitors (
    id              TEXT PRIMARY KEY NOT NULL,
    type_name       TEXT NOT NULL,
    definition_json TEXT NOT NULL,
    ring_seq        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    archived_at     BIGINT
);

-- Which components a monitor drives.
CREATE TABLE monitor_components (
    monitor_id   TEXT NOT NULL REFERENCES monitors (id),
    component_id TEXT NOT NULL REFERENCES components (id),
    PRIMARY KEY (monitor_id, component_id)
);
CREATE INDEX monitor_components_by_component ON monitor_components (component_id);

-- A monitor's health state machine, persisted so it survives restarts.
CREATE TABLE monitor_states (
    monitor_id      TEXT PRIMARY KEY NOT NULL REFERENCES monitors (id),
    health          TEXT NOT NULL,
    health_since    BIGINT,
    down_streak     BIGINT NOT NULL,
    up_streak       BIGINT NOT NULL,
    not_up_streak   BIGINT NOT NULL,
    not_down_streak BIGINT NOT NULL,
    last_check_at   BIGINT,
    last_outcome    TEXT,
    last_error      TEXT
);

-- Raw results: a ring of RING_SIZE slots per monitor (slot = seq % RING_SIZE), so storage
-- never grows with time.
CREATE TABLE check_results (
    monitor_id  TEXT NOT NULL REFERENCES monitors (id),
    slot        BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    status_code BIGINT,
    error       TEXT,
    PRIMARY KEY (monitor_id, slot)
);

-- Per-monitor counts per minute / hour / UTC day ('m', 'h', 'd'), pruned by age.
CREATE TABLE rollups (
    monitor_id      TEXT NOT NULL REFERENCES monitors (id),
    granularity     TEXT NOT NULL,
    bucket_start    BIGINT NOT NULL,
    checks          BIGINT NOT NULL,
    up_count        BIGINT NOT NULL,
    degraded_count  BIGINT NOT NULL,
    down_count      BIGINT NOT NULL,
    duration_sum_ms BIGINT NOT NULL,
    duration_max_ms BIGINT NOT NULL,
    PRIMARY KEY (monitor_id, granularity, bucket_start)
);
CREATE INDEX rollups_by_age ON rollups (granularity, bucket_start);

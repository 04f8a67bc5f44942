-- Pharos schema, version 5 (SQLite): an event's payload is stored once, however many
-- deliveries carry it. Keep in lockstep with ../postgres/0005_outbox_payloads.sql.
-- One incident update to 100,000 subscribers used to store 100,000 copies of the same JSON;
-- now each delivery names its payload. A payload no delivery names any more is pruned.
-- SQLite cannot add a NOT NULL foreign key to a table, so `outbox` is rebuilt; every
-- delivery stored so far gets a payload of its own, under its own id.

CREATE TABLE outbox_payloads (
    id         TEXT PRIMARY KEY NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO outbox_payloads (id, body, created_at) SELECT id, payload, created_at FROM outbox;

CREATE TABLE outbox_rebuilt (
    id              TEXT PRIMARY KEY NOT NULL,
    destination     TEXT NOT NULL,
    event_kind      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    due_at          BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    locked_until    BIGINT NULL,
    last_error      TEXT NULL,
    last_attempt_at BIGINT NULL,
    sent_at         BIGINT NULL,
    payload_id      TEXT NOT NULL REFERENCES outbox_payloads (id)
);
INSERT INTO outbox_rebuilt (id, destination, event_kind, created_at, due_at, attempts, state,
    locked_until, last_error, last_attempt_at, sent_at, payload_id)
SELECT id, destination, event_kind, created_at, due_at, attempts, state, locked_until,
    last_error, last_attempt_at, sent_at, id
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_rebuilt RENAME TO outbox;

-- Claiming (pending rows that are due) and pruning (sent / dead rows) go by state first.
CREATE INDEX outbox_by_state_due ON outbox (state, due_at);
-- Pruning payloads looks for deliveries that still name them.
CREATE INDEX outbox_by_payload ON outbox (payload_id);

-- Pharos schema, version 5 (PostgreSQL): an event's payload is stored once, however many
-- deliveries carry it. Keep in lockstep with ../sqlite/0005_outbox_payloads.sql.
-- One incident update to 100,000 subscribers used to store 100,000 copies of the same JSON;
-- now each delivery names its payload. A payload no delivery names any more is pruned.
-- Every delivery stored so far gets a payload of its own, under its own id.

CREATE TABLE outbox_payloads (
    id         TEXT PRIMARY KEY NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO outbox_payloads (id, body, created_at) SELECT id, payload, created_at FROM outbox;

ALTER TABLE outbox ADD COLUMN payload_id TEXT NULL REFERENCES outbox_payloads (id);
UPDATE outbox SET payload_id = id;
ALTER TABLE outbox ALTER COLUMN payload_id SET NOT NULL;
ALTER TABLE outbox DROP COLUMN payload;

-- Pruning payloads looks for deliveries that still name them.
CREATE INDEX outbox_by_payload ON outbox (payload_id);

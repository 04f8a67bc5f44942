-- Pharos schema, version 3 (SQLite): the durable outbox of notifications. Keep in lockstep
-- with ../postgres/0003_outbox.sql.
-- A delivery is inserted in the same transaction as the state change that caused it; a
-- dispatcher claims due rows by setting a lease (`locked_until`), sends, and records the
-- result. `destination` and `payload` are the engine's, stored verbatim and never read.
-- Times are unix milliseconds. `sent` rows and `dead` rows are pruned after a while;
-- `pending` rows stay until they are sent or given up.

-- One delivery; `id` is also the Idempotency-Key sent with it.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    destination     TEXT NOT NULL,
    event_kind      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    due_at          BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    locked_until    BIGINT NULL,
    last_error      TEXT NULL,
    last_attempt_at BIGINT NULL,
    sent_at         BIGINT NULL
);
-- Claiming (pending rows that are due) and pruning (sent / dead rows) go by state first.
CREATE INDEX outbox_by_state_due ON outbox (state, due_at);

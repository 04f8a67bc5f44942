-- Pharos schema, version 4 (SQLite): public subscribers and the page's settings. Keep in
-- lockstep with ../postgres/0004_subscribers.sql.
-- A subscriber is the public asking for updates by e-mail (double opt-in: `confirmed_at` is
-- set when the link in the confirmation e-mail is followed) or by webhook (confirmed at once).
-- `components` is a JSON array of component ids, empty for the whole page. An unsubscribed
-- row keeps its history (`unsubscribed_at`); subscribing again makes a new row. The engine
-- keeps at most one row per (kind, address) that is not unsubscribed, so the index below is
-- a lookup, not a constraint: a violated constraint would fail the whole write batch.
-- `doc` is the engine's JSON, stored verbatim. Times are unix milliseconds.
CREATE TABLE subscribers (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
    address         TEXT NOT NULL,
    components      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    confirmed_at    BIGINT NULL,
    unsubscribed_at BIGINT NULL,
    doc             TEXT NOT NULL
);
CREATE INDEX subscribers_by_address ON subscribers (kind, address);

-- Values the page keeps for itself, e.g. the key that signs subscribers' links.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

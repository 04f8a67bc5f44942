-- Pharos schema, version 13 (PostgreSQL): the responders' console: people and service
-- accounts, their recovery codes, sessions and API tokens, and the audit trail. Keep in
-- lockstep with ../sqlite/0013_people.sql. Times are unix milliseconds.
-- Every change to these tables is written in one transaction with its audit entry, but the
-- recording of a session's or token's last use and of the last TOTP step accepted.
--
-- People and service accounts. People are disabled (`disabled_at`), never deleted, so the audit
-- trail keeps naming them. `email` is stored lowercased and `sso_subject` ("issuer|sub") is
-- unique among the rows that have one; service accounts have neither, nor a password.
-- `password_hash` is a PHC string; `totp_secret` an opaque sealed blob the store never reads;
-- `totp_last_step` the last TOTP time step accepted (a code is never accepted twice).
-- `sessions_valid_after`: sessions created before it are dead ("sign out everywhere").
-- `kind`: person | service; `role`: owner | admin | responder | communicator | viewer.
CREATE TABLE users (
    id                   TEXT PRIMARY KEY NOT NULL,
    kind                 TEXT NOT NULL CHECK (kind IN ('person', 'service')),
    email                TEXT NULL,
    name                 TEXT NOT NULL,
    time_zone            TEXT NOT NULL DEFAULT 'UTC',
    role                 TEXT NOT NULL,
    password_hash        TEXT NULL,
    totp_secret          TEXT NULL,
    totp_last_step       BIGINT NULL,
    sso_subject          TEXT NULL,
    sessions_valid_after BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    disabled_at          BIGINT NULL
);
CREATE UNIQUE INDEX users_email ON users (email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX users_sso_subject ON users (sso_subject) WHERE sso_subject IS NOT NULL;

-- One-time recovery codes, hashed by the caller; a used code keeps its row with `used_at`.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id),
    code_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- Console sessions, keyed by the SHA-256 (hex) of the cookie's secret, which is never stored.
-- `expires_at` is absolute; expired rows are deleted by the store's prune.
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    address      TEXT NOT NULL,
    user_agent   TEXT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- API tokens `pht_<id>_<secret>`: `id` is the public part, `secret_hash` the SHA-256 (hex) of
-- the secret. `owner_id` is a person or a service account; `created_by` the user id or the
-- configuration token's name that made it; `scope` a role name, 'ingest' or 'read'. Revoked
-- tokens keep their row, with `revoked_at`.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    secret_hash  TEXT NOT NULL,
    name         TEXT NOT NULL,
    owner_id     TEXT NOT NULL REFERENCES users (id),
    created_by   TEXT NOT NULL,
    scope        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NULL,
    last_used_at BIGINT NULL,
    revoked_at   BIGINT NULL
);
CREATE INDEX api_tokens_by_owner ON api_tokens (owner_id, created_at);

-- The audit trail: who changed what, append-only like `changes` (the triggers below refuse
-- any UPDATE or DELETE) and never pruned. `actor_kind`: user | token | config_token |
-- automation | anonymous; `before` and `after` are JSON. Read newest first by `seq`.
CREATE TABLE audit_log (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id   TEXT NULL,
    actor_name TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NULL,
    before     TEXT NULL,
    after      TEXT NULL,
    request_id TEXT NULL,
    address    TEXT NULL
);
CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE INDEX audit_log_by_actor_id ON audit_log (actor_id, seq);
CREATE INDEX audit_log_by_actor_name ON audit_log (actor_name, seq);
CREATE INDEX audit_log_by_action ON audit_log (action, seq);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: its entries are never changed or removed';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
-- TRUNCATE skips row triggers; refuse it too.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

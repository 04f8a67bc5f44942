-- Pharos schema, version 14 (PostgreSQL): the console's second factor. Keep in lockstep with
-- ../sqlite/0014_second_factor.sql. Times are unix milliseconds.
--
-- A TOTP secret being set up: sealed (XChaCha20-Poly1305 under a key kept outside the
-- database, like users.totp_secret), kept on the session that started the setup until a code
-- confirms it; it goes with the session.
ALTER TABLE sessions ADD COLUMN totp_pending TEXT NULL;

-- Sign-ins waiting for their second factor: the password was right, a code is still due.
-- Keyed by the SHA-256 (hex) of the cookie's secret, which is never stored; good once, until
-- `expires_at` (minutes after the password). Expired rows are deleted when new ones are made.
CREATE TABLE pending_signins (
    id_hash    TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    address    TEXT NOT NULL,
    user_agent TEXT NOT NULL
);
CREATE INDEX pending_signins_by_expiry ON pending_signins (expires_at);

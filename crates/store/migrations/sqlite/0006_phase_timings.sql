-- Pharos schema, version 6 (SQLite): how long each phase of an http check took (DNS, TCP
-- connect, TLS handshake, wait for the first byte), in milliseconds. Keep in lockstep with
-- ../postgres/0006_phase_timings.sql.
-- NULL where a phase did not happen (a kept-alive connection has no DNS, connect or TLS
-- phase) and on every result of other kinds, or stored before this version.

ALTER TABLE check_results ADD COLUMN dns_ms BIGINT NULL;
ALTER TABLE check_results ADD COLUMN connect_ms BIGINT NULL;
ALTER TABLE check_results ADD COLUMN tls_ms BIGINT NULL;
ALTER TABLE check_results ADD COLUMN first_byte_ms BIGINT NULL;

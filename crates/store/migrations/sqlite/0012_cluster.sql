-- Pharos schema, version 12 (SQLite): several nodes on one database. Keep in lockstep with
-- ../postgres/0012_cluster.sql. Times are unix ms, always the database's own clock (never a
-- node's), so nodes whose clocks disagree still agree on when a lease ends.
-- SQLite is single-node: these tables exist so both schemas match, and stay empty.
--
-- Every node keeps its row in `cluster_nodes` fresh (`last_seen_at`) at each lease renewal.
CREATE TABLE cluster_nodes (
    id           TEXT PRIMARY KEY NOT NULL,
    address      TEXT NOT NULL,
    role         TEXT NOT NULL,
    version      TEXT NOT NULL,
    last_seen_at BIGINT NOT NULL
);

-- One row per lease ('leader'). `token` is the fencing token: it grows by one whenever the
-- holder changes, and the leader's writes check it in their own transaction.
CREATE TABLE cluster_lease (
    name       TEXT PRIMARY KEY NOT NULL,
    holder     TEXT NOT NULL,
    token      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- The leader's published status view ('status'), the engine's JSON verbatim, which followers
-- serve. `seq` grows with every publication, so a follower reads the document only when it
-- changed.
CREATE TABLE cluster_view (
    name         TEXT PRIMARY KEY NOT NULL,
    token        BIGINT NOT NULL,
    seq          BIGINT NOT NULL,
    published_at BIGINT NOT NULL,
    doc          TEXT NOT NULL
);

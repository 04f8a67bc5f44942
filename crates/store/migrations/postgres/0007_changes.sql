-- Pharos schema, version 7 (PostgreSQL): changes (deploys, configuration pushes…) and the
-- release-regression verdicts derived from the checks around them. Keep in lockstep with
-- ../sqlite/0007_changes.sql.
-- Changes are append-only: a correction is a new row whose `supersedes` names the old one,
-- and the triggers below refuse any UPDATE or DELETE, so a record once stored is never
-- changed or removed. At most one row supersedes a given row (a unique partial index): a
-- chain of corrections goes through the newest record. Nothing prunes changes.
-- Times are unix milliseconds; ids are `chg_…`.
CREATE TABLE changes (
    id           TEXT PRIMARY KEY NOT NULL,
    component_id TEXT NOT NULL REFERENCES components (id),
    kind         TEXT NOT NULL,
    summary      TEXT NOT NULL,
    version      TEXT NULL,
    commit_id    TEXT NULL,
    environment  TEXT NULL,
    author       TEXT NULL,
    url          TEXT NULL,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT NULL,
    external_id  TEXT NULL,
    supersedes   TEXT NULL REFERENCES changes (id),
    source       TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL,
    recorded_by  TEXT NOT NULL
);
CREATE INDEX changes_by_started ON changes (started_at, id);
CREATE INDEX changes_by_component_started ON changes (component_id, started_at);
CREATE UNIQUE INDEX changes_superseded_once ON changes (supersedes) WHERE supersedes IS NOT NULL;

CREATE FUNCTION changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'changes are append-only: record a correction that supersedes the change';
END;
$$;
CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes
    FOR EACH ROW EXECUTE FUNCTION changes_append_only();
CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes
    FOR EACH ROW EXECUTE FUNCTION changes_append_only();

-- The derived verdict of a change's release-regression check, one row per change, upserted
-- as the check progresses (`state`: watching | suspect | clear | insufficient_data |
-- superseded). `doc` is the engine's JSON, stored verbatim.
CREATE TABLE change_regressions (
    change_id    TEXT PRIMARY KEY NOT NULL REFERENCES changes (id),
    state        TEXT NOT NULL,
    suspect      BOOLEAN NOT NULL,
    evaluated_at BIGINT NOT NULL,
    doc          TEXT NOT NULL
);

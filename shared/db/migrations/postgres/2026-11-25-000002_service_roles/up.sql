-- Least privilege: one NOLOGIN group role per service, allowed to write only the tables its
-- service writes and to read what its code reads (the lineage invariant "each service writes
-- only its own tables", enforced by the database rather than by care).
--
-- | group role             | writes (INSERT; UPDATE where the code updates)                  | also reads        |
-- |------------------------|-----------------------------------------------------------------|-------------------|
-- | shortline_orchestrator | jobs*, job_stages*, trends*, trend_sightings, trend_reports,     | scripts,          |
-- |                        | trend_report_items                    (* also UPDATE)           | media_assets,     |
-- |                        |                                                                  | videos (lineage)  |
-- | shortline_scriptgen    | scripts, media_assets (append-only)                              | jobs,             |
-- |                        |                                                                  | trend_reports,    |
-- |                        |                                                                  | trend_report_items|
-- | shortline_composer     | videos (INSERT, UPDATE for review decisions)                     | jobs              |
--
-- Nobody gets DELETE or TRUNCATE: nothing in shortline deletes lineage. Composer reads scripts
-- and assets through scriptgen's RPCs, never from the tables. Foreign-key checks run as the
-- table owner, so a writer needs no privilege on the parent tables it references.
--
-- The services log in as LOGIN roles that are members of these groups; the operator creates
-- them (with their passwords) out of band, e.g.
--     CREATE ROLE shortline_scriptgen_login LOGIN PASSWORD '…' IN ROLE shortline_scriptgen;
-- The migrator (the tables' owner) needs CREATEROLE, or an operator creates the three group
-- roles beforehand: creation is skipped when they exist. Roles are cluster-wide (one server may
-- hold many shortline databases, e.g. the test suite's), so this is idempotent.
--
-- A later migration that adds a table, or makes a service update/delete a table, grants that
-- explicitly: there are no default privileges.

DO $$
DECLARE
    role_name TEXT;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['shortline_orchestrator', 'shortline_scriptgen', 'shortline_composer'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- created concurrently by another database's migration
            END;
        END IF;
    END LOOP;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO shortline_orchestrator, shortline_scriptgen, shortline_composer',
                   current_schema());
END
$$;

-- orchestrator: drives jobs, collects and analyses trends, reads every table for lineage
GRANT SELECT ON jobs, job_stages, trends, trend_sightings, trend_reports, trend_report_items,
                scripts, media_assets, videos TO shortline_orchestrator;
GRANT INSERT ON jobs, job_stages, trends, trend_sightings, trend_reports, trend_report_items
    TO shortline_orchestrator;
GRANT UPDATE ON jobs, job_stages, trends TO shortline_orchestrator;

-- scriptgen: scripts and media assets
GRANT SELECT ON jobs, trend_reports, trend_report_items, scripts, media_assets TO shortline_scriptgen;
GRANT INSERT ON scripts, media_assets TO shortline_scriptgen;

-- composer: videos and their review
GRANT SELECT ON jobs, videos TO shortline_composer;
GRANT INSERT, UPDATE ON videos TO shortline_composer;

-- The identity sequences of the tables each role inserts into.
DO $$
DECLARE
    grant_row RECORD;
    sequence_name TEXT;
BEGIN
    FOR grant_row IN
        SELECT * FROM (VALUES
            ('shortline_orchestrator', 'jobs'), ('shortline_orchestrator', 'job_stages'),
            ('shortline_orchestrator', 'trends'), ('shortline_orchestrator', 'trend_reports'),
            ('shortline_scriptgen', 'scripts'), ('shortline_scriptgen', 'media_assets'),
            ('shortline_composer', 'videos')
        ) AS g (role_name, table_name)
    LOOP
        sequence_name := pg_get_serial_sequence(grant_row.table_name, 'id');
        IF sequence_name IS NOT NULL THEN
            EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', sequence_name, grant_row.role_name);
        END IF;
    END LOOP;
END
$$;

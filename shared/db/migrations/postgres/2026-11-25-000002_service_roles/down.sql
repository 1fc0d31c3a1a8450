-- Revokes what up.sql granted in this database. The group roles themselves are left in place:
-- roles are cluster-wide, and other databases on the server (and the operator's login roles,
-- which are members) may still use them. Drop them by hand once no database needs them:
--     DROP ROLE shortline_orchestrator, shortline_scriptgen, shortline_composer;

REVOKE ALL ON jobs, job_stages, trends, trend_sightings, trend_reports, trend_report_items,
              scripts, media_assets, videos
    FROM shortline_orchestrator, shortline_scriptgen, shortline_composer;

DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM shortline_orchestrator, shortline_scriptgen, shortline_composer',
                   current_schema());
    EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM shortline_orchestrator, shortline_scriptgen, shortline_composer',
                   current_schema());
END
$$;

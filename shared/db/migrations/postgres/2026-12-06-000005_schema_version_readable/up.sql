-- Each service checks that the database's schema is the one it was built for before it serves
-- (health NOT_SERVING and UNAVAILABLE naming the versions otherwise), so its group role reads
-- the versions diesel records.
GRANT SELECT ON __diesel_schema_migrations TO shortline_orchestrator, shortline_scriptgen, shortline_composer;

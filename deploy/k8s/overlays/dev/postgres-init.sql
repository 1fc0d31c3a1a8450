-- Dev only, run once by the PostgreSQL image when it initialises its data directory: the group
-- roles (the migration would create them too; it skips existing ones) and one login role per
-- service, with the dev passwords of the shortline-database Secret in kustomization.yaml.
-- In production the operator runs the equivalent by hand (README "Deploy on Kubernetes").
CREATE ROLE shortline_orchestrator NOLOGIN;
CREATE ROLE shortline_scriptgen NOLOGIN;
CREATE ROLE shortline_composer NOLOGIN;
CREATE ROLE shortline_orchestrator_login LOGIN PASSWORD 'dev-only-orchestrator-password' IN ROLE shortline_orchestrator;
CREATE ROLE shortline_scriptgen_login LOGIN PASSWORD 'dev-only-scriptgen-password' IN ROLE shortline_scriptgen;
CREATE ROLE shortline_composer_login LOGIN PASSWORD 'dev-only-composer-password' IN ROLE shortline_composer;

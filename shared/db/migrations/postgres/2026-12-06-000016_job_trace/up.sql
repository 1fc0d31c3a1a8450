-- The W3C traceparent of the job's root span (its trace in OpenTelemetry), set when an
-- orchestrator first runs the job with tracing on; every later run of the job (a resume, a
-- takeover, a retry) continues that trace. NULL: the job ran without tracing.
ALTER TABLE jobs ADD COLUMN trace_parent TEXT;

//! shortline orchestrator service.

//! The `billables-zoom` binary's wiring: configuration, telemetry, start-up of the API and
//! the workers. Exposed as a library so integration tests start the real thing.

pub mod config;
pub mod startup;
pub mod telemetry;

//! One module per resource, each with its own `router()`.

pub mod admin;
pub mod health;
pub mod install;
pub mod integrations;
pub mod me;
pub mod ops;
pub mod pull;
pub mod removal;
pub mod webhook;

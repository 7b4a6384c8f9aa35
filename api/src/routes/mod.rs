//! One module per resource, each with its own `router()`.

pub mod admin;
pub mod health;
pub mod install;
pub mod me;
pub mod ops;
pub mod webhook;

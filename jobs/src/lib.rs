//! The domain core of Billables for Zoom: the Zoom client, the billables rules, the store,
//! the job payloads and handlers, the scheduler and the rate limiter.

pub mod billables;
pub mod crypto;
pub mod domain;
pub mod membership;
pub mod ops;
pub mod queue;
pub mod removal;
pub mod schedule;
pub mod store;
pub mod sync;
pub mod tasks;
pub mod worker;
pub mod zoom;

//! The capacity logic, written once for after-hours scaling and budget response: read a
//! service's desired count and its scalable target's min/max, save them on the service itself
//! (tag `macro-ai:saved-capacity`), hold it at a lower capacity, and restore exactly what was
//! saved. Every operation is ordered so a crash at any point is finished by the next run: the
//! saved tag is written before anything is reduced and removed only after everything is restored.
//!
//! - `tags`: the tags on a service (saved capacity, schedule, keep-up, hold, mode, stop mark);
//! - `fleet`: services, capacities and the `ServiceFleet` port;
//! - `fake_fleet`: ECS and Application Auto Scaling in memory (the fleet, release and consumer
//!   ports);
//! - `operations`: `saved`, `reduce_to`, `reduced`, `restore`.

#[cfg(any(test, feature = "fakes"))]
pub mod fake_fleet;
mod fleet;
mod operations;
mod tags;

pub use fleet::*;
pub use operations::*;
pub use tags::*;

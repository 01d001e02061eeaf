//! Notifications: what a function tells the people who run Macro AI.
//!
//! - `notice`: a notice and the `Notifier` port (SNS's adapter is `aws::sns`);
//! - `fake`: the port in memory.

#[cfg(any(test, feature = "fakes"))]
pub mod fake;
mod notice;

pub use notice::*;

//! The notification ledger: at-least-once deliveries claimed once, with an owner and a lease.
//!
//! - `claims`: the claim, its owner and lease, and the `NotificationLedger` port (DynamoDB's
//!   adapter is `aws::dynamodb`);
//! - `fake`: the port in memory.

mod claims;
#[cfg(any(test, feature = "fakes"))]
pub mod fake;

pub use claims::*;

//! The common crate of macro-ai-ops: domain logic written once (the Secrets Manager rotation
//! protocol, the PostgreSQL credential rules), the small traits ("ports") it is written against,
//! and the adapters that implement them for AWS services and databases.

pub mod appsecrets;
pub mod aws;
pub mod budget;
pub mod capacity;
pub mod config;
pub mod consumers;
mod digest;
pub mod environment;
pub mod error;
pub mod event;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod lambda;
pub mod ledger;
pub mod notify;
#[cfg(feature = "openai")]
pub mod openai;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
pub mod rollback;
pub mod rotation;
pub mod scaling;
pub mod schedule;
pub mod secret;
pub mod telemetry;

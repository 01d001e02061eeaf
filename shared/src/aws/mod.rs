//! Adapters from the domain's ports to AWS services through the official SDK. Endpoints,
//! region and credentials come from the SDK's own configuration chain (`AWS_ENDPOINT_URL` for
//! the local stack), never from custom plumbing.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "autoscaling")]
pub mod ecs;
pub mod ecs_consumers;
#[cfg(feature = "redis")]
pub mod elasticache;
mod failure;
pub mod https;
pub mod secrets_manager;
pub mod sns;

pub(crate) use failure::{CallFailure, call_failure, fleet_error, is_transient_code};

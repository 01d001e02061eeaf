//! Adapters from the domain's ports to AWS services through the official SDK. Endpoints,
//! region and credentials come from the SDK's own configuration chain (`AWS_ENDPOINT_URL` for
//! the local stack), never from custom plumbing.

pub mod dynamodb;
pub mod ecs;
pub mod ecs_consumers;
pub mod elasticache;
mod failure;
pub mod secrets_manager;
pub mod sns;

pub(crate) use failure::{CallFailure, call_failure, is_transient_code};

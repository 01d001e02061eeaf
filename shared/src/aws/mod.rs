//! Adapters from the domain's ports to AWS services through the official SDK. Endpoints,
//! region and credentials come from the SDK's own configuration chain (`AWS_ENDPOINT_URL` for
//! the local stack), never from custom plumbing.

pub mod dynamodb;
pub mod ecs;
pub mod ecs_consumers;
pub mod elasticache;
#[cfg(any(test, feature = "fakes"))]
pub mod fake_ecs;
pub mod secrets_manager;
pub mod sns;

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

/// How an SDK call failed, independent of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallFailure {
    /// Never reached the service, timed out, or got an unreadable answer: retry later.
    Unreachable,
    /// The service answered with an error code.
    Service(Option<String>),
    Other,
}

pub(crate) fn call_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> CallFailure {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            CallFailure::Unreachable
        }
        SdkError::ServiceError(se) => CallFailure::Service(se.err().code().map(str::to_string)),
        _ => CallFailure::Other,
    }
}

/// AWS error codes that mean "slow down or try again", whatever the service.
pub(crate) fn is_transient_code(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "Throttling"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "InternalServiceError"
            | "InternalFailure"
            | "ServiceUnavailable"
    )
}

//! How an SDK call failed, whatever the service: the one classification every adapter maps
//! into its port's error kinds.

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

//! How an SDK call failed, whatever the service: the one classification every adapter maps
//! into its port's error kinds.

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

use crate::capacity::{FleetError, FleetErrorKind};

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

/// An ECS or Application Auto Scaling call's failure as the fleet ports see it (both ECS
/// adapters, `ecs` and `ecs_consumers`, map through this).
pub(crate) fn fleet_error<E, R>(
    operation: &'static str,
    target: &str,
    err: SdkError<E, R>,
) -> FleetError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let kind = match call_failure(&err) {
        CallFailure::Unreachable => FleetErrorKind::Unavailable,
        CallFailure::Service(Some(code)) => match code.as_str() {
            "ServiceNotFoundException"
            | "ServiceNotActiveException"
            | "ClusterNotFoundException"
            | "ObjectNotFoundException"
            | "ResourceNotFoundException" => FleetErrorKind::NotFound,
            "AccessDeniedException" | "AccessDenied" => FleetErrorKind::AccessDenied,
            c if is_transient_code(c) || c == "ConcurrentUpdateException" => {
                FleetErrorKind::Unavailable
            }
            _ => FleetErrorKind::Other,
        },
        _ => FleetErrorKind::Other,
    };
    FleetError {
        operation,
        target: target.to_string(),
        kind,
        source: Box::new(err),
    }
}

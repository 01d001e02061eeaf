//! Everything a rotation step or validation can fail with, and how each reads to Lambda.

use super::backend::{BackendError, BackendErrorKind};
use super::store::{StoreError, StoreErrorKind};
use crate::capacity::FleetErrorKind;
use crate::consumers::GuardError;

/// Everything a rotation step or validation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    #[error(
        "unknown rotation step `{0}`: expected createSecret, setSecret, testSecret or finishSecret"
    )]
    UnknownStep(String),
    #[error(
        "rotation is not enabled on secret `{0}`: enable it (RotationSchedule or rotate-secret) \
         before invoking the rotation function"
    )]
    RotationDisabled(String),
    #[error("`{token}` is not a version of secret `{secret}`: was it started by another rotation?")]
    UnknownVersion { secret: String, token: String },
    #[error(
        "version `{token}` of secret `{secret}` is not staged AWSPENDING (its labels: {stages}): \
         a newer rotation may have replaced it"
    )]
    NotPending {
        secret: String,
        token: String,
        stages: String,
    },
    #[error("secret `{secret}` has no {stage} value")]
    MissingValue { secret: String, stage: &'static str },
    #[error("{step} failed for secret `{secret}`")]
    Store {
        step: &'static str,
        secret: String,
        #[source]
        source: StoreError,
    },
    #[error("{step} failed for secret `{secret}`")]
    Backend {
        step: &'static str,
        secret: String,
        #[source]
        source: BackendError,
    },
    #[error(
        "{step} of secret `{secret}` would retire the credential of AWSPREVIOUS, which running \
         tasks may still hold: {}. Nothing was retired. Redeploy them (refresh-consumers with \
         {{\"refresh\": \"{secret}\"}}); the same rotation completes when it is retried",
        .blockers.join("; ")
    )]
    ConsumersNotRefreshed {
        step: &'static str,
        secret: String,
        blockers: Vec<String>,
    },
    #[error("{step} of secret `{secret}`: the services that may consume it could not be checked")]
    Consumers {
        step: &'static str,
        secret: String,
        #[source]
        source: GuardError,
    },
}

impl RotationError {
    /// A stable name for the kind of failure (Lambda's `errorType`, alarms and runbooks key on it).
    pub fn error_type(&self) -> &'static str {
        match self {
            RotationError::InvalidEvent(_) => "InvalidEvent",
            RotationError::UnknownStep(_) => "UnknownStep",
            RotationError::RotationDisabled(_) => "RotationDisabled",
            RotationError::UnknownVersion { .. } => "UnknownVersion",
            RotationError::NotPending { .. } => "NotPending",
            RotationError::MissingValue { .. } => "MissingSecretValue",
            RotationError::Store { source, .. } => match source.kind {
                StoreErrorKind::Unavailable => "SecretStoreUnavailable",
                StoreErrorKind::AccessDenied => "SecretStoreAccessDenied",
                StoreErrorKind::NotFound => "SecretNotFound",
                _ => "SecretStoreError",
            },
            RotationError::Backend { source, .. } => match source.kind {
                BackendErrorKind::InvalidSecret => "InvalidSecret",
                BackendErrorKind::Unavailable => "BackendUnavailable",
                BackendErrorKind::LoginRefused => "LoginRefused",
                BackendErrorKind::Refused => "RotationRefused",
                BackendErrorKind::NeedsOperator => "OperatorActionNeeded",
                BackendErrorKind::Failed => "BackendError",
            },
            RotationError::ConsumersNotRefreshed { .. } => "ConsumersNotRefreshed",
            RotationError::Consumers { source, .. } => match source {
                GuardError::Fleet(f) if f.kind == FleetErrorKind::Unavailable => {
                    "ConsumersUnavailable"
                }
                _ => "ConsumerCheckFailed",
            },
        }
    }

    /// True when the same request may succeed later without anyone changing anything (a
    /// deployment that drains, or the refresh the label event starts, clears consumers).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RotationError::ConsumersNotRefreshed { .. }
                | RotationError::Consumers {
                    source: GuardError::Fleet(crate::capacity::FleetError {
                        kind: FleetErrorKind::Unavailable,
                        ..
                    }),
                    ..
                }
        ) || matches!(
            self,
            RotationError::Store {
                source: StoreError {
                    kind: StoreErrorKind::Unavailable,
                    ..
                },
                ..
            } | RotationError::Backend {
                source: BackendError {
                    kind: BackendErrorKind::Unavailable,
                    ..
                },
                ..
            }
        )
    }
}

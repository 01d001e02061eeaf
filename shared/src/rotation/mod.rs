//! The Secrets Manager rotation protocol, written once. A [`Rotator`] runs the four steps
//! (createSecret, setSecret, testSecret, finishSecret) and the daily validation against two
//! ports: a [`SecretStore`] (Secrets Manager) and a [`CredentialBackend`] (PostgreSQL, Redis,
//! OpenAI) that can make a new credential, install it, and prove it works.
//!
//! Every step is safe to run twice and to resume after a fault: each one first reads where the
//! secret's versions stand and only does what is still missing.

mod event;
mod policy;

pub use event::{RotationRequest, RotationStep, Step};
pub use policy::PasswordPolicy;

use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use tracing::info;

use crate::error::BoxError;
use crate::secret::SecretString;
use crate::telemetry::{self, AuditRecord};

/// The label of the version clients use.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The label of the version being rotated in.
pub const AWSPENDING: &str = "AWSPENDING";
/// The label Secrets Manager moves to the version AWSCURRENT left.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// A secret's metadata as the protocol needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretDescription {
    /// The secret's full ARN (what names it stably, whatever the event called it).
    pub arn: Option<String>,
    pub rotation_enabled: bool,
    /// The rotation interval in days (`RotationRules.AutomaticallyAfterDays`, or a
    /// `rate(N days)` schedule); `None` when it is not known (no rules, a cron schedule).
    pub rotation_interval_days: Option<u64>,
    /// When the secret was last rotated (DescribeSecret's `LastRotatedDate`).
    pub last_rotated: Option<jiff::Timestamp>,
    /// Version id → staging labels.
    pub versions: BTreeMap<String, Vec<String>>,
}

impl SecretDescription {
    /// The labels on `version`, if it is a version of this secret.
    pub fn stages_of(&self, version: &str) -> Option<&[String]> {
        self.versions.get(version).map(Vec::as_slice)
    }

    /// The version that carries `stage`, if any.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(v, _)| v.as_str())
    }
}

/// Which value of a secret to read. Always name the stage: asking for a version alone can
/// return a value whose labels have since moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRef<'a> {
    Stage(&'a str),
    Version {
        id: &'a str,
        stage: &'a str,
    },
    /// A version by id alone: its value never changes, whichever labels it carries now.
    Id(&'a str),
}

/// Why the secret store failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The secret or version does not exist.
    NotFound,
    /// The store could not be reached or timed out; a retry may succeed.
    Unavailable,
    /// The function's role may not do this.
    AccessDenied,
    /// The store refused the request as invalid.
    Rejected,
    Other,
}

/// A failed call to the secret store, with the SDK's error kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("Secrets Manager {operation} on `{secret}` failed")]
pub struct StoreError {
    pub operation: &'static str,
    pub secret: String,
    pub kind: StoreErrorKind,
    #[source]
    pub source: BoxError,
}

/// The port to Secrets Manager: the calls the rotation protocol makes, in domain types.
pub trait SecretStore: Send + Sync {
    fn describe(
        &self,
        secret_id: &str,
    ) -> impl Future<Output = Result<SecretDescription, StoreError>> + Send;

    /// The value at `version`, or `None` when no such version (or no value) exists.
    fn get(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> impl Future<Output = Result<Option<SecretString>, StoreError>> + Send;

    /// Stores `value` as version `token`, labelled AWSPENDING.
    fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Moves `stage` onto `to` (or only removes it, when `to` is `None`) from `from`.
    fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn random_password(
        &self,
        policy: &PasswordPolicy,
    ) -> impl Future<Output = Result<SecretString, StoreError>> + Send;
}

/// Why a backend failed; each kind maps to a stable `error_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendErrorKind {
    /// The secret value does not have the shape this backend needs.
    InvalidSecret,
    /// The backend (or a store it needed) could not be reached; a retry may succeed.
    Unavailable,
    /// The backend answered and refused the credential.
    LoginRefused,
    /// The rotation would break a rule (host changed, wrong user); refused on purpose.
    Refused,
    /// Someone must act first (stage a candidate key); the message says exactly what to do.
    NeedsOperator,
    Failed,
}

/// A backend failure: what went wrong in words an operator can act on, and the cause.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    pub kind: BackendErrorKind,
    pub message: String,
    #[source]
    pub source: Option<BoxError>,
}

impl BackendError {
    pub fn new(kind: BackendErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The same error, its message ending with where it happened.
    pub fn context(mut self, place: &str) -> Self {
        self.message = format!("{} ({place})", self.message);
        self
    }

    pub fn with_source(
        kind: BackendErrorKind,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    pub fn invalid_secret(message: impl Into<String>) -> Self {
        Self::new(BackendErrorKind::InvalidSecret, message)
    }

    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(BackendErrorKind::Refused, message)
    }
}

impl From<StoreError> for BackendError {
    fn from(e: StoreError) -> Self {
        let kind = match e.kind {
            StoreErrorKind::Unavailable => BackendErrorKind::Unavailable,
            _ => BackendErrorKind::Failed,
        };
        Self::with_source(kind, "a secret the backend needs could not be read", e)
    }
}

/// What createSecret gives a backend: the store, and a way to make passwords.
pub struct CreateContext<'a, S> {
    pub store: &'a S,
    pub secret_id: &'a str,
    /// The secret's ARN from DescribeSecret (the event's id when the store gave none).
    pub secret_arn: &'a str,
    pub token: &'a str,
    pub passwords: &'a PasswordPolicy,
    /// The secret's rotation interval in days, when DescribeSecret says.
    pub rotation_interval_days: Option<u64>,
    /// When the secret was last rotated, when DescribeSecret says.
    pub last_rotated: Option<jiff::Timestamp>,
}

impl<S: SecretStore> CreateContext<'_, S> {
    /// A new random password from GetRandomPassword, under the configured policy.
    pub async fn new_password(&self) -> Result<SecretString, BackendError> {
        Ok(self.store.random_password(self.passwords).await?)
    }
}

/// The values of one rotation as setSecret sees them. AWSPREVIOUS is not read up front: a
/// backend that needs it as a fallback login reads it from the store then.
pub struct Staged {
    pub secret_id: String,
    pub token: String,
    pub current: SecretString,
    pub pending: SecretString,
}

/// Where a rotation ended, as finishSecret knew it: the version it made AWSCURRENT and the one
/// AWSCURRENT left. A backend's clean-up decides what to keep from these ids, never from a fresh
/// read of the labels, which could be stale right after they moved.
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    pub secret_id: &'a str,
    pub secret_arn: &'a str,
    /// The version now AWSCURRENT (the rotation's token).
    pub current: &'a str,
    /// The version AWSCURRENT left, now AWSPREVIOUS; none on a secret's first rotation.
    pub previous: Option<&'a str>,
    /// Every version of the secret known at the step.
    pub description: &'a SecretDescription,
}

/// What setSecret did on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOutcome {
    /// The pending credential already worked: nothing to do (a retry).
    AlreadyInPlace,
    /// The credential was installed; the text says what changed (never a secret).
    Installed { change: String },
}

/// A system whose credential is rotated. Methods take the store where they may need another
/// secret (an admin login, a staged candidate).
pub trait CredentialBackend: Send + Sync {
    /// The backend's name in logs, metrics and errors ("postgres").
    fn name(&self) -> &'static str;

    /// createSecret: the new secret value, made from AWSCURRENT with every other field kept.
    fn create_pending<S: SecretStore>(
        &self,
        ctx: &CreateContext<'_, S>,
        current: &SecretString,
    ) -> impl Future<Output = Result<SecretString, BackendError>> + Send;

    /// setSecret: install the pending credential on the target.
    fn set_pending<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
    ) -> impl Future<Output = Result<SetOutcome, BackendError>> + Send;

    /// testSecret: prove the pending credential works.
    fn test_pending(
        &self,
        pending: &SecretString,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Validation: prove the current credential works, changing nothing.
    fn validate_current(
        &self,
        current: &SecretString,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// finishSecret, after AWSCURRENT moved: clean up what the new labels made obsolete, keeping
    /// what `finished.current` and `finished.previous` need.
    fn after_finish<S: SecretStore>(
        &self,
        _store: &S,
        _finished: &Finished<'_>,
    ) -> impl Future<Output = Result<Option<String>, BackendError>> + Send {
        async { Ok(None) }
    }
}

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
        }
    }

    /// True when the same request may succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(
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

/// What a step or validation did, returned to the invoker and logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub secret_id: String,
    pub step: &'static str,
    /// `created`, `alreadyCreated`, `set`, `alreadySet`, `tested`, `finished`, `alreadyCurrent`,
    /// `valid`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Runs the rotation protocol for one backend.
pub struct Rotator<S, B> {
    store: S,
    backend: B,
    passwords: PasswordPolicy,
}

impl<S: SecretStore, B: CredentialBackend> Rotator<S, B> {
    pub fn new(store: S, backend: B, passwords: PasswordPolicy) -> Self {
        Self {
            store,
            backend,
            passwords,
        }
    }

    /// Handles a raw invocation payload.
    pub async fn handle_value(&self, event: &serde_json::Value) -> Result<Report, RotationError> {
        let request = RotationRequest::from_value(event)?;
        self.handle(&request).await
    }

    pub async fn handle(&self, request: &RotationRequest) -> Result<Report, RotationError> {
        match request {
            RotationRequest::Rotate(step) => self.rotate(step).await,
            RotationRequest::Validate { secret_id } => self.validate(secret_id).await,
        }
    }

    /// One step of a rotation, after the guards every step shares.
    pub async fn rotate(&self, r: &RotationStep) -> Result<Report, RotationError> {
        let step = r.step.as_str();
        let store_err = |source| RotationError::Store {
            step,
            secret: r.secret_id.clone(),
            source,
        };
        let description = self.store.describe(&r.secret_id).await.map_err(store_err)?;
        if !description.rotation_enabled {
            return Err(RotationError::RotationDisabled(r.secret_id.clone()));
        }
        let stages =
            description
                .stages_of(&r.token)
                .ok_or_else(|| RotationError::UnknownVersion {
                    secret: r.secret_id.clone(),
                    token: r.token.clone(),
                })?;
        let has = |label: &str| stages.iter().any(|s| s == label);
        if has(AWSCURRENT) {
            // A retry after AWSCURRENT already moved. A retried finishSecret still finishes what
            // may have failed after the move: it clears a leftover AWSPENDING label (so the next
            // rotation does not see one in progress) and runs the backend's clean-up again.
            if r.step == Step::Finish {
                if has(AWSPENDING) {
                    self.store
                        .move_stage(&r.secret_id, AWSPENDING, None, Some(&r.token))
                        .await
                        .map_err(store_err)?;
                }
                let previous = description.version_with(AWSPREVIOUS);
                self.clean_up(r, &description, previous).await?;
            }
            info!(secret_id = %r.secret_id, step, version = %r.token,
                  "version is already AWSCURRENT: nothing to do");
            return Ok(self.report(r, "alreadyCurrent"));
        }
        if !has(AWSPENDING) {
            return Err(RotationError::NotPending {
                secret: r.secret_id.clone(),
                token: r.token.clone(),
                stages: if stages.is_empty() {
                    "none".into()
                } else {
                    stages.join(", ")
                },
            });
        }
        match r.step {
            Step::Create => self.create(r, &description).await,
            Step::Set => self.set(r).await,
            Step::Test => self.test(r).await,
            Step::Finish => self.finish(r, &description).await,
        }
    }

    async fn create(
        &self,
        r: &RotationStep,
        description: &SecretDescription,
    ) -> Result<Report, RotationError> {
        let step = r.step.as_str();
        let current = self
            .required(r, VersionRef::Stage(AWSCURRENT), AWSCURRENT)
            .await?;
        let pending_ref = VersionRef::Version {
            id: &r.token,
            stage: AWSPENDING,
        };
        if self
            .store
            .get(&r.secret_id, pending_ref)
            .await
            .map_err(|source| self.store_error(r, source))?
            .is_some()
        {
            info!(secret_id = %r.secret_id, step, version = %r.token,
                  "AWSPENDING value already exists for this version: nothing to do");
            return Ok(self.report(r, "alreadyCreated"));
        }
        let ctx = CreateContext {
            store: &self.store,
            secret_id: &r.secret_id,
            secret_arn: description.arn.as_deref().unwrap_or(&r.secret_id),
            token: &r.token,
            passwords: &self.passwords,
            rotation_interval_days: description.rotation_interval_days,
            last_rotated: description.last_rotated,
        };
        let pending = self
            .backend
            .create_pending(&ctx, &current)
            .await
            .map_err(|source| self.backend_error(r, source))?;
        self.store
            .put_pending(
                &r.secret_id,
                &r.token,
                &pending,
                r.rotation_token.as_deref(),
            )
            .await
            .map_err(|source| self.store_error(r, source))?;
        self.audit(
            r,
            "new credential stored as AWSPENDING",
            "AWSCURRENT only",
            "AWSPENDING staged",
        );
        Ok(self.report(r, "created"))
    }

    async fn set(&self, r: &RotationStep) -> Result<Report, RotationError> {
        let staged = self.staged(r).await?;
        match self
            .backend
            .set_pending(&self.store, &staged)
            .await
            .map_err(|source| self.backend_error(r, source))?
        {
            SetOutcome::AlreadyInPlace => {
                info!(secret_id = %r.secret_id, step = r.step.as_str(), version = %r.token,
                      "AWSPENDING credential already works: nothing to do");
                Ok(self.report(r, "alreadySet"))
            }
            SetOutcome::Installed { change } => {
                self.audit(r, &change, "AWSPENDING refused", "AWSPENDING accepted");
                Ok(self.report(r, "set"))
            }
        }
    }

    async fn test(&self, r: &RotationStep) -> Result<Report, RotationError> {
        let pending = self
            .required(
                r,
                VersionRef::Version {
                    id: &r.token,
                    stage: AWSPENDING,
                },
                AWSPENDING,
            )
            .await?;
        self.backend
            .test_pending(&pending)
            .await
            .map_err(|source| self.backend_error(r, source))?;
        info!(secret_id = %r.secret_id, step = r.step.as_str(), version = %r.token,
              backend = self.backend.name(), "AWSPENDING credential works");
        Ok(self.report(r, "tested"))
    }

    async fn finish(
        &self,
        r: &RotationStep,
        description: &SecretDescription,
    ) -> Result<Report, RotationError> {
        let previous_current = description.version_with(AWSCURRENT);
        self.store
            .move_stage(&r.secret_id, AWSCURRENT, Some(&r.token), previous_current)
            .await
            .map_err(|source| self.store_error(r, source))?;
        // Secrets Manager clears AWSPENDING itself once the rotation ends; clearing it here too
        // makes a rotation driven by hand (or an emulator) end in the same state.
        self.store
            .move_stage(&r.secret_id, AWSPENDING, None, Some(&r.token))
            .await
            .map_err(|source| self.store_error(r, source))?;
        let before = format!("AWSCURRENT on {}", previous_current.unwrap_or("no version"));
        let after = format!("AWSCURRENT on {}", r.token);
        self.audit(r, "AWSCURRENT moved to the new version", &before, &after);
        self.clean_up(r, description, previous_current).await?;
        Ok(self.report(r, "finished"))
    }

    /// The backend's clean-up once AWSCURRENT moved; idempotent, so retries run it again.
    async fn clean_up(
        &self,
        r: &RotationStep,
        description: &SecretDescription,
        previous: Option<&str>,
    ) -> Result<(), RotationError> {
        let finished = Finished {
            secret_id: &r.secret_id,
            secret_arn: description.arn.as_deref().unwrap_or(&r.secret_id),
            current: &r.token,
            previous: previous.filter(|p| *p != r.token),
            description,
        };
        if let Some(change) = self
            .backend
            .after_finish(&self.store, &finished)
            .await
            .map_err(|source| self.backend_error(r, source))?
        {
            self.audit(r, &change, "after AWSCURRENT moved", "cleaned up");
        }
        Ok(())
    }

    /// Validation: the current credential logs in. Changes nothing.
    pub async fn validate(&self, secret_id: &str) -> Result<Report, RotationError> {
        let step = "validate";
        let current = self
            .store
            .get(secret_id, VersionRef::Stage(AWSCURRENT))
            .await
            .map_err(|source| RotationError::Store {
                step,
                secret: secret_id.to_string(),
                source,
            })?
            .ok_or_else(|| RotationError::MissingValue {
                secret: secret_id.to_string(),
                stage: AWSCURRENT,
            })?;
        let result = self.backend.validate_current(&current).await;
        telemetry::metric(
            self.backend.name(),
            "ValidationFailed",
            u64::from(result.is_err()),
        );
        result.map_err(|source| RotationError::Backend {
            step,
            secret: secret_id.to_string(),
            source,
        })?;
        info!(
            secret_id,
            backend = self.backend.name(),
            "AWSCURRENT credential is valid"
        );
        Ok(Report {
            secret_id: secret_id.to_string(),
            step,
            outcome: "valid",
            version: None,
        })
    }

    async fn staged(&self, r: &RotationStep) -> Result<Staged, RotationError> {
        let current = self
            .required(r, VersionRef::Stage(AWSCURRENT), AWSCURRENT)
            .await?;
        let pending = self
            .required(
                r,
                VersionRef::Version {
                    id: &r.token,
                    stage: AWSPENDING,
                },
                AWSPENDING,
            )
            .await?;
        Ok(Staged {
            secret_id: r.secret_id.clone(),
            token: r.token.clone(),
            current,
            pending,
        })
    }

    async fn required(
        &self,
        r: &RotationStep,
        version: VersionRef<'_>,
        stage: &'static str,
    ) -> Result<SecretString, RotationError> {
        self.store
            .get(&r.secret_id, version)
            .await
            .map_err(|source| self.store_error(r, source))?
            .ok_or_else(|| RotationError::MissingValue {
                secret: r.secret_id.clone(),
                stage,
            })
    }

    fn store_error(&self, r: &RotationStep, source: StoreError) -> RotationError {
        RotationError::Store {
            step: r.step.as_str(),
            secret: r.secret_id.clone(),
            source,
        }
    }

    fn backend_error(&self, r: &RotationStep, source: BackendError) -> RotationError {
        RotationError::Backend {
            step: r.step.as_str(),
            secret: r.secret_id.clone(),
            source,
        }
    }

    fn audit(&self, r: &RotationStep, what: &str, before: &str, after: &str) {
        telemetry::audit(&AuditRecord {
            service: self.backend.name(),
            action: r.step.as_str(),
            target: &r.secret_id,
            what,
            why: "Secrets Manager rotation",
            before,
            after,
        });
    }

    fn report(&self, r: &RotationStep, outcome: &'static str) -> Report {
        Report {
            secret_id: r.secret_id.clone(),
            step: r.step.as_str(),
            outcome,
            version: Some(r.token.clone()),
        }
    }
}

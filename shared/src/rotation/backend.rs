//! The port every credential plugs into the protocol through (PostgreSQL, Redis, OpenAI, the
//! application keys): make a candidate, set it, test it, and clean up after the move.

use super::policy::PasswordPolicy;
use super::store::{
    AWSCURRENT, AWSPREVIOUS, SecretDescription, SecretStore, StoreError, StoreErrorKind, VersionRef,
};
use crate::error::BoxError;
use crate::secret::SecretString;
use std::future::Future;

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

/// A secret the shared reader refused is an `InvalidSecret` backend error, its wording kept.
impl From<crate::secret::InvalidSecret> for BackendError {
    fn from(e: crate::secret::InvalidSecret) -> Self {
        Self::invalid_secret(e.0)
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
    /// The version AWSCURRENT is on.
    pub current_version: Option<&'a str>,
    /// When AWSCURRENT moved to it, when the secret's record names the move.
    pub recorded_since: Option<jiff::Timestamp>,
}

impl<S: SecretStore> CreateContext<'_, S> {
    /// A new random password from GetRandomPassword, under the configured policy.
    pub async fn new_password(&self) -> Result<SecretString, BackendError> {
        Ok(self.store.random_password(self.passwords).await?)
    }

    /// Since when AWSCURRENT's value has been in the secret: its version's creation
    /// (ListSecretVersionIds; a `PutSecretValue` creates one, but does not move
    /// `LastRotatedDate`), or the recorded move to it when that is later.
    pub async fn current_since(&self) -> Result<Option<jiff::Timestamp>, BackendError> {
        let created = match self.current_version {
            Some(v) => self
                .store
                .versions_created(self.secret_id)
                .await?
                .get(v)
                .copied(),
            None => None,
        };
        Ok(created.max(self.recorded_since))
    }
}

/// The values of one rotation as setSecret sees them. AWSPREVIOUS is not read up front: a
/// backend that needs it as a fallback login reads it from the store then.
pub struct Staged {
    pub secret_id: String,
    /// The secret's ARN from DescribeSecret (the event's id when the store gave none).
    pub secret_arn: String,
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

/// Which step of a rotation stops AWSPREVIOUS's credential from working: the step before which
/// the protocol makes sure no consumer still runs with it (a task that read the secret before
/// AWSCURRENT became current and keeps it until it stops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retirement {
    /// The rotation retires nothing (someone else revokes the old credential).
    Never,
    /// setSecret ends AWSPREVIOUS's credential: alternating PostgreSQL users (the pending user is
    /// AWSPREVIOUS's), ElastiCache users (`[pending, current]`) and AUTH tokens (`SET` current).
    AtSet,
    /// finishSecret ends it: its clean-up after the move (self-managed Redis, minted OpenAI
    /// keys) or the promotion itself (application keys drop the key before `previous`).
    AtFinish,
    /// No overlap: setSecret ends AWSCURRENT's own credential (single-user PostgreSQL), so every
    /// consumer fails from setSecret until it is redeployed.
    NoOverlap,
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

    /// finishSecret, right before AWSCURRENT moves to `token`: a last check of the pending
    /// version against AWSCURRENT as it is now (nothing, by default).
    fn before_promote<S: SecretStore>(
        &self,
        _store: &S,
        _secret_id: &str,
        _token: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        async { Ok(()) }
    }

    /// When a rotation of a secret like `current` retires a credential consumers may hold.
    fn retirement(&self, _current: &SecretString) -> Result<Retirement, BackendError> {
        Ok(Retirement::Never)
    }

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

/// The ARN Secrets Manager gives the secret `id` names (a name, a partial or full ARN): how a
/// secret named by another (`masterarn`, `adminarn`) is compared with the one configured, never
/// by its spelling.
pub async fn secret_arn<S: SecretStore>(store: &S, id: &str) -> Result<String, BackendError> {
    Ok(store
        .describe(id)
        .await?
        .arn
        .unwrap_or_else(|| id.to_string()))
}

/// Possession before privilege, the rule of every backend that changes a password: nothing is
/// changed until the secret logs in as its own user. AWSCURRENT first; when the target refuses
/// it, AWSPREVIOUS, if `previous` reads it as the same login (a rotation interrupted after its
/// label moved leaves the working password there). Returns the secret that logged in and what
/// its login gave.
pub async fn prove_possession<S, T, C, Fut>(
    store: &S,
    secret_id: &str,
    current: &T,
    previous: impl Fn(&SecretString) -> Option<T>,
    login: impl Fn(T, &'static str) -> Fut,
) -> Result<(T, C), BackendError>
where
    S: SecretStore,
    T: Clone,
    Fut: Future<Output = Result<C, BackendError>>,
{
    let refused = match login(current.clone(), AWSCURRENT).await {
        Ok(c) => return Ok((current.clone(), c)),
        Err(e) if e.kind == BackendErrorKind::LoginRefused => e,
        Err(e) => return Err(e),
    };
    prove_with_previous(store, secret_id, refused, previous, login).await
}

/// The second half of [`prove_possession`], for a backend that asks something between the two
/// (PostgreSQL's single user: is AWSPENDING's password already in place?): AWSCURRENT's login was
/// `refused`; AWSPREVIOUS, read as `previous` reads it, logs in instead or the refusal stands.
pub async fn prove_with_previous<S, T, C, Fut>(
    store: &S,
    secret_id: &str,
    refused: BackendError,
    previous: impl Fn(&SecretString) -> Option<T>,
    login: impl Fn(T, &'static str) -> Fut,
) -> Result<(T, C), BackendError>
where
    S: SecretStore,
    T: Clone,
    Fut: Future<Output = Result<C, BackendError>>,
{
    let previous = match store.get(secret_id, VersionRef::Stage(AWSPREVIOUS)).await {
        Ok(Some(raw)) => previous(&raw),
        // AWSPREVIOUS is only a fallback; its absence leaves AWSCURRENT's refusal.
        Ok(None) | Err(_) => None,
    };
    let Some(previous) = previous else {
        return Err(refused);
    };
    match login(previous.clone(), AWSPREVIOUS).await {
        Ok(c) => Ok((previous, c)),
        Err(e) => Err(BackendError::with_source(
            e.kind,
            "neither AWSCURRENT nor AWSPREVIOUS logs in as the secret's user: nothing is \
             changed without proof that the secret holds that user's password",
            e,
        )),
    }
}

//! The port to Secrets Manager as the rotation protocol sees it: versions by stage or id, the
//! secret's description, staging moves, each failure kept as its kind (its in-memory fake is
//! `crate::fakes::MemorySecretStore`).

use super::policy::PasswordPolicy;
use crate::error::BoxError;
use crate::secret::SecretString;
use std::collections::BTreeMap;
use std::future::Future;

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

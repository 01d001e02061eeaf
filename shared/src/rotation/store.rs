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

/// The tag on a secret that records when its AWSCURRENT version became current:
/// `version=<id> previous=<id or none> at=<RFC 3339, milliseconds>` (`previous`: the version
/// AWSCURRENT left then, so a version made current again later never reuses an old record). Secrets Manager keeps no such date (a version's
/// `CreatedDate` is when it was staged, `LastRotatedDate` is not moved by `PutSecretValue`), and
/// a consumer that read the secret before that moment may still hold the value before it. It
/// is written right after AWSCURRENT moves (finishSecret), or from the label event, or by a
/// manual refresh: each a time at or after the move, so the tasks of a deployment created after
/// it read the new value.
pub const CURRENT_SINCE_TAG: &str = "macro-ai:current-since";
/// `previous=` of a record made when AWSCURRENT left no version behind.
const NO_VERSION: &str = "none";

/// When a version became AWSCURRENT, as [`CURRENT_SINCE_TAG`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentSince {
    pub version: String,
    /// The version AWSCURRENT left (AWSPREVIOUS since), if any.
    pub previous: Option<String>,
    pub at: jiff::Timestamp,
}

impl CurrentSince {
    /// `version` current since `at`, to the millisecond (what a tag holds). A deployment's tasks
    /// start seconds after it is created, so a fraction of a millisecond either way never lets
    /// a task that read the old value pass for one that read the new.
    pub fn new(version: &str, previous: Option<&str>, at: jiff::Timestamp) -> Self {
        Self {
            version: version.to_string(),
            previous: previous.map(str::to_string),
            at: jiff::Timestamp::from_millisecond(at.as_millisecond()).unwrap_or(at),
        }
    }

    /// The tag value.
    pub fn encode(&self) -> String {
        format!(
            "version={} previous={} at={}",
            self.version,
            self.previous.as_deref().unwrap_or(NO_VERSION),
            self.at
        )
    }

    /// Reads a tag value written by [`CurrentSince::encode`]; anything else is no record.
    pub fn decode(value: &str) -> Option<Self> {
        let mut version = None;
        let mut previous = None;
        let mut at = None;
        for part in value.split_whitespace() {
            match part.split_once('=')? {
                ("version", v) if !v.is_empty() && version.is_none() => version = Some(v),
                ("previous", v) if !v.is_empty() && previous.is_none() => previous = Some(v),
                ("at", t) if at.is_none() => at = Some(t.parse::<jiff::Timestamp>().ok()?),
                _ => return None,
            }
        }
        Some(Self {
            version: version?.to_string(),
            previous: Some(previous?)
                .filter(|p| *p != NO_VERSION)
                .map(str::to_string),
            at: at?,
        })
    }
}

/// A secret's metadata as the protocol needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretDescription {
    /// The secret's full ARN (what names it stably, whatever the event called it).
    pub arn: Option<String>,
    /// The secret's name (DescribeSecret's `Name`).
    pub name: Option<String>,
    pub rotation_enabled: bool,
    /// The rotation interval in days (`RotationRules.AutomaticallyAfterDays`, or a
    /// `rate(N days)` schedule); `None` when it is not known (no rules, a cron schedule).
    pub rotation_interval_days: Option<u64>,
    /// Version id → staging labels.
    pub versions: BTreeMap<String, Vec<String>>,
    /// When AWSCURRENT (or an earlier version) became current, from [`CURRENT_SINCE_TAG`].
    pub current_since: Option<CurrentSince>,
}

impl SecretDescription {
    /// The labels on `version`, if it is a version of this secret.
    pub fn stages_of(&self, version: &str) -> Option<&[String]> {
        self.versions.get(version).map(Vec::as_slice)
    }

    /// When the version that is AWSCURRENT now became current, if a record names it and the
    /// version it replaced (AWSPREVIOUS now): a record of an earlier time the same version was
    /// current is no record.
    pub fn current_since(&self) -> Option<jiff::Timestamp> {
        let current = self.version_with(AWSCURRENT)?;
        let previous = self.version_with(AWSPREVIOUS);
        self.current_since
            .as_ref()
            .filter(|s| s.version == current && s.previous.as_deref() == previous)
            .map(|s| s.at)
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

    /// Records when a version became AWSCURRENT ([`CURRENT_SINCE_TAG`]).
    fn mark_current_since(
        &self,
        secret_id: &str,
        since: &CurrentSince,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// When each version with a label was created (ListSecretVersionIds' `CreatedDate`).
    fn versions_created(
        &self,
        secret_id: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, jiff::Timestamp>, StoreError>> + Send;
}

/// A store shared by reference (several orchestrators of one test on one fake).
impl<T: SecretStore> SecretStore for &T {
    fn describe(
        &self,
        secret_id: &str,
    ) -> impl Future<Output = Result<SecretDescription, StoreError>> + Send {
        (**self).describe(secret_id)
    }

    fn get(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> impl Future<Output = Result<Option<SecretString>, StoreError>> + Send {
        (**self).get(secret_id, version)
    }

    fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).put_pending(secret_id, token, value, rotation_token)
    }

    fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).move_stage(secret_id, stage, to, from)
    }

    fn random_password(
        &self,
        policy: &PasswordPolicy,
    ) -> impl Future<Output = Result<SecretString, StoreError>> + Send {
        (**self).random_password(policy)
    }

    fn mark_current_since(
        &self,
        secret_id: &str,
        since: &CurrentSince,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).mark_current_since(secret_id, since)
    }

    fn versions_created(
        &self,
        secret_id: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, jiff::Timestamp>, StoreError>> + Send {
        (**self).versions_created(secret_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_record_then_it_reads_back_to_the_millisecond_and_bad_ones_are_none() {
        let at: jiff::Timestamp = "2026-12-03T10:00:00.123456Z".parse().unwrap();
        let since = CurrentSince::new("v-1", Some("v-0"), at);
        assert_eq!(
            since.encode(),
            "version=v-1 previous=v-0 at=2026-12-03T10:00:00.123Z"
        );
        assert_eq!(CurrentSince::decode(&since.encode()), Some(since));
        let first = CurrentSince::new("v", None, at);
        assert_eq!(CurrentSince::decode(&first.encode()), Some(first));
        let whole: jiff::Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
        assert_eq!(CurrentSince::new("v", None, whole).at, whole);
        for bad in [
            "",
            "version=v-1 previous=none",
            "version=v at=2026-12-03T10:00:00Z",
            "previous=none at=2026-12-03T10:00:00Z",
            "version= previous=none at=2026-12-03T10:00:00Z",
            "version=v previous=none at=yesterday",
            "version=v previous=none at=2026-12-03T10:00:00Z extra=1",
            "version=v version=w previous=none at=2026-12-03T10:00:00Z",
        ] {
            assert_eq!(CurrentSince::decode(bad), None, "{bad}");
        }
    }
}

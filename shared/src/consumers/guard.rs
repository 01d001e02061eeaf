//! The retire guard: before a rotation stops AWSPREVIOUS's credential from working, it looks for
//! a consumer that may still run a task started before AWSCURRENT became current (such a task
//! read the secret then, and keeps what it read until it stops). While one exists, nothing is
//! retired; a refresh (a new deployment) clears it, and the same rotation then completes.

use super::decision;
use super::discovery::{self, Consumer};
use super::ports::ConsumerReader;
use super::reference::{Follows, SecretIdentity};
use crate::capacity::FleetError;
use crate::rotation::{AWSCURRENT, AWSPREVIOUS, SecretDescription};

/// Where a rotation function looks for the consumers of its secret, and whom it tells.
pub struct Watch<C, N> {
    pub reader: C,
    /// The clusters whose services may consume the secret (`CONSUMER_CLUSTERS`).
    pub clusters: Vec<String>,
    pub notifier: N,
}

/// How a rotation function finds its consumers: `CONSUMER_CLUSTERS` (unset or empty: none are
/// watched, the rotation retires without waiting) and `NOTIFY_TOPIC_ARN` (where a refusal or a
/// single-user warning is announced).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchConfig {
    pub clusters: Option<Vec<String>>,
    pub notify_topic_arn: Option<String>,
}

impl WatchConfig {
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        Ok(Self {
            clusters: crate::config::optional_list(get, "CONSUMER_CLUSTERS")?,
            notify_topic_arn: crate::config::text(get, "NOTIFY_TOPIC_ARN"),
        })
    }
}

/// Why a guard could not decide.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("DescribeSecret gave no ARN or name for the secret: its consumers cannot be matched")]
    Unnamed,
    #[error(transparent)]
    Fleet(#[from] FleetError),
}

/// A consumer that blocks retiring AWSPREVIOUS, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub service: String,
    pub why: String,
}

/// The secret as ECS references name it.
pub fn identity(description: &SecretDescription) -> Result<SecretIdentity, GuardError> {
    let (Some(arn), Some(name)) = (&description.arn, &description.name) else {
        return Err(GuardError::Unnamed);
    };
    SecretIdentity::new(arn, name).ok_or(GuardError::Unnamed)
}

impl<C: ConsumerReader, N> Watch<C, N> {
    /// The consumers that may still hold AWSPREVIOUS's value: empty when retiring it breaks no
    /// running task (or when there is no AWSPREVIOUS, so nothing is retired).
    pub async fn blockers(
        &self,
        description: &SecretDescription,
    ) -> Result<Vec<Blocker>, GuardError> {
        if description.version_with(AWSPREVIOUS).is_none() {
            return Ok(Vec::new());
        }
        let current = description.version_with(AWSCURRENT).unwrap_or("(none)");
        let since = description.current_since();
        let consumers =
            discovery::find(&self.reader, &self.clusters, &identity(description)?).await?;
        // A reference pinned to the version being retired loses its credential with it; a
        // refresh would not help, so it is said, not waited for.
        let retiring = description.version_with(AWSPREVIOUS).unwrap_or_default();
        for c in &consumers {
            let pins_it = c.references.values().flatten().any(|f| match f {
                Follows::Version(v) => v == retiring,
                Follows::Stage(s) => s == AWSPREVIOUS,
                Follows::Current => false,
            });
            if pins_it && c.service.desired > 0 {
                tracing::warn!(service = %c.service.id, version = retiring,
                               "a reference pins the version being retired: its tasks lose that credential");
            }
        }
        Ok(consumers
            .iter()
            .filter_map(|c| {
                decision::stale(c, current, since).map(|why| Blocker {
                    service: c.service.id.to_string(),
                    why,
                })
            })
            .collect())
    }

    /// The consumers that run tasks reading AWSCURRENT: everything a single-user rotation
    /// breaks at setSecret until it is redeployed.
    pub async fn running(
        &self,
        description: &SecretDescription,
    ) -> Result<Vec<Consumer>, GuardError> {
        let consumers =
            discovery::find(&self.reader, &self.clusters, &identity(description)?).await?;
        Ok(consumers
            .into_iter()
            .filter(|c| c.service.desired > 0 && c.follows_now().contains(&Follows::Current))
            .collect())
    }
}

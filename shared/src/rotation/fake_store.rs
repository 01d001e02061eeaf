//! Secrets Manager in memory, beside the `SecretStore` port (`store.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::fakes::{LONG_AGO, injected, lock};
use crate::rotation::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, CURRENT_SINCE_TAG, CurrentSince, PasswordPolicy,
    SecretDescription, SecretStore, StoreError, StoreErrorKind, VersionRef,
};
use crate::secret::SecretString;

#[derive(Debug, Default, Clone)]
struct FakeSecret {
    /// Version id → (value, staging labels).
    versions: BTreeMap<String, (Option<String>, Vec<String>)>,
    tags: BTreeMap<String, String>,
    /// Version id → when it was created.
    created: BTreeMap<String, jiff::Timestamp>,
}

#[derive(Debug, Default)]
struct Secrets {
    secrets: BTreeMap<String, FakeSecret>,
    failing: BTreeSet<&'static str>,
    passwords: u64,
}

/// Secrets Manager in memory, with the rules the protocol relies on: a version's value never
/// changes, a label is on one version at a time, AWSCURRENT leaves AWSPREVIOUS behind, and a
/// staging move names the version the label leaves.
#[derive(Debug, Default)]
pub struct MemorySecretStore(Mutex<Secrets>);

impl MemorySecretStore {
    /// A secret whose AWSCURRENT (version `v0`, made long ago) is `value`, with rotation
    /// enabled.
    pub fn with_secret(self, id: &str, value: &str) -> Self {
        let mut secret = FakeSecret::default();
        secret.versions.insert(
            "v0".into(),
            (Some(value.to_string()), vec![AWSCURRENT.to_string()]),
        );
        secret.created.insert("v0".into(), LONG_AGO);
        lock(&self.0).secrets.insert(id.to_string(), secret);
        self
    }

    /// What RotateSecret does before it invokes the function: version `token` labelled
    /// AWSPENDING, with no value yet.
    pub fn start_rotation(&self, id: &str, token: &str) {
        let mut secrets = lock(&self.0);
        if let Some(secret) = secrets.secrets.get_mut(id) {
            relabel(secret, AWSPENDING, Some(token));
            secret
                .versions
                .entry(token.to_string())
                .or_insert((None, vec![]))
                .1
                .push(AWSPENDING.to_string());
        }
    }

    /// The value labelled `stage`.
    pub fn value(&self, id: &str, stage: &str) -> Option<String> {
        let secrets = lock(&self.0);
        let secret = secrets.secrets.get(id)?;
        secret
            .versions
            .values()
            .find(|(_, labels)| labels.iter().any(|l| l == stage))
            .and_then(|(v, _)| v.clone())
    }

    /// Every later call of `operation` (`PutSecretValue`, `UpdateSecretVersionStage`, …) fails
    /// as unavailable.
    pub fn fail(&self, operation: &'static str) {
        lock(&self.0).failing.insert(operation);
    }

    pub fn heal(&self, operation: &'static str) {
        lock(&self.0).failing.remove(operation);
    }

    fn with<T>(
        &self,
        operation: &'static str,
        id: &str,
        f: impl FnOnce(&mut FakeSecret, &mut u64) -> Result<T, StoreErrorKind>,
    ) -> Result<T, StoreError> {
        let mut guard = lock(&self.0);
        let secrets = &mut *guard;
        let error = |kind| StoreError {
            operation,
            secret: id.to_string(),
            kind,
            source: injected(operation),
        };
        if secrets.failing.contains(operation) {
            return Err(error(StoreErrorKind::Unavailable));
        }
        let secret = secrets
            .secrets
            .get_mut(secret_name(id))
            .ok_or_else(|| error(StoreErrorKind::NotFound))?;
        f(secret, &mut secrets.passwords).map_err(error)
    }
}

/// A fake secret is found by its name or by the ARN `describe` gives it.
fn secret_name(id: &str) -> &str {
    id.strip_prefix("arn:aws:secretsmanager:us-east-1:123456789012:secret:")
        .and_then(|rest| rest.strip_suffix("-AbCdEf"))
        .unwrap_or(id)
}

/// Takes `label` off every version but `keep`.
fn relabel(secret: &mut FakeSecret, label: &str, keep: Option<&str>) {
    for (id, (_, labels)) in secret.versions.iter_mut() {
        if Some(id.as_str()) != keep {
            labels.retain(|l| l != label);
        }
    }
}

impl SecretStore for MemorySecretStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        self.with("DescribeSecret", secret_id, |secret, _| {
            Ok(SecretDescription {
                arn: Some(format!(
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}-AbCdEf",
                    secret_name(secret_id)
                )),
                name: Some(secret_name(secret_id).to_string()),
                rotation_enabled: true,
                rotation_interval_days: Some(30),
                versions: secret
                    .versions
                    .iter()
                    .map(|(id, (_, labels))| (id.clone(), labels.clone()))
                    .collect(),
                current_since: secret
                    .tags
                    .get(CURRENT_SINCE_TAG)
                    .and_then(|t| CurrentSince::decode(t)),
            })
        })
    }

    async fn get(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> Result<Option<SecretString>, StoreError> {
        self.with("GetSecretValue", secret_id, |secret, _| {
            let has = |labels: &Vec<String>, stage: &str| labels.iter().any(|l| l == stage);
            let found = match version {
                VersionRef::Stage(stage) => secret.versions.values().find(|(_, l)| has(l, stage)),
                VersionRef::Version { id, stage } => {
                    secret.versions.get(id).filter(|(_, l)| has(l, stage))
                }
                VersionRef::Id(id) => secret.versions.get(id),
            };
            Ok(found.and_then(|(v, _)| v.clone()).map(SecretString::new))
        })
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        _rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with("PutSecretValue", secret_id, |secret, _| {
            secret
                .created
                .entry(token.to_string())
                .or_insert_with(jiff::Timestamp::now);
            let entry = secret
                .versions
                .entry(token.to_string())
                .or_insert((None, vec![]));
            match &entry.0 {
                // A version's value never changes (ResourceExistsException).
                Some(existing) if existing != value.expose() => {
                    return Err(StoreErrorKind::Rejected);
                }
                _ => entry.0 = Some(value.expose().to_string()),
            }
            if !entry.1.iter().any(|l| l == AWSPENDING) {
                entry.1.push(AWSPENDING.to_string());
            }
            relabel(secret, AWSPENDING, Some(token));
            Ok(())
        })
    }

    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with("UpdateSecretVersionStage", secret_id, |secret, _| {
            let holder = secret
                .versions
                .iter()
                .find(|(_, (_, l))| l.iter().any(|x| x == stage))
                .map(|(id, _)| id.clone());
            // Moving a label that is on another version must name that version.
            if holder.is_some() && holder.as_deref() != to && holder.as_deref() != from {
                return Err(StoreErrorKind::Rejected);
            }
            if let Some(to) = to {
                if !secret.versions.contains_key(to) {
                    return Err(StoreErrorKind::NotFound);
                }
                if stage == AWSCURRENT
                    && let Some(old) = holder.as_deref().filter(|h| *h != to)
                {
                    relabel(secret, AWSPREVIOUS, Some(old));
                    if let Some((_, labels)) = secret.versions.get_mut(old)
                        && !labels.iter().any(|l| l == AWSPREVIOUS)
                    {
                        labels.push(AWSPREVIOUS.to_string());
                    }
                }
            }
            relabel(secret, stage, to);
            if let Some((_, labels)) = to.and_then(|t| secret.versions.get_mut(t))
                && !labels.iter().any(|l| l == stage)
            {
                labels.push(stage.to_string());
            }
            Ok(())
        })
    }

    async fn random_password(&self, policy: &PasswordPolicy) -> Result<SecretString, StoreError> {
        let mut secrets = lock(&self.0);
        if secrets.failing.contains("GetRandomPassword") {
            return Err(StoreError {
                operation: "GetRandomPassword",
                secret: String::new(),
                kind: StoreErrorKind::Unavailable,
                source: injected("GetRandomPassword"),
            });
        }
        secrets.passwords += 1;
        let seed = format!("Pw{}x", secrets.passwords);
        let password: String = seed
            .chars()
            .chain(std::iter::repeat('a'))
            .filter(|c| !policy.exclude_characters.contains(*c))
            .take(usize::from(policy.length))
            .collect();
        Ok(SecretString::new(password))
    }

    async fn versions_created(
        &self,
        secret_id: &str,
    ) -> Result<BTreeMap<String, jiff::Timestamp>, StoreError> {
        self.with("ListSecretVersionIds", secret_id, |secret, _| {
            Ok(secret.created.clone())
        })
    }

    async fn mark_current_since(
        &self,
        secret_id: &str,
        since: &CurrentSince,
    ) -> Result<(), StoreError> {
        self.with("TagResource", secret_id, |secret, _| {
            secret
                .tags
                .insert(CURRENT_SINCE_TAG.to_string(), since.encode());
            Ok(())
        })
    }
}

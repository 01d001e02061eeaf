//! [`SecretStore`] on AWS Secrets Manager.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

use super::{CallFailure, call_failure, is_transient_code};
use crate::rotation::{
    AWSPENDING, CURRENT_SINCE_TAG, CurrentSince, PasswordPolicy, SecretDescription, SecretStore,
    StoreError, StoreErrorKind, VersionRef,
};
use crate::secret::SecretString;

/// Secrets Manager through the SDK client the function built once at cold start.
#[derive(Clone, Debug)]
pub struct SecretsManagerStore {
    client: Client,
}

impl SecretsManagerStore {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn store_error<E, R>(operation: &'static str, secret: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let kind = match call_failure(&err) {
        CallFailure::Unreachable => StoreErrorKind::Unavailable,
        CallFailure::Service(Some(code)) => match code.as_str() {
            "ResourceNotFoundException" => StoreErrorKind::NotFound,
            "AccessDeniedException" | "AccessDenied" | "UnrecognizedClientException" => {
                StoreErrorKind::AccessDenied
            }
            "InvalidRequestException" | "InvalidParameterException" | "LimitExceededException" => {
                StoreErrorKind::Rejected
            }
            c if is_transient_code(c) => StoreErrorKind::Unavailable,
            _ => StoreErrorKind::Other,
        },
        CallFailure::Service(None) | CallFailure::Other => StoreErrorKind::Other,
    };
    StoreError {
        operation,
        secret: secret.to_string(),
        kind,
        source: Box::new(err),
    }
}

impl SecretStore for SecretsManagerStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| store_error("DescribeSecret", secret_id, e))?;
        Ok(SecretDescription {
            arn: out.arn().map(str::to_string),
            name: out.name().map(str::to_string),
            rotation_enabled: out.rotation_enabled().unwrap_or(false),
            // The schedule expression first: DescribeSecret also reports AutomaticallyAfterDays
            // calculated from it, and a cron schedule has no fixed interval.
            rotation_interval_days: out.rotation_rules().and_then(|r| {
                match r.schedule_expression().filter(|e| !e.trim().is_empty()) {
                    Some(expression) => rate_in_days(expression),
                    None => r
                        .automatically_after_days()
                        .and_then(|d| u64::try_from(d).ok()),
                }
            }),
            versions: out
                .version_ids_to_stages()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            current_since: out
                .tags()
                .iter()
                .find(|t| t.key() == Some(CURRENT_SINCE_TAG))
                .and_then(|t| CurrentSince::decode(t.value()?)),
        })
    }

    async fn get(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> Result<Option<SecretString>, StoreError> {
        let request = self.client.get_secret_value().secret_id(secret_id);
        let request = match version {
            VersionRef::Stage(stage) => request.version_stage(stage),
            VersionRef::Version { id, stage } => request.version_id(id).version_stage(stage),
            VersionRef::Id(id) => request.version_id(id),
        };
        match request.send().await {
            Ok(out) => Ok(out.secret_string().map(SecretString::new)),
            Err(e) => {
                let err = store_error("GetSecretValue", secret_id, e);
                if err.kind == StoreErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value.expose())
            .version_stages(AWSPENDING)
            .set_rotation_token(rotation_token.map(str::to_string))
            .send()
            .await
            .map_err(|e| store_error("PutSecretValue", secret_id, e))?;
        Ok(())
    }

    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage)
            .set_move_to_version_id(to.map(str::to_string))
            .set_remove_from_version_id(from.map(str::to_string))
            .send()
            .await
            .map_err(|e| store_error("UpdateSecretVersionStage", secret_id, e))?;
        Ok(())
    }

    async fn random_password(&self, policy: &PasswordPolicy) -> Result<SecretString, StoreError> {
        let out = self
            .client
            .get_random_password()
            .password_length(i64::from(policy.length))
            .set_exclude_characters(
                Some(policy.exclude_characters.clone()).filter(|c| !c.is_empty()),
            )
            .send()
            .await
            .map_err(|e| store_error("GetRandomPassword", "(none)", e))?;
        out.random_password()
            .map(SecretString::new)
            .ok_or_else(|| StoreError {
                operation: "GetRandomPassword",
                secret: "(none)".into(),
                kind: StoreErrorKind::Other,
                source: "the response carried no password".into(),
            })
    }

    async fn versions_created(
        &self,
        secret_id: &str,
    ) -> Result<std::collections::BTreeMap<String, jiff::Timestamp>, StoreError> {
        let mut created = std::collections::BTreeMap::new();
        let mut pages = self
            .client
            .list_secret_version_ids()
            .secret_id(secret_id)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error("ListSecretVersionIds", secret_id, e))?;
            for v in page.versions() {
                if let (Some(id), Some(at)) = (v.version_id(), v.created_date())
                    && let Ok(at) = jiff::Timestamp::new(at.secs(), at.subsec_nanos() as i32)
                {
                    created.insert(id.to_string(), at);
                }
            }
        }
        Ok(created)
    }

    async fn mark_current_since(
        &self,
        secret_id: &str,
        since: &CurrentSince,
    ) -> Result<(), StoreError> {
        self.client
            .tag_resource()
            .secret_id(secret_id)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(CURRENT_SINCE_TAG)
                    .value(since.encode())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| store_error("TagResource", secret_id, e))?;
        Ok(())
    }
}

/// `rate(N days)` (or `rate(N hours)` as whole days, rounded down) → N; anything else (cron) → None.
fn rate_in_days(expression: &str) -> Option<u64> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: u64 = n.trim().parse().ok()?;
    match unit.trim() {
        "day" | "days" => Some(n),
        "hour" | "hours" => Some(n / 24),
        _ => None,
    }
}

#[cfg(test)]
mod rate_tests {
    #[test]
    fn given_rotation_schedules_then_rates_are_days_and_cron_is_unknown() {
        assert_eq!(super::rate_in_days("rate(30 days)"), Some(30));
        assert_eq!(super::rate_in_days("rate(1 day)"), Some(1));
        assert_eq!(super::rate_in_days("rate(48 hours)"), Some(2));
        assert_eq!(super::rate_in_days("cron(0 4 1 * ? *)"), None);
        assert_eq!(super::rate_in_days("rate(x days)"), None);
    }
}

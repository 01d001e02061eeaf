//! The ElastiCache adapter of rotate-redis: RBAC user passwords (`ModifyUser`) and replication
//! group AUTH tokens (`ModifyReplicationGroup`), with their states, in domain terms.

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::error::SdkError;
use aws_sdk_elasticache::types::AuthTokenUpdateStrategyType;

use super::{CallFailure, call_failure, is_transient_code};
use crate::redis::elasticache::{CacheUser, ElastiCacheApi, TokenChange, TokenUpdate};
use crate::rotation::{BackendError, BackendErrorKind};
use crate::secret::SecretString;

/// ElastiCache through the SDK (its endpoint from `AWS_ENDPOINT_URL_ELASTICACHE` locally).
#[derive(Clone, Debug)]
pub struct ElastiCacheClient {
    client: Client,
}

impl ElastiCacheClient {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// Maps a failed call: unreachable or throttled is retryable, a refusal names its code. The SDK
/// error stays the source; it holds no password (ElastiCache echoes no parameter values).
fn api_error<E, R>(operation: &str, target: &str, err: SdkError<E, R>) -> BackendError
where
    E: aws_sdk_elasticache::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let (kind, code) = match call_failure(&err) {
        CallFailure::Unreachable => (BackendErrorKind::Unavailable, None),
        CallFailure::Service(Some(code)) if is_transient_code(&code) => {
            (BackendErrorKind::Unavailable, Some(code))
        }
        CallFailure::Service(Some(code)) if code.contains("State") => {
            (BackendErrorKind::Unavailable, Some(code))
        }
        CallFailure::Service(code) => (BackendErrorKind::Failed, code),
        CallFailure::Other => (BackendErrorKind::Failed, None),
    };
    let code = code.map(|c| format!(" ({c})")).unwrap_or_default();
    BackendError::with_source(
        kind,
        format!("ElastiCache {operation} on `{target}` failed{code}"),
        err,
    )
}

impl ElastiCacheApi for ElastiCacheClient {
    async fn describe_user(&self, user_id: &str) -> Result<CacheUser, BackendError> {
        let out = self
            .client
            .describe_users()
            .user_id(user_id)
            .send()
            .await
            .map_err(|e| api_error("DescribeUsers", user_id, e))?;
        let user = out
            .users()
            .iter()
            .find(|u| u.user_id() == Some(user_id))
            .ok_or_else(|| {
                BackendError::new(
                    BackendErrorKind::Failed,
                    format!("ElastiCache has no user `{user_id}`"),
                )
            })?;
        Ok(CacheUser {
            name: user.user_name().unwrap_or_default().to_string(),
            status: user.status().unwrap_or_default().to_string(),
        })
    }

    async fn set_user_passwords(
        &self,
        user_id: &str,
        passwords: &[&SecretString],
    ) -> Result<(), BackendError> {
        let mut request = self.client.modify_user().user_id(user_id);
        for p in passwords {
            request = request.passwords(p.expose());
        }
        request
            .send()
            .await
            .map_err(|e| api_error("ModifyUser", user_id, e))?;
        Ok(())
    }

    async fn group_status(&self, group_id: &str) -> Result<String, BackendError> {
        let out = self
            .client
            .describe_replication_groups()
            .replication_group_id(group_id)
            .send()
            .await
            .map_err(|e| api_error("DescribeReplicationGroups", group_id, e))?;
        out.replication_groups()
            .iter()
            .find(|g| g.replication_group_id() == Some(group_id))
            .map(|g| g.status().unwrap_or_default().to_string())
            .ok_or_else(|| {
                BackendError::new(
                    BackendErrorKind::Failed,
                    format!("ElastiCache has no replication group `{group_id}`"),
                )
            })
    }

    async fn set_auth_token(
        &self,
        group_id: &str,
        token: &SecretString,
        update: TokenUpdate,
    ) -> Result<TokenChange, BackendError> {
        let strategy = match update {
            TokenUpdate::Rotate => AuthTokenUpdateStrategyType::Rotate,
            TokenUpdate::Set => AuthTokenUpdateStrategyType::Set,
        };
        let sent = self
            .client
            .modify_replication_group()
            .replication_group_id(group_id)
            .auth_token(token.expose())
            .auth_token_update_strategy(strategy)
            .apply_immediately(true)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(TokenChange::Applied),
            // ElastiCache refuses ROTATE while two tokens are in use (the stand-in answers this
            // code; AWS documents the rule, not the code, so only ROTATE is read this way).
            Err(e)
                if update == TokenUpdate::Rotate
                    && matches!(call_failure(&e), CallFailure::Service(Some(ref c)) if c == "InvalidParameterCombination") =>
            {
                Ok(TokenChange::TwoTokensInUse)
            }
            Err(e) => Err(api_error("ModifyReplicationGroup", group_id, e)),
        }
    }
}

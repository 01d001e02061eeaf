//! The ElastiCache modes: an RBAC user's two passwords (`ModifyUser`) or a replication group's
//! two AUTH tokens (`ModifyReplicationGroup`), each once the user or group is ready.

use super::backend::RedisBackend;
use super::elasticache::{ElastiCacheApi, TokenChange, TokenUpdate, user_id, wait_for};
use super::secret::RedisSecret;
use crate::rotation::{
    AWSPENDING, BackendError, BackendErrorKind, SecretStore, SetOutcome, Staged,
};

impl<E: ElastiCacheApi> RedisBackend<E> {
    /// Waits for the user to be `active`, refusing one whose name is not the secret's.
    pub(super) async fn wait_user(&self, id: &str, name: &str) -> Result<(), BackendError> {
        let api = self.api()?;
        wait_for(
            &format!("ElastiCache user `{id}`"),
            "active",
            self.options.elasticache_wait,
            self.options.elasticache_poll,
            || async {
                let user = api.describe_user(id).await?;
                if user.name != name {
                    return Err(BackendError::refused(format!(
                        "ElastiCache user `{id}` is named `{}`, not `{name}` as the secret says",
                        user.name
                    )));
                }
                Ok(user.status)
            },
        )
        .await
    }

    pub(super) async fn wait_group(&self, group_id: &str) -> Result<(), BackendError> {
        let api = self.api()?;
        wait_for(
            &format!("replication group `{group_id}`"),
            "available",
            self.options.elasticache_wait,
            self.options.elasticache_poll,
            || api.group_status(group_id),
        )
        .await
    }

    /// RBAC user: ModifyUser with the pending and the current password (ElastiCache allows two:
    /// the overlap window), once the user is `active`.
    pub(super) async fn set_user<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
        current: &RedisSecret,
        pending: &RedisSecret,
        user_arn: &str,
    ) -> Result<SetOutcome, BackendError> {
        let id = user_id(user_arn)?;
        if self.works(pending, AWSPENDING).await? {
            return Ok(SetOutcome::AlreadyInPlace);
        }
        // The password kept beside the pending one is the one that just logged in, never an
        // AWSCURRENT value nobody proved (someone else may have chosen it).
        let proven = self.prove(store, staged, current).await?;
        self.wait_user(id, &pending.username).await?;
        self.api()?
            .set_user_passwords(id, &[&pending.password, &proven.password])
            .await?;
        Ok(SetOutcome::Installed {
            change: format!(
                "ElastiCache user `{id}` now accepts the pending and the current password"
            ),
        })
    }

    /// AUTH token: if two tokens are in use, SET the current one (dropping the one older than
    /// AWSCURRENT), then ROTATE in the pending one: current and pending are both accepted.
    pub(super) async fn set_token<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
        current: &RedisSecret,
        pending: &RedisSecret,
        group_id: &str,
    ) -> Result<SetOutcome, BackendError> {
        if self.works(pending, AWSPENDING).await? {
            return Ok(SetOutcome::AlreadyInPlace);
        }
        let proven = self.prove(store, staged, current).await?;
        self.wait_group(group_id).await?;
        let api = self.api()?;
        // ElastiCache says whether two tokens are in use: ROTATE, and only when it refuses for
        // that reason SET the token that just logged in (dropping the other one), then ROTATE.
        // (AWS allows SET only after a ROTATE, which is exactly then.)
        if api
            .set_auth_token(group_id, &pending.password, TokenUpdate::Rotate)
            .await?
            == TokenChange::TwoTokensInUse
        {
            api.set_auth_token(group_id, &proven.password, TokenUpdate::Set)
                .await?;
            self.wait_group(group_id).await?;
            if api
                .set_auth_token(group_id, &pending.password, TokenUpdate::Rotate)
                .await?
                == TokenChange::TwoTokensInUse
            {
                return Err(BackendError::new(
                    BackendErrorKind::Failed,
                    format!(
                        "replication group `{group_id}` still reports two AUTH tokens after a SET"
                    ),
                ));
            }
        }
        Ok(SetOutcome::Installed {
            change: format!(
                "replication group `{group_id}` now accepts the pending and the current AUTH token"
            ),
        })
    }
}

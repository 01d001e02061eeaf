//! What this deployment may rotate: the secret must name the configured user, ElastiCache user,
//! replication group and endpoint before anything is done with it.

use super::backend::RedisBackend;
use super::elasticache::ElastiCacheApi;
use super::secret::{Mode, RedisSecret};
use crate::rotation::BackendError;

impl<E: ElastiCacheApi> RedisBackend<E> {
    /// The secret names what this function was deployed for: the configured user name, user
    /// ARN and replication group (IAM allows only those; this says so before calling).
    pub(super) fn check_configured(
        &self,
        secret: &RedisSecret,
        mode: &Mode,
    ) -> Result<(), BackendError> {
        let o = &self.options;
        let mismatch = |what: &str, want: &str| {
            Err(BackendError::refused(format!(
                "the secret's {what} is not `{want}`, the one this function rotates"
            )))
        };
        if let Some(want) = &o.user_name
            && secret.username != *want
        {
            return mismatch("user name (REDIS_USER_NAME)", want);
        }
        if matches!(mode, Mode::Acl { .. }) {
            return Ok(());
        }
        // ElastiCache: the endpoint, the transport and the resource are the deployment's, never
        // only the secret's (else the proof could go to any server that says yes).
        if o.pinned.is_none() {
            return Err(BackendError::refused(
                "an ElastiCache secret is rotated only with REDIS_HOST set (the template's \
                 RedisHost): the endpoint every login must go to",
            ));
        }
        if !secret.tls {
            return Err(BackendError::refused(
                "ElastiCache RBAC users and AUTH tokens need in-transit encryption: the secret \
                 must use rediss:// (or \"tls\": true)",
            ));
        }
        match mode {
            Mode::ElastiCacheUser { user_arn } => match &o.user_arn {
                Some(want) if user_arn == want => Ok(()),
                Some(want) => mismatch("`user_arn` (ELASTICACHE_USER_ARN)", want),
                None => Err(BackendError::refused(
                    "an ElastiCache user is rotated only with ELASTICACHE_USER_ARN set",
                )),
            },
            Mode::AuthToken { group_id } => match &o.replication_group_id {
                Some(want) if group_id == want => Ok(()),
                Some(want) => mismatch(
                    "`replication_group_id` (ELASTICACHE_REPLICATION_GROUP_ID)",
                    want,
                ),
                None => Err(BackendError::refused(
                    "an AUTH token is rotated only with ELASTICACHE_REPLICATION_GROUP_ID set",
                )),
            },
            Mode::Acl { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The Redis backend's decisions on the in-memory ElastiCache: no stack, milliseconds.

    use super::*;
    use crate::redis::RedisOptions;
    use crate::redis::fake_elasticache::MemoryElastiCache;
    use crate::rotation::BackendErrorKind;
    use crate::secret::SecretString;
    use std::time::Duration;

    const USER_ARN: &str = "arn:aws:elasticache:us-east-1:123456789012:user:macro-ai-app";

    fn secret(json: &str) -> RedisSecret {
        RedisSecret::parse(&SecretString::new(json), "AWSCURRENT").expect("a secret")
    }

    fn backend(options: RedisOptions) -> RedisBackend<MemoryElastiCache> {
        RedisBackend::new(options)
            .expect("options")
            .with_elasticache(MemoryElastiCache::default())
    }

    fn pinned() -> RedisOptions {
        RedisOptions {
            pinned: Some(("cache.example".into(), 6379)),
            user_arn: Some(USER_ARN.into()),
            replication_group_id: Some("macro-ai-dev-redis".into()),
            user_name: Some("app".into()),
            ..RedisOptions::default()
        }
    }

    #[test]
    fn given_secrets_that_reach_beyond_the_deployment_then_each_is_refused_before_any_call() {
        let tls_user =
            format!(r#"{{"url": "rediss://app:pw@cache.example:6379", "user_arn": "{USER_ARN}"}}"#);
        for (options, json, expect) in [
            (
                pinned(),
                r#"{"url": "rediss://other:pw@cache.example:6379", "adminarn": "a"}"#.to_string(),
                "user name (REDIS_USER_NAME) is not `app`",
            ),
            (
                RedisOptions {
                    pinned: None,
                    ..pinned()
                },
                tls_user.clone(),
                "only with REDIS_HOST set",
            ),
            (
                pinned(),
                format!(r#"{{"url": "redis://app:pw@cache.example:6379", "user_arn": "{USER_ARN}"}}"#),
                "need in-transit encryption",
            ),
            (
                RedisOptions {
                    user_arn: Some(format!("{USER_ARN}-other")),
                    ..pinned()
                },
                tls_user.clone(),
                "`user_arn` (ELASTICACHE_USER_ARN) is not",
            ),
            (
                RedisOptions {
                    user_arn: None,
                    ..pinned()
                },
                tls_user.clone(),
                "only with ELASTICACHE_USER_ARN set",
            ),
            (
                pinned(),
                r#"{"url": "rediss://app:pw@cache.example:6379", "replication_group_id": "prod-redis"}"#
                    .to_string(),
                "`replication_group_id` (ELASTICACHE_REPLICATION_GROUP_ID) is not",
            ),
        ] {
            let b = backend(options);
            let s = secret(&json);
            let err = b.check_configured(&s, &s.mode().expect("a mode")).unwrap_err();
            assert_eq!(err.kind, BackendErrorKind::Refused, "{expect}");
            assert!(err.to_string().contains(expect), "{expect}: {err}");
        }
        let s = secret(&tls_user);
        assert!(
            backend(pinned())
                .check_configured(&s, &s.mode().unwrap())
                .is_ok()
        );
    }

    fn waiting(wait_ms: u64) -> RedisOptions {
        RedisOptions {
            elasticache_wait: Duration::from_millis(wait_ms),
            elasticache_poll: Duration::from_millis(1),
            ..pinned()
        }
    }

    #[tokio::test]
    async fn given_a_user_still_modifying_then_the_wait_reads_until_it_is_active() {
        let b = RedisBackend::new(waiting(2_000))
            .unwrap()
            .with_elasticache(MemoryElastiCache::default().with_user("macro-ai-app", "app", 3));
        b.wait_user("macro-ai-app", "app").await.expect("active");
        let api = b.elasticache.as_ref().unwrap();
        assert_eq!(api.calls().len(), 4, "three `modifying`, then `active`");
    }

    #[tokio::test]
    async fn given_a_user_named_otherwise_then_the_wait_refuses_it() {
        let b = RedisBackend::new(waiting(2_000))
            .unwrap()
            .with_elasticache(MemoryElastiCache::default().with_user("macro-ai-app", "admin", 0));
        let err = b.wait_user("macro-ai-app", "app").await.unwrap_err();
        assert_eq!(err.kind, BackendErrorKind::Refused);
        assert!(
            err.to_string().contains("is named `admin`, not `app`"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn given_a_group_that_stays_busy_then_the_wait_ends_unavailable_for_the_retry() {
        let b = RedisBackend::new(waiting(20))
            .unwrap()
            .with_elasticache(MemoryElastiCache::default().with_group("g", 10_000, "t0"));
        let err = b.wait_group("g").await.unwrap_err();
        assert_eq!(err.kind, BackendErrorKind::Unavailable);
        assert!(
            err.to_string().contains("ELASTICACHE_WAIT_SECONDS"),
            "{err}"
        );
    }

    #[test]
    fn given_no_elasticache_client_then_an_elasticache_secret_fails_typed() {
        let b = RedisBackend::<MemoryElastiCache>::new(pinned()).unwrap();
        let err = b.api().map(|_| ()).unwrap_err();
        assert_eq!(err.kind, BackendErrorKind::Failed);
        assert!(err.to_string().contains("no ElastiCache client"), "{err}");
    }
}

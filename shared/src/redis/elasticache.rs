//! The ElastiCache side of rotate-redis: the calls it needs (a port, so the backend never sees an
//! SDK type), the identity of a user from its ARN, ElastiCache's password rules, and the bounded
//! waits for a user to be `active` or a replication group `available`.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::rotation::{BackendError, BackendErrorKind, PasswordPolicy};
use crate::secret::SecretString;

/// An ElastiCache RBAC user as the rotation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheUser {
    pub name: String,
    pub status: String,
}

/// What ElastiCache made of a token change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenChange {
    Applied,
    /// ROTATE refused: two tokens are already in use (SET one first).
    TwoTokensInUse,
}

/// How `ModifyReplicationGroup` changes the AUTH token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUpdate {
    /// Add the new token beside the one in use: both are accepted (at most two).
    Rotate,
    /// Keep only the given token.
    Set,
}

/// The ElastiCache calls rotate-redis makes.
pub trait ElastiCacheApi: Send + Sync {
    fn describe_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<CacheUser, BackendError>> + Send;

    /// `ModifyUser` with exactly these passwords (one or two).
    fn set_user_passwords(
        &self,
        user_id: &str,
        passwords: &[&SecretString],
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    fn group_status(
        &self,
        group_id: &str,
    ) -> impl Future<Output = Result<String, BackendError>> + Send;

    fn set_auth_token(
        &self,
        group_id: &str,
        token: &SecretString,
        update: TokenUpdate,
    ) -> impl Future<Output = Result<TokenChange, BackendError>> + Send;
}

/// The user id an ElastiCache user ARN names (`arn:aws:elasticache:<region>:<account>:user:<id>`).
pub fn user_id(user_arn: &str) -> Result<&str, BackendError> {
    let parts: Vec<&str> = user_arn.splitn(7, ':').collect();
    match parts.as_slice() {
        ["arn", _, "elasticache", _, _, "user", id] if !id.is_empty() => Ok(id),
        _ => Err(BackendError::invalid_secret(
            "field `user_arn` is not an ElastiCache user ARN (arn:aws:elasticache:…:user:<id>)",
        )),
    }
}

/// The only punctuation AWS documents for AUTH tokens (`! & # $ ^ < > -`); user passwords are
/// held to the same, the stricter of the two rule sets.
pub const ALLOWED_PUNCTUATION: &str = "!&#$^<>-";

/// The function's password policy, made to fit ElastiCache: 16 to 128 characters, letters,
/// digits and [`ALLOWED_PUNCTUATION`] only, whatever the configuration says.
pub fn fit_policy(policy: &PasswordPolicy) -> PasswordPolicy {
    let mut exclude = policy.exclude_characters.clone();
    for c in (b'!'..=b'~').map(char::from) {
        if c.is_ascii_punctuation() && !ALLOWED_PUNCTUATION.contains(c) && !exclude.contains(c) {
            exclude.push(c);
        }
    }
    PasswordPolicy {
        length: policy.length.clamp(16, 128),
        exclude_characters: exclude,
    }
}

/// Waits, polling every `poll`, until `state()` answers `ready`; a typed, retryable error after
/// `limit` (the function's timeout leaves room for it).
pub async fn wait_for<F, Fut>(
    what: &str,
    ready: &str,
    limit: Duration,
    poll: Duration,
    mut state: F,
) -> Result<(), BackendError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<String, BackendError>>,
{
    let started = Instant::now();
    loop {
        let now = state().await?;
        if now == ready {
            return Ok(());
        }
        if started.elapsed() + poll > limit {
            return Err(BackendError::new(
                BackendErrorKind::Unavailable,
                format!(
                    "{what} is still `{now}` after {}s (ELASTICACHE_WAIT_SECONDS); the retried \
                     step waits again",
                    limit.as_secs()
                ),
            ));
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_user_arns_then_the_id_is_read_or_the_arn_refused() {
        assert_eq!(
            user_id("arn:aws:elasticache:us-east-1:123456789012:user:macro-ai-app").unwrap(),
            "macro-ai-app"
        );
        for bad in [
            "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:x",
            "macro-ai-app",
            "arn:aws:elasticache:us-east-1:123456789012:user:",
        ] {
            assert!(user_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn given_any_policy_then_the_fitted_one_keeps_to_elasticache_s_rules() {
        let fitted = fit_policy(&PasswordPolicy {
            length: 4096,
            exclude_characters: String::new(),
        });
        assert_eq!(fitted.length, 128);
        for c in "/\"@%:,;'`\\".chars() {
            assert!(fitted.exclude_characters.contains(c), "{c} excluded");
        }
        assert!(
            !ALLOWED_PUNCTUATION
                .chars()
                .any(|c| fitted.exclude_characters.contains(c))
        );
        let fitted = fit_policy(&PasswordPolicy {
            length: 8,
            exclude_characters: ":/".into(),
        });
        assert_eq!(fitted.length, 16);
        assert!(fitted.exclude_characters.starts_with(":/"));
    }

    #[tokio::test]
    async fn given_a_resource_that_never_settles_then_the_wait_ends_typed() {
        let mut polls = 0;
        let err = wait_for(
            "user `u`",
            "active",
            Duration::from_millis(50),
            Duration::from_millis(10),
            || {
                polls += 1;
                async { Ok("modifying".to_string()) }
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, BackendErrorKind::Unavailable);
        assert!(err.message.contains("still `modifying`"), "{}", err.message);
        assert!(polls >= 2);
    }
}

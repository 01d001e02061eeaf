//! `rotate-redis`: Secrets Manager rotation of the Macro AI Redis (ElastiCache) ACL user. The
//! protocol is `shared::rotation`, the backend `shared::redis`; this crate holds the function's
//! configuration and wiring.

use shared::aws::elasticache::ElastiCacheClient;
use shared::aws::secrets_manager::SecretsManagerStore;
use shared::config::{self, ConfigError};
use shared::consumers::{NoConsumers, WatchConfig};
use shared::notify::Silent;
use shared::redis::{RedisBackend, RedisOptions};
use shared::rotation::{PasswordPolicy, Rotator};

/// The rotator this function runs: the protocol and its backend; deployed, it also watches the
/// services that consume the secret (`RedisRotator<EcsConsumers, SnsNotifier>`, main.rs).
pub type RedisRotator<C = NoConsumers, N = Silent> =
    Rotator<SecretsManagerStore, RedisBackend<ElastiCacheClient>, C, N>;

/// Everything the function reads from its environment, read once at cold start.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub passwords: PasswordPolicy,
    pub redis: RedisOptions,
    /// The services that consume the secret, and whom to tell about them.
    pub watch: WatchConfig,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(config::process_env)
    }

    /// Every variable the function reads (docs/configuration.md lists them too):
    ///
    /// | variable | default |
    /// |---|---|
    /// | `PASSWORD_LENGTH` | 32 (16 to 4096) |
    /// | `EXCLUDE_CHARACTERS` | ``:/@"'\` `` and the backtick |
    /// | `REDIS_TIMEOUT_SECONDS` | 5 (1 to 60) |
    /// | `REDIS_TLS_CA_FILE` | unset: the public roots only |
    /// | `REDIS_HOST`, `REDIS_PORT` | unset: the secret's own host (ElastiCache refused), 6379 |
    /// | `REDIS_USER_NAME` | unset: any user whose own password proves the secret |
    /// | `REDIS_ADMIN_SECRET_ARN` | unset: no self-managed Redis is rotated |
    /// | `ELASTICACHE_USER_ARN` | unset: no ElastiCache user is rotated |
    /// | `ELASTICACHE_REPLICATION_GROUP_ID` | unset: no AUTH token is rotated |
    /// | `ELASTICACHE_WAIT_SECONDS` | 300 (1 to 840) |
    /// | `CONSUMER_CLUSTERS` | unset: no consumer is watched (the template sets the stack's cluster) |
    /// | `NOTIFY_TOPIC_ARN` | unset (no notification) |
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let passwords = config::password_policy(&get)?;
        let port = config::port(&get, "REDIS_PORT", 6379)?;
        Ok(Self {
            watch: WatchConfig::from_lookup(&get)?,
            passwords,
            redis: RedisOptions {
                timeout: config::seconds(&get, "REDIS_TIMEOUT_SECONDS", 5, 1..=60)?,
                tls_ca_file: config::text(&get, "REDIS_TLS_CA_FILE").map(Into::into),
                elasticache_wait: config::seconds(&get, "ELASTICACHE_WAIT_SECONDS", 300, 1..=840)?,
                user_name: config::pin(&get, "REDIS_USER_NAME")?,
                user_arn: config::pin(&get, "ELASTICACHE_USER_ARN")?,
                replication_group_id: config::pin(&get, "ELASTICACHE_REPLICATION_GROUP_ID")?,
                pinned: config::pin(&get, "REDIS_HOST")?.map(|host| (host, port)),
                admin_secret_arn: config::pin(&get, "REDIS_ADMIN_SECRET_ARN")?,
                ..RedisOptions::default()
            },
        })
    }
}

/// The rotator without its watch of consumers (main adds it, from `config.watch`), from
/// clients made once per cold start; without an ElastiCache client it rotates self-managed
/// Redis only.
pub fn rotator(
    client: aws_sdk_secretsmanager::Client,
    elasticache: Option<aws_sdk_elasticache::Client>,
    config: Config,
) -> Result<RedisRotator, ConfigError> {
    let mut backend = RedisBackend::new(config.redis)?;
    if let Some(api) = elasticache {
        backend = backend.with_elasticache(ElastiCacheClient::new(api));
    }
    Ok(Rotator::new(
        SecretsManagerStore::new(client),
        backend,
        config.passwords,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn given_the_environment_then_the_pin_and_the_limits_are_read_and_bad_values_named() {
        let c = super::Config::from_lookup(|k| match k {
            "REDIS_HOST" => Some("cache.internal".into()),
            "ELASTICACHE_USER_ARN" => Some("arn:user".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.redis.pinned, Some(("cache.internal".into(), 6379)));
        assert_eq!(c.redis.user_arn.as_deref(), Some("arn:user"));
        assert_eq!(c.redis.elasticache_wait.as_secs(), 300);
        for (variable, bad) in [
            ("REDIS_PORT", "0"),
            ("ELASTICACHE_WAIT_SECONDS", "900"),
            // A pin of spaces is a mistake, never "no pin".
            ("REDIS_HOST", "  "),
            ("ELASTICACHE_USER_ARN", " "),
        ] {
            let err = super::Config::from_lookup(|k| (k == variable).then(|| bad.to_string()))
                .unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
        }
    }

    #[test]
    fn given_a_missing_ca_file_then_the_variable_is_named() {
        let config = super::Config::from_lookup(|k| {
            (k == "REDIS_TLS_CA_FILE").then(|| "/nonexistent/ca.pem".to_string())
        })
        .unwrap();
        let client = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::Config::builder()
                .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
                .build(),
        );
        let err = super::rotator(client, None, config).err().unwrap();
        assert!(err.to_string().contains("REDIS_TLS_CA_FILE"), "{err}");
    }
}

//! `rotate-redis`: Secrets Manager rotation of the Macro AI Redis (ElastiCache) ACL user. The
//! protocol is `shared::rotation`, the backend `shared::redis`; this crate holds the function's
//! configuration and wiring.

use shared::aws::elasticache::ElastiCacheClient;
use shared::aws::secrets_manager::SecretsManagerStore;
use shared::config::{ConfigError, process_env};
use shared::redis::{RedisBackend, RedisOptions};
use shared::rotation::{PasswordPolicy, Rotator};

/// The rotator this function runs.
pub type RedisRotator = Rotator<SecretsManagerStore, RedisBackend>;

/// Everything the function reads from its environment, read once at cold start.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub passwords: PasswordPolicy,
    pub redis: RedisOptions,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            passwords: PasswordPolicy::from_lookup(&get)?,
            redis: RedisOptions::from_lookup(&get)?,
        })
    }
}

/// Builds the rotator from clients made once per cold start; without an ElastiCache client it
/// rotates self-managed Redis only.
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

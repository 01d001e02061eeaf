//! `rotate-redis`: Secrets Manager rotation of the Macro AI Redis (ElastiCache) ACL user. The
//! protocol is `shared::rotation`, the backend `shared::redis`; this crate holds the function's
//! configuration and wiring.

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

/// Builds the rotator from a Secrets Manager client made once per cold start.
pub fn rotator(
    client: aws_sdk_secretsmanager::Client,
    config: Config,
) -> Result<RedisRotator, ConfigError> {
    Ok(Rotator::new(
        SecretsManagerStore::new(client),
        RedisBackend::new(config.redis)?,
        config.passwords,
    ))
}

#[cfg(test)]
mod tests {
    use shared::rotation::{RotationRequest, Step};

    fn parse(raw: &str) -> RotationRequest {
        let value: serde_json::Value = serde_json::from_str(raw).unwrap();
        RotationRequest::from_value(&value).unwrap()
    }

    #[test]
    fn given_the_sample_events_then_each_parses_to_its_step() {
        for (raw, step) in [
            (
                include_str!("../../../events/rotate-redis/createSecret.json"),
                Step::Create,
            ),
            (
                include_str!("../../../events/rotate-redis/setSecret.json"),
                Step::Set,
            ),
            (
                include_str!("../../../events/rotate-redis/testSecret.json"),
                Step::Test,
            ),
            (
                include_str!("../../../events/rotate-redis/finishSecret.json"),
                Step::Finish,
            ),
        ] {
            match parse(raw) {
                RotationRequest::Rotate(r) => {
                    assert_eq!(r.step, step);
                    assert_eq!(r.secret_id, "macro-ai/dev/redis");
                }
                other => panic!("expected a rotation step, got {other:?}"),
            }
        }
        assert!(matches!(
            parse(include_str!("../../../events/rotate-redis/validate.json")),
            RotationRequest::Validate { secret_id } if secret_id == "macro-ai/dev/redis"
        ));
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
        let err = super::rotator(client, config).err().unwrap();
        assert!(err.to_string().contains("REDIS_TLS_CA_FILE"), "{err}");
    }
}

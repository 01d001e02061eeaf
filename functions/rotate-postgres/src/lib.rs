//! `rotate-postgres`: Secrets Manager rotation of the Macro AI database secret. The protocol is
//! `shared::rotation`, the backend `shared::postgres`; this crate holds the function's
//! configuration and wiring.

use shared::aws::secrets_manager::SecretsManagerStore;
use shared::config::{ConfigError, process_env};
use shared::postgres::{PostgresBackend, PostgresOptions};
use shared::rotation::{PasswordPolicy, Rotator};

/// The rotator this function runs.
pub type PostgresRotator = Rotator<SecretsManagerStore, PostgresBackend>;

/// Everything the function reads from its environment, read once at cold start.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub passwords: PasswordPolicy,
    pub postgres: PostgresOptions,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            passwords: PasswordPolicy::from_lookup(&get)?,
            postgres: PostgresOptions::from_lookup(&get)?,
        })
    }
}

/// Builds the rotator from a Secrets Manager client made once per cold start.
pub fn rotator(client: aws_sdk_secretsmanager::Client, config: Config) -> PostgresRotator {
    Rotator::new(
        SecretsManagerStore::new(client),
        PostgresBackend::new(config.postgres),
        config.passwords,
    )
}

#[cfg(test)]
mod tests {

    #[test]
    fn given_a_bad_environment_then_the_variable_is_named() {
        let err = super::Config::from_lookup(|k| {
            (k == "DB_CONNECT_TIMEOUT_SECONDS").then(|| "soon".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("DB_CONNECT_TIMEOUT_SECONDS"));
    }
}

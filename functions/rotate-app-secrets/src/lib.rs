//! `rotate-app-secrets`: Secrets Manager rotation of Macro AI's application keys (the JWT signing
//! secrets, cookie encryption keys, the internal API key) with a verification overlap: each new
//! version keeps the keys it replaced under `previous`. The protocol is `shared::rotation`, the
//! backend `shared::appsecrets`; this crate holds the function's configuration and wiring.

use shared::appsecrets::{AppSecretOptions, AppSecretsBackend};
use shared::aws::secrets_manager::SecretsManagerStore;
use shared::config::{ConfigError, process_env};
use shared::rotation::{PasswordPolicy, Rotator};

/// The rotator this function runs.
pub type AppSecretsRotator = Rotator<SecretsManagerStore, AppSecretsBackend>;

/// Everything the function reads from its environment, read once at cold start:
/// `APP_SECRET_KEYS`, `APP_SECRET_EXCLUDE`, `TOKEN_MAX_AGE_HOURS` (see `AppSecretOptions`).
#[derive(Debug, Clone)]
pub struct Config {
    pub keys: AppSecretOptions,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            keys: AppSecretOptions::from_lookup(get)?,
        })
    }
}

/// Builds the rotator from a Secrets Manager client made once per cold start.
pub fn rotator(client: aws_sdk_secretsmanager::Client, config: Config) -> AppSecretsRotator {
    // Each key's length and alphabet come from APP_SECRET_KEYS; the password policy is unused.
    Rotator::new(
        SecretsManagerStore::new(client),
        AppSecretsBackend::new(config.keys),
        PasswordPolicy::default(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn given_a_bad_key_list_then_the_function_will_not_start() {
        let err = super::Config::from_lookup(|k| (k == "APP_SECRET_KEYS").then(|| "k:8".into()))
            .unwrap_err();
        assert!(err.to_string().contains("APP_SECRET_KEYS"), "{err}");
    }
}

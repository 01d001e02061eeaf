//! `rotate-app-secrets`: Secrets Manager rotation of Macro AI's application keys (the JWT signing
//! secrets, cookie encryption keys, the internal API key) with a verification overlap: each new
//! version keeps the keys it replaced under `previous`. The protocol is `shared::rotation`, the
//! backend `shared::appsecrets`; this crate holds the function's configuration and wiring.

use shared::appsecrets::{AppSecretOptions, AppSecretsBackend, SEED_EXCLUDE, parse_keys};
use shared::aws::secrets_manager::SecretsManagerStore;
use shared::config::{self, ConfigError};
use shared::consumers::{NoConsumers, WatchConfig};
use shared::notify::Silent;
use shared::rotation::{PasswordPolicy, Rotator};

/// The rotator this function runs: the protocol and its backend; deployed, it also watches the
/// services that consume the secret (`AppSecretsRotator<EcsConsumers, SnsNotifier>`, main.rs).
pub type AppSecretsRotator<C = NoConsumers, N = Silent> =
    Rotator<SecretsManagerStore, AppSecretsBackend, C, N>;

/// Everything the function reads from its environment, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub keys: AppSecretOptions,
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
    /// | `APP_SECRET_KEYS` | the seed's `accessTokenSecret:64` (`name:length[:printable\|hex\|base64]`, comma-separated) |
    /// | `APP_SECRET_EXCLUDE` | the seed's ``"@/\'`` (printable keys) |
    /// | `TOKEN_MAX_AGE_HOURS` | 720, the seed's 30-day sessions (1 to 8784) |
    /// | `MIN_KEY_AGE_HOURS` | `TOKEN_MAX_AGE_HOURS` (0 to 8784) |
    /// | `CONSUMER_CLUSTERS` | unset: no consumer is watched (the template sets the stack's cluster) |
    /// | `NOTIFY_TOPIC_ARN` | unset (no notification) |
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // Set but empty means "exclude nothing", so the raw value is used.
        let exclude = get("APP_SECRET_EXCLUDE").unwrap_or_else(|| SEED_EXCLUDE.to_string());
        let keys = parse_keys(
            &config::text_or(&get, "APP_SECRET_KEYS", "accessTokenSecret:64"),
            &exclude,
        )
        .map_err(|problem| ConfigError::new("APP_SECRET_KEYS", problem))?;
        let token_max_age = config::hours(&get, "TOKEN_MAX_AGE_HOURS", 720, 1..=24 * 366)?;
        let default_min_age = token_max_age.as_secs() / 3600;
        Ok(Self {
            watch: WatchConfig::from_lookup(&get)?,
            keys: AppSecretOptions {
                keys,
                token_max_age,
                min_key_age: config::hours(
                    &get,
                    "MIN_KEY_AGE_HOURS",
                    default_min_age,
                    0..=24 * 366,
                )?,
            },
        })
    }
}

/// The rotator without its watch of consumers (main adds it, from `config.watch`), from a
/// Secrets Manager client made once per cold start.
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
    use super::Config;

    #[test]
    fn given_no_variables_then_the_seed_key_and_session_life_apply() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(c.keys, shared::appsecrets::AppSecretOptions::default());
        let c = Config::from_lookup(|k| (k == "TOKEN_MAX_AGE_HOURS").then(|| "24".into())).unwrap();
        assert_eq!(
            (c.keys.token_max_age.as_secs(), c.keys.min_key_age.as_secs()),
            (86_400, 86_400)
        );
    }

    #[test]
    fn given_bad_values_then_the_function_will_not_start_and_the_variable_is_named() {
        for (variable, bad) in [
            ("APP_SECRET_KEYS", "k:8"),
            ("TOKEN_MAX_AGE_HOURS", "0"),
            ("MIN_KEY_AGE_HOURS", "9000"),
        ] {
            let err =
                Config::from_lookup(|k| (k == variable).then(|| bad.to_string())).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
        }
    }
}

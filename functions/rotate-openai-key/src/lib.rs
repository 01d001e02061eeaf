//! `rotate-openai-key`: Secrets Manager rotation of the Macro AI OpenAI key. A staged or minted
//! key is promoted only after OpenAI accepts it. The protocol is `shared::rotation`, the backend
//! `shared::openai`; this crate holds the function's configuration and wiring.

use shared::aws::secrets_manager::SecretsManagerStore;
use shared::config::{self, ConfigError};
use shared::consumers::{NoConsumers, WatchConfig};
use shared::notify::Silent;
use shared::openai::{MintOptions, OpenAiBackend, OpenAiOptions};
use shared::rotation::{PasswordPolicy, Rotator};

/// The rotator this function runs: the protocol and its backend; deployed, it also watches the
/// services that consume the secret (`OpenAiRotator<EcsConsumers, SnsNotifier>`, main.rs).
pub type OpenAiRotator<C = NoConsumers, N = Silent> =
    Rotator<SecretsManagerStore, OpenAiBackend, C, N>;

/// Everything the function reads from its environment, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub openai: OpenAiOptions,
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
    /// | `OPENAI_BASE_URL` | `https://api.openai.com` |
    /// | `OPENAI_TIMEOUT_SECONDS` | 10 (1 to 60) |
    /// | `OPENAI_ADMIN_KEY_SECRET_ARN`, `OPENAI_PROJECT_ID` | both unset: keys are staged by hand |
    /// | `CONSUMER_CLUSTERS` | unset: no consumer is watched (the template sets the stack's cluster) |
    /// | `NOTIFY_TOPIC_ARN` | unset (no notification) |
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let base_url = config::text_or(&get, "OPENAI_BASE_URL", "https://api.openai.com")
            .trim_end_matches('/')
            .to_string();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ConfigError::new(
                "OPENAI_BASE_URL",
                "must be an http(s) URL",
            ));
        }
        let mint = match (
            config::text(&get, "OPENAI_ADMIN_KEY_SECRET_ARN"),
            config::text(&get, "OPENAI_PROJECT_ID"),
        ) {
            (Some(admin_key_secret_arn), Some(project_id)) => Some(MintOptions {
                admin_key_secret_arn,
                project_id,
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "OPENAI_PROJECT_ID",
                    "must be set with OPENAI_ADMIN_KEY_SECRET_ARN (the project to mint keys in)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "OPENAI_ADMIN_KEY_SECRET_ARN",
                    "must be set with OPENAI_PROJECT_ID (the admin key that mints keys)",
                ));
            }
        };
        Ok(Self {
            watch: WatchConfig::from_lookup(&get)?,
            openai: OpenAiOptions {
                base_url,
                timeout: config::seconds(&get, "OPENAI_TIMEOUT_SECONDS", 10, 1..=60)?,
                mint,
            },
        })
    }
}

/// The rotator without its watch of consumers (main adds it, from `config.watch`), from a
/// Secrets Manager client made once per cold start.
pub fn rotator(
    client: aws_sdk_secretsmanager::Client,
    config: Config,
) -> Result<OpenAiRotator, ConfigError> {
    // OpenAI keys are never generated from a password policy; the default is unused.
    Ok(Rotator::new(
        SecretsManagerStore::new(client),
        OpenAiBackend::new(config.openai)?,
        PasswordPolicy::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn given_the_environment_then_options_are_read() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(
            (
                c.openai.base_url.as_str(),
                c.openai.timeout.as_secs(),
                c.openai.mint
            ),
            ("https://api.openai.com", 10, None)
        );
        let c = Config::from_lookup(|k| match k {
            "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/".into()),
            "OPENAI_ADMIN_KEY_SECRET_ARN" => Some("arn:admin".into()),
            "OPENAI_PROJECT_ID" => Some("proj_1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.openai.base_url, "http://127.0.0.1:9");
        assert_eq!(
            c.openai.mint.map(|m| m.project_id).as_deref(),
            Some("proj_1")
        );
    }

    #[test]
    fn given_half_a_mint_configuration_or_a_bad_url_then_the_variable_is_named() {
        for (set, named) in [
            ("OPENAI_ADMIN_KEY_SECRET_ARN", "OPENAI_PROJECT_ID"),
            ("OPENAI_PROJECT_ID", "OPENAI_ADMIN_KEY_SECRET_ARN"),
            ("OPENAI_BASE_URL", "OPENAI_BASE_URL"),
            ("OPENAI_TIMEOUT_SECONDS", "OPENAI_TIMEOUT_SECONDS"),
        ] {
            let err =
                Config::from_lookup(|k| (k == set).then(|| "ftp://x".to_string())).unwrap_err();
            assert_eq!(err.variable, named, "{err}");
        }
    }
}

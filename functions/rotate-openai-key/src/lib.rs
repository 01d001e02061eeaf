//! `rotate-openai-key`: Secrets Manager rotation of the Macro AI OpenAI key. A staged or minted
//! key is promoted only after OpenAI accepts it. The protocol is `shared::rotation`, the backend
//! `shared::openai`; this crate holds the function's configuration and wiring.

use shared::aws::secrets_manager::SecretsManagerStore;
use shared::config::{ConfigError, process_env};
use shared::openai::{OpenAiBackend, OpenAiOptions};
use shared::rotation::{PasswordPolicy, Rotator};

/// The rotator this function runs.
pub type OpenAiRotator = Rotator<SecretsManagerStore, OpenAiBackend>;

/// Everything the function reads from its environment, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub openai: OpenAiOptions,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            openai: OpenAiOptions::from_lookup(get)?,
        })
    }
}

/// Builds the rotator from a Secrets Manager client made once per cold start.
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
    #[test]
    fn given_half_a_mint_configuration_then_the_missing_variable_is_named() {
        let err = super::Config::from_lookup(|k| {
            (k == "OPENAI_ADMIN_KEY_SECRET_ARN").then(|| "arn:aws:secretsmanager:x".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("OPENAI_PROJECT_ID"), "{err}");
    }
}

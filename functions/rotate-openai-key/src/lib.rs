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
    use shared::rotation::{RotationRequest, Step};

    fn parse(raw: &str) -> RotationRequest {
        let value: serde_json::Value = serde_json::from_str(raw).unwrap();
        RotationRequest::from_value(&value).unwrap()
    }

    #[test]
    fn given_the_sample_events_then_each_parses_to_its_step() {
        for (raw, step) in [
            (
                include_str!("../../../events/rotate-openai-key/createSecret.json"),
                Step::Create,
            ),
            (
                include_str!("../../../events/rotate-openai-key/setSecret.json"),
                Step::Set,
            ),
            (
                include_str!("../../../events/rotate-openai-key/testSecret.json"),
                Step::Test,
            ),
            (
                include_str!("../../../events/rotate-openai-key/finishSecret.json"),
                Step::Finish,
            ),
        ] {
            match parse(raw) {
                RotationRequest::Rotate(r) => {
                    assert_eq!(r.step, step);
                    assert_eq!(r.secret_id, "macro-ai/dev/openai-api-key");
                }
                other => panic!("expected a rotation step, got {other:?}"),
            }
        }
        assert!(matches!(
            parse(include_str!("../../../events/rotate-openai-key/validate.json")),
            RotationRequest::Validate { secret_id } if secret_id == "macro-ai/dev/openai-api-key"
        ));
    }
}

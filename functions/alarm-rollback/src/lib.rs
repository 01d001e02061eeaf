//! `alarm-rollback`: CloudWatch alarms (through SNS), ECS deployment events and manual requests
//! in; at most one rollback per bad release out. The decision lives in `shared::rollback`; this
//! crate holds the function's configuration, wiring and handler.

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::aws::dynamodb::DynamoRollbackLedger;
use shared::aws::ecs::EcsFleet;
use shared::aws::sns::SnsNotifier;
use shared::config::{self, ConfigError};
use shared::lambda::FunctionError;
use shared::notify::Notifier;
use shared::rollback::{ReleaseFleet, RollbackConfig, RollbackLedger, Rollbacker, parse};

/// The rollbacker this function runs.
pub type AlarmRollbacker = Rollbacker<EcsFleet, DynamoRollbackLedger, SnsNotifier>;

/// Everything the function reads from its environment, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub rollback: RollbackConfig,
    /// The DynamoDB table of the rollback ledger (`ROLLBACK_TABLE`).
    pub table: String,
    pub notify_topic_arn: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(config::process_env)
    }

    /// Every variable the function reads (docs/configuration.md lists them too):
    ///
    /// | variable | default |
    /// |---|---|
    /// | `ROLLBACK_TABLE` | required |
    /// | `ALARM_TARGETS` | `{}`: alarms named `macro-ai-<env>-<svc>-…` find their service |
    /// | `ROLLBACK_WINDOW_MINUTES` | 60 (1 to 10080) |
    /// | `ROLLBACK_COOLDOWN_MINUTES` | 30 (1 to 10080) |
    /// | `NOTIFY_TOPIC_ARN` | unset (no notification) |
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let alarm_targets = match config::text(&get, "ALARM_TARGETS") {
            None => Default::default(),
            Some(raw) => RollbackConfig::parse_alarm_targets(&raw)
                .map_err(|problem| ConfigError::new("ALARM_TARGETS", problem))?,
        };
        Ok(Self {
            table: config::required(
                &get,
                "ROLLBACK_TABLE",
                "the DynamoDB table of the rollback ledger",
            )?,
            notify_topic_arn: config::text(&get, "NOTIFY_TOPIC_ARN"),
            rollback: RollbackConfig {
                alarm_targets,
                window: config::minutes(&get, "ROLLBACK_WINDOW_MINUTES", 60, 1..=10_080)?,
                cooldown: config::minutes(&get, "ROLLBACK_COOLDOWN_MINUTES", 30, 1..=10_080)?,
            },
        })
    }
}

/// Builds the rollbacker from SDK clients made once per cold start.
pub fn rollbacker(
    ecs: aws_sdk_ecs::Client,
    autoscaling: aws_sdk_applicationautoscaling::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
    config: Config,
) -> AlarmRollbacker {
    rollbacker_over(EcsFleet::new(ecs, autoscaling), dynamodb, sns, config)
}

/// The rollbacker over any fleet (the tests wrap the real one to observe and shape it).
pub fn rollbacker_over<F: ReleaseFleet>(
    fleet: F,
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
    config: Config,
) -> Rollbacker<F, DynamoRollbackLedger, SnsNotifier> {
    Rollbacker::new(
        fleet,
        DynamoRollbackLedger::new(dynamodb, config.table),
        SnsNotifier::new(sns, config.notify_topic_arn),
        config.rollback,
    )
}

/// The handler: every input of the payload is handled; if any failed, the invocation fails
/// after the others were done (SNS retries it; the ledger makes the retry safe).
pub async fn handle<F: ReleaseFleet, L: RollbackLedger, N: Notifier>(
    rollbacker: &Rollbacker<F, L, N>,
    event: LambdaEvent<Value>,
) -> Result<Value, FunctionError> {
    let inputs =
        parse(&event.payload).map_err(|e| FunctionError::new("InvalidEvent", &e).logged())?;
    let (outcomes, failures) = rollbacker.handle(inputs, jiff::Timestamp::now()).await;
    shared::lambda::batch_answer("RollbackFailed", &outcomes, &failures)
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn given_no_table_then_the_function_will_not_start() {
        let err = Config::from_lookup(|_| None).unwrap_err();
        assert_eq!(err.variable, "ROLLBACK_TABLE", "{err}");
    }

    #[test]
    fn given_a_table_then_defaults_apply_and_bad_values_are_named() {
        let with = |variable: &'static str, value: &'static str| {
            move |k: &str| match k {
                "ROLLBACK_TABLE" => Some("ledger".to_string()),
                k if k == variable => Some(value.to_string()),
                _ => None,
            }
        };
        let c = Config::from_lookup(with("NONE", "")).unwrap();
        assert_eq!(c.rollback.window.as_secs(), 3600);
        assert_eq!(c.rollback.cooldown.as_secs(), 1800);
        assert!(c.rollback.alarm_targets.is_empty());
        for (variable, bad) in [
            ("ALARM_TARGETS", r#"{"a": "nocluster"}"#),
            ("ROLLBACK_WINDOW_MINUTES", "0"),
            ("ROLLBACK_COOLDOWN_MINUTES", "soon"),
        ] {
            let err = Config::from_lookup(with(variable, bad)).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
        }
    }
}

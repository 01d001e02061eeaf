//! `alarm-rollback`: CloudWatch alarms (through SNS), ECS deployment events and manual requests
//! in; at most one rollback per bad release out. The decision lives in `shared::rollback`; this
//! crate holds the function's configuration, wiring and handler.

use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use shared::aws::dynamodb::DynamoLedger;
use shared::aws::ecs::EcsFleet;
use shared::aws::sns::SnsNotifier;
use shared::config::{ConfigError, process_env};
use shared::lambda::FunctionError;
use shared::notify::Notifier;
use shared::rollback::{ReleaseFleet, RollbackConfig, RollbackLedger, Rollbacker, parse};

/// The rollbacker this function runs.
pub type AlarmRollbacker = Rollbacker<EcsFleet, DynamoLedger, SnsNotifier>;

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
        Self::from_lookup(process_env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            table: get("ROLLBACK_TABLE")
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ConfigError::new(
                        "ROLLBACK_TABLE",
                        "must name the DynamoDB table of the rollback ledger",
                    )
                })?,
            notify_topic_arn: get("NOTIFY_TOPIC_ARN").filter(|t| !t.is_empty()),
            rollback: RollbackConfig::from_lookup(get)?,
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
    Rollbacker::new(
        EcsFleet::new(ecs, autoscaling),
        DynamoLedger::new(dynamodb, config.table),
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
    if let Some(error) = shared::lambda::batch_failure("RollbackFailed", outcomes.len(), &failures)
    {
        return Err(error);
    }
    Ok(json!({ "outcomes": outcomes }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn given_no_table_then_the_function_will_not_start() {
        let err = super::Config::from_lookup(|_| None).unwrap_err();
        assert!(err.to_string().contains("ROLLBACK_TABLE"), "{err}");
    }
}

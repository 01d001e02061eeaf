//! `budget-response`: AWS Budgets and Cost Anomaly Detection alerts (through SNS or EventBridge),
//! manual holds and releases, and the monthly release. The policy lives in `shared::budget`, the
//! capacity logic in `shared::capacity`; this crate holds the configuration, wiring and handler.

use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use shared::aws::dynamodb::DynamoDeduper;
use shared::aws::ecs::EcsFleet;
use shared::aws::sns::SnsNotifier;
use shared::budget::{BudgetConfig, BudgetResponder, Deduper, parse};
use shared::capacity::ServiceFleet;
use shared::config::{ConfigError, process_env};
use shared::lambda::FunctionError;
use shared::notify::Notifier;

/// The responder this function runs.
pub type Responder = BudgetResponder<EcsFleet, DynamoDeduper, SnsNotifier>;

/// Everything the function reads from its environment, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub budget: BudgetConfig,
    /// The DynamoDB table of handled notifications (`BUDGET_EVENTS_TABLE`).
    pub table: String,
    pub notify_topic_arn: Option<String>,
    /// How long a claimed notification is one invocation's (`DEDUPE_LEASE_SECONDS`, default 90:
    /// more than the template's 60 s timeout), after which a retry takes it over.
    pub lease: std::time::Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            table: get("BUDGET_EVENTS_TABLE")
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ConfigError::new(
                        "BUDGET_EVENTS_TABLE",
                        "must name the DynamoDB table of handled notifications",
                    )
                })?,
            notify_topic_arn: get("NOTIFY_TOPIC_ARN").filter(|t| !t.is_empty()),
            lease: shared::config::seconds(&get, "DEDUPE_LEASE_SECONDS", 90, 1..=3600)?,
            budget: BudgetConfig::from_lookup(get)?,
        })
    }
}

/// Builds the responder from SDK clients made once per cold start.
pub fn responder(
    ecs: aws_sdk_ecs::Client,
    autoscaling: aws_sdk_applicationautoscaling::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
    config: Config,
) -> Responder {
    BudgetResponder::new(
        EcsFleet::new(ecs, autoscaling),
        DynamoDeduper::new(dynamodb, config.table, config.lease),
        SnsNotifier::new(sns, config.notify_topic_arn),
        config.budget,
    )
}

/// The handler: every input is handled; if any failed, the invocation fails after the others
/// (SNS retries it; the notification ledger makes the retry safe).
pub async fn handle<F: ServiceFleet, D: Deduper, N: Notifier>(
    responder: &BudgetResponder<F, D, N>,
    event: LambdaEvent<Value>,
) -> Result<Value, FunctionError> {
    let inputs =
        parse(&event.payload).map_err(|e| FunctionError::new("InvalidEvent", &e).logged())?;
    let (outcomes, failures) = responder.handle(inputs, jiff::Timestamp::now()).await;
    if let Some(error) =
        shared::lambda::batch_failure("BudgetResponseFailed", outcomes.len(), &failures)
    {
        return Err(error);
    }
    Ok(json!({ "outcomes": outcomes }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn given_a_policy_that_scales_prod_then_the_function_will_not_start() {
        let err = super::Config::from_lookup(|k| match k {
            "BUDGET_EVENTS_TABLE" => Some("t".into()),
            "BUDGET_POLICY" => Some(r#"{"prod": {"actual": {"scaleTo": 1}}}"#.into()),
            _ => None,
        })
        .unwrap_err();
        assert!(err.to_string().contains("BUDGET_POLICY"), "{err}");
    }
}

//! `budget-response`: AWS Budgets and Cost Anomaly Detection alerts (through SNS or EventBridge),
//! manual holds and releases, and the monthly release. The policy lives in `shared::budget`, the
//! capacity logic in `shared::capacity`; this crate holds the configuration, wiring and handler.

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::aws::dynamodb::DynamoNotificationLedger;
use shared::aws::ecs::EcsFleet;
use shared::aws::sns::SnsNotifier;
use shared::budget::{BudgetConfig, BudgetResponder, parse};
use shared::capacity::ServiceFleet;
use shared::config::{self, ConfigError};
use shared::lambda::FunctionError;
use shared::ledger::NotificationLedger;
use shared::notify::Notifier;

/// The responder this function runs.
pub type Responder = BudgetResponder<EcsFleet, DynamoNotificationLedger, SnsNotifier>;

/// Everything the function reads from its environment, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub budget: BudgetConfig,
    /// The DynamoDB table of handled notifications (`BUDGET_EVENTS_TABLE`).
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
    /// | `BUDGET_EVENTS_TABLE` | required |
    /// | `BUDGET_POLICY` | dev held at 0 tasks, staging at 1, prod notified |
    /// | `MACRO_AI_ENVIRONMENT` | unset: every environment of the policy |
    /// | `ENVIRONMENT_CLUSTERS` | `{}`: `macro-ai-<env>-cluster` |
    /// | `BUDGET_ENVIRONMENTS` | `{}`: `macro-ai-<env>-monthly` budgets only |
    /// | `ANOMALY_ENVIRONMENTS` | `{}` |
    /// | `ANOMALY_MIN_PERCENT` | 20 |
    /// | `ANOMALY_ACTION_USD` | 50 |
    /// | `DEDUPE_LEASE_SECONDS` | 90 (1 to 3600) |
    /// | `DEDUPE_WAIT_SECONDS` | 20 (0 to 50) |
    /// | `NOTIFY_TOPIC_ARN` | unset (no notification) |
    /// | `AWS_LAMBDA_FUNCTION_NAME` | set by Lambda; `budget-response` |
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let policy = BudgetConfig::parse_policy(config::text(&get, "BUDGET_POLICY").as_deref())
            .map_err(|problem| ConfigError::new("BUDGET_POLICY", problem))?;
        Ok(Self {
            table: config::required(
                &get,
                "BUDGET_EVENTS_TABLE",
                "the DynamoDB table of handled notifications",
            )?,
            notify_topic_arn: config::text(&get, "NOTIFY_TOPIC_ARN"),
            budget: BudgetConfig {
                policy,
                budget_environments: config::json_map(&get, "BUDGET_ENVIRONMENTS")?,
                anomaly_environments: config::json_map(&get, "ANOMALY_ENVIRONMENTS")?,
                anomaly_min_percent: config::amount(&get, "ANOMALY_MIN_PERCENT", 20.0)?,
                anomaly_action_usd: config::amount(&get, "ANOMALY_ACTION_USD", 50.0)?,
                function_name: config::text_or(&get, "AWS_LAMBDA_FUNCTION_NAME", "budget-response"),
                environment_clusters: config::json_map(&get, "ENVIRONMENT_CLUSTERS")?,
                own_environment: config::text(&get, "MACRO_AI_ENVIRONMENT"),
                claim_wait: config::seconds(&get, "DEDUPE_WAIT_SECONDS", 20, 0..=50)?,
                claim_lease: config::seconds(&get, "DEDUPE_LEASE_SECONDS", 90, 1..=3600)?,
            },
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
    responder_over(EcsFleet::new(ecs, autoscaling), dynamodb, sns, config)
}

/// The responder over any fleet (the tests wrap the real one to inject faults).
pub fn responder_over<F: ServiceFleet>(
    fleet: F,
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
    config: Config,
) -> BudgetResponder<F, DynamoNotificationLedger, SnsNotifier> {
    BudgetResponder::new(
        fleet,
        DynamoNotificationLedger::new(dynamodb, config.table),
        SnsNotifier::new(sns, config.notify_topic_arn),
        config.budget,
    )
}

/// The handler: every input is handled; if any failed, the invocation fails after the others
/// (SNS retries it; the notification ledger makes the retry safe).
pub async fn handle<F: ServiceFleet, D: NotificationLedger, N: Notifier>(
    responder: &BudgetResponder<F, D, N>,
    event: LambdaEvent<Value>,
) -> Result<Value, FunctionError> {
    let inputs =
        parse(&event.payload).map_err(|e| FunctionError::new("InvalidEvent", &e).logged())?;
    let (outcomes, failures) = responder.handle(inputs, jiff::Timestamp::now()).await;
    shared::lambda::batch_answer("BudgetResponseFailed", &outcomes, &failures)
}

#[cfg(test)]
mod tests {
    use super::Config;

    fn with(variable: &'static str, value: &'static str) -> impl Fn(&str) -> Option<String> {
        move |k: &str| match k {
            "BUDGET_EVENTS_TABLE" => Some("t".to_string()),
            k if k == variable => Some(value.to_string()),
            _ => None,
        }
    }

    #[test]
    fn given_only_the_table_then_the_seed_defaults_apply() {
        let c = Config::from_lookup(with("NONE", "")).unwrap();
        let b = &c.budget;
        assert_eq!(
            (b.policy["dev"], b.policy["staging"], b.policy["prod"]),
            (Some(0), Some(1), None)
        );
        assert_eq!((b.anomaly_min_percent, b.anomaly_action_usd), (20.0, 50.0));
        assert_eq!(b.cluster_of("staging"), "macro-ai-staging-cluster");
        assert_eq!(
            b.environment_of_budget("macro-ai-staging-monthly")
                .as_deref(),
            Some("staging")
        );
        assert_eq!((b.claim_lease.as_secs(), b.claim_wait.as_secs()), (90, 20));
        assert_eq!(
            Config::from_lookup(|_| None).unwrap_err().variable,
            "BUDGET_EVENTS_TABLE"
        );
    }

    #[test]
    fn given_bad_values_then_the_function_will_not_start_and_the_variable_is_named() {
        for (variable, bad) in [
            ("BUDGET_POLICY", r#"{"prod": {"actual": {"scaleTo": 1}}}"#),
            ("BUDGET_ENVIRONMENTS", "[]"),
            ("ANOMALY_ACTION_USD", "-5"),
            ("DEDUPE_WAIT_SECONDS", "60"),
        ] {
            let err = Config::from_lookup(with(variable, bad)).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
        }
    }
}

//! `refresh-consumers`: when AWSCURRENT of a secret moves (Secrets Manager's `Secret Label
//! Updated` event), the ECS services that inject it get a new deployment, so their tasks read the
//! new value; by hand with `{"refresh": "<secret>"}`, and on a schedule with `{"reconcile":
//! true}`. The logic lives in `shared::consumers`; this crate holds the function's
//! configuration, wiring and handler.

use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use shared::aws::dynamodb::DynamoNotificationLedger;
use shared::aws::ecs_consumers::EcsConsumers;
use shared::aws::secrets_manager::SecretsManagerStore;
use shared::aws::sns::SnsNotifier;
use shared::config::{self, ConfigError};
use shared::consumers::{ConsumerFleet, RefreshConfig, Refresher, parse};
use shared::error::report;
use shared::lambda::FunctionError;
use shared::ledger::NotificationLedger;
use shared::notify::Notifier;
use shared::rotation::SecretStore;

/// The refresher this function runs.
pub type ConsumerRefresher =
    Refresher<SecretsManagerStore, EcsConsumers, DynamoNotificationLedger, SnsNotifier>;

/// Everything the function reads from its environment, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub refresh: RefreshConfig,
    /// The DynamoDB table of handled changes (`REFRESH_TABLE`).
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
    /// | `CONSUMER_CLUSTERS` | required |
    /// | `REFRESH_TABLE` | required |
    /// | `SECRET_NAME_PREFIX` | unset: any secret the role may describe |
    /// | `REFRESH_PRODUCTION` | `true` |
    /// | `RECONCILE_SECRETS` | unset: the reconciliation checks nothing |
    /// | `DEDUPE_LEASE_SECONDS` | 90 (1 to 3600) |
    /// | `DEDUPE_WAIT_SECONDS` | 20 (0 to 50) |
    /// | `NOTIFY_TOPIC_ARN` | unset (no notification) |
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let clusters = config::optional_list(&get, "CONSUMER_CLUSTERS")?.ok_or_else(|| {
            ConfigError::new(
                "CONSUMER_CLUSTERS",
                "must name the clusters whose services consume secrets",
            )
        })?;
        Ok(Self {
            table: config::required(
                &get,
                "REFRESH_TABLE",
                "the DynamoDB table of handled changes",
            )?,
            notify_topic_arn: config::text(&get, "NOTIFY_TOPIC_ARN"),
            refresh: RefreshConfig {
                clusters,
                secret_prefix: config::pin(&get, "SECRET_NAME_PREFIX")?,
                refresh_production: config::flag(&get, "REFRESH_PRODUCTION", true)?,
                reconcile: config::optional_list(&get, "RECONCILE_SECRETS")?.unwrap_or_default(),
                claim_wait: config::seconds(&get, "DEDUPE_WAIT_SECONDS", 20, 0..=50)?,
                claim_lease: config::seconds(&get, "DEDUPE_LEASE_SECONDS", 90, 1..=3600)?,
            },
        })
    }
}

/// Builds the refresher from SDK clients made once per cold start.
pub fn refresher(
    secrets_manager: aws_sdk_secretsmanager::Client,
    ecs: aws_sdk_ecs::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
    config: Config,
) -> ConsumerRefresher {
    refresher_over(
        SecretsManagerStore::new(secrets_manager),
        EcsConsumers::new(ecs),
        dynamodb,
        sns,
        config,
    )
}

/// The refresher over any store and fleet (the tests wrap the real ones).
pub fn refresher_over<S: SecretStore, F: ConsumerFleet>(
    store: S,
    fleet: F,
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
    config: Config,
) -> Refresher<S, F, DynamoNotificationLedger, SnsNotifier> {
    Refresher::new(
        store,
        fleet,
        DynamoNotificationLedger::new(dynamodb, config.table),
        SnsNotifier::new(sns, config.notify_topic_arn),
        config.refresh,
    )
}

/// The handler: a failure (one secret, or any of a reconciliation's after the others were
/// tried) fails the invocation, so EventBridge retries it; the ledger makes the retry safe.
pub async fn handle<S: SecretStore, F: ConsumerFleet, L: NotificationLedger, N: Notifier>(
    refresher: &Refresher<S, F, L, N>,
    event: LambdaEvent<Value>,
) -> Result<Value, FunctionError> {
    let request =
        parse(&event.payload).map_err(|e| FunctionError::new("InvalidEvent", &e).logged())?;
    let (reports, failures) = refresher.handle(request, jiff::Timestamp::now()).await;
    match failures.as_slice() {
        [] => Ok(json!({ "refreshes": reports })),
        [(_, only)] if reports.is_empty() => {
            Err(FunctionError::new(only.error_type(), only).logged())
        }
        [(secret, first), ..] => Err(FunctionError::new_message(
            "RefreshFailed",
            format!(
                "{} of {} secrets failed; the first ({secret}): {}",
                failures.len(),
                failures.len() + reports.len(),
                report(first)
            ),
        )
        .logged()),
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    fn with(variable: &'static str, value: &'static str) -> impl Fn(&str) -> Option<String> {
        move |k: &str| match k {
            k if k == variable => Some(value.to_string()),
            "CONSUMER_CLUSTERS" => Some("macro-ai-dev-cluster".to_string()),
            "REFRESH_TABLE" => Some("t".to_string()),
            _ => None,
        }
    }

    #[test]
    fn given_the_required_variables_then_the_defaults_apply() {
        let c = Config::from_lookup(with("NONE", "")).unwrap();
        assert_eq!(c.refresh.clusters, ["macro-ai-dev-cluster"]);
        assert!(c.refresh.refresh_production && c.refresh.reconcile.is_empty());
        assert_eq!(c.refresh.secret_prefix, None);
        assert_eq!(
            (
                c.refresh.claim_lease.as_secs(),
                c.refresh.claim_wait.as_secs()
            ),
            (90, 20)
        );
        let c = Config::from_lookup(with("REFRESH_PRODUCTION", "false")).unwrap();
        assert!(!c.refresh.refresh_production);
    }

    #[test]
    fn given_bad_or_missing_values_then_the_function_will_not_start_and_the_variable_is_named() {
        for (variable, bad) in [
            ("CONSUMER_CLUSTERS", ""),
            ("CONSUMER_CLUSTERS", " , "),
            ("REFRESH_TABLE", ""),
            ("REFRESH_PRODUCTION", "maybe"),
            ("SECRET_NAME_PREFIX", "   "),
            ("RECONCILE_SECRETS", ","),
            ("DEDUPE_WAIT_SECONDS", "60"),
        ] {
            let err = Config::from_lookup(with(variable, bad)).unwrap_err();
            assert_eq!(err.variable, variable, "{variable}={bad:?}: {err}");
        }
    }
}

//! `after-hours-scaling`: reconciles every scheduled non-production ECS service with its office
//! hours. The decision and the capacity logic live in `shared::scaling` and `shared::capacity`;
//! this crate holds the function's configuration, wiring and handler.

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::aws::ecs::EcsFleet;
use shared::aws::sns::SnsNotifier;
use shared::capacity::ServiceFleet;
use shared::config::{self, ConfigError};
use shared::environment;
use shared::lambda::FunctionError;
use shared::notify::Notifier;
use shared::scaling::{Mode, Scaler, ScalingConfig, ScalingRequest};
use shared::schedule::Schedules;

/// The scaler this function runs.
pub type AfterHoursScaler = Scaler<EcsFleet, SnsNotifier>;

/// Everything the function reads from its environment, read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub scaling: ScalingConfig,
    /// Where the summary of each run that changed something goes.
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
    /// | `CLUSTERS` | the seed's dev and staging clusters (comma-separated) |
    /// | `SCHEDULES` | the seed's two schedules only (a JSON array adds or replaces) |
    /// | `SCHEDULE_TIMEZONE` | `UTC` |
    /// | `HOLIDAYS` | none (dates and `FIRST..LAST` ranges, comma-separated, for every schedule) |
    /// | `SCALING_CONCURRENCY` | 8 (1 to 64) |
    /// | `MACRO_AI_ENVIRONMENT` | unset (`prod`: scale nothing) |
    /// | `NOTIFY_TOPIC_ARN` | unset (no summary) |
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let seed_clusters = [environment::cluster("dev"), environment::cluster("staging")];
        let zone = config::text_or(&get, "SCHEDULE_TIMEZONE", "UTC");
        Ok(Self {
            scaling: ScalingConfig {
                clusters: config::list(&get, "CLUSTERS", &seed_clusters.join(","))?,
                schedules: Schedules::new(&zone, config::text(&get, "SCHEDULES").as_deref())?
                    .with_holidays(config::text(&get, "HOLIDAYS").as_deref())?,
                concurrency: config::whole(&get, "SCALING_CONCURRENCY", 8, 1..=64, "")?,
                production: config::text(&get, "MACRO_AI_ENVIRONMENT")
                    .is_some_and(|env| environment::is_production(&env)),
            },
            notify_topic_arn: config::text(&get, "NOTIFY_TOPIC_ARN"),
        })
    }
}

/// Builds the scaler from SDK clients made once per cold start.
pub fn scaler(
    ecs: aws_sdk_ecs::Client,
    autoscaling: aws_sdk_applicationautoscaling::Client,
    sns: aws_sdk_sns::Client,
    config: Config,
) -> AfterHoursScaler {
    Scaler::new(
        EcsFleet::new(ecs, autoscaling),
        SnsNotifier::new(sns, config.notify_topic_arn),
        config.scaling,
    )
}

/// The handler: the event's own time decides (the wall clock only when it has none).
pub async fn handle<F: ServiceFleet, N: Notifier>(
    scaler: &Scaler<F, N>,
    event: LambdaEvent<Value>,
) -> Result<Value, FunctionError> {
    let request = ScalingRequest::from_value(&event.payload, jiff::Timestamp::now)
        .map_err(|e| FunctionError::new("InvalidEvent", &e).logged())?;
    let answer = match request.mode {
        Mode::Plan { .. } => serde_json::to_value(scaler.plan(&request).await),
        _ => serde_json::to_value(scaler.run(&request).await),
    };
    answer.map_err(|e| FunctionError::new("InternalError", &e).logged())
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn given_no_variables_then_the_seed_defaults_apply() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(
            c.scaling.clusters,
            vec!["macro-ai-dev-cluster", "macro-ai-staging-cluster"]
        );
        assert_eq!((c.scaling.concurrency, c.scaling.production), (8, false));
        assert!(c.scaling.schedules.get("dev-office-hours").is_some());
        assert_eq!(c.notify_topic_arn, None);
        let prod = Config::from_lookup(|k| (k == "MACRO_AI_ENVIRONMENT").then(|| "Prod".into()));
        assert!(prod.unwrap().scaling.production);
    }

    #[test]
    fn given_bad_values_then_the_function_will_not_start_and_the_variable_is_named() {
        for (variable, bad) in [
            ("SCHEDULES", "[{}]"),
            ("SCALING_CONCURRENCY", "0"),
            ("CLUSTERS", " , "),
            ("CLUSTERS", ""),
            ("SCHEDULE_TIMEZONE", "Nowhere/Land"),
            ("HOLIDAYS", "2026-12-32"),
            ("HOLIDAYS", "2026-12-26..2026-12-24"),
            ("HOLIDAYS", "[1]"),
        ] {
            let err =
                Config::from_lookup(|k| (k == variable).then(|| bad.to_string())).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
        }
    }
}

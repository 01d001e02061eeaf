//! `after-hours-scaling`: reconciles every scheduled non-production ECS service with its office
//! hours. The decision and the capacity logic live in `shared::scaling` and `shared::capacity`;
//! this crate holds the function's configuration, wiring and handler.

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::aws::ecs::EcsFleet;
use shared::aws::sns::SnsNotifier;
use shared::capacity::ServiceFleet;
use shared::config::{ConfigError, process_env};
use shared::lambda::FunctionError;
use shared::notify::Notifier;
use shared::scaling::{Scaler, ScalingConfig, ScalingRequest};

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
        Self::from_lookup(process_env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            notify_topic_arn: get("NOTIFY_TOPIC_ARN").filter(|t| !t.is_empty()),
            scaling: ScalingConfig::from_lookup(get)?,
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
    let report = scaler.run(&request).await;
    serde_json::to_value(&report).map_err(|e| FunctionError::new("InternalError", &e).logged())
}

#[cfg(test)]
mod tests {
    #[test]
    fn given_a_bad_schedules_variable_then_the_function_will_not_start() {
        let err = super::Config::from_lookup(|k| (k == "SCHEDULES").then(|| "[{}]".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("SCHEDULES"), "{err}");
    }
}

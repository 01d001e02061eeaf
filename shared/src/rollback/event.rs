//! What alarm-rollback is invoked with: SNS records carrying CloudWatch alarm notifications,
//! EventBridge "ECS Deployment State Change" events, or a manual rollback. The alarm type
//! tolerates what CloudWatch really sends: a null description, metric-math alarms
//! (`Trigger.Metrics[]`), composite alarms without `Trigger`, `Unit: null`.

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

/// A CloudWatch alarm state change, as CloudWatch publishes it to SNS.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmNotification {
    pub alarm_name: String,
    #[serde(default)]
    pub alarm_description: Option<String>,
    pub new_state_value: String,
    #[serde(default)]
    pub new_state_reason: Option<String>,
    #[serde(default)]
    pub old_state_value: Option<String>,
    #[serde(default)]
    pub state_change_time: Option<String>,
    #[serde(default, rename = "AlarmArn")]
    pub alarm_arn: Option<String>,
    /// Absent for composite alarms.
    #[serde(default)]
    pub trigger: Option<Trigger>,
    /// Composite alarms only.
    #[serde(default)]
    pub alarm_rule: Option<String>,
}

/// What the alarm watches: one metric (`MetricName`, `Dimensions`) or metric math (`Metrics`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Trigger {
    #[serde(default)]
    pub metric_name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub metrics: Option<Vec<Value>>,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub comparison_operator: Option<String>,
}

impl AlarmNotification {
    pub fn is_alarm(&self) -> bool {
        self.new_state_value == "ALARM"
    }

    /// What kind of alarm, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.trigger {
            None => "composite alarm",
            Some(t) if t.metrics.as_ref().is_some_and(|m| !m.is_empty()) => "metric-math alarm",
            Some(_) => "metric alarm",
        }
    }
}

/// The ECS deployment events that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentEvent {
    InProgress,
    Completed,
    Failed,
}

/// One thing to handle.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Alarm {
        message_id: String,
        alarm: Box<AlarmNotification>,
    },
    Deployment {
        cluster: String,
        service: String,
        event: DeploymentEvent,
        at: Timestamp,
    },
    Manual {
        cluster: String,
        service: String,
        reason: String,
        dry_run: bool,
    },
}

/// A payload that cannot be handled; nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("invalid event: {0}")]
pub struct InvalidEvent(pub String);

/// Reads a payload into the triggers it carries (an SNS batch can carry several alarms).
pub fn parse(event: &Value) -> Result<Vec<Input>, InvalidEvent> {
    let obj = event.as_object().ok_or_else(|| {
        InvalidEvent(
            "expected a JSON object (SNS records, an ECS deployment event or {\"rollback\": ...})"
                .into(),
        )
    })?;
    if let Some(records) = obj.get("Records") {
        let records = records
            .as_array()
            .ok_or_else(|| InvalidEvent("`Records` must be an array".into()))?;
        if records.is_empty() {
            return Err(InvalidEvent("`Records` is empty".into()));
        }
        return records
            .iter()
            .enumerate()
            .map(|(i, r)| sns_record(i, r))
            .collect();
    }
    if let Some(target) = obj.get("rollback") {
        let target = target
            .as_str()
            .ok_or_else(|| InvalidEvent("`rollback` must be \"<cluster>/<service>\"".into()))?;
        let (cluster, service) = split_target(target).ok_or_else(|| {
            InvalidEvent(format!(
                "`rollback` must be \"<cluster>/<service>\", got `{}`",
                short(target)
            ))
        })?;
        let reason = match obj.get("reason") {
            Some(Value::String(r)) if !r.trim().is_empty() => r.trim().to_string(),
            None | Some(Value::Null) => {
                return Err(InvalidEvent(
                    "a manual rollback needs a `reason` (it is audited)".into(),
                ));
            }
            Some(_) => return Err(InvalidEvent("`reason` must be a non-empty string".into())),
        };
        let dry_run = match obj.get("dryRun") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(InvalidEvent("`dryRun` must be true or false".into())),
        };
        return Ok(vec![Input::Manual {
            cluster,
            service,
            reason,
            dry_run,
        }]);
    }
    if obj.get("source").and_then(Value::as_str) == Some("aws.ecs") {
        return deployment(obj).map(|t| vec![t]);
    }
    Err(InvalidEvent(
        "not SNS records, an ECS deployment event (source aws.ecs) or a manual {\"rollback\": \"<cluster>/<service>\", \"reason\": ...}".into(),
    ))
}

fn sns_record(i: usize, record: &Value) -> Result<Input, InvalidEvent> {
    let sns = record
        .get("Sns")
        .ok_or_else(|| InvalidEvent(format!("record {i} has no `Sns` object")))?;
    let message = sns
        .get("Message")
        .and_then(Value::as_str)
        .ok_or_else(|| InvalidEvent(format!("record {i} has no `Sns.Message` string")))?;
    let message_id = sns
        .get("MessageId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let alarm: AlarmNotification = serde_json::from_str(message).map_err(|e| {
        InvalidEvent(format!(
            "record {i}: `Sns.Message` is not a CloudWatch alarm notification (AlarmName, NewStateValue, …): {}",
            serde_error(&e)
        ))
    })?;
    if alarm.alarm_name.trim().is_empty() {
        return Err(InvalidEvent(format!(
            "record {i}: the alarm has an empty AlarmName"
        )));
    }
    Ok(Input::Alarm {
        message_id,
        alarm: Box::new(alarm),
    })
}

fn deployment(obj: &serde_json::Map<String, Value>) -> Result<Input, InvalidEvent> {
    if obj.get("detail-type").and_then(Value::as_str) != Some("ECS Deployment State Change") {
        return Err(InvalidEvent(
            "an aws.ecs event other than \"ECS Deployment State Change\"".into(),
        ));
    }
    let name = obj
        .get("detail")
        .and_then(|d| d.get("eventName"))
        .and_then(Value::as_str)
        .ok_or_else(|| InvalidEvent("the deployment event has no detail.eventName".into()))?;
    let event = match name {
        "SERVICE_DEPLOYMENT_IN_PROGRESS" => DeploymentEvent::InProgress,
        "SERVICE_DEPLOYMENT_COMPLETED" => DeploymentEvent::Completed,
        "SERVICE_DEPLOYMENT_FAILED" => DeploymentEvent::Failed,
        other => {
            return Err(InvalidEvent(format!(
                "unknown deployment event `{}`",
                short(other)
            )));
        }
    };
    let arn = obj
        .get("resources")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_str)
        .ok_or_else(|| {
            InvalidEvent("the deployment event names no service in `resources`".into())
        })?;
    let (cluster, service) = arn
        .split_once(":service/")
        .and_then(|(_, rest)| split_target(rest))
        .ok_or_else(|| {
            InvalidEvent(format!(
                "`{}` is not an ECS service ARN with its cluster",
                short(arn)
            ))
        })?;
    let at = obj
        .get("detail")
        .and_then(|d| d.get("updatedAt"))
        .or_else(|| obj.get("time"))
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok())
        .ok_or_else(|| InvalidEvent("the deployment event has no RFC 3339 `time`".into()))?;
    Ok(Input::Deployment {
        cluster,
        service,
        event,
        at,
    })
}

/// `cluster/service` → its two parts, both non-empty.
pub fn split_target(s: &str) -> Option<(String, String)> {
    let (c, sv) = s.split_once('/')?;
    (!c.is_empty() && !sv.is_empty() && !sv.contains('/')).then(|| (c.to_string(), sv.to_string()))
}

fn short(s: &str) -> String {
    s.chars().take(120).collect()
}

fn serde_error(e: &serde_json::Error) -> String {
    // serde_json's messages can quote input; an alarm carries no secrets, but keep it short.
    short(&e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sns(message: Value) -> Value {
        json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m-1", "Subject": "ALARM",
               "Message": message.to_string(), "TopicArn": "arn:aws:sns:us-east-1:1:alarms"}}]})
    }

    #[test]
    fn given_real_alarm_shapes_then_all_parse() {
        let single = json!({"AlarmName": "macro-ai-prod-api-unhealthy-hosts", "AlarmDescription": null,
            "NewStateValue": "ALARM", "NewStateReason": "Threshold Crossed", "OldStateValue": "OK",
            "StateChangeTime": "2026-11-25T10:00:00.000+0000",
            "Trigger": {"MetricName": "UnHealthyHostCount", "Namespace": "AWS/ApplicationELB", "Unit": null,
                        "Dimensions": [{"name": "TargetGroup", "value": "tg"}], "Period": 60,
                        "EvaluationPeriods": 3, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 0.5}});
        let math = json!({"AlarmName": "macro-ai-prod-api-error-rate", "NewStateValue": "ALARM",
            "Trigger": {"Metrics": [{"Id": "e1", "Expression": "m1/m2*100", "ReturnData": true},
                                     {"Id": "m1", "MetricStat": {"Metric": {"MetricName": "HTTPCode_Target_5XX_Count"}}}],
                        "Period": 60, "EvaluationPeriods": 5, "Threshold": 5.0, "Unit": null}});
        let composite = json!({"AlarmName": "macro-ai-prod-api-composite", "AlarmDescription": "x",
            "NewStateValue": "ALARM", "AlarmRule": "ALARM(a) OR ALARM(b)"});
        for (m, kind) in [
            (single, "metric alarm"),
            (math, "metric-math alarm"),
            (composite, "composite alarm"),
        ] {
            let t = parse(&sns(m)).unwrap();
            let Input::Alarm { alarm, message_id } = &t[0] else {
                panic!("an alarm")
            };
            assert_eq!(
                (alarm.kind(), alarm.is_alarm(), message_id.as_str()),
                (kind, true, "m-1")
            );
        }
    }

    #[test]
    fn given_deployment_and_manual_events_then_they_parse() {
        let e = json!({"source": "aws.ecs", "detail-type": "ECS Deployment State Change", "time": "2026-11-25T10:00:00Z",
            "resources": ["arn:aws:ecs:us-east-1:123456789012:service/macro-ai-dev-cluster/macro-ai-dev-api-service"],
            "detail": {"eventType": "INFO", "eventName": "SERVICE_DEPLOYMENT_COMPLETED", "deploymentId": "ecs-svc/1",
                       "updatedAt": "2026-11-25T10:05:00Z"}});
        assert_eq!(
            parse(&e).unwrap(),
            vec![Input::Deployment {
                cluster: "macro-ai-dev-cluster".into(),
                service: "macro-ai-dev-api-service".into(),
                event: DeploymentEvent::Completed,
                at: "2026-11-25T10:05:00Z".parse().unwrap()
            }]
        );
        let m = json!({"rollback": "macro-ai-prod-cluster/macro-ai-prod-api-service", "reason": "bad deploy"});
        assert!(matches!(
            &parse(&m).unwrap()[0],
            Input::Manual { dry_run: false, .. }
        ));
    }

    #[test]
    fn given_malformed_payloads_then_errors_are_clear() {
        for (e, expect) in [
            (json!("ALARM"), "expected a JSON object"),
            (json!({"Records": []}), "`Records` is empty"),
            (
                json!({"Records": [{"Sns": {"Message": "not json"}}]}),
                "not a CloudWatch alarm notification",
            ),
            (
                json!({"Records": [{"Sns": {"Message": "{\"AlarmName\": \"x\"}"}}]}),
                "NewStateValue",
            ),
            (json!({"Records": [{}]}), "no `Sns` object"),
            (
                json!({"rollback": "just-a-service", "reason": "x"}),
                "<cluster>/<service>",
            ),
            (json!({"rollback": "c/s"}), "needs a `reason`"),
            (
                json!({"source": "aws.ecs", "detail-type": "ECS Task State Change"}),
                "other than",
            ),
            (
                json!({"source": "aws.ecs", "detail-type": "ECS Deployment State Change", "detail": {"eventName": "SERVICE_DEPLOYMENT_COMPLETED"}, "resources": ["arn:aws:ecs:x:1:cluster/c"], "time": "2026-11-25T10:00:00Z"}),
                "not an ECS service ARN",
            ),
            (json!({"hello": 1}), "not SNS records"),
        ] {
            let err = parse(&e).unwrap_err();
            assert!(err.to_string().contains(expect), "{e}: {err}");
        }
    }
}

//! What alarm-rollback is invoked with: a CloudWatch alarm state change, delivered four ways
//! (SNS records of CloudWatch's alarm JSON, an EventBridge "CloudWatch Alarm State Change" on its
//! own or inside an SNS record (an EventBridge rule whose target is a topic sends the whole
//! event as the message), or CloudWatch invoking the function as an alarm action), EventBridge
//! "ECS Deployment State Change" events, or a manual rollback. Every alarm delivery becomes one
//! `AlarmNotification`, so the same decision and guards apply. The alarm type tolerates what CloudWatch really sends: a null description,
//! metric-math and anomaly-band alarms, composite alarms without `Trigger`, `Unit: null`.

pub use crate::event::InvalidEvent;
use crate::event::{AlarmData, Envelope, open, serde_error, short};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
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
    /// A composite alarm whose actions a suppressor alarm holds back (EventBridge still
    /// delivers the state change; CloudWatch would not run the alarm's actions).
    #[serde(default)]
    pub actions_suppressed_by: Option<String>,
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
        let metrics = self.trigger.as_ref().and_then(|t| t.metrics.as_deref());
        let band = metrics.is_some_and(|m| {
            m.iter().any(|q| {
                q.get("Expression")
                    .or_else(|| q.get("expression"))
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.contains("ANOMALY_DETECTION_BAND"))
            })
        });
        match (&self.trigger, metrics) {
            _ if self.alarm_rule.is_some() => "composite alarm",
            (None, _) => "composite alarm",
            _ if band => "anomaly detection alarm",
            (Some(_), Some(m)) if m.len() > 1 => "metric-math alarm",
            (Some(_), Some(m)) if m.iter().any(|q| q.get("Expression").is_some()) => {
                "metric-math alarm"
            }
            (Some(_), _) => "metric alarm",
        }
    }

    /// The EventBridge / alarm-action form, in the SNS form's terms.
    pub fn from_alarm_data(data: AlarmData, arn: Option<String>) -> Result<Self, InvalidEvent> {
        let state = |s: &Option<
            aws_lambda_events::event::cloudwatch_alarms::CloudWatchAlarmState<Value>,
        >| {
            s.as_ref().and_then(|s| {
                serde_json::to_value(&s.value)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
            })
        };
        let new_state_value = state(&data.state)
            .ok_or_else(|| InvalidEvent::new("the alarm state change has no `state.value`"))?;
        let config = &data.configuration;
        let text = |k: &str| config.get(k).and_then(Value::as_str).map(str::to_string);
        // Metric alarms list `metrics` (one, or several for metric math and anomaly bands);
        // composite alarms have `alarmRule` and no metrics.
        let metrics: Vec<Value> = config
            .get("metrics")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let alarm_rule = text("alarmRule");
        let trigger = (alarm_rule.is_none()).then(|| Trigger {
            metric_name: metrics.first().and_then(|m| {
                m.pointer("/metricStat/metric/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }),
            namespace: metrics.first().and_then(|m| {
                m.pointer("/metricStat/metric/namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }),
            unit: None,
            threshold: None,
            comparison_operator: None,
            metrics: (metrics.len() > 1 || metrics.iter().any(|m| m.get("expression").is_some()))
                .then(|| {
                    metrics
                        .iter()
                        .map(|m| {
                            let mut m = m.clone();
                            if let Some(e) = m.get("expression").cloned() {
                                m["Expression"] = e;
                            }
                            m
                        })
                        .collect()
                }),
        });
        Ok(AlarmNotification {
            alarm_name: data.alarm_name,
            alarm_description: text("description"),
            new_state_reason: data.state.as_ref().map(|s| s.reason.clone()),
            state_change_time: data.state.as_ref().map(|s| s.timestamp.to_rfc3339()),
            actions_suppressed_by: data
                .state
                .as_ref()
                .and_then(|s| s.actions_suppressed_by.clone()),
            old_state_value: state(&data.previous_state),
            new_state_value,
            alarm_arn: arn,
            trigger,
            alarm_rule,
        })
    }
}

/// The ECS deployment events that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentEvent {
    /// A release starting.
    InProgress,
    /// ECS rolling a failed deployment back itself (circuit breaker or deployment alarms): not
    /// a release.
    EcsRollingBack,
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

/// Reads a payload into the triggers it carries (an SNS batch can carry several alarms).
pub fn parse(event: &Value) -> Result<Vec<Input>, InvalidEvent> {
    match open(event)? {
        Envelope::Sns(records) => records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let input = match eventbridge_in(&r.message) {
                    // EventBridge → SNS → Lambda: the message is the whole event.
                    Some(Ok(e)) => eventbridge(*e),
                    Some(Err(e)) => Err(e),
                    None => sns_alarm(&r.message).map(|alarm| Input::Alarm {
                        message_id: r.message_id.clone(),
                        alarm: Box::new(alarm),
                    }),
                };
                input.map_err(|e| InvalidEvent(format!("record {i}: {}", e.0)))
            })
            .collect(),
        Envelope::AlarmAction(action) => {
            require_state_value(event.pointer("/alarmData/state/value"))?;
            let id = alarm_delivery_id(action.alarm_arn.as_deref(), &action.alarm_data);
            let alarm = AlarmNotification::from_alarm_data(action.alarm_data, action.alarm_arn)?;
            Ok(vec![Input::Alarm {
                message_id: id,
                alarm: Box::new(checked(alarm)?),
            }])
        }
        Envelope::EventBridge(e) => eventbridge(*e).map(|t| vec![t]),
        Envelope::Direct(obj) => manual(&obj),
    }
}

/// An SNS message that is an EventBridge event (a JSON object with `detail-type`), read with the
/// same envelope as a direct delivery (its errors are its own); `None` for anything else
/// (CloudWatch's alarm JSON).
fn eventbridge_in(message: &str) -> Option<Result<Box<EventBridgeEvent<Value>>, InvalidEvent>> {
    let value: Value = serde_json::from_str(message).ok()?;
    value.get("detail-type")?;
    Some(match open(&value) {
        Ok(Envelope::EventBridge(e)) => Ok(e),
        Ok(_) => Err(InvalidEvent::new(
            "`Sns.Message` has a `detail-type` but is not an EventBridge event",
        )),
        Err(e) => Err(e),
    })
}

/// An EventBridge event: a CloudWatch alarm state change or an ECS deployment event. The alarm's
/// delivery is named by the event's id, however it arrived (directly, or inside SNS).
fn eventbridge(e: EventBridgeEvent<Value>) -> Result<Input, InvalidEvent> {
    match (e.source.as_str(), e.detail_type.as_str()) {
        ("aws.cloudwatch", "CloudWatch Alarm State Change") => {
            require_state_value(e.detail.pointer("/state/value"))?;
            let data = crate::event::alarm_data(&e.detail)?;
            let arn = e.resources.as_ref().and_then(|r| r.first().cloned());
            let alarm = AlarmNotification::from_alarm_data(data, arn)?;
            Ok(Input::Alarm {
                message_id: e.id.clone().unwrap_or_default(),
                alarm: Box::new(checked(alarm)?),
            })
        }
        ("aws.ecs", _) => deployment(&e),
        (source, detail_type) => Err(InvalidEvent(format!(
            "an EventBridge event this function does not handle (source `{}`, detail-type \
             `{}`): it takes CloudWatch Alarm State Change and ECS Deployment State Change",
            short(source),
            short(detail_type)
        ))),
    }
}

/// `state.value` must be there: the reader would otherwise default it to `OK`.
fn require_state_value(value: Option<&Value>) -> Result<(), InvalidEvent> {
    match value {
        Some(Value::String(_)) => Ok(()),
        _ => Err(InvalidEvent::new(
            "the alarm state change has no `state.value` (ALARM, OK, INSUFFICIENT_DATA)",
        )),
    }
}

/// An alarm action has no message id: the alarm and the state's timestamp name the delivery.
fn alarm_delivery_id(arn: Option<&str>, data: &AlarmData) -> String {
    format!(
        "{}@{}",
        arn.unwrap_or(&data.alarm_name),
        data.state
            .as_ref()
            .map(|s| s.timestamp.to_rfc3339())
            .unwrap_or_default()
    )
}

fn checked(alarm: AlarmNotification) -> Result<AlarmNotification, InvalidEvent> {
    if alarm.alarm_name.trim().is_empty() {
        return Err(InvalidEvent::new("the alarm has an empty name"));
    }
    Ok(alarm)
}

fn manual(obj: &serde_json::Map<String, Value>) -> Result<Vec<Input>, InvalidEvent> {
    let Some(target) = obj.get("rollback") else {
        return Err(InvalidEvent::new(
            "not SNS records, a CloudWatch alarm (EventBridge or alarm action), an ECS \
             deployment event (source aws.ecs) or a manual {\"rollback\": \"<cluster>/<service>\", \
             \"reason\": ...}",
        ));
    };
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
    Ok(vec![Input::Manual {
        cluster,
        service,
        reason,
        dry_run,
    }])
}

fn sns_alarm(message: &str) -> Result<AlarmNotification, InvalidEvent> {
    let alarm: AlarmNotification = serde_json::from_str(message).map_err(|e| {
        InvalidEvent(format!(
            "`Sns.Message` is not a CloudWatch alarm notification (AlarmName, NewStateValue, …): {}",
            serde_error(&e)
        ))
    })?;
    checked(alarm)
}

fn deployment(
    e: &aws_lambda_events::event::eventbridge::EventBridgeEvent<Value>,
) -> Result<Input, InvalidEvent> {
    if e.detail_type != "ECS Deployment State Change" {
        return Err(InvalidEvent(format!(
            "an aws.ecs event other than \"ECS Deployment State Change\" (`{}`)",
            short(&e.detail_type)
        )));
    }
    let name = e
        .detail
        .get("eventName")
        .and_then(Value::as_str)
        .ok_or_else(|| InvalidEvent("the deployment event has no detail.eventName".into()))?;
    let reason = e
        .detail
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // ECS's own rollback (circuit breaker, or CloudWatch alarms in the deployment configuration)
    // is announced as a deployment in progress whose reason says it is rolling back.
    let ecs_rolling_back = reason.to_ascii_lowercase().contains("rolling back");
    let event = match name {
        "SERVICE_DEPLOYMENT_IN_PROGRESS" if ecs_rolling_back => DeploymentEvent::EcsRollingBack,
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
    let arn = e
        .resources
        .as_ref()
        .and_then(|r| r.first())
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
    let at = e
        .detail
        .get("updatedAt")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok())
        .or_else(|| {
            e.time
                .and_then(|t| t.to_rfc3339().parse::<Timestamp>().ok())
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sns(message: Value) -> Value {
        crate::event::sns_batch(&[("m-1", &message.to_string())])
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
    fn given_an_alarm_state_change_without_its_state_value_then_it_is_refused_not_read_as_ok() {
        let detail = json!({"alarmName": "macro-ai-prod-api-error-rate",
            "state": {"reason": "x", "timestamp": "2026-11-25T10:00:00.000+0000"},
            "configuration": {"metrics": []}});
        let eventbridge = json!({"version": "0", "id": "e", "source": "aws.cloudwatch",
            "detail-type": "CloudWatch Alarm State Change", "time": "2026-11-25T10:00:00Z",
            "resources": [], "detail": detail});
        let action = json!({"source": "aws.cloudwatch", "time": "2026-11-25T10:00:00.000+0000",
            "alarmArn": "arn:aws:cloudwatch:us-east-1:1:alarm:a", "alarmData": detail});
        for e in [eventbridge, action] {
            let err = parse(&e).unwrap_err();
            assert!(err.to_string().contains("state.value"), "{err}");
        }
    }

    #[test]
    fn given_malformed_payloads_then_errors_are_clear() {
        for (e, expect) in [
            (json!("ALARM"), "expected a JSON object"),
            (
                json!({"Records": []}),
                "`Records` must be a non-empty array",
            ),
            (
                sns(json!("not json")),
                "not a CloudWatch alarm notification",
            ),
            (sns(json!({"AlarmName": "x"})), "NewStateValue"),
            (json!({"Records": [{}]}), "not a batch of SNS records"),
            (
                json!({"rollback": "just-a-service", "reason": "x"}),
                "<cluster>/<service>",
            ),
            (json!({"rollback": "c/s"}), "needs a `reason`"),
            (
                json!({"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": {}}),
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

//! Payloads AWS documents and the Lambda SDKs ship as fixtures (events/aws-samples/, each one's
//! source in its SOURCES.md), fed to the parsers the functions use, with what each must be
//! understood as. The samples are copied as published; none was written for these tests.

use serde_json::{Value, json};
use shared::budget::{BudgetInput, parse as budget_parse};
use shared::rollback::{DeploymentEvent, Input, parse as rollback_parse};
use shared::rotation::{RotationRequest, Step};

fn sample(name: &str) -> Value {
    tests::sample(&format!("aws-samples/{name}"))
}

/// An SNS record around `message`, the way the function receives it (the envelope of a real
/// delivery: events/aws-samples/budgets-daily-sns-event.json).
fn in_sns(message: &str) -> Value {
    let mut event = sample("budgets-daily-sns-event.json");
    event["Records"][0]["Sns"]["Message"] = json!(message);
    event
}

/// (alarm name, state, kind, suppressed) of each alarm in a payload.
fn alarms(event: &Value) -> Vec<(String, String, &'static str, bool)> {
    rollback_parse(event)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|input| match input {
            Input::Alarm { alarm, .. } => (
                alarm.alarm_name.clone(),
                alarm.new_state_value.clone(),
                alarm.kind(),
                alarm.actions_suppressed_by.is_some(),
            ),
            other => panic!("expected an alarm, got {other:?}"),
        })
        .collect()
}

#[test]
fn alarms_delivered_by_eventbridge_are_understood() {
    for (file, name, kind, suppressed) in [
        (
            "eventbridge-alarm-single-metric.json",
            "ServerCpuTooHigh",
            "metric alarm",
            false,
        ),
        (
            "eventbridge-alarm-metric-math.json",
            "TotalNetworkTrafficTooHigh",
            "metric-math alarm",
            false,
        ),
        (
            "eventbridge-alarm-anomaly-detection.json",
            "EC2 CPU Utilization Anomaly",
            "anomaly detection alarm",
            false,
        ),
        (
            "eventbridge-alarm-composite-suppressed.json",
            "ServiceAggregatedAlarm",
            "composite alarm",
            true,
        ),
    ] {
        assert_eq!(
            alarms(&sample(file)),
            vec![(name.to_string(), "ALARM".to_string(), kind, suppressed)],
            "{file}"
        );
    }
}

#[test]
fn alarms_delivered_as_a_direct_alarm_action_are_understood() {
    // aws-lambda-rust-runtime's fixtures carry `"time": "2023-08-04T12: 36: 15.490+0000"`
    // (stray spaces, not what CloudWatch sends); the crate's own reader accepts them, and so
    // does the function.
    for (file, name, kind) in [
        (
            "alarm-action-metric-java.json",
            "lambda-demo-metric-alarm",
            "metric alarm",
        ),
        (
            "alarm-action-composite-java.json",
            "CompositeDemo.Main",
            "composite alarm",
        ),
        (
            "alarm-action-metric-math-powertools.json",
            "Test alert",
            "metric-math alarm",
        ),
        (
            "alarm-action-composite-powertools.json",
            "CompositeDemo.Main",
            "composite alarm",
        ),
        (
            "alarm-action-metric-rust-runtime.json",
            "lambda-demo-metric-alarm",
            "metric alarm",
        ),
        (
            "alarm-action-composite-rust-runtime.json",
            "CompositeDemo.Main",
            "composite alarm",
        ),
    ] {
        assert_eq!(
            alarms(&sample(file)),
            vec![(name.to_string(), "ALARM".to_string(), kind, false)],
            "{file}"
        );
    }
}

#[test]
fn alarms_delivered_by_sns_are_understood() {
    for (file, count, kind) in [
        ("sns-alarm-single-metric-go.json", 1, "metric alarm"),
        ("sns-alarm-multiple-metrics-go.json", 1, "metric-math alarm"),
        (
            "sns-alarm-single-metric-rust-runtime.json",
            1,
            "metric alarm",
        ),
        (
            "sns-alarm-two-records-rust-runtime.json",
            2,
            "metric-math alarm",
        ),
    ] {
        let got = alarms(&sample(file));
        assert_eq!(got.len(), count, "{file}");
        for (name, state, k, suppressed) in got {
            assert_eq!(
                (name.as_str(), state.as_str(), k, suppressed),
                ("EXAMPLE", "ALARM", kind, false),
                "{file}"
            );
        }
    }
}

#[test]
fn ecs_deployment_events_tell_a_release_from_ecs_rolling_back() {
    for (file, expected) in [
        (
            "ecs-deployment-in-progress.json",
            DeploymentEvent::InProgress,
        ),
        (
            "ecs-deployment-circuit-breaker-rolling-back.json",
            DeploymentEvent::EcsRollingBack,
        ),
        ("ecs-deployment-completed.json", DeploymentEvent::Completed),
        ("ecs-deployment-failed.json", DeploymentEvent::Failed),
    ] {
        let inputs = rollback_parse(&sample(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        match &inputs[..] {
            [
                Input::Deployment {
                    cluster,
                    service,
                    event,
                    ..
                },
            ] => assert_eq!(
                (cluster.as_str(), service.as_str(), *event),
                ("default", "servicetest", expected),
                "{file}"
            ),
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn anomaly_alerts_of_every_vintage_are_understood() {
    let anomaly = |event: &Value| match budget_parse(event)
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0)
    {
        BudgetInput::Anomaly { anomaly, .. } => anomaly,
        other => panic!("expected an anomaly, got {other:?}"),
    };
    // 2021: no percentage, no actual or expected spend. The $1,001 must not read as 0%.
    let old = anomaly(&in_sns(&sample("anomaly-message-2021.json").to_string()));
    assert_eq!(
        (
            old.anomaly_id.as_str(),
            old.total_impact,
            old.impact_percentage
        ),
        ("newAnomalyId", 1001.0, None)
    );
    // Today's SNS message and EventBridge event.
    let current = anomaly(&in_sns(&sample("anomaly-message-current.json").to_string()));
    assert_eq!(
        (current.total_impact, current.impact_percentage),
        (1001.0, Some(333.67))
    );
    let eventbridge = anomaly(&sample("anomaly-eventbridge-doc.json"));
    assert_eq!(
        (
            eventbridge.total_impact,
            eventbridge.impact_percentage,
            eventbridge.root_causes[0].linked_account.as_deref()
        ),
        (1001.0, Some(333.67), Some("111122223333"))
    );
    // Without `totalImpactPercentage` but with both spends, it is computed: (1301-300)/300.
    let mut computed = sample("anomaly-message-current.json");
    computed["impact"]
        .as_object_mut()
        .expect("impact")
        .remove("totalImpactPercentage");
    let computed = anomaly(&in_sns(&computed.to_string()));
    let pct = computed.impact_percentage.expect("computed");
    assert!((pct - 333.666).abs() < 0.01, "{pct}");
    // Expected spend 0 (the console shows N/A): unknown, not infinite and not 0.
    let mut zero = sample("anomaly-message-current.json");
    zero["impact"]
        .as_object_mut()
        .expect("impact")
        .remove("totalImpactPercentage");
    zero["impact"]["totalExpectedSpend"] = json!(0);
    assert_eq!(anomaly(&in_sns(&zero.to_string())).impact_percentage, None);
}

#[test]
fn a_captured_daily_budget_notification_is_understood() {
    for event in [
        sample("budgets-daily-sns-event.json"),
        in_sns(&tests::sample_text("aws-samples/budgets-daily-message.txt")),
    ] {
        match budget_parse(&event)
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0)
        {
            BudgetInput::Budget { alert, .. } => {
                assert_eq!(alert.budget_name, "killswitch");
                assert_eq!(
                    alert.alert_type,
                    shared::budget::AlertType::Actual,
                    "{alert:?}"
                );
                assert!(alert.amount.is_some_and(|a| a > 0.0), "{alert:?}");
                assert!(
                    alert.threshold.is_some(),
                    "a $0.00 threshold is a threshold"
                );
            }
            other => panic!("expected a budget alert, got {other:?}"),
        }
    }
    // The Subject is optional when publishing: a notification without one reads the same.
    let mut no_subject = sample("budgets-daily-sns-event.json");
    no_subject["Records"][0]["Sns"]
        .as_object_mut()
        .expect("Sns")
        .remove("Subject");
    assert!(matches!(
        budget_parse(&no_subject).expect("parses").remove(0),
        BudgetInput::Budget { .. }
    ));
}

#[test]
fn rotation_events_from_every_sdk_fixture_are_understood() {
    for (file, with_rotation_token) in [
        ("rotation-event-go.json", true),
        ("rotation-event-java.json", true),
        ("rotation-event-powertools.json", false),
        ("rotation-event-rust-runtime.json", false),
    ] {
        match RotationRequest::from_value(&sample(file)) {
            Ok(RotationRequest::Rotate(step)) => {
                assert_eq!(step.step, Step::Create, "{file}");
                assert!(!step.secret_id.is_empty() && !step.token.is_empty());
                assert_eq!(step.rotation_token.is_some(), with_rotation_token, "{file}");
            }
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn the_documented_secret_label_updated_event_asks_for_a_refresh_of_its_version() {
    let event = sample("secret-label-updated-doc.json");
    assert_eq!(
        shared::consumers::parse(&event).expect("understood"),
        shared::consumers::RefreshRequest::LabelUpdated {
            secret: "arn:aws:secretsmanager:us-west-2:012345678901:secret:mySecret-a1b2c3".into(),
            label: "AWSCURRENT".into(),
            version: "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111".into(),
            at: Some("2024-02-06T16:43:48Z".parse().expect("a time")),
        }
    );
    // Our Macro AI-shaped sample (events/refresh-consumers/) has the same shape.
    let ours = tests::sample("refresh-consumers/secret-label-updated.json");
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
        k.extend(
            v["detail"]
                .as_object()
                .expect("detail")
                .keys()
                .map(|d| format!("detail.{d}")),
        );
        k.sort();
        k
    };
    assert_eq!(keys(&ours), keys(&event));
}

#[test]
fn an_eventbridge_alarm_delivered_through_sns_is_the_same_alarm_with_the_same_delivery_id() {
    // EventBridge rule → SNS topic → Lambda: the record's message is the whole event.
    let through_sns = rollback_parse(&sample("sns-eventbridge-alarm.json")).expect("understood");
    let direct =
        rollback_parse(&sample("eventbridge-alarm-single-metric.json")).expect("understood");
    assert_eq!(
        through_sns, direct,
        "the same alarm, named by the event's id"
    );
    assert_eq!(
        alarms(&sample("sns-eventbridge-alarm.json")),
        vec![(
            "ServerCpuTooHigh".to_string(),
            "ALARM".to_string(),
            "metric alarm",
            false
        )]
    );
    // An ECS deployment event that came the same way is read as one too.
    let mut wrapped = sample("sns-eventbridge-alarm.json");
    wrapped["Records"][0]["Sns"]["Message"] =
        json!(sample("ecs-deployment-completed.json").to_string());
    assert!(matches!(
        rollback_parse(&wrapped).expect("understood").as_slice(),
        [Input::Deployment {
            event: DeploymentEvent::Completed,
            ..
        }]
    ));
    // A broken one inside SNS is named, not taken for the classic alarm JSON.
    let mut broken = sample("sns-eventbridge-alarm.json");
    broken["Records"][0]["Sns"]["Message"] =
        json!(r#"{"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch"}"#);
    let e = rollback_parse(&broken).unwrap_err().to_string();
    assert!(e.contains("record 0") && !e.contains("AlarmName"), "{e}");
}

//! The sample events under `events/` (the demo invokes a part of them with `cargo lambda invoke
//! --data-file`) are what each function's handler expects: every one is parsed here.

use serde_json::Value;
use shared::rotation::{RotationRequest, Step};

fn parse(raw: &str) -> RotationRequest {
    let value: Value = serde_json::from_str(raw).expect("sample events are JSON");
    RotationRequest::from_value(&value).expect("sample events parse")
}

macro_rules! rotation_events {
    ($dir:literal) => {
        [
            (
                tests::sample_text(concat!($dir, "/createSecret.json")),
                Some(Step::Create),
            ),
            (
                tests::sample_text(concat!($dir, "/setSecret.json")),
                Some(Step::Set),
            ),
            (
                tests::sample_text(concat!($dir, "/testSecret.json")),
                Some(Step::Test),
            ),
            (
                tests::sample_text(concat!($dir, "/finishSecret.json")),
                Some(Step::Finish),
            ),
            (tests::sample_text(concat!($dir, "/validate.json")), None),
        ]
    };
}

#[test]
fn the_rotation_sample_events_parse_to_their_steps_for_their_secret() {
    for (events, secret) in [
        (rotation_events!("rotate-postgres"), "macro-ai/dev/database"),
        (rotation_events!("rotate-redis"), "macro-ai/dev/redis"),
        (
            rotation_events!("rotate-openai-key"),
            "macro-ai/dev/openai-api-key",
        ),
        (
            rotation_events!("rotate-app-secrets"),
            "macro-ai/dev/jwt-secrets",
        ),
    ] {
        for (raw, step) in events {
            match (parse(&raw), step) {
                (RotationRequest::Rotate(r), Some(step)) => {
                    assert_eq!((r.step, r.secret_id.as_str()), (step, secret));
                }
                (RotationRequest::Validate { secret_id }, None) => assert_eq!(secret_id, secret),
                (other, step) => panic!("{secret}: expected {step:?}, got {other:?}"),
            }
        }
    }
}

#[test]
fn the_after_hours_scaling_sample_events_parse_with_their_own_time() {
    use shared::scaling::{Mode, ScalingRequest};
    let never =
        || -> jiff::Timestamp { panic!("a sample event with a time must not read the clock") };
    let clock = || "2030-01-01T00:00:00Z".parse().expect("a time");
    for (raw, mode, at) in [
        (
            &tests::sample_text("after-hours-scaling/tuesday-evening.json"),
            Mode::Reconcile,
            "2026-11-24T19:00:00Z",
        ),
        (
            &tests::sample_text("after-hours-scaling/wednesday-morning.json"),
            Mode::Reconcile,
            "2026-11-25T09:00:00Z",
        ),
        (
            &tests::sample_text("after-hours-scaling/saturday-noon.json"),
            Mode::Reconcile,
            "2026-11-28T12:00:00Z",
        ),
        (
            &tests::sample_text("after-hours-scaling/tuesday-late-night.json"),
            Mode::Reconcile,
            "2026-11-24T23:00:00Z",
        ),
        (
            &tests::sample_text("after-hours-scaling/wednesday-early.json"),
            Mode::Reconcile,
            "2026-11-25T07:00:00Z",
        ),
        (
            &tests::sample_text("after-hours-scaling/dst-change-morning.json"),
            Mode::Reconcile,
            "2026-10-26T08:00:00Z",
        ),
        (
            &tests::sample_text("after-hours-scaling/manual-reconcile.json"),
            Mode::Reconcile,
            "2026-11-24T19:00:00Z",
        ),
    ] {
        let r = ScalingRequest::from_value(&serde_json::from_str(raw).expect("JSON"), never)
            .expect("parses");
        assert_eq!((r.mode, r.at.to_string()), (mode, at.to_string()));
    }
    for (raw, mode, dry_run) in [
        (
            &tests::sample_text("after-hours-scaling/manual-scale-down-dry-run.json"),
            Mode::ScaleDown,
            true,
        ),
        (
            &tests::sample_text("after-hours-scaling/manual-scale-up.json"),
            Mode::ScaleUp,
            false,
        ),
    ] {
        let r = ScalingRequest::from_value(&serde_json::from_str(raw).expect("JSON"), clock)
            .expect("parses");
        assert_eq!(
            (r.mode, r.dry_run, r.environment.as_deref()),
            (mode, dry_run, Some("dev"))
        );
    }
}

#[test]
fn the_alarm_rollback_sample_events_parse_to_what_they_show() {
    use shared::rollback::{DeploymentEvent, Input, parse};
    let alarm = |raw: &str| match parse(&serde_json::from_str(raw).expect("JSON"))
        .expect("parses")
        .remove(0)
    {
        Input::Alarm { alarm, .. } => (
            alarm.alarm_name.clone(),
            alarm.new_state_value.clone(),
            alarm.kind(),
        ),
        other => panic!("expected an alarm, got {other:?}"),
    };
    assert_eq!(
        alarm(&tests::sample_text(
            "alarm-rollback/single-metric-alarm.json"
        )),
        (
            "macro-ai-prod-api-unhealthy-hosts".into(),
            "ALARM".into(),
            "metric alarm"
        )
    );
    assert_eq!(
        alarm(&tests::sample_text("alarm-rollback/metric-math-alarm.json")),
        (
            "macro-ai-prod-api-error-rate".into(),
            "ALARM".into(),
            "metric-math alarm"
        )
    );
    assert_eq!(
        alarm(&tests::sample_text("alarm-rollback/ok-transition.json")),
        (
            "macro-ai-prod-api-error-rate".into(),
            "OK".into(),
            "metric-math alarm"
        )
    );
    assert_eq!(
        alarm(&tests::sample_text("alarm-rollback/composite-alarm.json")),
        (
            "macro-ai-prod-api-release-health".into(),
            "ALARM".into(),
            "composite alarm"
        )
    );
    for (raw, expected) in [
        (
            &tests::sample_text("alarm-rollback/deployment-in-progress.json"),
            DeploymentEvent::InProgress,
        ),
        (
            &tests::sample_text("alarm-rollback/deployment-completed.json"),
            DeploymentEvent::Completed,
        ),
    ] {
        match parse(&serde_json::from_str(raw).expect("JSON"))
            .expect("parses")
            .remove(0)
        {
            Input::Deployment {
                cluster,
                service,
                event,
                ..
            } => {
                assert_eq!(
                    (cluster.as_str(), service.as_str(), event),
                    (
                        "macro-ai-prod-cluster",
                        "macro-ai-prod-api-service",
                        expected
                    )
                );
            }
            other => panic!("expected a deployment event, got {other:?}"),
        }
    }
    let manual = parse(
        &serde_json::from_str(&tests::sample_text("alarm-rollback/manual-rollback.json"))
            .expect("JSON"),
    )
    .expect("parses");
    assert!(
        matches!(&manual[0], Input::Manual { dry_run: true, service, .. } if service == "macro-ai-prod-api-service")
    );
}

#[test]
fn the_budget_response_sample_events_parse_to_what_they_show() {
    use shared::budget::{AlertType, BudgetInput, parse};
    let one = |raw: &str| {
        parse(&serde_json::from_str(raw).expect("JSON"))
            .expect("parses")
            .remove(0)
    };
    for (raw, name, kind, amount) in [
        (
            &tests::sample_text("budget-response/budget-dev-actual.json"),
            "macro-ai-dev-monthly",
            AlertType::Actual,
            123.4,
        ),
        (
            &tests::sample_text("budget-response/budget-dev-forecasted.json"),
            "macro-ai-dev-monthly",
            AlertType::Forecasted,
            150.0,
        ),
        (
            &tests::sample_text("budget-response/budget-staging-actual.json"),
            "macro-ai-staging-monthly",
            AlertType::Actual,
            185.1,
        ),
        (
            &tests::sample_text("budget-response/budget-staging-forecasted.json"),
            "macro-ai-staging-monthly",
            AlertType::Forecasted,
            225.0,
        ),
        (
            &tests::sample_text("budget-response/budget-prod-actual.json"),
            "macro-ai-prod-monthly",
            AlertType::Actual,
            1234.0,
        ),
        (
            &tests::sample_text("budget-response/budget-prod-forecasted.json"),
            "macro-ai-prod-monthly",
            AlertType::Forecasted,
            1500.0,
        ),
    ] {
        match one(raw) {
            BudgetInput::Budget { alert, .. } => {
                assert_eq!((alert.budget_name.as_str(), alert.alert_type), (name, kind));
                assert!(
                    (alert.amount.unwrap_or_default() - amount).abs() < 0.01,
                    "{name}: {:?}",
                    alert.amount
                );
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    for raw in [
        &tests::sample_text("budget-response/anomaly-sns.json"),
        &tests::sample_text("budget-response/anomaly-eventbridge.json"),
    ] {
        assert!(
            matches!(one(raw), BudgetInput::Anomaly { anomaly, .. } if anomaly.root_causes.len() == 2 && anomaly.total_impact == 180.0)
        );
    }
    assert!(
        matches!(one(&tests::sample_text("budget-response/release-dev.json")), BudgetInput::Release { environment } if environment == "dev")
    );
    assert!(
        matches!(one(&tests::sample_text("budget-response/hold-staging.json")), BudgetInput::Hold { environment, .. } if environment == "staging")
    );
    assert!(matches!(
        one(&tests::sample_text("budget-response/monthly-release.json")),
        BudgetInput::NewPeriod { .. }
    ));
}

#[test]
fn the_refresh_consumers_sample_events_parse_to_their_requests() {
    use shared::consumers::{RefreshRequest, parse};
    let secret = "macro-ai/staging/database";
    for (file, expected) in [
        (
            "refresh-consumers/manual-refresh.json",
            RefreshRequest::Manual {
                secret: secret.into(),
                dry_run: false,
            },
        ),
        (
            "refresh-consumers/manual-refresh-dry-run.json",
            RefreshRequest::Manual {
                secret: secret.into(),
                dry_run: true,
            },
        ),
        (
            "refresh-consumers/reconcile.json",
            RefreshRequest::Reconcile { dry_run: false },
        ),
    ] {
        assert_eq!(parse(&tests::sample(file)).expect(file), expected, "{file}");
    }
    match parse(&tests::sample(
        "refresh-consumers/secret-label-updated.json",
    )) {
        Ok(RefreshRequest::LabelUpdated {
            secret: arn, label, ..
        }) => {
            assert!(arn.contains(":secret:macro-ai/staging/database-") && label == "AWSCURRENT");
        }
        other => panic!("{other:?}"),
    }
}

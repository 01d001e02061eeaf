//! budget-response end to end: moto's ECS, Application Auto Scaling, DynamoDB, SNS and SQS
//! through the real SDK, with the after-hours scaler alongside. Each test has its own account.

use anyhow::Result;
use budget_response::{Config, Responder, handle};
use jiff::Timestamp;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::aws::dynamodb::DynamoNotificationLedger;
use shared::aws::ecs::EcsFleet;
use shared::aws::sns::SnsNotifier;
use shared::budget::BudgetResponder;
use shared::capacity::{Bounds, FleetError, FleetErrorKind, ServiceFleet, ServiceId, ServiceState};
use std::collections::BTreeMap;
use tests::ecs::Aws;
use tests::{MotoAccount, Stack, capture_logs, unique};
use tests::{invoke, sample, sample_text};

struct World {
    aws: Aws,
    queue: String,
    responder: Responder,
    config: Config,
}

async fn world(vars: &[(&str, &str)]) -> Result<World> {
    let aws = Stack::get().aws(&MotoAccount::new());
    for (env, schedule) in [
        ("dev", "dev-office-hours"),
        ("staging", "staging-nightly"),
        ("prod", "off"),
    ] {
        let cluster = format!("macro-ai-{env}-cluster");
        let td = aws.cluster(&cluster).await?;
        aws.service(
            &cluster,
            &td,
            &format!("macro-ai-{env}-api-service"),
            2,
            &[("macro-ai:schedule", schedule)],
            Some((1, 4)),
        )
        .await?;
        aws.service(
            &cluster,
            &td,
            &format!("macro-ai-{env}-ui-service"),
            2,
            &[("macro-ai:schedule", schedule)],
            None,
        )
        .await?;
    }
    let table = unique("budget-events");
    aws.ledger_table(&table).await?;
    let (topic, queue) = aws.topic_with_queue("macro-ai-ops-notifications").await?;
    let mut vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.insert("BUDGET_EVENTS_TABLE".into(), table);
    vars.insert("NOTIFY_TOPIC_ARN".into(), topic);
    let config = Config::from_lookup(|k| vars.get(k).cloned())?;
    let responder = budget_response::responder(
        aws.ecs.clone(),
        aws.autoscaling.clone(),
        aws.dynamodb.clone(),
        aws.sns.clone(),
        config.clone(),
    );
    Ok(World {
        aws,
        queue,
        responder,
        config,
    })
}

/// A sample SNS event with a fresh MessageId (another delivery of another notification).
fn fresh(mut event: Value) -> Value {
    event["Records"][0]["Sns"]["MessageId"] = json!(unique("msg"));
    event
}

async fn capacity(aws: &Aws, env: &str, svc: &str) -> Result<(i32, Option<(i32, i32)>, bool)> {
    let o = aws
        .observe(
            &format!("macro-ai-{env}-cluster"),
            &format!("macro-ai-{env}-{svc}-service"),
        )
        .await?;
    Ok((
        o.desired,
        o.bounds,
        o.tags.contains_key("macro-ai:budget-hold"),
    ))
}

#[tokio::test]
async fn a_dev_breach_holds_dev_at_zero_through_the_morning_until_released() -> Result<()> {
    capture_logs();
    let w = world(&[]).await?;
    let r = invoke(
        &w.responder,
        sample("budget-response/budget-dev-actual.json"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("held"), "{r}");
    assert_eq!(
        capacity(&w.aws, "dev", "api").await?,
        (0, Some((0, 0)), true)
    );
    assert_eq!(capacity(&w.aws, "dev", "ui").await?, (0, None, true));
    assert_eq!(
        capacity(&w.aws, "staging", "api").await?,
        (2, Some((1, 4)), false),
        "staging untouched"
    );
    let notes = w.aws.notifications(&w.queue).await?;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let (subject, message) = &notes[0];
    assert!(subject.contains("dev held"), "{subject}");
    for expect in [
        "ACTUAL: $123.40 of a $100.00 budget",
        "macro-ai-dev-api-service: desired=2 min=1 max=4 -> desired=0 min=0 max=0",
        "{\"release\": \"dev\"}",
        "released automatically",
    ] {
        assert!(message.contains(expect), "{expect}: {message}");
    }

    // The after-hours morning run leaves held services alone.
    let scaler = after_hours_scaling::scaler(
        w.aws.ecs.clone(),
        w.aws.autoscaling.clone(),
        w.aws.sns.clone(),
        after_hours_scaling::Config::from_lookup(|_| None)?,
    );
    let morning = shared::scaling::ScalingRequest::from_value(
        &json!({"action": "reconcile", "at": "2026-11-25T09:00:00Z"}),
        Timestamp::now,
    )?;
    let report = scaler.run(&morning).await;
    assert!(
        report
            .services
            .iter()
            .filter(|s| s.service.contains("dev"))
            .all(|s| s.outcome == "skipped"),
        "{report:?}"
    );
    assert_eq!(capacity(&w.aws, "dev", "api").await?.0, 0);

    let r = invoke(&w.responder, sample("budget-response/release-dev.json")).await?;
    assert_eq!(r["outcomes"][0]["action"], json!("released"));
    assert_eq!(
        capacity(&w.aws, "dev", "api").await?,
        (2, Some((1, 4)), false),
        "exactly the previous capacity"
    );
    assert_eq!(capacity(&w.aws, "dev", "ui").await?, (2, None, false));
    let o = w
        .aws
        .observe("macro-ai-dev-cluster", "macro-ai-dev-api-service")
        .await?;
    assert!(!o.tags.contains_key("macro-ai:saved-capacity"));
    Ok(())
}

#[tokio::test]
async fn staging_goes_to_one_task_and_prod_is_only_reported() -> Result<()> {
    capture_logs();
    let w = world(&[]).await?;
    assert_eq!(
        invoke(
            &w.responder,
            sample("budget-response/budget-staging-actual.json")
        )
        .await?["outcomes"][0]["action"],
        json!("held")
    );
    assert_eq!(
        capacity(&w.aws, "staging", "api").await?,
        (1, Some((1, 1)), true)
    );
    assert_eq!(capacity(&w.aws, "staging", "ui").await?, (1, None, true));
    let r = invoke(
        &w.responder,
        sample("budget-response/budget-prod-actual.json"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("notified"), "{r}");
    assert_eq!(
        capacity(&w.aws, "prod", "api").await?,
        (2, Some((1, 4)), false),
        "prod never scaled"
    );
    let notes = w.aws.notifications(&w.queue).await?;
    assert!(
        notes
            .iter()
            .any(|(s, m)| s.contains("macro-ai-prod-monthly over budget")
                && m.contains("ACTUAL: $1234.00 of a $1000.00 budget")
                && m.contains("notify only")),
        "{notes:?}"
    );
    // A manual hold of prod is refused, and nothing changes.
    let e = invoke(&w.responder, json!({"hold": "prod", "reason": "test"}))
        .await
        .expect_err("prod cannot be held");
    assert!(
        e.message().contains("production is never scaled"),
        "{}",
        e.message()
    );
    assert_eq!(
        capacity(&w.aws, "prod", "api").await?,
        (2, Some((1, 4)), false)
    );
    Ok(())
}

#[tokio::test]
async fn forecasts_and_anomalies_notify_with_root_causes_and_a_mapped_anomaly_acts() -> Result<()> {
    capture_logs();
    let w = world(&[("ANOMALY_ENVIRONMENTS", r#"{"111122223333": "dev"}"#)]).await?;
    for name in [
        "budget-dev-forecasted",
        "budget-staging-forecasted",
        "budget-prod-forecasted",
    ] {
        assert_eq!(
            invoke(
                &w.responder,
                sample(&format!("budget-response/{name}.json"))
            )
            .await?["outcomes"][0]["action"],
            json!("notified"),
            "{name}"
        );
    }
    assert_eq!(
        capacity(&w.aws, "dev", "api").await?,
        (2, Some((1, 4)), false),
        "a forecast changes nothing"
    );
    let notes = w.aws.notifications(&w.queue).await?;
    assert_eq!(notes.len(), 3);
    assert!(
        notes.iter().all(|(_, m)| m.contains("a forecast only")),
        "{notes:?}"
    );

    // The EventBridge form of an anomaly in an unmapped account: notified with every root cause.
    let mut eb = sample("budget-response/anomaly-eventbridge.json");
    eb["detail"]["anomalyId"] = json!(unique("anomaly"));
    eb["detail"]["rootCauses"][0]["linkedAccount"] = json!("999988887777");
    eb["detail"]["rootCauses"][1]["linkedAccount"] = json!("999988887777");
    assert_eq!(
        invoke(&w.responder, eb).await?["outcomes"][0]["action"],
        json!("notified")
    );
    let notes = w.aws.notifications(&w.queue).await?;
    assert!(
        notes[0].1.contains("USE1-Fargate-vCPU-Hours:perCPU")
            && notes[0].1.contains("USE1-Fargate-GB-Hours")
            && notes[0].1.contains("75.0%"),
        "{notes:?}"
    );
    assert_eq!(capacity(&w.aws, "dev", "api").await?.0, 2);

    // The SNS form, in the dev account and above ANOMALY_ACTION_USD: acts like an ACTUAL breach.
    let r = invoke(&w.responder, sample("budget-response/anomaly-sns.json")).await?;
    assert_eq!(r["outcomes"][0]["action"], json!("held"), "{r}");
    assert_eq!(
        capacity(&w.aws, "dev", "api").await?,
        (0, Some((0, 0)), true)
    );
    Ok(())
}

#[tokio::test]
async fn a_redelivery_is_one_action_and_an_unknown_budget_only_notifies() -> Result<()> {
    capture_logs();
    let w = world(&[]).await?;
    let event = sample("budget-response/budget-staging-actual.json");
    invoke(&w.responder, event.clone()).await?;
    let again = invoke(&w.responder, event).await?;
    assert_eq!(again["outcomes"][0]["action"], json!("duplicate"));
    assert_eq!(
        w.aws.notifications(&w.queue).await?.len(),
        1,
        "one notification"
    );

    let mut unknown = fresh(sample("budget-response/budget-dev-actual.json"));
    let text = unknown["Records"][0]["Sns"]["Message"]
        .as_str()
        .unwrap_or_default()
        .replace("macro-ai-dev-monthly", "marketing-q4");
    unknown["Records"][0]["Sns"]["Message"] = json!(text);
    assert_eq!(
        invoke(&w.responder, unknown).await?["outcomes"][0]["action"],
        json!("unmapped")
    );
    let notes = w.aws.notifications(&w.queue).await?;
    assert!(
        notes.len() == 1 && notes[0].0.contains("unmapped budget marketing-q4"),
        "{notes:?}"
    );
    assert_eq!(
        capacity(&w.aws, "dev", "api").await?,
        (2, Some((1, 4)), false)
    );
    Ok(())
}

#[tokio::test]
async fn malformed_messages_change_nothing_and_the_monthly_schedule_releases_old_holds()
-> Result<()> {
    capture_logs();
    let w = world(&[]).await?;
    // Real SNS deliveries (the sample's envelope) carrying messages budget-response cannot use.
    let message = |text: &str| {
        let mut e = fresh(sample("budget-response/budget-dev-actual.json"));
        e["Records"][0]["Sns"]["Message"] = json!(text);
        e
    };
    for (event, expect) in [
        (message("Hello from marketing"), "no `Budget Name:`"),
        (
            message("Budget Name: macro-ai-dev-monthly\nAlert Type: SOMETIMES"),
            "ACTUAL or FORECASTED",
        ),
        (message("{\"anomalyId\": \"a\"}"), "no `impact`"),
        (
            json!({"Records": [{"Sns": {"MessageId": "x", "Message": "Hello"}}]}),
            "not a batch of SNS records",
        ),
        (json!({"hold": "staging"}), "needs a `reason`"),
        (json!(["release"]), "expected a JSON object"),
    ] {
        let e = invoke(&w.responder, event.clone())
            .await
            .expect_err("malformed");
        assert_eq!(e.error_type(), "InvalidEvent");
        assert!(e.message().contains(expect), "{event}: {}", e.message());
    }
    assert_eq!(
        capacity(&w.aws, "dev", "api").await?,
        (2, Some((1, 4)), false)
    );
    assert!(w.aws.notifications(&w.queue).await?.is_empty());

    // A manual hold now; the monthly event at the start of *this* month keeps it (it is newer) ...
    assert_eq!(
        invoke(&w.responder, sample("budget-response/hold-staging.json")).await?["outcomes"][0]["action"],
        json!("held")
    );
    let this_month = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}, "time": Timestamp::now().to_string()});
    assert_eq!(
        invoke(&w.responder, this_month).await?["outcomes"][0]["action"],
        json!("nothing-held")
    );
    assert!(capacity(&w.aws, "staging", "api").await?.2);
    // ... and the one at the start of next month releases it.
    let next_month = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {},
                            "time": (Timestamp::now() + jiff::SignedDuration::from_hours(24 * 32)).to_string()});
    assert_eq!(
        invoke(&w.responder, next_month).await?["outcomes"][0]["action"],
        json!("released")
    );
    assert_eq!(
        capacity(&w.aws, "staging", "api").await?,
        (2, Some((1, 4)), false)
    );
    Ok(())
}

#[tokio::test]
async fn an_anomaly_in_the_2021_format_is_announced_with_its_dollars_not_dropped() -> Result<()> {
    capture_logs();
    let w = world(&[]).await?;
    // AWS's documented 2021 message (events/aws-samples/SOURCES.md): no percentage, no spends.
    let mut event = fresh(sample("budget-response/anomaly-sns.json"));
    event["Records"][0]["Sns"]["Message"] =
        json!(sample_text("aws-samples/anomaly-message-2021.json"));
    let r = invoke(&w.responder, event).await?;
    assert_eq!(r["outcomes"][0]["action"], json!("notified"), "{r}");
    let notes = w.aws.notifications(&w.queue).await?;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].1.contains("$1001.00") && notes[0].1.contains("percentage unknown"),
        "{notes:?}"
    );
    // A small percentage of a large bill: $15,000 at 12% is over ANOMALY_ACTION_USD, announced.
    let mut big = fresh(sample("budget-response/anomaly-sns.json"));
    let mut message: Value =
        serde_json::from_str(big["Records"][0]["Sns"]["Message"].as_str().unwrap_or("{}"))?;
    message["impact"] = json!({"totalImpact": 15000.0, "totalImpactPercentage": 12.0,
                               "totalActualSpend": 140000.0, "totalExpectedSpend": 125000.0});
    message["rootCauses"][0]["linkedAccount"] = json!("999988887777");
    message["rootCauses"][1]["linkedAccount"] = json!("999988887777");
    big["Records"][0]["Sns"]["Message"] = json!(message.to_string());
    let r = invoke(&w.responder, big).await?;
    assert_eq!(r["outcomes"][0]["action"], json!("notified"), "{r}");
    Ok(())
}

#[tokio::test]
async fn one_anomaly_by_sns_and_by_eventbridge_is_one_action() -> Result<()> {
    capture_logs();
    let w = world(&[("ANOMALY_ENVIRONMENTS", r#"{"111122223333": "dev"}"#)]).await?;
    // The same anomaly id, once from each channel (each with its own message id).
    let first = invoke(
        &w.responder,
        fresh(sample("budget-response/anomaly-sns.json")),
    )
    .await?;
    assert_eq!(first["outcomes"][0]["action"], json!("held"), "{first}");
    let mut eb = sample("budget-response/anomaly-eventbridge.json");
    eb["id"] = json!(unique("event"));
    let second = invoke(&w.responder, eb).await?;
    assert_eq!(
        second["outcomes"][0]["action"],
        json!("duplicate"),
        "{second}"
    );
    let notes = w.aws.notifications(&w.queue).await?;
    assert_eq!(notes.len(), 1, "one announcement: {notes:?}");
    Ok(())
}

/// The real ECS fleet with one fault: tagging `fail_tag` fails, or `set_desired` on `stall`
/// never returns (an invocation that times out there).
struct Faulty {
    inner: EcsFleet,
    fail_tag: Option<String>,
    stall: Option<String>,
}

impl ServiceFleet for Faulty {
    async fn list(&self, cluster: &str) -> Result<Vec<ServiceState>, FleetError> {
        self.inner.list(cluster).await
    }
    async fn get(&self, s: &ServiceId) -> Result<ServiceState, FleetError> {
        self.inner.get(s).await
    }
    async fn set_desired(&self, s: &ServiceId, desired: i32) -> Result<(), FleetError> {
        if self.stall.as_deref() == Some(s.name.as_str()) {
            std::future::pending::<()>().await;
        }
        self.inner.set_desired(s, desired).await
    }
    async fn set_bounds(&self, s: &ServiceId, bounds: Bounds) -> Result<(), FleetError> {
        self.inner.set_bounds(s, bounds).await
    }
    async fn tag(&self, s: &ServiceId, key: &str, value: &str) -> Result<(), FleetError> {
        if self.fail_tag.as_deref() == Some(s.name.as_str()) {
            return Err(FleetError {
                operation: "TagResource",
                target: s.to_string(),
                kind: FleetErrorKind::Other,
                source: "InvalidParameterException: long ARN format required (test fault)".into(),
            });
        }
        self.inner.tag(s, key, value).await
    }
    async fn untag(&self, s: &ServiceId, key: &str) -> Result<(), FleetError> {
        self.inner.untag(s, key).await
    }
}

fn with_fleet(
    w: &World,
    fail_tag: Option<&str>,
    stall: Option<&str>,
) -> BudgetResponder<Faulty, DynamoNotificationLedger, SnsNotifier> {
    budget_response::responder_over(
        Faulty {
            inner: EcsFleet::new(w.aws.ecs.clone(), w.aws.autoscaling.clone()),
            fail_tag: fail_tag.map(str::to_string),
            stall: stall.map(str::to_string),
        },
        w.aws.dynamodb.clone(),
        w.aws.sns.clone(),
        w.config.clone(),
    )
}

/// Three more dev services: five in all.
async fn five_dev_services(w: &World) -> Result<Vec<String>> {
    let cluster = "macro-ai-dev-cluster";
    let td = w.aws.cluster(cluster).await?;
    let mut names = vec![
        "macro-ai-dev-api-service".to_string(),
        "macro-ai-dev-ui-service".to_string(),
    ];
    for svc in ["worker", "chat", "jobs"] {
        let name = format!("macro-ai-dev-{svc}-service");
        w.aws
            .service(
                cluster,
                &td,
                &name,
                2,
                &[("macro-ai:schedule", "dev-office-hours")],
                Some((1, 4)),
            )
            .await?;
        names.push(name);
    }
    Ok(names)
}

#[tokio::test]
async fn a_hold_acts_on_every_service_reports_the_one_that_failed_and_the_retry_finishes_it()
-> Result<()> {
    capture_logs();
    let w = world(&[]).await?;
    let names = five_dev_services(&w).await?;
    let broken = "macro-ai-dev-chat-service";
    let event = fresh(sample("budget-response/budget-dev-actual.json"));
    let e = handle(
        &with_fleet(&w, Some(broken), None),
        LambdaEvent::new(event.clone(), Context::default()),
    )
    .await
    .expect_err("one service could not be held");
    assert_eq!(e.error_type(), "BudgetResponseFailed");
    assert!(
        e.message().contains(broken) && e.message().contains("1 of 5"),
        "{}",
        e.message()
    );
    for name in &names {
        let desired = w.aws.observe("macro-ai-dev-cluster", name).await?.desired;
        assert_eq!(desired, if name == broken { 2 } else { 0 }, "{name}");
    }
    let notes = w.aws.notifications(&w.queue).await?;
    assert!(
        notes
            .iter()
            .any(|(s, m)| s.contains("incomplete") && m.contains(broken)),
        "{notes:?}"
    );
    // The fault is fixed; SNS delivers the same message again: only the rest is done.
    let r = handle(
        &with_fleet(&w, None, None),
        LambdaEvent::new(event, Context::default()),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("held"), "{r}");
    for name in &names {
        assert_eq!(
            w.aws.observe("macro-ai-dev-cluster", name).await?.desired,
            0,
            "{name}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_hold_cut_off_mid_way_is_resumed_by_the_redelivery_after_the_lease() -> Result<()> {
    capture_logs();
    let mut w = world(&[]).await?;
    w.config.budget.claim_lease = std::time::Duration::from_secs(3);
    // A redelivery fails at once while the lease runs (in production it first waits up to
    // DEDUPE_WAIT_SECONDS for the other invocation).
    w.config.budget.claim_wait = std::time::Duration::ZERO;
    let names = five_dev_services(&w).await?;
    let event = fresh(sample("budget-response/budget-dev-actual.json"));
    // The invocation stalls on the third service and is cut off there (a Lambda timeout): no
    // error path runs, the claim stays.
    // Services are held in name order: api, chat, then jobs stalls (ui and worker not reached).
    assert_eq!(names[4], "macro-ai-dev-jobs-service");
    let stalled = with_fleet(&w, None, Some(&names[4]));
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        handle(
            &stalled,
            LambdaEvent::new(event.clone(), Context::default()),
        ),
    )
    .await;
    assert!(cut.is_err(), "the invocation was cut off");
    // A redelivery while the lease runs: not a duplicate, a retryable failure.
    let healthy = with_fleet(&w, None, None);
    let busy = handle(
        &healthy,
        LambdaEvent::new(event.clone(), Context::default()),
    )
    .await;
    let e = busy.expect_err("in progress elsewhere");
    assert!(
        e.message().contains("another invocation"),
        "{}",
        e.message()
    );
    assert_eq!(
        w.aws
            .observe("macro-ai-dev-cluster", "macro-ai-dev-ui-service")
            .await?
            .desired,
        2,
        "not reached before the cut"
    );
    tokio::time::sleep(std::time::Duration::from_millis(4000)).await;
    // After the lease: the retry takes the claim over and finishes every service.
    let r = handle(
        &healthy,
        LambdaEvent::new(event.clone(), Context::default()),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("held"), "{r}");
    for name in &names {
        assert_eq!(
            w.aws.observe("macro-ai-dev-cluster", name).await?.desired,
            0,
            "{name}"
        );
    }
    // And now it is done: one more delivery is a duplicate.
    let again = handle(&healthy, LambdaEvent::new(event, Context::default())).await?;
    assert_eq!(
        again["outcomes"][0]["action"],
        json!("duplicate"),
        "{again}"
    );
    Ok(())
}

#[tokio::test]
async fn a_staging_breach_never_starts_a_service_someone_stopped() -> Result<()> {
    capture_logs();
    let w = world(&[]).await?;
    let cluster = "macro-ai-staging-cluster";
    let td = w.aws.cluster(cluster).await?;
    w.aws
        .service(
            cluster,
            &td,
            "macro-ai-staging-worker-service",
            0,
            &[("macro-ai:schedule", "staging-nightly")],
            Some((0, 4)),
        )
        .await?;
    let r = invoke(
        &w.responder,
        sample("budget-response/budget-staging-actual.json"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("held"), "{r}");
    let worker = w
        .aws
        .observe(cluster, "macro-ai-staging-worker-service")
        .await?;
    assert_eq!(
        (worker.desired, worker.bounds),
        (0, Some((0, 0))),
        "held, not raised to 1"
    );
    let api = w
        .aws
        .observe(cluster, "macro-ai-staging-api-service")
        .await?;
    assert_eq!((api.desired, api.bounds), (1, Some((1, 1))));
    Ok(())
}

#[tokio::test]
async fn a_stack_acts_only_on_its_own_environment_and_announces_the_others() -> Result<()> {
    capture_logs();
    // The dev stack (MACRO_AI_ENVIRONMENT=dev), e.g. the one holding the account's anomaly monitor.
    let w = world(&[("MACRO_AI_ENVIRONMENT", "dev")]).await?;
    let r = invoke(
        &w.responder,
        sample("budget-response/budget-staging-actual.json"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("notified"), "{r}");
    assert_eq!(
        capacity(&w.aws, "staging", "api").await?.0,
        2,
        "staging is not this stack's"
    );
    let e = invoke(
        &w.responder,
        json!({"hold": "staging", "reason": "try the other stack"}),
    )
    .await
    .expect_err("another environment's hold is refused");
    assert!(
        e.message()
            .contains("not the environment this deployment operates"),
        "{}",
        e.message()
    );
    let r = invoke(
        &w.responder,
        sample("budget-response/budget-dev-actual.json"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("held"), "{r}");
    Ok(())
}

#[tokio::test]
async fn an_anomaly_that_grows_past_the_action_threshold_is_acted_on() -> Result<()> {
    capture_logs();
    let w = world(&[("ANOMALY_ENVIRONMENTS", r#"{"111122223333": "dev"}"#)]).await?;
    let grown = |impact: f64| -> Result<Value> {
        let mut e = fresh(sample("budget-response/anomaly-sns.json"));
        let mut m: Value =
            serde_json::from_str(e["Records"][0]["Sns"]["Message"].as_str().unwrap_or("{}"))?;
        m["impact"] = json!({"totalImpact": impact, "totalImpactPercentage": 40.0});
        e["Records"][0]["Sns"]["Message"] = json!(m.to_string());
        Ok(e)
    };
    // First alert: $30, under ANOMALY_ACTION_USD (50): announced only.
    let r = invoke(&w.responder, grown(30.0)?).await?;
    assert_eq!(r["outcomes"][0]["action"], json!("notified"), "{r}");
    // The same anomaly, alerted again at $500: a new decision, not a duplicate.
    let r = invoke(&w.responder, grown(500.0)?).await?;
    assert_eq!(r["outcomes"][0]["action"], json!("held"), "{r}");
    // And again at $600: the same decision, a duplicate.
    let r = invoke(&w.responder, grown(600.0)?).await?;
    assert_eq!(r["outcomes"][0]["action"], json!("duplicate"), "{r}");
    Ok(())
}

/// The notification ledger's ownership rules on DynamoDB itself (moto's, with its conditional
/// writes): the scenario the fake is held to, on the adapter the functions use.
#[tokio::test]
async fn the_dynamodb_ledger_keeps_a_claim_its_owner_s() -> Result<()> {
    capture_logs();
    let aws = Stack::get().aws(&MotoAccount::new());
    let table = unique("budget-events");
    aws.ledger_table(&table).await?;
    let ledger = DynamoNotificationLedger::new(aws.dynamodb.clone(), table);
    shared::ledger::taken_over_claim_scenario(&ledger, "an-sns-message-id").await;
    Ok(())
}

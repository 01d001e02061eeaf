//! alarm-rollback end to end: moto's ECS, DynamoDB (the ledger), SNS and SQS through the real SDK.
//! Each test has its own moto account. moto does not model ECS deployments after UpdateService
//! (the old deployment stays PRIMARY); the one test that needs an ACTIVE older deployment wraps
//! the real fleet with an in-process stand-in for exactly that, and says so.

use alarm_rollback::Config;
use anyhow::Result;
use aws_sdk_dynamodb::types::AttributeValue;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::aws::dynamodb::DynamoRollbackLedger;
use shared::aws::ecs::EcsFleet;
use shared::aws::sns::SnsNotifier;
use shared::capacity::{FleetError, ServiceId};
use shared::rollback::{ReleaseFleet, Rollbacker, ServiceRelease};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tests::ecs::Aws;
use tests::{MotoAccount, Stack, capture_logs, unique};
use tests::{invoke, sample};

const CLUSTER: &str = "macro-ai-prod-cluster";
const SERVICE: &str = "macro-ai-prod-api-service";
const FAMILY: &str = "macro-ai-prod-api";

/// The real ECS fleet, counting UpdateService calls (observation only), optionally reporting an
/// older ACTIVE deployment the way ECS does mid-deployment (which moto does not model).
#[derive(Clone)]
struct Observed {
    inner: EcsFleet,
    deploys: Arc<AtomicUsize>,
    active_deployment: Option<String>,
}

impl ReleaseFleet for Observed {
    async fn describe(&self, cluster: &str, service: &str) -> Result<ServiceRelease, FleetError> {
        let mut r = self.inner.describe(cluster, service).await?;
        if let Some(d) = &self.active_deployment {
            r.other_active_deployments = vec![d.clone()];
        }
        Ok(r)
    }
    async fn revisions(&self, family: &str) -> Result<Vec<String>, FleetError> {
        self.inner.revisions(family).await
    }
    async fn deploy(&self, s: &ServiceId, td: &str) -> Result<(), FleetError> {
        self.deploys.fetch_add(1, Ordering::SeqCst);
        self.inner.deploy(s, td).await
    }
    async fn tag_many(&self, s: &ServiceId, tags: &[(&str, String)]) -> Result<(), FleetError> {
        self.inner.tag_many(s, tags).await
    }
}

struct World {
    aws: Aws,
    queue: String,
    rollbacker: Rollbacker<Observed, DynamoRollbackLedger, SnsNotifier>,
    deploys: Arc<AtomicUsize>,
    revs: Vec<String>,
    table: String,
}

impl World {
    /// ECS's deployment events for the service, delivered in this order: (eventName, minutes ago).
    async fn deployment_events(&self, events: &[(&str, i64)]) -> Result<()> {
        for (name, minutes_ago) in events {
            invoke(&self.rollbacker, deployment(name, &ago(*minutes_ago))).await?;
        }
        Ok(())
    }

    /// What a CI deploy does: UpdateService to revision `i`.
    async fn deploy(&self, i: usize) -> Result<()> {
        self.aws
            .ecs
            .update_service()
            .cluster(CLUSTER)
            .service(SERVICE)
            .task_definition(&self.revs[i])
            .send()
            .await?;
        Ok(())
    }
}

async fn world(active_deployment: bool) -> Result<World> {
    let aws = Stack::get().aws(&MotoAccount::new());
    aws.cluster(CLUSTER).await?;
    let revs = vec![
        aws.revision(FAMILY, "macro-ai/api:1.4.0").await?,
        aws.revision(FAMILY, "macro-ai/api:1.4.1").await?,
        aws.revision(FAMILY, "macro-ai/api:1.4.2").await?,
    ];
    aws.ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name(SERVICE)
        .task_definition(&revs[0])
        .desired_count(4)
        .send()
        .await?;
    let table = unique("macro-ai-ops-rollbacks");
    aws.ledger_table(&table).await?;
    let (topic, queue) = aws.topic_with_queue("macro-ai-ops-notifications").await?;
    let mut config = Config::from_lookup(|k| (k == "ROLLBACK_TABLE").then(|| table.clone()))?;
    config.notify_topic_arn = Some(topic);
    let deploys = Arc::new(AtomicUsize::new(0));
    let fleet = Observed {
        inner: EcsFleet::new(aws.ecs.clone(), aws.autoscaling.clone()),
        deploys: deploys.clone(),
        active_deployment: active_deployment.then(|| revs[1].clone()),
    };
    let rollbacker =
        alarm_rollback::rollbacker_over(fleet, aws.dynamodb.clone(), aws.sns.clone(), config);
    Ok(World {
        aws,
        queue,
        rollbacker,
        deploys,
        revs,
        table: table.clone(),
    })
}

fn ago(minutes: i64) -> String {
    (Timestamp::now() - SignedDuration::from_mins(minutes)).to_string()
}

fn deployment(name: &str, at: &str) -> Value {
    json!({"version": "0", "id": unique("e"), "detail-type": "ECS Deployment State Change", "source": "aws.ecs",
           "account": "123456789012", "time": at, "region": "us-east-1",
           "resources": [format!("arn:aws:ecs:us-east-1:123456789012:service/{CLUSTER}/{SERVICE}")],
           "detail": {"eventType": "INFO", "eventName": name, "deploymentId": "ecs-svc/1", "updatedAt": at}})
}

/// An SNS delivery of a CloudWatch alarm; `sample` is a file under events/alarm-rollback/.
fn alarm_from(sample: &str, alarm_name: &str, state: &str, message_id: &str) -> Value {
    let mut event = tests::sample(sample);
    let mut message: Value = serde_json::from_str(
        event["Records"][0]["Sns"]["Message"]
            .as_str()
            .expect("a message"),
    )
    .expect("alarm JSON");
    message["AlarmName"] = json!(alarm_name);
    message["NewStateValue"] = json!(state);
    event["Records"][0]["Sns"]["Message"] = json!(message.to_string());
    event["Records"][0]["Sns"]["MessageId"] = json!(message_id);
    event
}

const MATH: &str = "alarm-rollback/metric-math-alarm.json";
const SINGLE: &str = "alarm-rollback/single-metric-alarm.json";
const COMPOSITE: &str = "alarm-rollback/composite-alarm.json";

/// rev1 deployed and completed long ago (known-good); rev2 deployed 5 minutes ago.
async fn release_rev2(w: &World) -> Result<()> {
    w.deployment_events(&[("SERVICE_DEPLOYMENT_COMPLETED", 180)])
        .await?;
    w.deploy(1).await?;
    w.deployment_events(&[
        ("SERVICE_DEPLOYMENT_IN_PROGRESS", 5),
        ("SERVICE_DEPLOYMENT_COMPLETED", 2),
    ])
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_bad_release_is_rolled_back_to_known_good_with_a_notification_and_a_record() -> Result<()>
{
    capture_logs();
    let w = world(false).await?;
    release_rev2(&w).await?;
    let r = invoke(
        &w.rollbacker,
        alarm_from(MATH, "macro-ai-prod-api-error-rate", "ALARM", "m-1"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("rolled-back"), "{r}");
    assert_eq!(
        w.aws.task_definition_of(CLUSTER, SERVICE).await?,
        w.revs[0],
        "back on rev1"
    );
    assert_eq!(w.deploys.load(Ordering::SeqCst), 1);
    let tags = w.aws.observe(CLUSTER, SERVICE).await?.tags;
    assert!(
        tags["macro-ai:last-rollback"]
            .starts_with("from=macro-ai-prod-api:2 to=macro-ai-prod-api:1 at="),
        "{tags:?}"
    );
    let notes = w.aws.notifications(&w.queue).await?;
    let rolled = notes
        .iter()
        .find(|(s, _)| s.contains("rolled back"))
        .expect("a rollback notification");
    assert!(
        rolled
            .1
            .contains("macro-ai-prod-api:2 to macro-ai-prod-api:1")
            && rolled.1.contains("macro-ai-prod-api-error-rate")
            && rolled.1.contains("Threshold Crossed"),
        "{rolled:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_alarm_on_the_known_good_revision_notifies_why_and_rolls_nothing_back() -> Result<()> {
    capture_logs();
    let w = world(false).await?;
    w.deployment_events(&[("SERVICE_DEPLOYMENT_COMPLETED", 180)])
        .await?;
    let r = invoke(
        &w.rollbacker,
        alarm_from(SINGLE, "macro-ai-prod-api-unhealthy-hosts", "ALARM", "m-1"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("held"));
    assert_eq!(w.deploys.load(Ordering::SeqCst), 0);
    let notes = w.aws.notifications(&w.queue).await?;
    assert!(
        notes.iter().any(|(s, m)| s.contains("no rollback")
            && m.contains("known-good revision macro-ai-prod-api:1")),
        "{notes:?}"
    );
    Ok(())
}

#[tokio::test]
async fn ok_and_insufficient_data_do_nothing_and_an_unmapped_alarm_only_notifies() -> Result<()> {
    capture_logs();
    let w = world(false).await?;
    release_rev2(&w).await?;
    w.aws.notifications(&w.queue).await?;
    for state in ["OK", "INSUFFICIENT_DATA"] {
        let r = invoke(
            &w.rollbacker,
            alarm_from(MATH, "macro-ai-prod-api-error-rate", state, "m-ok"),
        )
        .await?;
        assert_eq!(r["outcomes"][0]["action"], json!("ignored"));
    }
    let ok: Value = sample("alarm-rollback/ok-transition.json");
    assert_eq!(
        invoke(&w.rollbacker, ok).await?["outcomes"][0]["action"],
        json!("ignored")
    );
    assert!(
        w.aws.notifications(&w.queue).await?.is_empty(),
        "OK transitions are not announced"
    );
    let r = invoke(
        &w.rollbacker,
        alarm_from(MATH, "billing-estimated-charges", "ALARM", "m-2"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("unmapped"));
    let notes = w.aws.notifications(&w.queue).await?;
    assert!(
        notes.len() == 1 && notes[0].0.contains("unmapped"),
        "{notes:?}"
    );
    assert_eq!(w.deploys.load(Ordering::SeqCst), 0);
    assert_eq!(w.aws.task_definition_of(CLUSTER, SERVICE).await?, w.revs[1]);
    Ok(())
}

#[tokio::test]
async fn three_concurrent_alarms_and_a_redelivery_cause_exactly_one_update() -> Result<()> {
    capture_logs();
    let w = world(false).await?;
    release_rev2(&w).await?;
    let events = [
        alarm_from(MATH, "macro-ai-prod-api-error-rate", "ALARM", "m-1"),
        alarm_from(SINGLE, "macro-ai-prod-api-unhealthy-hosts", "ALARM", "m-2"),
        alarm_from(
            COMPOSITE,
            "macro-ai-prod-api-release-health",
            "ALARM",
            "m-3",
        ),
    ];
    let (a, b, c) = tokio::join!(
        invoke(&w.rollbacker, events[0].clone()),
        invoke(&w.rollbacker, events[1].clone()),
        invoke(&w.rollbacker, events[2].clone()),
    );
    let actions: Vec<Value> = [a?, b?, c?]
        .iter()
        .map(|r| r["outcomes"][0]["action"].clone())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|x| **x == json!("rolled-back"))
            .count(),
        1,
        "{actions:?}"
    );
    // SNS delivers the first message again.
    let again = invoke(&w.rollbacker, events[0].clone()).await?;
    assert_eq!(again["outcomes"][0]["action"], json!("held"), "{again}");
    assert_eq!(
        w.deploys.load(Ordering::SeqCst),
        1,
        "exactly one UpdateService"
    );
    assert_eq!(w.aws.task_definition_of(CLUSTER, SERVICE).await?, w.revs[0]);
    Ok(())
}

#[tokio::test]
async fn cooldown_holds_and_a_rolled_away_revision_is_never_a_target() -> Result<()> {
    capture_logs();
    let w = world(false).await?;
    release_rev2(&w).await?;
    invoke(
        &w.rollbacker,
        alarm_from(MATH, "macro-ai-prod-api-error-rate", "ALARM", "m-1"),
    )
    .await?;
    // A new release (rev3) right after the rollback, and an alarm: within the cooldown, nothing.
    w.deploy(2).await?;
    w.deployment_events(&[("SERVICE_DEPLOYMENT_IN_PROGRESS", 0)])
        .await?;
    let r = invoke(
        &w.rollbacker,
        alarm_from(SINGLE, "macro-ai-prod-api-unhealthy-hosts", "ALARM", "m-2"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("held"), "{r}");
    assert!(
        r["outcomes"][0]["why"]
            .as_str()
            .unwrap_or_default()
            .contains("cooldown"),
        "{r}"
    );
    assert_eq!(w.aws.task_definition_of(CLUSTER, SERVICE).await?, w.revs[2]);

    // Past the cooldown (the ledger's last rollback moved 2 hours back), with rev2 — the revision
    // rolled away from — recorded as known-good: the target skips it for rev1.
    w.aws
        .dynamodb
        .update_item()
        .table_name(&w.table)
        .key("pk", AttributeValue::S(format!("{CLUSTER}/{SERVICE}")))
        .update_expression("SET last_at = :t")
        .expression_attribute_values(":t", AttributeValue::S(ago(120)))
        .send()
        .await?;
    let arn = w
        .aws
        .ecs
        .describe_services()
        .cluster(CLUSTER)
        .services(SERVICE)
        .send()
        .await?
        .services()[0]
        .service_arn()
        .unwrap_or_default()
        .to_string();
    w.aws
        .ecs
        .tag_resource()
        .resource_arn(&arn)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("macro-ai:known-good")
                .value(&w.revs[1])
                .build(),
        )
        .send()
        .await?;
    let r = invoke(
        &w.rollbacker,
        alarm_from(MATH, "macro-ai-prod-api-error-rate", "ALARM", "m-3"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("rolled-back"), "{r}");
    assert_eq!(
        r["outcomes"][0]["to"],
        json!("macro-ai-prod-api:1"),
        "never back to the rolled-away rev2: {r}"
    );
    assert_eq!(w.aws.task_definition_of(CLUSTER, SERVICE).await?, w.revs[0]);
    assert_eq!(w.deploys.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test]
async fn a_service_scaled_to_zero_after_hours_has_its_alarms_ignored() -> Result<()> {
    capture_logs();
    let aws = Stack::get().aws(&MotoAccount::new());
    let td = aws.cluster("macro-ai-dev-cluster").await?;
    aws.service(
        "macro-ai-dev-cluster",
        &td,
        "macro-ai-dev-api-service",
        2,
        &[("macro-ai:schedule", "dev-office-hours")],
        Some((1, 4)),
    )
    .await?;
    let table = unique("rollbacks");
    aws.ledger_table(&table).await?;
    let scaler = after_hours_scaling::scaler(
        aws.ecs.clone(),
        aws.autoscaling.clone(),
        aws.sns.clone(),
        after_hours_scaling::Config::from_lookup(|k| {
            (k == "CLUSTERS").then(|| "macro-ai-dev-cluster".to_string())
        })?,
    );
    let night = shared::scaling::ScalingRequest::from_value(
        &json!({"action": "scale-down"}),
        Timestamp::now,
    )?;
    assert_eq!(scaler.run(&night).await.changed, 1);
    let rollbacker = alarm_rollback::rollbacker(
        aws.ecs.clone(),
        aws.autoscaling.clone(),
        aws.dynamodb.clone(),
        aws.sns.clone(),
        Config::from_lookup(|k| (k == "ROLLBACK_TABLE").then(|| table.clone()))?,
    );
    let r = invoke(
        &rollbacker,
        alarm_from(SINGLE, "macro-ai-dev-api-unhealthy-hosts", "ALARM", "m-1"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("held"));
    assert!(
        r["outcomes"][0]["why"]
            .as_str()
            .unwrap_or_default()
            .contains("scaled down on purpose"),
        "{r}"
    );
    Ok(())
}

#[tokio::test]
async fn mid_deployment_without_known_good_rolls_back_to_the_older_active_deployment() -> Result<()>
{
    capture_logs();
    let w = world(true).await?;
    w.deploy(2).await?;
    w.deployment_events(&[("SERVICE_DEPLOYMENT_IN_PROGRESS", 3)])
        .await?;
    let r = invoke(
        &w.rollbacker,
        alarm_from(MATH, "macro-ai-prod-api-error-rate", "ALARM", "m-1"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("rolled-back"), "{r}");
    assert!(
        r["outcomes"][0]["why"]
            .as_str()
            .unwrap_or_default()
            .contains("older active deployment"),
        "{r}"
    );
    assert_eq!(w.aws.task_definition_of(CLUSTER, SERVICE).await?, w.revs[1]);
    Ok(())
}

#[tokio::test]
async fn manual_rollbacks_use_the_same_guards_and_malformed_payloads_change_nothing() -> Result<()>
{
    capture_logs();
    let w = world(false).await?;
    release_rev2(&w).await?;
    let dry: Value = sample("alarm-rollback/manual-rollback.json");
    let r = invoke(&w.rollbacker, dry).await?;
    assert_eq!(r["outcomes"][0]["action"], json!("would-roll-back"), "{r}");
    assert_eq!(
        w.deploys.load(Ordering::SeqCst),
        0,
        "a dry run changes nothing"
    );
    let mut nameless = alarm_from(SINGLE, "x", "ALARM", "m-9");
    nameless["Records"][0]["Sns"]["Message"] = json!("{\"NewStateValue\": \"ALARM\"}");
    for (event, expect) in [
        (nameless, "AlarmName"),
        (
            json!({"Records": [{"Sns": {"Message": "{}"}}]}),
            "not a batch of SNS records",
        ),
        (
            json!({"rollback": "macro-ai-prod-api-service", "reason": "x"}),
            "<cluster>/<service>",
        ),
        (
            json!({"rollback": format!("{CLUSTER}/{SERVICE}")}),
            "needs a `reason`",
        ),
        (json!(42), "expected a JSON object"),
    ] {
        let e = invoke(&w.rollbacker, event.clone())
            .await
            .expect_err("malformed");
        assert_eq!(e.error_type(), "InvalidEvent");
        assert!(e.message().contains(expect), "{event}: {}", e.message());
    }
    let go = json!({"rollback": format!("{CLUSTER}/{SERVICE}"), "reason": "checkout errors", "dryRun": false});
    assert_eq!(
        invoke(&w.rollbacker, go).await?["outcomes"][0]["action"],
        json!("rolled-back")
    );
    assert_eq!(w.aws.task_definition_of(CLUSTER, SERVICE).await?, w.revs[0]);
    Ok(())
}

#[tokio::test]
async fn an_alarm_for_a_missing_service_fails_the_batch_after_the_other_inputs() -> Result<()> {
    capture_logs();
    let w = world(false).await?;
    release_rev2(&w).await?;
    let mut batch = alarm_from(MATH, "macro-ai-prod-api-error-rate", "ALARM", "m-1");
    let ghost = alarm_from(
        SINGLE,
        "macro-ai-prod-ghost-unhealthy-hosts",
        "ALARM",
        "m-2",
    );
    batch["Records"]
        .as_array_mut()
        .expect("records")
        .push(ghost["Records"][0].clone());
    let e = invoke(&w.rollbacker, batch)
        .await
        .expect_err("the ghost service does not exist");
    assert_eq!(e.error_type(), "RollbackFailed");
    assert!(
        e.message().contains("1 of 2 inputs failed")
            && e.message().contains("macro-ai-prod-ghost-unhealthy-hosts"),
        "{}",
        e.message()
    );
    // The other input of the batch was still handled.
    assert_eq!(w.aws.task_definition_of(CLUSTER, SERVICE).await?, w.revs[0]);
    Ok(())
}

/// The documented EventBridge metric-math alarm event, for Macro AI's alarm, delivered `id`.
fn eventbridge_alarm(alarm_name: &str, id: &str) -> Value {
    let mut e = tests::sample(&format!(
        "aws-samples/{}",
        "eventbridge-alarm-metric-math.json"
    ));
    e["id"] = json!(id);
    e["detail"]["alarmName"] = json!(alarm_name);
    e["resources"] = json!([format!(
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm_name}"
    )]);
    e
}

/// The SDK fixture of CloudWatch's direct alarm action, for Macro AI's alarm.
fn alarm_action(alarm_name: &str) -> Value {
    let mut e = sample("aws-samples/alarm-action-metric-java.json");
    e["alarmData"]["alarmName"] = json!(alarm_name);
    e["alarmArn"] = json!(format!(
        "arn:aws:cloudwatch:us-east-1:444455556666:alarm:{alarm_name}"
    ));
    e
}

#[tokio::test]
async fn eventbridge_and_alarm_action_deliveries_roll_back_exactly_once_like_sns() -> Result<()> {
    capture_logs();
    for (format, deliveries) in [
        (
            "EventBridge",
            [
                eventbridge_alarm("macro-ai-prod-api-error-rate", "e-1"),
                eventbridge_alarm("macro-ai-prod-api-error-rate", "e-2"),
                eventbridge_alarm("macro-ai-prod-api-error-rate", "e-1"),
            ],
        ),
        (
            "alarm action",
            [
                alarm_action("macro-ai-prod-api-error-rate"),
                alarm_action("macro-ai-prod-api-error-rate"),
                alarm_action("macro-ai-prod-api-error-rate"),
            ],
        ),
    ] {
        let w = world(false).await?;
        release_rev2(&w).await?;
        // Three deliveries of one alarm within a minute, two of them at once.
        let (a, b) = tokio::join!(
            invoke(&w.rollbacker, deliveries[0].clone()),
            invoke(&w.rollbacker, deliveries[1].clone()),
        );
        let c = invoke(&w.rollbacker, deliveries[2].clone()).await;
        let actions: Vec<Value> = [a?, b?, c?]
            .iter()
            .map(|r| r["outcomes"][0]["action"].clone())
            .collect();
        assert_eq!(
            actions
                .iter()
                .filter(|x| **x == json!("rolled-back"))
                .count(),
            1,
            "{format}: {actions:?}"
        );
        assert_eq!(
            w.deploys.load(Ordering::SeqCst),
            1,
            "{format}: one UpdateService"
        );
        assert_eq!(
            w.aws.task_definition_of(CLUSTER, SERVICE).await?,
            w.revs[0],
            "{format}: back on rev1"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_suppressed_composite_alarm_on_eventbridge_rolls_nothing_back() -> Result<()> {
    capture_logs();
    let w = world(false).await?;
    release_rev2(&w).await?;
    let mut e = tests::sample(&format!(
        "aws-samples/{}",
        "eventbridge-alarm-composite-suppressed.json"
    ));
    e["detail"]["alarmName"] = json!("macro-ai-prod-api-release-health");
    let r = invoke(&w.rollbacker, e).await?;
    assert_eq!(r["outcomes"][0]["action"], json!("ignored"), "{r}");
    assert!(
        r["outcomes"][0]["why"]
            .as_str()
            .is_some_and(|w| w.contains("suppressed")),
        "{r}"
    );
    assert_eq!(w.deploys.load(Ordering::SeqCst), 0);
    Ok(())
}

/// ECS's own deployment event from the documentation's sample, for Macro AI's service.
fn ecs_event(sample: &str, at: &str) -> Value {
    let mut e = tests::sample(&format!("aws-samples/{sample}"));
    e["id"] = json!(unique("e"));
    e["time"] = json!(at);
    e["detail"]["updatedAt"] = json!(at);
    e["resources"] = json!([format!(
        "arn:aws:ecs:us-east-1:123456789012:service/{CLUSTER}/{SERVICE}"
    )]);
    e
}

#[tokio::test]
async fn ecs_rolling_back_itself_is_not_a_release_and_an_alarm_meanwhile_adds_no_rollback()
-> Result<()> {
    capture_logs();
    let w = world(false).await?;
    release_rev2(&w).await?;
    let before = w.aws.observe(CLUSTER, SERVICE).await?.tags;
    // ECS's circuit breaker starts rolling rev2 back.
    let r = invoke(
        &w.rollbacker,
        ecs_event("ecs-deployment-circuit-breaker-rolling-back.json", &ago(1)),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("recorded"), "{r}");
    let after = w.aws.observe(CLUSTER, SERVICE).await?.tags;
    for tag in ["macro-ai:release", "macro-ai:release-started-at"] {
        assert_eq!(after.get(tag), before.get(tag), "{tag}: not a new release");
    }
    // The release ECS undoes did not stand: its completion no longer counts toward known-good.
    assert_eq!(
        after
            .get("macro-ai:release-completed-at")
            .map(String::as_str),
        Some("")
    );
    // The alarm that tripped the breaker arrives: no second rollback on top of ECS's.
    let r = invoke(
        &w.rollbacker,
        alarm_from(MATH, "macro-ai-prod-api-error-rate", "ALARM", "m-1"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("held"), "{r}");
    assert!(
        r["outcomes"][0]["why"]
            .as_str()
            .is_some_and(|w| w.contains("ECS has been rolling")),
        "{r}"
    );
    // ECS finishes (the service runs rev1 again; moto does not model the rollback, so the
    // test moves it there the way ECS would), and completes.
    w.deploy(0).await?;
    let r = invoke(
        &w.rollbacker,
        ecs_event(
            "ecs-deployment-completed.json",
            &Timestamp::now().to_string(),
        ),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("recorded"), "{r}");
    let r = invoke(
        &w.rollbacker,
        alarm_from(MATH, "macro-ai-prod-api-error-rate", "ALARM", "m-2"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("held"), "{r}");
    assert_eq!(
        w.deploys.load(Ordering::SeqCst),
        0,
        "never an UpdateService"
    );
    Ok(())
}

#[tokio::test]
async fn a_failed_deployment_holds_alarms_only_when_ecs_rolls_it_back_and_late_events_do_not_count()
-> Result<()> {
    capture_logs();
    // SERVICE_DEPLOYMENT_FAILED on a service whose circuit breaker rolls back: ECS undoes it, an
    // alarm adds nothing.
    let w = world(false).await?;
    release_rev2(&w).await?;
    w.aws
        .ecs
        .update_service()
        .cluster(CLUSTER)
        .service(SERVICE)
        .deployment_configuration(
            aws_sdk_ecs::types::DeploymentConfiguration::builder()
                .deployment_circuit_breaker(
                    aws_sdk_ecs::types::DeploymentCircuitBreaker::builder()
                        .enable(true)
                        .rollback(true)
                        .build(),
                )
                .build(),
        )
        .send()
        .await?;
    invoke(
        &w.rollbacker,
        ecs_event("ecs-deployment-failed.json", &ago(1)),
    )
    .await?;
    let r = invoke(
        &w.rollbacker,
        alarm_from(MATH, "macro-ai-prod-api-error-rate", "ALARM", "m-3"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("held"), "{r}");
    assert_eq!(w.deploys.load(Ordering::SeqCst), 0);

    // Without rollback in its configuration ECS leaves the failed release running: the alarm
    // still rolls it back.
    let w = world(false).await?;
    release_rev2(&w).await?;
    invoke(
        &w.rollbacker,
        ecs_event("ecs-deployment-failed.json", &ago(1)),
    )
    .await?;
    let r = invoke(
        &w.rollbacker,
        alarm_from(MATH, "macro-ai-prod-api-error-rate", "ALARM", "m-4"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("rolled-back"), "{r}");
    assert_eq!(w.deploys.load(Ordering::SeqCst), 1);

    // A late (retried) rolling-back event from before the current release started belongs to
    // an earlier release: it holds nothing.
    let w = world(false).await?;
    release_rev2(&w).await?;
    let r = invoke(
        &w.rollbacker,
        ecs_event("ecs-deployment-circuit-breaker-rolling-back.json", &ago(30)),
    )
    .await?;
    assert!(
        r["outcomes"][0]["why"]
            .as_str()
            .is_some_and(|w| w.contains("not after the recorded release's start")),
        "{r}"
    );
    let r = invoke(
        &w.rollbacker,
        alarm_from(MATH, "macro-ai-prod-api-error-rate", "ALARM", "m-5"),
    )
    .await?;
    assert_eq!(r["outcomes"][0]["action"], json!("rolled-back"), "{r}");
    Ok(())
}

#[tokio::test]
async fn a_deployment_event_for_a_service_that_does_not_exist_is_answered_not_retried() -> Result<()>
{
    capture_logs();
    let w = world(false).await?;
    let mut e = ecs_event("ecs-deployment-completed.json", &ago(1));
    e["resources"] = json!(["arn:aws:ecs:us-east-1:123456789012:service/default/servicetest"]);
    let r = invoke(&w.rollbacker, e).await?;
    assert_eq!(r["outcomes"][0]["action"], json!("skipped"), "{r}");
    assert!(
        r["outcomes"][0]["why"]
            .as_str()
            .is_some_and(|w| w.contains("does not exist")),
        "{r}"
    );
    Ok(())
}

#[tokio::test]
async fn three_releases_promote_the_one_before_and_a_deregistered_revision_is_never_a_target()
-> Result<()> {
    capture_logs();
    for deregister_rev2 in [false, true] {
        let w = world(false).await?;
        // rev1 has run for hours; rev2 released 3 h ago and completed; rev3 released now.
        w.deployment_events(&[("SERVICE_DEPLOYMENT_COMPLETED", 400)])
            .await?;
        w.deploy(1).await?;
        w.deployment_events(&[
            ("SERVICE_DEPLOYMENT_IN_PROGRESS", 180),
            ("SERVICE_DEPLOYMENT_COMPLETED", 175),
        ])
        .await?;
        w.deploy(2).await?;
        // rev3's events arrive out of order: its completion first, then its start, then the
        // start again (a redelivery). The late start must not undo the completion.
        w.deployment_events(&[
            ("SERVICE_DEPLOYMENT_COMPLETED", 2),
            ("SERVICE_DEPLOYMENT_IN_PROGRESS", 6),
        ])
        .await?;
        let tags = w.aws.observe(CLUSTER, SERVICE).await?.tags;
        assert_eq!(
            tags.get("macro-ai:known-good").map(String::as_str),
            Some(w.revs[1].as_str()),
            "rev2 ran its window: promoted when rev3 was recorded"
        );
        assert!(
            tags.get("macro-ai:release-completed-at")
                .is_some_and(|t| !t.is_empty()),
            "the late start did not undo rev3's completion: {tags:?}"
        );
        if deregister_rev2 {
            w.aws
                .ecs
                .deregister_task_definition()
                .task_definition(&w.revs[1])
                .send()
                .await?;
        }
        let r = invoke(
            &w.rollbacker,
            alarm_from(MATH, "macro-ai-prod-api-error-rate", "ALARM", "m-1"),
        )
        .await?;
        assert_eq!(r["outcomes"][0]["action"], json!("rolled-back"), "{r}");
        let want = if deregister_rev2 {
            &w.revs[0]
        } else {
            &w.revs[1]
        };
        assert_eq!(
            &w.aws.task_definition_of(CLUSTER, SERVICE).await?,
            want,
            "deregistered rev2: {deregister_rev2}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_release_someone_rolled_back_by_hand_never_becomes_known_good() -> Result<()> {
    capture_logs();
    let w = world(false).await?;
    w.deployment_events(&[("SERVICE_DEPLOYMENT_COMPLETED", 400)])
        .await?;
    // rev2 released and completed hours ago, then rejected by hand: back to rev1.
    w.deploy(1).await?;
    w.deployment_events(&[
        ("SERVICE_DEPLOYMENT_IN_PROGRESS", 300),
        ("SERVICE_DEPLOYMENT_COMPLETED", 295),
    ])
    .await?;
    w.deploy(0).await?;
    w.deployment_events(&[("SERVICE_DEPLOYMENT_IN_PROGRESS", 10)])
        .await?;
    let tags = w.aws.observe(CLUSTER, SERVICE).await?.tags;
    assert_eq!(
        tags.get("macro-ai:known-good").map(String::as_str),
        Some(w.revs[0].as_str()),
        "rev2 was rolled back by hand: not promoted"
    );
    Ok(())
}

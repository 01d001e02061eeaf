//! after-hours-scaling end to end: moto's ECS, Application Auto Scaling, SNS and SQS through the
//! real SDK. Each test has its own moto account, so clusters with the seed's names never collide.

use after_hours_scaling::{AfterHoursScaler, Config};
use anyhow::Result;
use serde_json::{Value, json};
use shared::capacity::{Bounds, FleetError, FleetErrorKind, ServiceFleet, ServiceId, ServiceState};
use shared::scaling::Scaler;
use std::collections::BTreeMap;
use tests::ecs::Aws;
use tests::{MotoAccount, Stack, capture_logs};
use tests::{invoke, sample};

const DEV: &str = "macro-ai-dev-cluster";
const STAGING: &str = "macro-ai-staging-cluster";
const SAVED: &str = "macro-ai:saved-capacity";

fn scaler(aws: &Aws, topic: Option<&str>, vars: &[(&str, &str)]) -> AfterHoursScaler {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut config = Config::from_lookup(|k| vars.get(k).cloned()).expect("config");
    config.notify_topic_arn = topic.map(str::to_string);
    after_hours_scaling::scaler(
        aws.ecs.clone(),
        aws.autoscaling.clone(),
        aws.sns.clone(),
        config,
    )
}

fn scheduled(time: &str) -> Value {
    json!({"version": "0", "id": "e", "detail-type": "Scheduled Event", "source": "aws.events",
           "account": "123456789012", "time": time, "region": "us-east-1", "resources": [], "detail": {}})
}

/// The seed's services: api (autoscaled 1..4, at 2) and ui (2, no scalable target) per cluster.
async fn seed(aws: &Aws, cluster: &str, schedule: &str) -> Result<()> {
    let td = aws.cluster(cluster).await?;
    let env = cluster
        .trim_start_matches("macro-ai-")
        .trim_end_matches("-cluster");
    aws.service(
        cluster,
        &td,
        &format!("macro-ai-{env}-api-service"),
        2,
        &[("macro-ai:schedule", schedule)],
        Some((1, 4)),
    )
    .await?;
    aws.service(
        cluster,
        &td,
        &format!("macro-ai-{env}-ui-service"),
        2,
        &[("macro-ai:schedule", schedule)],
        None,
    )
    .await?;
    Ok(())
}

fn outcome_of(report: &Value, service: &str) -> String {
    report["services"]
        .as_array()
        .and_then(|s| s.iter().find(|r| r["service"] == json!(service)))
        .and_then(|r| r["outcome"].as_str())
        .unwrap_or("missing")
        .to_string()
}

#[tokio::test]
async fn dev_goes_to_zero_in_the_evening_and_comes_back_exactly_in_the_morning() -> Result<()> {
    capture_logs();
    let aws = Stack::get().aws(&MotoAccount::new());
    seed(&aws, DEV, "dev-office-hours").await?;
    seed(&aws, STAGING, "staging-nightly").await?;
    let (topic, queue) = aws.topic_with_queue("macro-ai-ops-notifications").await?;
    let s = scaler(&aws, Some(&topic), &[]);

    let r = invoke(&s, scheduled("2026-11-24T19:00:00Z")).await?;
    assert_eq!(r["changed"], json!(2), "{r}");
    let api = aws.observe(DEV, "macro-ai-dev-api-service").await?;
    assert_eq!((api.desired, api.bounds), (0, Some((0, 0))));
    assert_eq!(
        api.tags.get(SAVED).map(String::as_str),
        Some("desired=2 min=1 max=4")
    );
    let ui = aws.observe(DEV, "macro-ai-dev-ui-service").await?;
    assert_eq!(
        (
            ui.desired,
            ui.bounds,
            ui.tags.get(SAVED).map(String::as_str)
        ),
        (0, None, Some("desired=2"))
    );
    let staging = aws.observe(STAGING, "macro-ai-staging-api-service").await?;
    assert_eq!(
        (staging.desired, staging.bounds),
        (2, Some((1, 4))),
        "staging is in hours at 19:00"
    );
    let notes = aws.notifications(&queue).await?;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].0.contains("2 changed")
            && notes[0].1.contains("macro-ai-dev-api-service: scaled-down"),
        "{notes:?}"
    );
    assert!(
        notes[0]
            .1
            .contains("desired=2 min=1 max=4 -> desired=0 min=0 max=0"),
        "{notes:?}"
    );

    let r = invoke(&s, scheduled("2026-11-24T23:00:00Z")).await?;
    assert_eq!(
        outcome_of(&r, &format!("{STAGING}/macro-ai-staging-api-service")),
        "scaled-down"
    );
    let staging = aws.observe(STAGING, "macro-ai-staging-api-service").await?;
    assert_eq!((staging.desired, staging.bounds), (1, Some((1, 1))));

    let r = invoke(&s, scheduled("2026-11-25T07:00:00Z")).await?;
    assert_eq!(
        outcome_of(&r, &format!("{STAGING}/macro-ai-staging-api-service")),
        "restored"
    );
    assert_eq!(
        outcome_of(&r, &format!("{DEV}/macro-ai-dev-api-service")),
        "unchanged",
        "dev still off at 07:00"
    );
    let staging = aws.observe(STAGING, "macro-ai-staging-api-service").await?;
    assert_eq!(
        (staging.desired, staging.bounds, staging.tags.get(SAVED)),
        (2, Some((1, 4)), None)
    );

    invoke(&s, scheduled("2026-11-25T09:00:00Z")).await?;
    let api = aws.observe(DEV, "macro-ai-dev-api-service").await?;
    assert_eq!(
        (api.desired, api.bounds, api.tags.get(SAVED)),
        (2, Some((1, 4)), None)
    );
    let ui = aws.observe(DEV, "macro-ai-dev-ui-service").await?;
    assert_eq!((ui.desired, ui.tags.get(SAVED)), (2, None));
    Ok(())
}

#[tokio::test]
async fn weekends_and_dst_follow_the_configured_time_zone() -> Result<()> {
    capture_logs();
    let aws = Stack::get().aws(&MotoAccount::new());
    seed(&aws, DEV, "dev-office-hours").await?;
    let london = scaler(
        &aws,
        None,
        &[("SCHEDULE_TIMEZONE", "Europe/London"), ("CLUSTERS", DEV)],
    );
    let api = |aws: Aws| async move {
        aws.observe(DEV, "macro-ai-dev-api-service")
            .await
            .map(|o| o.desired)
    };

    // Friday 23 October 08:30 BST (07:30 UTC): on.
    invoke(&london, scheduled("2026-10-23T07:30:00Z")).await?;
    assert_eq!(api(aws.clone()).await?, 2);
    // Saturday noon: off.
    invoke(&london, scheduled("2026-10-24T11:00:00Z")).await?;
    assert_eq!(api(aws.clone()).await?, 0);
    // Monday 26 October, clocks went back on Sunday: 07:30 UTC is 07:30 GMT, still off ...
    invoke(&london, scheduled("2026-10-26T07:30:00Z")).await?;
    assert_eq!(api(aws.clone()).await?, 0);
    // ... and 08:00 UTC is 08:00 GMT: on (events/after-hours-scaling/dst-change-morning.json).
    let event: Value = sample("after-hours-scaling/dst-change-morning.json");
    invoke(&london, event).await?;
    assert_eq!(api(aws.clone()).await?, 2);

    // America/New_York, spring forward on 14 March 2027: Monday 08:00 EDT is 12:00 UTC.
    let ny = scaler(
        &aws,
        None,
        &[("SCHEDULE_TIMEZONE", "America/New_York"), ("CLUSTERS", DEV)],
    );
    invoke(&ny, scheduled("2027-03-15T00:00:00Z")).await?;
    assert_eq!(api(aws.clone()).await?, 0);
    invoke(&ny, scheduled("2027-03-15T11:59:00Z")).await?;
    assert_eq!(api(aws.clone()).await?, 0, "07:59 EDT");
    invoke(&ny, scheduled("2027-03-15T12:00:00Z")).await?;
    assert_eq!(api(aws.clone()).await?, 2, "08:00 EDT");
    Ok(())
}

#[tokio::test]
async fn reconciling_twice_or_late_gives_the_same_result() -> Result<()> {
    capture_logs();
    let aws = Stack::get().aws(&MotoAccount::new());
    seed(&aws, DEV, "dev-office-hours").await?;
    let s = scaler(&aws, None, &[("CLUSTERS", DEV)]);
    let evening: Value = sample("after-hours-scaling/tuesday-evening.json");
    let first = invoke(&s, evening.clone()).await?;
    let after_first = aws.observe(DEV, "macro-ai-dev-api-service").await?;
    let second = invoke(&s, evening).await?;
    assert_eq!(
        (first["changed"].clone(), second["changed"].clone()),
        (json!(2), json!(0))
    );
    assert_eq!(
        aws.observe(DEV, "macro-ai-dev-api-service").await?,
        after_first,
        "the second run changed nothing"
    );
    // The saved capacity is the day's, not the night's, however often the night is reconciled.
    assert_eq!(
        after_first.tags.get(SAVED).map(String::as_str),
        Some("desired=2 min=1 max=4")
    );

    // A missed evening: nothing ran at 18:00; a run at 02:00 catches up, one at 03:00 does nothing.
    let aws2 = Stack::get().aws(&MotoAccount::new());
    seed(&aws2, DEV, "dev-office-hours").await?;
    let s2 = scaler(&aws2, None, &[("CLUSTERS", DEV)]);
    assert_eq!(
        invoke(&s2, scheduled("2026-11-25T02:00:00Z")).await?["changed"],
        json!(2)
    );
    assert_eq!(
        invoke(&s2, scheduled("2026-11-25T03:00:00Z")).await?["changed"],
        json!(0)
    );
    assert_eq!(
        aws2.observe(DEV, "macro-ai-dev-api-service").await?.desired,
        0
    );
    Ok(())
}

#[tokio::test]
async fn overrides_off_keep_up_until_and_prod_are_left_alone() -> Result<()> {
    capture_logs();
    let aws = Stack::get().aws(&MotoAccount::new());
    let td = aws.cluster(DEV).await?;
    aws.service(
        DEV,
        &td,
        "opted-out",
        2,
        &[("macro-ai:schedule", "off")],
        Some((1, 4)),
    )
    .await?;
    aws.service(DEV, &td, "untagged", 2, &[], None).await?;
    aws.service(
        DEV,
        &td,
        "working-late",
        2,
        &[
            ("macro-ai:schedule", "dev-office-hours"),
            ("macro-ai:keep-up-until", "2026-11-24T22:00:00Z"),
        ],
        None,
    )
    .await?;
    let prod_td = aws.cluster("macro-ai-prod-cluster").await?;
    aws.service(
        "macro-ai-prod-cluster",
        &prod_td,
        "macro-ai-prod-api-service",
        4,
        &[("macro-ai:schedule", "dev-office-hours")],
        Some((2, 8)),
    )
    .await?;
    let s = scaler(
        &aws,
        None,
        &[("CLUSTERS", "macro-ai-dev-cluster,macro-ai-prod-cluster")],
    );

    let r = invoke(&s, scheduled("2026-11-24T19:00:00Z")).await?;
    assert_eq!(r["changed"], json!(0), "{r}");
    for (cluster, name, desired) in [
        (DEV, "opted-out", 2),
        (DEV, "untagged", 2),
        (DEV, "working-late", 2),
        ("macro-ai-prod-cluster", "macro-ai-prod-api-service", 4),
    ] {
        let o = aws.observe(cluster, name).await?;
        assert_eq!((o.desired, o.tags.get(SAVED)), (desired, None), "{name}");
    }
    assert!(
        r.to_string().contains("production is never scaled down"),
        "{r}"
    );
    // A manual scale-down of everything still leaves prod alone.
    invoke(&s, json!({"action": "scale-down"})).await?;
    assert_eq!(
        aws.observe("macro-ai-prod-cluster", "macro-ai-prod-api-service")
            .await?
            .desired,
        4
    );
    // After keep-up-until has passed, the late worker's service goes down too.
    invoke(&s, scheduled("2026-11-24T22:15:00Z")).await?;
    assert_eq!(aws.observe(DEV, "working-late").await?.desired, 0);
    Ok(())
}

/// A fleet that deletes one service right after listing it: "deleted mid-run". moto still
/// accepts UpdateService and TagResource on an INACTIVE (deleted) service, where ECS answers
/// ServiceNotActiveException; this in-process wrapper answers for the deleted service the way
/// ECS does, and passes everything else to the real moto-backed fleet.
struct DeletesOne<F> {
    inner: F,
    ecs: aws_sdk_ecs::Client,
    victim: (String, String),
}

impl<F: ServiceFleet> ServiceFleet for DeletesOne<F> {
    async fn list(&self, cluster: &str) -> Result<Vec<ServiceState>, FleetError> {
        let list = self.inner.list(cluster).await?;
        if cluster == self.victim.0 {
            let _ = self
                .ecs
                .delete_service()
                .cluster(&self.victim.0)
                .service(&self.victim.1)
                .force(true)
                .send()
                .await;
        }
        Ok(list)
    }
    async fn get(&self, s: &ServiceId) -> Result<ServiceState, FleetError> {
        self.gone(s, "DescribeServices")?;
        self.inner.get(s).await
    }
    async fn set_desired(&self, s: &ServiceId, d: i32) -> Result<(), FleetError> {
        self.gone(s, "UpdateService")?;
        self.inner.set_desired(s, d).await
    }
    async fn set_bounds(&self, s: &ServiceId, b: Bounds) -> Result<(), FleetError> {
        self.gone(s, "RegisterScalableTarget")?;
        self.inner.set_bounds(s, b).await
    }
    async fn tag(&self, s: &ServiceId, k: &str, v: &str) -> Result<(), FleetError> {
        self.gone(s, "TagResource")?;
        self.inner.tag(s, k, v).await
    }
    async fn untag(&self, s: &ServiceId, k: &str) -> Result<(), FleetError> {
        self.gone(s, "UntagResource")?;
        self.inner.untag(s, k).await
    }
}

impl<F> DeletesOne<F> {
    fn gone(&self, s: &ServiceId, operation: &'static str) -> Result<(), FleetError> {
        if (s.cluster.as_str(), s.name.as_str()) != (self.victim.0.as_str(), self.victim.1.as_str())
        {
            return Ok(());
        }
        Err(FleetError {
            operation,
            target: s.to_string(),
            kind: FleetErrorKind::NotFound,
            source: "ServiceNotActiveException: Service was not ACTIVE.".into(),
        })
    }
}

#[tokio::test]
async fn two_hundred_services_are_reconciled_and_one_failure_stops_nothing() -> Result<()> {
    capture_logs();
    let aws = Stack::get().aws(&MotoAccount::new());
    for cluster in [DEV, STAGING] {
        let td = aws.cluster(cluster).await?;
        let schedule = if cluster == DEV {
            "dev-office-hours"
        } else {
            "staging-nightly"
        };
        for i in 0..100 {
            let bounds = (i % 2 == 0).then_some((1, 3));
            aws.service(
                cluster,
                &td,
                &format!("svc-{i:03}"),
                2,
                &[("macro-ai:schedule", schedule)],
                bounds,
            )
            .await?;
        }
    }
    let config = Config::from_lookup(|_| None)?;
    let fleet = DeletesOne {
        inner: shared::aws::ecs::EcsFleet::new(aws.ecs.clone(), aws.autoscaling.clone()),
        ecs: aws.ecs.clone(),
        victim: (DEV.into(), "svc-042".into()),
    };
    let s = Scaler::new(
        fleet,
        shared::aws::sns::SnsNotifier::new(aws.sns.clone(), None),
        config.scaling,
    );
    let r = invoke(&s, scheduled("2026-11-24T23:00:00Z")).await?;
    assert_eq!(
        (r["changed"].clone(), r["failed"].clone()),
        (json!(199), json!(1)),
        "{}",
        r["failed"]
    );
    let failed: Vec<&Value> = r["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["outcome"] == json!("failed"))
        .collect();
    assert_eq!(failed[0]["service"], json!(format!("{DEV}/svc-042")));
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("ServiceNotActiveException"),
        "{}",
        failed[0]
    );
    for (cluster, want) in [(DEV, 0), (STAGING, 1)] {
        for i in [0, 41, 43, 99] {
            let o = aws.observe(cluster, &format!("svc-{i:03}")).await?;
            assert_eq!(o.desired, want, "{cluster}/svc-{i:03}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn malformed_events_bad_schedules_and_dry_runs_change_nothing() -> Result<()> {
    capture_logs();
    let aws = Stack::get().aws(&MotoAccount::new());
    seed(&aws, DEV, "dev-office-hours").await?;
    let s = scaler(&aws, None, &[("CLUSTERS", DEV)]);
    let before = aws.observe(DEV, "macro-ai-dev-api-service").await?;
    for (event, expect) in [
        (json!("scale everything"), "expected a JSON object"),
        (json!({"action": "shutdown"}), "`action` must be"),
        (
            json!({"detail-type": "Scheduled Event", "time": "last tuesday"}),
            "RFC 3339",
        ),
        (json!({"foo": 1}), "neither a scheduled event"),
    ] {
        let e = invoke(&s, event.clone()).await.expect_err("malformed");
        assert_eq!(e.error_type(), "InvalidEvent");
        assert!(e.message().contains(expect), "{event}: {}", e.message());
    }
    let dry: Value = sample("after-hours-scaling/manual-scale-down-dry-run.json");
    let r = invoke(&s, dry).await?;
    assert_eq!(
        outcome_of(&r, &format!("{DEV}/macro-ai-dev-api-service")),
        "would-scale-down"
    );
    assert_eq!(
        (r["dryRun"].clone(), r["changed"].clone()),
        (json!(true), json!(0))
    );
    assert_eq!(
        aws.observe(DEV, "macro-ai-dev-api-service").await?,
        before,
        "a dry run changes nothing"
    );

    let err = Config::from_lookup(|k| (k == "SCHEDULES").then(|| r#"[{"name": "x", "offCapacity": 0, "onHours": [{"days": ["Someday"], "start": "08:00", "end": "18:00"}]}]"#.to_string()))
        .expect_err("a bad SCHEDULES is refused at start");
    assert!(
        err.to_string().contains("SCHEDULES") && err.to_string().contains("Someday"),
        "{err}"
    );

    // The manual forms in events/ work as documented.
    let down = invoke(&s, json!({"action": "scale-down", "environment": "dev"})).await?;
    assert_eq!(down["changed"], json!(2));
    let up: Value = sample("after-hours-scaling/manual-scale-up.json");
    assert_eq!(invoke(&s, up).await?["changed"], json!(2));
    assert_eq!(
        aws.observe(DEV, "macro-ai-dev-api-service").await?,
        before,
        "back exactly as it was"
    );
    Ok(())
}

#[tokio::test]
async fn a_staging_service_someone_set_to_zero_stays_at_zero_through_the_night() -> Result<()> {
    capture_logs();
    let aws = Stack::get().aws(&MotoAccount::new());
    seed(&aws, STAGING, "staging-nightly").await?;
    // Stopped on purpose by someone: 0 tasks, autoscaling allowed 0..4.
    let td = aws.cluster(STAGING).await?;
    aws.service(
        STAGING,
        &td,
        "macro-ai-staging-worker-service",
        0,
        &[("macro-ai:schedule", "staging-nightly")],
        Some((0, 4)),
    )
    .await?;
    let s = scaler(&aws, None, &[]);
    // 23:00: staging goes to 1 task at night, but "down to 1" never starts a stopped service.
    invoke(&s, scheduled("2026-11-24T23:00:00Z")).await?;
    let night = aws
        .observe(STAGING, "macro-ai-staging-worker-service")
        .await?;
    assert_eq!(
        (night.desired, night.bounds),
        (0, Some((0, 0))),
        "not raised"
    );
    let api = aws.observe(STAGING, "macro-ai-staging-api-service").await?;
    assert_eq!((api.desired, api.bounds), (1, Some((1, 1))));
    // 07:00: back exactly where it was, still stopped.
    invoke(&s, scheduled("2026-11-25T07:00:00Z")).await?;
    let morning = aws
        .observe(STAGING, "macro-ai-staging-worker-service")
        .await?;
    assert_eq!((morning.desired, morning.bounds), (0, Some((0, 4))));
    assert!(!morning.tags.contains_key(SAVED));
    Ok(())
}

/// The real fleet, with budget-response's hold landing on `target` right after `list` returned:
/// the hold tag first, then the reduction, as budget-response does it.
struct HoldLandsAfterList {
    inner: shared::aws::ecs::EcsFleet,
    target: (String, String),
}

impl ServiceFleet for HoldLandsAfterList {
    async fn list(&self, cluster: &str) -> Result<Vec<ServiceState>, FleetError> {
        let list = self.inner.list(cluster).await?;
        if let Some(state) = list.iter().find(|s| {
            (s.id.cluster.as_str(), s.id.name.as_str())
                == (self.target.0.as_str(), self.target.1.as_str())
        }) {
            self.inner
                .tag(
                    &state.id,
                    "macro-ai:budget-hold",
                    "since=2026-11-25T06:59:00Z to=0",
                )
                .await?;
            let fresh = self.inner.get(&state.id).await?;
            shared::capacity::reduce_to(&self.inner, &fresh, 0)
                .await
                .map_err(|e| FleetError {
                    operation: "hold",
                    target: state.id.to_string(),
                    kind: FleetErrorKind::Other,
                    source: e.to_string().into(),
                })?;
        }
        Ok(list)
    }
    async fn get(&self, s: &ServiceId) -> Result<ServiceState, FleetError> {
        self.inner.get(s).await
    }
    async fn set_desired(&self, s: &ServiceId, d: i32) -> Result<(), FleetError> {
        self.inner.set_desired(s, d).await
    }
    async fn set_bounds(&self, s: &ServiceId, b: Bounds) -> Result<(), FleetError> {
        self.inner.set_bounds(s, b).await
    }
    async fn tag(&self, s: &ServiceId, k: &str, v: &str) -> Result<(), FleetError> {
        self.inner.tag(s, k, v).await
    }
    async fn untag(&self, s: &ServiceId, k: &str) -> Result<(), FleetError> {
        self.inner.untag(s, k).await
    }
}

#[tokio::test]
async fn a_budget_hold_landing_between_list_and_restore_is_not_undone() -> Result<()> {
    capture_logs();
    let aws = Stack::get().aws(&MotoAccount::new());
    seed(&aws, DEV, "dev-office-hours").await?;
    // The night: dev is down, its day capacity saved.
    invoke(&scaler(&aws, None, &[]), scheduled("2026-11-24T19:00:00Z")).await?;
    // 07:00 the next morning, office hours: after-hours lists dev (no hold yet), then a budget
    // breach holds the api service, then after-hours writes.
    let config = Config::from_lookup(|_| None)?;
    let s = Scaler::new(
        HoldLandsAfterList {
            inner: shared::aws::ecs::EcsFleet::new(aws.ecs.clone(), aws.autoscaling.clone()),
            target: (DEV.into(), "macro-ai-dev-api-service".into()),
        },
        shared::aws::sns::SnsNotifier::new(aws.sns.clone(), None),
        config.scaling,
    );
    let r = invoke(&s, scheduled("2026-11-25T08:00:00Z")).await?;
    assert_eq!(
        outcome_of(&r, "macro-ai-dev-cluster/macro-ai-dev-api-service"),
        "skipped",
        "{r}"
    );
    let api = aws.observe(DEV, "macro-ai-dev-api-service").await?;
    assert_eq!(
        (api.desired, api.bounds),
        (0, Some((0, 0))),
        "the hold stands"
    );
    assert!(api.tags.contains_key("macro-ai:budget-hold"));
    // The other service, not held, came back.
    assert_eq!(
        aws.observe(DEV, "macro-ai-dev-ui-service").await?.desired,
        2
    );
    Ok(())
}

#[tokio::test]
async fn the_production_stack_scales_nothing_whatever_it_is_asked() -> Result<()> {
    capture_logs();
    let aws = Stack::get().aws(&MotoAccount::new());
    seed(&aws, DEV, "dev-office-hours").await?;
    let s = scaler(
        &aws,
        None,
        &[("MACRO_AI_ENVIRONMENT", "prod"), ("CLUSTERS", DEV)],
    );
    let r = invoke(&s, json!({"action": "scale-down", "environment": "dev"})).await?;
    assert_eq!(
        (r["changed"].clone(), r["services"][0]["outcome"].clone()),
        (json!(0), json!("skipped")),
        "{r}"
    );
    assert_eq!(
        aws.observe(DEV, "macro-ai-dev-api-service").await?.desired,
        2
    );
    Ok(())
}

/// Issue 23 through the real SDK on moto: dev's holidays from `HOLIDAYS` in London, a stop-only
/// sandbox (by its tag) started by the manual scale-up between two evenings, and the calendar.
#[tokio::test]
async fn holidays_stop_only_and_the_calendar_through_the_real_sdk() -> Result<()> {
    capture_logs();
    let aws = Stack::get().aws(&MotoAccount::new());
    let td = aws.cluster(DEV).await?;
    let api = "macro-ai-dev-api-service";
    let sandbox = "macro-ai-dev-sandbox-service";
    aws.service(
        DEV,
        &td,
        api,
        2,
        &[("macro-ai:schedule", "dev-office-hours")],
        Some((1, 4)),
    )
    .await?;
    aws.service(
        DEV,
        &td,
        sandbox,
        3,
        &[
            ("macro-ai:schedule", "dev-office-hours"),
            ("macro-ai:schedule-mode", "stop-only"),
        ],
        Some((1, 6)),
    )
    .await?;
    let s = scaler(
        &aws,
        None,
        &[
            ("CLUSTERS", DEV),
            ("SCHEDULE_TIMEZONE", "Europe/London"),
            ("HOLIDAYS", "2026-12-24..2026-12-26"),
        ],
    );

    // The calendar first: nothing is written, and it shows the holidays.
    let plan = invoke(
        &s,
        json!({"action": "plan", "environment": "dev", "from": "2026-12-23", "days": 6}),
    )
    .await?;
    let moves = |service: &str| -> Vec<String> {
        plan["services"]
            .as_array()
            .and_then(|all| {
                all.iter()
                    .find(|p| p["service"] == json!(format!("{DEV}/{service}")))
            })
            .and_then(|p| p["changes"].as_array())
            .map(|c| {
                c.iter()
                    .map(|c| {
                        format!(
                            "{} {}",
                            c["local"].as_str().unwrap_or("?"),
                            c["action"].as_str().unwrap_or("?")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        moves(api),
        vec![
            "Wed 2026-12-23 08:00 GMT up",
            "Wed 2026-12-23 18:00 GMT down",
            "Mon 2026-12-28 08:00 GMT up",
            "Mon 2026-12-28 18:00 GMT down"
        ],
        "{plan}"
    );
    assert_eq!(
        moves(sandbox),
        vec![
            "Wed 2026-12-23 18:00 GMT down",
            "Mon 2026-12-28 18:00 GMT down"
        ],
        "{plan}"
    );
    assert_eq!(
        aws.observe(DEV, api).await?.desired,
        2,
        "a plan writes nothing"
    );

    // Wednesday 23rd, 18:00: both go down; Christmas Eve morning nothing comes back.
    let r = invoke(&s, scheduled("2026-12-23T18:00:00Z")).await?;
    assert_eq!(r["changed"], json!(2), "{r}");
    let sb = aws.observe(DEV, sandbox).await?;
    assert_eq!((sb.desired, sb.bounds), (0, Some((0, 0))));
    assert_eq!(
        sb.tags.get("macro-ai:stopped-at").map(String::as_str),
        Some("2026-12-23T18:00:00Z")
    );
    let r = invoke(&s, scheduled("2026-12-24T09:00:00Z")).await?;
    assert_eq!(r["changed"], json!(0), "{r}");
    assert_eq!(outcome_of(&r, &format!("{DEV}/{api}")), "unchanged");

    // Christmas Eve 10:00: someone on call starts the sandbox (this service only).
    let r = invoke(
        &s,
        json!({"action": "scale-up", "service": sandbox, "at": "2026-12-24T10:00:00Z"}),
    )
    .await?;
    assert_eq!(
        (r["changed"].clone(), r["services"].as_array().map(Vec::len)),
        (json!(1), Some(1)),
        "{r}"
    );
    // The quarter-hours after it leave it up, all through the holiday.
    for t in [
        "2026-12-24T10:15:00Z",
        "2026-12-25T03:00:00Z",
        "2026-12-26T23:45:00Z",
    ] {
        invoke(&s, scheduled(t)).await?;
        let sb = aws.observe(DEV, sandbox).await?;
        assert_eq!((sb.desired, sb.bounds), (3, Some((1, 6))), "{t}");
    }
    // Monday 28th: the api is back exactly; the sandbox is not touched in on hours; the
    // evening stops it again.
    invoke(&s, scheduled("2026-12-28T08:00:00Z")).await?;
    let a = aws.observe(DEV, api).await?;
    assert_eq!(
        (a.desired, a.bounds, a.tags.get(SAVED)),
        (2, Some((1, 4)), None)
    );
    assert_eq!(aws.observe(DEV, sandbox).await?.desired, 3);
    invoke(&s, scheduled("2026-12-28T18:00:00Z")).await?;
    let sb = aws.observe(DEV, sandbox).await?;
    assert_eq!((sb.desired, sb.bounds), (0, Some((0, 0))));
    assert_eq!(
        sb.tags.get(SAVED).map(String::as_str),
        Some("desired=3 min=1 max=6")
    );
    Ok(())
}

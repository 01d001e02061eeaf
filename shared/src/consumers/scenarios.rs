//! The refresh and the retire guard together on the in-memory fakes (no stack, milliseconds):
//! which services a change redeploys, once; a rotation that waits for the services a lost event
//! left behind and completes after a refresh; and the refresh interleaved with the other
//! functions that write to the same services. The same on moto, PostgreSQL and Redis, with
//! emulated tasks, is `tests/tests/refresh_consumers.rs`.

use std::time::Duration;

use futures_util::FutureExt as _;
use jiff::Timestamp;

use super::*;
use crate::capacity::ServiceFleet;
use crate::fakes::{
    MemoryCredential, MemoryFleet, MemoryNotificationLedger, MemorySecretStore, RecordingNotifier,
    task_definition,
};
use crate::rollback::ReleaseFleet;
use crate::rotation::{
    AWSCURRENT, AWSPREVIOUS, PasswordPolicy, Retirement, RotationStep, Rotator, SecretStore, Step,
};

const SECRET: &str = "macro-ai/dev/database";
const ARN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:macro-ai/dev/database-AbCdEf";
const DEV: &str = "macro-ai-dev-cluster";

/// Macro AI's dev cluster: the API injects the secret by ARN, the worker one JSON key of it by
/// partial ARN, the UI injects nothing, `reports` another secret, `batch` is at 0 and `canary`
/// pins AWSPREVIOUS.
fn fleet() -> MemoryFleet {
    let other = "arn:aws:secretsmanager:us-east-1:123456789012:secret:macro-ai/dev/redis-XyZ123";
    let partial = "arn:aws:secretsmanager:us-east-1:123456789012:secret:macro-ai/dev/database";
    MemoryFleet::new()
        .with_service(DEV, "api", 2, Some((1, 4)), &[])
        .with_service(DEV, "worker", 1, None, &[])
        .with_service(DEV, "ui", 2, None, &[])
        .with_service(DEV, "reports", 1, None, &[])
        .with_service(DEV, "batch", 0, None, &[])
        .with_service(DEV, "canary", 1, None, &[])
        .with_secret_references(&task_definition("api", 1), &[ARN, other])
        .with_secret_references(
            &task_definition("worker", 1),
            &[&format!("{partial}:password::")],
        )
        .with_secret_references(&task_definition("reports", 1), &[other])
        .with_secret_references(&task_definition("batch", 1), &[SECRET])
        .with_secret_references(
            &task_definition("canary", 1),
            &[&format!("{ARN}::AWSPREVIOUS:")],
        )
}

fn config() -> RefreshConfig {
    RefreshConfig {
        clusters: vec![DEV.into()],
        secret_prefix: Some("macro-ai/dev/".into()),
        refresh_production: true,
        reconcile: vec![SECRET.into()],
        claim_wait: Duration::ZERO,
        claim_lease: Duration::from_secs(90),
    }
}

fn label_event(version: &str) -> RefreshRequest {
    RefreshRequest::LabelUpdated {
        secret: ARN.into(),
        label: AWSCURRENT.into(),
        version: version.into(),
        at: Some(Timestamp::now()),
    }
}

fn step(step: Step, token: &str) -> RotationStep {
    RotationStep {
        step,
        secret_id: SECRET.into(),
        token: token.into(),
        rotation_token: None,
    }
}

fn actions(report: &RefreshReport) -> Vec<(String, &'static str)> {
    report
        .services
        .iter()
        .map(|s| (s.service.clone(), s.action))
        .collect()
}

fn deployments(fleet: &MemoryFleet, service: &str) -> usize {
    fleet.deployments(DEV, service).len()
}

#[tokio::test]
async fn given_a_change_of_awscurrent_then_each_running_consumer_is_redeployed_once() {
    let store = MemorySecretStore::default().with_secret(SECRET, "first");
    let fleet = fleet();
    let notifier = RecordingNotifier::default();
    let refresher = Refresher::new(
        &store,
        &fleet,
        MemoryNotificationLedger::default(),
        &notifier,
        config(),
    );
    let (reports, failures) = refresher.handle(label_event("v0"), Timestamp::now()).await;
    assert!(failures.is_empty(), "{failures:?}");
    let consumers = |service: &str| format!("{DEV}/{service}");
    assert_eq!(
        actions(&reports[0]),
        [
            (consumers("api"), "redeployed"),
            (consumers("batch"), "skipped"),
            (consumers("canary"), "skipped"),
            (consumers("worker"), "redeployed"),
        ],
        "the UI and reports do not reference the secret"
    );
    for (service, want) in [
        ("api", 2),
        ("worker", 2),
        ("ui", 1),
        ("reports", 1),
        ("batch", 1),
        ("canary", 1),
    ] {
        assert_eq!(deployments(&fleet, service), want, "{service}");
    }
    // Nothing else changed: desired counts, bounds and tags are what they were.
    let api = fleet.service(DEV, "api").expect("api");
    assert_eq!(
        (
            api.capacity.desired,
            api.capacity.bounds.map(|b| (b.min, b.max)),
            api.tags.len()
        ),
        (2, Some((1, 4)), 0)
    );
    // The change is recorded on the secret, before the deployments it caused.
    let since = store
        .describe(SECRET)
        .await
        .unwrap()
        .current_since()
        .expect("recorded");
    assert!(fleet.deployments(DEV, "api")[0].created_at >= since);
    let notice = &notifier.sent()[0];
    assert!(
        notice.subject.contains("2 service(s) redeployed"),
        "{}",
        notice.subject
    );
    assert!(
        notice.message.contains("at 0 tasks")
            && notice.message.contains("pinned to the stage AWSPREVIOUS")
    );

    // A redelivery, and the same change's refresh asked by the event again: nothing more.
    let (reports, _) = refresher.handle(label_event("v0"), Timestamp::now()).await;
    assert_eq!(reports[0].outcome, "duplicate");
    assert_eq!(deployments(&fleet, "api"), 2);
    // By hand, it always deploys.
    let manual = RefreshRequest::Manual {
        secret: SECRET.into(),
        dry_run: false,
    };
    refresher.handle(manual, Timestamp::now()).await;
    assert_eq!(deployments(&fleet, "api"), 3);
    // Another label is not a change of what consumers read.
    let (reports, _) = refresher
        .handle(
            RefreshRequest::LabelUpdated {
                secret: ARN.into(),
                label: "CANDIDATE".into(),
                version: "v9".into(),
                at: None,
            },
            Timestamp::now(),
        )
        .await;
    assert_eq!(reports[0].outcome, "ignored");
    assert_eq!(deployments(&fleet, "api"), 3);
}

#[tokio::test]
async fn given_another_environment_s_secret_or_a_failing_redeploy_then_it_says_so_and_the_retry_finishes()
 {
    let store = MemorySecretStore::default()
        .with_secret(SECRET, "first")
        .with_secret("macro-ai/prod/database", "p");
    let fleet = fleet();
    let refresher = Refresher::new(
        &store,
        &fleet,
        MemoryNotificationLedger::default(),
        RecordingNotifier::default(),
        config(),
    );
    let manual = RefreshRequest::Manual {
        secret: "macro-ai/prod/database".into(),
        dry_run: false,
    };
    let (_, failures) = refresher.handle(manual, Timestamp::now()).await;
    assert_eq!(failures[0].1.error_type(), "SecretNotManaged");
    // UpdateService fails: the event fails (EventBridge retries it), its claim is given back.
    fleet.fail("UpdateService");
    let (_, failures) = refresher.handle(label_event("v0"), Timestamp::now()).await;
    assert_eq!(failures[0].1.error_type(), "RefreshFailed");
    assert_eq!(deployments(&fleet, "api"), 1);
    fleet.heal("UpdateService");
    let (reports, failures) = refresher.handle(label_event("v0"), Timestamp::now()).await;
    assert!(failures.is_empty() && reports[0].outcome == "refreshed");
    assert_eq!(deployments(&fleet, "api"), 2);
}

#[tokio::test]
async fn given_a_lost_event_then_the_next_rotation_waits_with_nothing_retired_and_completes_after_a_refresh()
 {
    let store = MemorySecretStore::default().with_secret(SECRET, "first");
    let fleet = fleet();
    let notifier = RecordingNotifier::default();
    let rotator = Rotator::new(
        &store,
        MemoryCredential::accepting(&["first"]),
        PasswordPolicy::default(),
    )
    .watching(Some(Watch {
        reader: &fleet,
        clusters: vec![DEV.into()],
        notifier: &notifier,
    }));
    let refresher = Refresher::new(
        &store,
        &fleet,
        MemoryNotificationLedger::default(),
        RecordingNotifier::default(),
        config(),
    );
    // The first rotation retires nothing (no AWSPREVIOUS yet): it completes. Its event is lost.
    store.start_rotation(SECRET, "t1");
    for s in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        rotator
            .rotate(&step(s, "t1"))
            .await
            .expect("first rotation");
    }
    let second = store.value(SECRET, AWSCURRENT).expect("current");
    // The second would retire "first", which the API's and worker's tasks still hold.
    store.start_rotation(SECRET, "t2");
    for s in [Step::Create, Step::Set, Step::Test] {
        rotator.rotate(&step(s, "t2")).await.expect("up to finish");
    }
    let err = rotator.rotate(&step(Step::Finish, "t2")).await.unwrap_err();
    assert_eq!(err.error_type(), "ConsumersNotRefreshed", "{err}");
    assert!(err.is_retryable());
    let text = err.to_string();
    assert!(
        text.contains("macro-ai-dev-cluster/api") && text.contains("macro-ai-dev-cluster/worker"),
        "{text}"
    );
    assert!(
        !text.contains("batch") && !text.contains("canary"),
        "{text}"
    );
    assert_eq!(
        store.value(SECRET, AWSCURRENT).as_deref(),
        Some(second.as_str())
    );
    assert!(rotator_accepts(&rotator, "first"), "nothing retired");
    assert!(
        notifier
            .sent()
            .iter()
            .any(|n| n.subject.contains("waits for 2 service(s)"))
    );
    // A refresh by hand; while the old deployments drain the rotation still waits.
    let manual = RefreshRequest::Manual {
        secret: SECRET.into(),
        dry_run: false,
    };
    let (_, failures) = refresher.handle(manual, Timestamp::now()).await;
    assert!(failures.is_empty(), "{failures:?}");
    let err = rotator.rotate(&step(Step::Finish, "t2")).await.unwrap_err();
    assert!(err.to_string().contains("draining deployment"), "{err}");
    fleet.settle(DEV, "api");
    fleet.settle(DEV, "worker");
    // The same token, as Secrets Manager retries it: it completes and retires "first".
    assert_eq!(
        rotator
            .rotate(&step(Step::Finish, "t2"))
            .await
            .expect("finish")
            .outcome,
        "finished"
    );
    assert!(!rotator_accepts(&rotator, "first"));
    assert_eq!(
        store.value(SECRET, AWSPREVIOUS).as_deref(),
        Some(second.as_str())
    );
}

fn rotator_accepts<C: ConsumerReader, N: crate::notify::Notifier>(
    r: &Rotator<&MemorySecretStore, MemoryCredential, C, N>,
    password: &str,
) -> bool {
    r.backend().accepts(password)
}

#[tokio::test]
async fn given_events_delivered_then_rotations_never_wait_and_a_service_at_0_is_never_waited_for() {
    let store = MemorySecretStore::default().with_secret(SECRET, "first");
    let fleet = fleet();
    let rotator = Rotator::new(
        &store,
        MemoryCredential::accepting(&["first"]).retiring(Retirement::AtSet),
        PasswordPolicy::default(),
    )
    .watching(Some(Watch {
        reader: &fleet,
        clusters: vec![DEV.into()],
        notifier: RecordingNotifier::default(),
    }));
    let refresher = Refresher::new(
        &store,
        &fleet,
        MemoryNotificationLedger::default(),
        RecordingNotifier::default(),
        config(),
    );
    for (n, token) in ["t1", "t2", "t3"].into_iter().enumerate() {
        store.start_rotation(SECRET, token);
        for s in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            rotator
                .rotate(&step(s, token))
                .await
                .unwrap_or_else(|e| panic!("rotation {n}: {e}"));
        }
        refresher.handle(label_event(token), Timestamp::now()).await;
        fleet.settle(DEV, "api");
        fleet.settle(DEV, "worker");
    }
    // The batch service stayed at 0 the whole time: never redeployed, never waited for.
    assert_eq!(deployments(&fleet, "batch"), 1);
    assert_eq!(deployments(&fleet, "api"), 1, "settled");
}

#[tokio::test]
async fn given_a_rollback_or_a_scale_down_between_the_refresh_s_read_and_its_write_then_neither_is_undone()
 {
    let store = MemorySecretStore::default().with_secret(SECRET, "first");
    let fleet = fleet().with_release(DEV, "api", 2, 2);
    let fleet = fleet.with_secret_references(&task_definition("api", 2), &[ARN]);
    // Between the refresh's read and its UpdateService: alarm-rollback deploys api:1, after-hours
    // scales the worker to 0 (each through the fleet, as those functions write).
    fleet.before_each_write(Box::new(|fleet, operation, service| {
        if operation != "UpdateService" {
            return;
        }
        let id = fleet
            .service(DEV, &service.name)
            .map(|s| s.id)
            .expect("service");
        match service.name.as_str() {
            "api" => fleet
                .deploy(&id, &task_definition("api", 1))
                .now_or_never()
                .expect("sync")
                .expect("rollback"),
            "worker" => fleet
                .set_desired(&id, 0)
                .now_or_never()
                .expect("sync")
                .expect("scale down"),
            _ => {}
        }
    }));
    let refresher = Refresher::new(
        &store,
        &fleet,
        MemoryNotificationLedger::default(),
        RecordingNotifier::default(),
        config(),
    );
    let (_, failures) = refresher.handle(label_event("v0"), Timestamp::now()).await;
    assert!(failures.is_empty(), "{failures:?}");
    // The rollback stands: the forced deployment is of api:1, not the api:2 the refresh read.
    assert_eq!(
        fleet.running(DEV, "api").as_deref(),
        Some(task_definition("api", 1).as_str())
    );
    assert_eq!(
        fleet.deployments(DEV, "api")[0].task_definition,
        task_definition("api", 1)
    );
    // The scale-down stands: the refresh never writes a desired count.
    assert_eq!(
        fleet.service(DEV, "worker").map(|s| s.capacity.desired),
        Some(0)
    );
}

#[tokio::test]
async fn given_a_single_user_rotation_with_consumers_then_it_warns_at_create_and_does_not_wait() {
    let store = MemorySecretStore::default().with_secret(SECRET, "first");
    let fleet = fleet();
    let notifier = RecordingNotifier::default();
    let rotator = Rotator::new(
        &store,
        MemoryCredential::accepting(&["first"]).retiring(Retirement::NoOverlap),
        PasswordPolicy::default(),
    )
    .watching(Some(Watch {
        reader: &fleet,
        clusters: vec![DEV.into()],
        notifier: &notifier,
    }));
    for token in ["t1", "t2"] {
        store.start_rotation(SECRET, token);
        for s in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            rotator.rotate(&step(s, token)).await.expect("no wait");
        }
    }
    let warnings: Vec<_> = notifier
        .sent()
        .into_iter()
        .filter(|n| n.subject.contains("consumers fail until redeployed"))
        .collect();
    assert_eq!(warnings.len(), 2, "one per rotation, at createSecret");
    assert!(
        warnings[0].message.contains("macro-ai-dev-cluster/api")
            && !warnings[0].message.contains("batch")
    );
}

#[tokio::test]
async fn given_a_reconciliation_then_what_still_runs_from_before_a_change_is_redeployed() {
    let store = MemorySecretStore::default().with_secret(SECRET, "first");
    let fleet = fleet();
    let refresher = Refresher::new(
        &store,
        &fleet,
        MemoryNotificationLedger::default(),
        RecordingNotifier::default(),
        config(),
    );
    // No record of the change yet: the reconciliation says so and deploys nothing.
    let (reports, _) = refresher
        .handle(
            RefreshRequest::Reconcile { dry_run: false },
            Timestamp::now(),
        )
        .await;
    assert_eq!(reports[0].outcome, "unknown-change");
    assert_eq!(deployments(&fleet, "api"), 1);
    // A change whose event was handled while `batch` was at 0; batch comes back up in the
    // morning with its old deployment.
    refresher.handle(label_event("v0"), Timestamp::now()).await;
    fleet.settle(DEV, "api");
    fleet.settle(DEV, "worker");
    let batch = fleet.service(DEV, "batch").expect("batch").id;
    fleet.set_desired(&batch, 2).await.expect("morning");
    let (reports, _) = refresher
        .handle(
            RefreshRequest::Reconcile { dry_run: true },
            Timestamp::now(),
        )
        .await;
    assert!(actions(&reports[0]).contains(&(format!("{DEV}/batch"), "would-redeploy")));
    assert_eq!(deployments(&fleet, "batch"), 1, "a dry run deploys nothing");
    let (reports, _) = refresher
        .handle(
            RefreshRequest::Reconcile { dry_run: false },
            Timestamp::now(),
        )
        .await;
    let actions = actions(&reports[0]);
    assert!(
        actions.contains(&(format!("{DEV}/batch"), "redeployed")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&(format!("{DEV}/api"), "skipped")),
        "already refreshed: {actions:?}"
    );
    assert_eq!(
        (deployments(&fleet, "batch"), deployments(&fleet, "api")),
        (2, 1)
    );
}

#[tokio::test]
async fn given_awscurrent_moved_back_to_an_earlier_version_then_it_is_a_change_of_its_own() {
    let store = MemorySecretStore::default().with_secret(SECRET, "first");
    let fleet = fleet();
    let refresher = Refresher::new(
        &store,
        &fleet,
        MemoryNotificationLedger::default(),
        RecordingNotifier::default(),
        config(),
    );
    let rotator = Rotator::new(
        &store,
        MemoryCredential::accepting(&["first"]),
        PasswordPolicy::default(),
    );
    // Two rotations, each refreshed.
    for token in ["t1", "t2"] {
        store.start_rotation(SECRET, token);
        for s in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            rotator.rotate(&step(s, token)).await.expect("rotation");
        }
        refresher.handle(label_event(token), Timestamp::now()).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // An operator rolls the secret back to t1 (AWSCURRENT t1, AWSPREVIOUS t2): t1 was refreshed
    // once already, but this is another move, and the tasks run t2.
    store
        .move_stage(SECRET, AWSCURRENT, Some("t1"), Some("t2"))
        .await
        .expect("rollback");
    let before = deployments(&fleet, "api");
    let (reports, _) = refresher.handle(label_event("t1"), Timestamp::now()).await;
    assert_eq!(reports[0].outcome, "refreshed", "{reports:?}");
    assert_eq!(deployments(&fleet, "api"), before + 1);
    // Recorded as that move (t1 after t2), not the earlier time t1 became current.
    let d = store.describe(SECRET).await.expect("describe");
    let since = d.current_since.clone().expect("recorded");
    assert_eq!(
        (since.version.as_str(), since.previous.as_deref()),
        ("t1", Some("t2"))
    );
    assert!(d.current_since().is_some());
}

#[tokio::test]
async fn given_a_late_event_then_its_time_is_not_taken_for_when_the_change_happened() {
    let store = MemorySecretStore::default().with_secret(SECRET, "first");
    let fleet = fleet();
    let refresher = Refresher::new(
        &store,
        &fleet,
        MemoryNotificationLedger::default(),
        RecordingNotifier::default(),
        config(),
    );
    let now = Timestamp::now();
    let hour_ago = now - jiff::SignedDuration::from_hours(1);
    let late = RefreshRequest::LabelUpdated {
        secret: ARN.into(),
        label: AWSCURRENT.into(),
        version: "v0".into(),
        at: Some(hour_ago),
    };
    refresher.handle(late, now).await;
    let since = store
        .describe(SECRET)
        .await
        .unwrap()
        .current_since()
        .expect("recorded");
    assert!(
        since >= now - jiff::SignedDuration::from_millis(1),
        "{since} is not {hour_ago} + 1 s"
    );
}

#[tokio::test]
async fn given_awscurrent_moved_by_hand_past_the_guard_then_a_retried_finish_does_not_retire() {
    let store = MemorySecretStore::default().with_secret(SECRET, "first");
    let fleet = fleet();
    let rotator = Rotator::new(
        &store,
        MemoryCredential::accepting(&["first"]),
        PasswordPolicy::default(),
    )
    .watching(Some(Watch {
        reader: &fleet,
        clusters: vec![DEV.into()],
        notifier: RecordingNotifier::default(),
    }));
    store.start_rotation(SECRET, "t1");
    for s in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        rotator
            .rotate(&step(s, "t1"))
            .await
            .expect("first rotation");
    }
    store.start_rotation(SECRET, "t2");
    for s in [Step::Create, Step::Set, Step::Test] {
        rotator.rotate(&step(s, "t2")).await.expect("up to finish");
    }
    assert!(
        rotator.rotate(&step(Step::Finish, "t2")).await.is_err(),
        "the guard waits"
    );
    // An operator promotes t2 by hand, as a way out of the wait; Secrets Manager retries
    // finishSecret, which finds t2 current.
    store
        .move_stage(SECRET, AWSCURRENT, Some("t2"), Some("t1"))
        .await
        .expect("by hand");
    let r = rotator
        .rotate(&step(Step::Finish, "t2"))
        .await
        .expect("finish");
    assert_eq!(r.outcome, "alreadyCurrent");
    assert!(
        rotator_accepts(&rotator, "first"),
        "the clean-up waits: the API's tasks may still hold it"
    );
}

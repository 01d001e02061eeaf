//! The pure decisions about one consumer: whether a change of AWSCURRENT redeploys it, and
//! whether it may still run a task that started before that change (which a rotation must not
//! lock out).

use jiff::Timestamp;

use super::discovery::Consumer;
use super::ports::DeploymentStatus;
use super::reference::Follows;
use crate::capacity::ENVIRONMENT_TAG;
use crate::environment;

/// What a refresh does with one consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Redeploy,
    /// Left alone, and why (said in the result, the log and the notice).
    Skip(String),
}

/// How a refresh was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Secrets Manager's `Secret Label Updated` event (or its redelivery).
    Event,
    /// `{"refresh": …}` by hand: always redeploys what consumes AWSCURRENT.
    Manual,
}

/// Whether `consumer` is a production service (its cluster, or its environment tag).
pub fn is_production(consumer: &Consumer) -> bool {
    environment::is_production_service(
        &consumer.service.id.cluster,
        consumer.service.tag(ENVIRONMENT_TAG),
    )
}

/// Whether a change of AWSCURRENT that happened at `since` (when known) redeploys `consumer`.
pub fn plan(
    consumer: &Consumer,
    since: Option<Timestamp>,
    trigger: Trigger,
    refresh_production: bool,
) -> Plan {
    let service = &consumer.service;
    if service.desired == 0 {
        return Plan::Skip("at 0 tasks: its tasks read the new value when they start".into());
    }
    if let Some(controller) = &service.controller {
        return Plan::Skip(format!(
            "deployed by {controller}: UpdateService cannot start a new deployment of it; \
             redeploy it through {controller} (a new deployment of the same revision)"
        ));
    }
    let now = consumer.follows_now();
    if now.is_empty() {
        return Plan::Skip(
            "the task definition it runs now does not reference the secret (an older \
             deployment's does, and is being replaced)"
                .into(),
        );
    }
    if !now.contains(&Follows::Current) {
        let pins: Vec<String> = now.iter().map(Follows::describe).collect();
        return Plan::Skip(format!(
            "its reference is pinned to {}: a new deployment would read the same value",
            pins.join(" and ")
        ));
    }
    // A refresh asked for by hand is that redeploy by hand.
    if !refresh_production && trigger != Trigger::Manual && is_production(consumer) {
        return Plan::Skip(
            "production, and production refresh is off (RefreshProduction=false): redeploy it \
             by hand, or refresh it by hand ({\"refresh\": …})"
                .into(),
        );
    }
    if trigger == Trigger::Event
        && let (Some(since), Some(primary)) = (since, service.primary())
        && primary.created_at >= since
    {
        return Plan::Skip(format!(
            "already redeployed since the change (deployment {} created {}): its tasks read \
             the new value",
            primary.id, primary.created_at
        ));
    }
    Plan::Redeploy
}

/// Why `consumer` may still run a task that started before `version` became AWSCURRENT at
/// `since` (unknown: `None`), or `None` when it cannot. A deployment that may have tasks and
/// reads AWSCURRENT, created before the change, may hold the value before it; a refresh (a new
/// deployment) clears it. A reference pinned to a stage or version is not the rotation's to
/// wait for: a refresh would not change what it reads.
pub fn stale(consumer: &Consumer, version: &str, since: Option<Timestamp>) -> Option<String> {
    let service = &consumer.service;
    for d in service.deployments_with_tasks() {
        let reads_current = service
            .task_definitions_of(d)
            .iter()
            .any(|td| consumer.follows_in(td).contains(&Follows::Current));
        if !reads_current {
            continue;
        }
        let kind = match d.status {
            DeploymentStatus::Primary => "primary",
            _ => "draining",
        };
        match since {
            Some(since) if d.created_at >= since => {}
            Some(since) => {
                return Some(format!(
                    "its {kind} deployment {} was created {}, before version {version} became \
                     AWSCURRENT ({since}): its tasks may hold the value before it",
                    d.id, d.created_at
                ));
            }
            None => {
                return Some(format!(
                    "no record says when version {version} became AWSCURRENT (the secret's \
                     `{}` tag), so its {kind} deployment {} may hold the value before it",
                    crate::rotation::CURRENT_SINCE_TAG,
                    d.id
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::ServiceId;
    use crate::consumers::ports::{ConsumerService, Deployment};
    use std::collections::BTreeMap;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("a timestamp")
    }

    fn consumer(
        desired: i32,
        deployments: &[(DeploymentStatus, &str, &str)],
        follows: &[Follows],
        cluster: &str,
    ) -> Consumer {
        let td = "arn:aws:ecs:us-east-1:1:task-definition/api:2";
        Consumer {
            service: ConsumerService {
                id: ServiceId {
                    cluster: cluster.into(),
                    name: "api".into(),
                    arn: "arn:aws:ecs:us-east-1:1:service/c/api".into(),
                },
                desired,
                task_definition: td.into(),
                deployments: deployments
                    .iter()
                    .map(|(status, id, created)| Deployment {
                        id: (*id).into(),
                        status: *status,
                        task_definition: td.into(),
                        created_at: at(created),
                        desired,
                    })
                    .collect(),
                tags: BTreeMap::new(),
                controller: None,
            },
            references: BTreeMap::from([(td.to_string(), follows.to_vec())]),
        }
    }

    const DEV: &str = "macro-ai-dev-cluster";
    const PROD: &str = "macro-ai-prod-cluster";

    #[test]
    fn given_consumers_then_only_running_ones_that_read_awscurrent_are_redeployed() {
        let since = Some(at("2026-12-03T10:00:00Z"));
        let old = [(DeploymentStatus::Primary, "d1", "2026-12-01T00:00:00Z")];
        let new = [(DeploymentStatus::Primary, "d2", "2026-12-03T10:00:05Z")];
        let current = [Follows::Current];
        let c = consumer(2, &old, &current, DEV);
        assert_eq!(plan(&c, since, Trigger::Event, true), Plan::Redeploy);
        // At 0: left alone.
        let c = consumer(0, &old, &current, DEV);
        assert!(
            matches!(plan(&c, since, Trigger::Event, true), Plan::Skip(w) if w.contains("at 0"))
        );
        // Pinned to AWSPREVIOUS or a version: left alone.
        for pin in [
            Follows::Stage("AWSPREVIOUS".into()),
            Follows::Version("v1".into()),
        ] {
            let c = consumer(2, &old, &[pin], DEV);
            assert!(
                matches!(plan(&c, since, Trigger::Event, true), Plan::Skip(w) if w.contains("pinned"))
            );
        }
        // Already redeployed since the change: a redelivery (or a second secret) deploys nothing,
        // but a manual refresh always deploys.
        let c = consumer(2, &new, &current, DEV);
        assert!(
            matches!(plan(&c, since, Trigger::Event, true), Plan::Skip(w) if w.contains("already"))
        );
        assert_eq!(plan(&c, since, Trigger::Manual, true), Plan::Redeploy);
        // Production: by the parameter.
        let c = consumer(2, &old, &current, PROD);
        assert_eq!(plan(&c, since, Trigger::Event, true), Plan::Redeploy);
        assert!(
            matches!(plan(&c, since, Trigger::Event, false), Plan::Skip(w) if w.contains("RefreshProduction"))
        );
        assert_eq!(plan(&c, since, Trigger::Manual, false), Plan::Redeploy);
        // Deployed by CodeDeploy: UpdateService cannot redeploy it, and its task sets count.
        let task_set = [(DeploymentStatus::Active, "ts-1", "2026-12-01T00:00:00Z")];
        let mut c = consumer(2, &task_set, &current, DEV);
        c.service.controller = Some("CODE_DEPLOY".into());
        assert!(
            matches!(plan(&c, since, Trigger::Manual, true), Plan::Skip(w) if w.contains("through CODE_DEPLOY"))
        );
        assert!(stale(&c, "v2", since).is_some_and(|w| w.contains("ts-1")));
    }

    #[test]
    fn given_deployments_then_only_those_with_tasks_from_before_the_change_are_stale() {
        let since = Some(at("2026-12-03T10:00:00Z"));
        let current = [Follows::Current];
        let before = "2026-12-03T09:59:59.999Z";
        let after = "2026-12-03T10:00:00.001Z";
        // A primary deployment from before: stale; from after: not.
        let c = consumer(
            2,
            &[(DeploymentStatus::Primary, "d1", before)],
            &current,
            DEV,
        );
        assert!(stale(&c, "v2", since).is_some_and(|w| w.contains("d1")));
        let c = consumer(
            2,
            &[(DeploymentStatus::Primary, "d2", after)],
            &current,
            DEV,
        );
        assert_eq!(stale(&c, "v2", since), None);
        // Draining: stale while it is listed, whatever the primary.
        let c = consumer(
            2,
            &[
                (DeploymentStatus::Primary, "d2", after),
                (DeploymentStatus::Active, "d1", before),
            ],
            &current,
            DEV,
        );
        assert!(stale(&c, "v2", since).is_some_and(|w| w.contains("draining deployment d1")));
        // At 0, or only an INACTIVE one from before: no task holds anything.
        let c = consumer(
            0,
            &[(DeploymentStatus::Primary, "d1", before)],
            &current,
            DEV,
        );
        assert_eq!(stale(&c, "v2", since), None);
        let c = consumer(
            2,
            &[
                (DeploymentStatus::Primary, "d2", after),
                (DeploymentStatus::Inactive, "d1", before),
            ],
            &current,
            DEV,
        );
        assert_eq!(stale(&c, "v2", since), None);
        // When the change is not known: every deployment with tasks is stale.
        let c = consumer(
            2,
            &[(DeploymentStatus::Primary, "d2", after)],
            &current,
            DEV,
        );
        assert!(stale(&c, "v2", None).is_some_and(|w| w.contains("no record")));
        // Pinned references are not waited for.
        let c = consumer(
            2,
            &[(DeploymentStatus::Primary, "d1", before)],
            &[Follows::Stage("AWSPREVIOUS".into())],
            DEV,
        );
        assert_eq!(stale(&c, "v2", since), None);
    }
}

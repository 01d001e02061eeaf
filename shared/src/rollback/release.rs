//! A service's release as alarm-rollback sees it: its task definition and the tags that record
//! its history (release, known-good, the last rollback, ECS's own rollback).

use crate::capacity::ServiceId;
use jiff::Timestamp;
use std::collections::BTreeMap;

/// The last known-good task definition (an ARN) and when it became so.
pub const KNOWN_GOOD_TAG: &str = "macro-ai:known-good";
pub const KNOWN_GOOD_AT_TAG: &str = "macro-ai:known-good-at";
/// The current release's task definition and when it started and completed.
pub const RELEASE_TAG: &str = "macro-ai:release";
pub const RELEASE_STARTED_TAG: &str = "macro-ai:release-started-at";
pub const RELEASE_COMPLETED_TAG: &str = "macro-ai:release-completed-at";
/// `from=<family:rev> to=<family:rev> at=<time>` of the last rollback (for people; the ledger
/// is what the guard reads).
pub const LAST_ROLLBACK_TAG: &str = "macro-ai:last-rollback";
/// When ECS began rolling a failed deployment back itself (circuit breaker or deployment
/// alarms); empty once a deployment completes.
pub const ECS_ROLLBACK_TAG: &str = "macro-ai:ecs-rollback-at";

/// A service as the rollback decision sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRelease {
    pub id: ServiceId,
    pub task_definition: String,
    pub desired: i32,
    /// Task definitions of deployments other than the primary one that are still active.
    pub other_active_deployments: Vec<String>,
    /// A deployment of ECS's own rollback is in progress (DescribeServices' rollout reason).
    pub ecs_rolling_back: bool,
    /// The deployment configuration rolls a failed deployment back (circuit breaker or
    /// deployment alarms with `rollback`): a SERVICE_DEPLOYMENT_FAILED will be undone by ECS.
    pub ecs_rolls_back_on_failure: bool,
    /// The deployment controller when it is not ECS (`CODE_DEPLOY`, `EXTERNAL`): UpdateService
    /// cannot change such a service's task definition.
    pub foreign_controller: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl ServiceRelease {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    pub fn time_tag(&self, key: &str) -> Option<Timestamp> {
        self.tag(key).and_then(|t| t.parse().ok())
    }
}

/// `family:rev` of a task definition ARN (or of `family:rev` itself).
pub fn short_name(task_definition: &str) -> &str {
    task_definition
        .rsplit_once("task-definition/")
        .map(|(_, r)| r)
        .unwrap_or(task_definition)
}

pub(crate) fn family_and_revision(task_definition: &str) -> Option<(&str, u32)> {
    let (family, rev) = short_name(task_definition).rsplit_once(':')?;
    Some((family, rev.parse().ok()?))
}

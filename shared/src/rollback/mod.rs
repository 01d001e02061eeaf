//! Alarm rollback: what an on-call engineer would do when a release turns bad, done safely. A
//! release is tracked from ECS deployment events; an alarm of a service whose current release is
//! recent and not yet known-good rolls it back to the last known-good task definition, once.
//!
//! Known-good is promoted lazily: a completed release becomes known-good only after it has run
//! `ROLLBACK_WINDOW_MINUTES` past its completion (otherwise every release would be known-good
//! the moment it finished rolling out, and the alarm five minutes later — the usual case —
//! could never roll it back).
//!
//! Exactly one rollback per burst: the decision commits to a ledger with a conditional write
//! (optimistic concurrency on a version number) *before* calling UpdateService, so concurrent
//! invocations and redelivered messages lose the race and act on nothing.

mod event;

pub use event::{AlarmNotification, DeploymentEvent, Input, InvalidEvent, parse};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use tracing::{info, warn};

use crate::capacity::{BUDGET_HOLD_TAG, FleetError, FleetErrorKind, SAVED_CAPACITY_TAG, ServiceId};
use crate::environment;
use crate::error::{BoxError, report};
use crate::notify::Notifier;
use crate::telemetry::{self, AuditRecord};

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
    fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    fn time_tag(&self, key: &str) -> Option<Timestamp> {
        self.tag(key).and_then(|t| t.parse().ok())
    }
}

/// The port to ECS for releases.
pub trait ReleaseFleet: Send + Sync {
    fn describe(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = Result<ServiceRelease, FleetError>> + Send;
    /// ACTIVE task definition ARNs of `family`, any order.
    fn revisions(
        &self,
        family: &str,
    ) -> impl Future<Output = Result<Vec<String>, FleetError>> + Send;
    fn deploy(
        &self,
        service: &ServiceId,
        task_definition: &str,
    ) -> impl Future<Output = Result<(), FleetError>> + Send;
    fn tag_many(
        &self,
        service: &ServiceId,
        tags: &[(&str, String)],
    ) -> impl Future<Output = Result<(), FleetError>> + Send;
}

/// One rollback, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackRecord {
    pub from: String,
    pub to: String,
    pub at: String,
    pub cause: String,
}

/// What the ledger knows about a service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerEntry {
    /// 0 when the service has never been rolled back.
    pub version: u64,
    pub last: Option<RollbackRecord>,
    /// Task definitions rolled away from: never a target again.
    pub rolled_away: Vec<String>,
}

/// A failed ledger call.
#[derive(Debug, thiserror::Error)]
#[error("the rollback ledger could not {operation} for `{service}`")]
pub struct LedgerError {
    pub operation: &'static str,
    pub service: String,
    #[source]
    pub source: BoxError,
}

/// The atomic guard across concurrent Lambda instances.
pub trait RollbackLedger: Send + Sync {
    fn read(&self, service: &str) -> impl Future<Output = Result<LedgerEntry, LedgerError>> + Send;
    /// Writes `next` if the entry is still at `expected_version`; `Ok(false)` if someone else
    /// wrote first.
    fn commit(
        &self,
        service: &str,
        expected_version: u64,
        next: &LedgerEntry,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;
}

/// The function's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackConfig {
    /// Alarm name → `cluster/service`.
    pub alarm_targets: BTreeMap<String, (String, String)>,
    pub window: Duration,
    pub cooldown: Duration,
}

impl RollbackConfig {
    /// Reads `ALARM_TARGETS`: a JSON object of alarm name → `"<cluster>/<service>"`.
    pub fn parse_alarm_targets(raw: &str) -> Result<BTreeMap<String, (String, String)>, String> {
        let map: BTreeMap<String, String> = serde_json::from_str(raw).map_err(|_| {
            "must be a JSON object of alarm name → \"<cluster>/<service>\"".to_string()
        })?;
        map.into_iter()
            .map(|(alarm, target)| match event::split_target(&target) {
                Some(parts) => Ok((alarm, parts)),
                None => Err(format!(
                    "maps `{alarm}` to `{target}`, not \"<cluster>/<service>\""
                )),
            })
            .collect()
    }

    /// The service an alarm is about: `ALARM_TARGETS`, else the seed's naming convention
    /// ([`environment::service_of_alarm`]).
    pub fn target_of(&self, alarm: &str) -> Option<(String, String)> {
        self.alarm_targets
            .get(alarm)
            .cloned()
            .or_else(|| environment::service_of_alarm(alarm))
    }
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Rollback { to: String, why: String },
    Hold { why: String },
}

fn hold(why: impl Into<String>) -> Verdict {
    Verdict::Hold { why: why.into() }
}

/// The answer to a deployment event: what was recorded (or why nothing was), logged.
fn recorded(release: &ServiceRelease, event: DeploymentEvent, why: String) -> Outcome {
    info!(service = %release.id, "{why}");
    Outcome {
        input: format!("{event:?}"),
        service: Some(release.id.to_string()),
        action: "recorded",
        why,
        from: None,
        to: None,
    }
}

/// `family:rev` of a task definition ARN (or of `family:rev` itself).
pub fn short_name(task_definition: &str) -> &str {
    task_definition
        .rsplit_once("task-definition/")
        .map(|(_, r)| r)
        .unwrap_or(task_definition)
}

fn family_and_revision(task_definition: &str) -> Option<(&str, u32)> {
    let (family, rev) = short_name(task_definition).rsplit_once(':')?;
    Some((family, rev.parse().ok()?))
}

/// The known-good revision at `now`: the recorded release, if it completed more than `window`
/// ago and was not rolled back (by us: `macro-ai:last-rollback` from it; by ECS: its completion
/// was cleared), is known-good; otherwise the recorded known-good. The recorded release counts
/// even when the service already runs the next one: at the next release's start, DescribeServices
/// shows the new revision, and the one before must still be promoted.
pub fn known_good(release: &ServiceRelease, now: Timestamp, window: Duration) -> Option<String> {
    let rolled_back = |r: &str| {
        release.tag(LAST_ROLLBACK_TAG).is_some_and(|t| {
            t.split_whitespace()
                .any(|p| p.strip_prefix("from=") == Some(short_name(r)))
        })
    };
    let settled = release
        .tag(RELEASE_TAG)
        .filter(|r| !r.is_empty() && !rolled_back(r))
        .and_then(|r| {
            let completed = release.time_tag(RELEASE_COMPLETED_TAG)?;
            // A completion older than the release's start belongs to an earlier release.
            if release
                .time_tag(RELEASE_STARTED_TAG)
                .is_some_and(|s| completed < s)
            {
                return None;
            }
            (now.duration_since(completed) >= SignedDuration::try_from(window).ok()?)
                .then(|| r.to_string())
        });
    settled.or_else(|| release.tag(KNOWN_GOOD_TAG).map(str::to_string))
}

fn minutes_between(later: Timestamp, earlier: Timestamp) -> i64 {
    later.duration_since(earlier).as_secs() / 60
}

/// The pure decision: roll back only when every guard holds, to the best target.
pub fn decide(
    release: &ServiceRelease,
    ledger: &LedgerEntry,
    revisions: &[String],
    now: Timestamp,
    window: Duration,
    cooldown: Duration,
) -> Verdict {
    if release.tag(SAVED_CAPACITY_TAG).is_some()
        || release.tag(BUDGET_HOLD_TAG).is_some()
        || release.desired == 0
    {
        return hold(
            "the service is scaled down on purpose (after hours, a budget hold or 0 tasks): its alarms are expected",
        );
    }
    if let Some(controller) = &release.foreign_controller {
        return hold(format!(
            "its deployments are controlled by {controller}, and UpdateService cannot change its \
             task definition: roll it back there (CodeDeploy: stop the deployment with rollback)"
        ));
    }
    if release.ecs_rolling_back {
        return hold(
            "ECS is rolling a failed deployment back itself (DescribeServices says so): no \
             second rollback on top of it",
        );
    }
    if let Some(since) = release.time_tag(ECS_ROLLBACK_TAG)
        && now.duration_since(since)
            < SignedDuration::try_from(window).unwrap_or(SignedDuration::MAX)
    {
        return hold(format!(
            "ECS has been rolling a failed deployment back itself since {since} (circuit breaker \
             or deployment alarms): no second rollback on top of it"
        ));
    }
    let current = release.task_definition.as_str();
    let good = known_good(release, now, window);
    if good.as_deref() == Some(current) {
        return hold(format!(
            "it runs its known-good revision {}: the alarm is probably not a release's fault",
            short_name(current)
        ));
    }
    let started = release
        .time_tag(RELEASE_STARTED_TAG)
        .or_else(|| release.time_tag(RELEASE_COMPLETED_TAG))
        .filter(|_| release.tag(RELEASE_TAG) == Some(current));
    let Some(started) = started else {
        return hold(format!(
            "no deployment of {} is on record (no ECS deployment event seen), so the alarm cannot be tied to a release",
            short_name(current)
        ));
    };
    let window_minutes = window.as_secs() / 60;
    let age = minutes_between(now, started);
    if age > window_minutes as i64 {
        return hold(format!(
            "the release {} started {age} min ago, outside the {window_minutes} min window: probably not the release's fault",
            short_name(current)
        ));
    }
    if let Some(last) = &ledger.last
        && let Ok(at) = last.at.parse::<Timestamp>()
        && now.duration_since(at)
            < SignedDuration::try_from(cooldown).unwrap_or(SignedDuration::MAX)
    {
        return hold(format!(
            "it was rolled back {} min ago ({} → {}); cooldown {} min",
            minutes_between(now, at),
            short_name(&last.from),
            short_name(&last.to),
            cooldown.as_secs() / 60
        ));
    }
    // Never the current revision, never one rolled away from, never a deregistered one (when the
    // family's ACTIVE revisions are known).
    let allowed = |t: &str| {
        t != current
            && !ledger.rolled_away.iter().any(|r| r == t)
            && (revisions.is_empty() || revisions.iter().any(|r| r == t))
    };
    if let Some(g) = good.filter(|g| allowed(g)) {
        return Verdict::Rollback {
            to: g.clone(),
            why: format!("roll back to the known-good revision {}", short_name(&g)),
        };
    }
    if let Some(d) = release.other_active_deployments.iter().find(|d| allowed(d)) {
        return Verdict::Rollback {
            to: d.clone(),
            why: format!(
                "mid-deployment: roll back to the older active deployment's {}",
                short_name(d)
            ),
        };
    }
    if let Some((family, rev)) = family_and_revision(current) {
        let older = revisions
            .iter()
            .filter_map(|r| {
                family_and_revision(r)
                    .filter(|(f, n)| *f == family && *n < rev)
                    .map(|(_, n)| (n, r))
            })
            .filter(|(_, r)| allowed(r))
            .max_by_key(|(n, _)| *n);
        if let Some((_, r)) = older {
            return Verdict::Rollback {
                to: r.clone(),
                why: format!(
                    "no known-good on record: roll back to the newest earlier revision {}",
                    short_name(r)
                ),
            };
        }
    }
    hold(
        "there is no earlier revision to roll back to (none known-good, none active, none older that was not rolled away from)",
    )
}

/// What happened to one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `rolled-back`, `would-roll-back`, `held`, `ignored`, `recorded`, `unmapped`, `lost-race`.
    pub action: &'static str,
    pub why: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// A failure of one input (the others are still handled).
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Runs the rollback logic.
pub struct Rollbacker<F, L, N> {
    fleet: F,
    ledger: L,
    notifier: N,
    config: RollbackConfig,
}

impl<F: ReleaseFleet, L: RollbackLedger, N: Notifier> Rollbacker<F, L, N> {
    pub fn new(fleet: F, ledger: L, notifier: N, config: RollbackConfig) -> Self {
        Self {
            fleet,
            ledger,
            notifier,
            config,
        }
    }

    /// Handles every input; the first failure is returned after all were tried.
    pub async fn handle(
        &self,
        inputs: Vec<Input>,
        now: Timestamp,
    ) -> (Vec<Outcome>, Vec<(String, RollbackError)>) {
        let mut outcomes = Vec::new();
        let mut failures = Vec::new();
        for input in inputs {
            let label = match &input {
                Input::Alarm { alarm, .. } => format!("alarm {}", alarm.alarm_name),
                Input::Deployment {
                    cluster,
                    service,
                    event,
                    ..
                } => format!("{event:?} of {cluster}/{service}"),
                Input::Manual {
                    cluster, service, ..
                } => format!("manual rollback of {cluster}/{service}"),
            };
            match self.one(input, &label, now).await {
                Ok(o) => outcomes.push(o),
                Err(e) => {
                    warn!(input = %label, error = %report(&e), "input could not be handled");
                    failures.push((label, e));
                }
            }
        }
        (outcomes, failures)
    }

    async fn one(
        &self,
        input: Input,
        label: &str,
        now: Timestamp,
    ) -> Result<Outcome, RollbackError> {
        let outcome = |service: Option<String>, action, why: String| Outcome {
            input: label.to_string(),
            service,
            action,
            why,
            from: None,
            to: None,
        };
        match input {
            Input::Deployment {
                cluster,
                service,
                event,
                at,
            } => match self.record_deployment(&cluster, &service, event, at).await {
                // A service that does not exist (deleted, or another cluster's) has nothing to
                // record: an answer, not a failure EventBridge would retry into the DLQ.
                Err(RollbackError::Fleet(e)) if e.kind == FleetErrorKind::NotFound => {
                    let why = format!(
                        "{cluster}/{service} does not exist (deleted, or a cluster this \
                         function does not operate): nothing recorded"
                    );
                    info!(service = %format!("{cluster}/{service}"), "{why}");
                    Ok(outcome(
                        Some(format!("{cluster}/{service}")),
                        "skipped",
                        why,
                    ))
                }
                other => other,
            },
            Input::Alarm { alarm, .. } if alarm.actions_suppressed_by.is_some() => {
                // A composite alarm whose suppressor holds its actions back: CloudWatch would not
                // run them (EventBridge still reports the change), and neither does this.
                let by = alarm.actions_suppressed_by.clone().unwrap_or_default();
                info!(alarm = %alarm.alarm_name, suppressed_by = %by, "actions suppressed: nothing to do");
                Ok(outcome(
                    None,
                    "ignored",
                    format!("the alarm's actions are suppressed ({by}): CloudWatch would not act"),
                ))
            }
            Input::Alarm { alarm, .. } if !alarm.is_alarm() => {
                info!(alarm = %alarm.alarm_name, state = %alarm.new_state_value, "not an ALARM transition: nothing to do");
                Ok(outcome(
                    None,
                    "ignored",
                    format!("state {} does not act", alarm.new_state_value),
                ))
            }
            Input::Alarm { alarm, .. } => {
                let Some((cluster, service)) = self.config.target_of(&alarm.alarm_name) else {
                    let why = format!(
                        "alarm `{}` maps to no service (ALARM_TARGETS, or a name like macro-ai-<env>-<svc>-…): no action",
                        alarm.alarm_name
                    );
                    self.notify(&format!("alarm {} is unmapped", alarm.alarm_name), &why)
                        .await;
                    return Ok(outcome(None, "unmapped", why));
                };
                let cause = format!(
                    "{} `{}`: {}",
                    alarm.kind(),
                    alarm.alarm_name,
                    alarm
                        .new_state_reason
                        .clone()
                        .unwrap_or_else(|| "no reason given".into())
                );
                self.consider(&cluster, &service, &cause, false, label, now)
                    .await
            }
            Input::Manual {
                cluster,
                service,
                reason,
                dry_run,
            } => {
                self.consider(
                    &cluster,
                    &service,
                    &format!("manual rollback: {reason}"),
                    dry_run,
                    label,
                    now,
                )
                .await
            }
        }
    }

    async fn record_deployment(
        &self,
        cluster: &str,
        service: &str,
        event: DeploymentEvent,
        at: Timestamp,
    ) -> Result<Outcome, RollbackError> {
        let release = self.fleet.describe(cluster, service).await?;
        // Events arrive out of order and again: one older than the recorded release's start
        // (`updatedAt`) belongs to an earlier release (a late ECS rollback event must not hold
        // this release's alarms), and a start at the recorded start is the same start delivered
        // twice. Neither changes anything.
        let started = release.time_tag(RELEASE_STARTED_TAG);
        let stale = match event {
            DeploymentEvent::InProgress => started.is_some_and(|s| at <= s),
            _ => started.is_some_and(|s| at < s),
        };
        if stale {
            return Ok(recorded(
                &release,
                event,
                format!(
                    "a {event:?} event from {at}, not after the recorded release's start: an \
                     earlier release's or a redelivery, nothing recorded"
                ),
            ));
        }
        let current = release.task_definition.clone();
        let mut tags: Vec<(&str, String)> = Vec::new();
        // A release that ran its window is known-good before the next one is recorded, unless
        // the service is moving back to an older revision of its family: someone rolled the
        // recorded release back by hand, and it must never become a target.
        let moved_back = match (
            family_and_revision(&current),
            release.tag(RELEASE_TAG).and_then(family_and_revision),
        ) {
            (Some((f, now)), Some((g, recorded))) => f == g && now < recorded,
            _ => false,
        };
        if let Some(settled) = known_good(&release, at, self.config.window)
            && release.tag(KNOWN_GOOD_TAG) != Some(settled.as_str())
            && !(moved_back && release.tag(RELEASE_TAG) == Some(settled.as_str()))
        {
            tags.push((KNOWN_GOOD_TAG, settled));
            tags.push((KNOWN_GOOD_AT_TAG, at.to_string()));
        }
        let ecs_rolling_back = release.tag(ECS_ROLLBACK_TAG).is_some_and(|t| !t.is_empty());
        let why = match event {
            DeploymentEvent::EcsRollingBack => {
                // Not a release: the release tags stay on the release ECS is undoing, and no
                // window starts.
                tags.push((ECS_ROLLBACK_TAG, at.to_string()));
                // The release did not stand: it can never be promoted to known-good.
                tags.push((RELEASE_COMPLETED_TAG, String::new()));
                format!(
                    "ECS is rolling back {} itself (circuit breaker or deployment alarms): \
                     recorded, not a release; alarms meanwhile do not roll back again",
                    short_name(release.tag(RELEASE_TAG).unwrap_or(&current))
                )
            }
            DeploymentEvent::Completed if ecs_rolling_back => {
                tags.push((ECS_ROLLBACK_TAG, String::new()));
                if release.tag(KNOWN_GOOD_TAG).is_none() {
                    // ECS rolled back to the last deployment that completed: the best known-good
                    // there is when none was recorded.
                    tags.push((KNOWN_GOOD_TAG, current.clone()));
                    tags.push((KNOWN_GOOD_AT_TAG, at.to_string()));
                }
                format!(
                    "ECS's own rollback completed: {} runs again (not a new release)",
                    short_name(&current)
                )
            }
            DeploymentEvent::InProgress => {
                if ecs_rolling_back {
                    tags.push((ECS_ROLLBACK_TAG, String::new()));
                }
                tags.push((RELEASE_TAG, current.clone()));
                tags.push((RELEASE_STARTED_TAG, at.to_string()));
                // Not completed yet: an earlier release's completion must not count for this one.
                tags.push((RELEASE_COMPLETED_TAG, String::new()));
                format!("release of {} started", short_name(&current))
            }
            DeploymentEvent::Completed => {
                if release.tag(RELEASE_TAG) != Some(current.as_str()) {
                    tags.push((RELEASE_TAG, current.clone()));
                    tags.push((RELEASE_STARTED_TAG, at.to_string()));
                }
                tags.push((RELEASE_COMPLETED_TAG, at.to_string()));
                if release.tag(KNOWN_GOOD_TAG).is_none() {
                    // The first release we ever see complete is all we have to go back to.
                    tags.push((KNOWN_GOOD_TAG, current.clone()));
                    tags.push((KNOWN_GOOD_AT_TAG, at.to_string()));
                }
                format!(
                    "release of {} completed; known-good after {} min without a rollback",
                    short_name(&current),
                    self.config.window.as_secs() / 60
                )
            }
            // ECS undoes a failed deployment only when its configuration says so; otherwise
            // the failed release stays, and an alarm must still be able to roll it back.
            DeploymentEvent::Failed if release.ecs_rolls_back_on_failure => {
                tags.push((ECS_ROLLBACK_TAG, at.to_string()));
                format!(
                    "deployment of {} failed and ECS rolls it back (circuit breaker or deployment \
                     alarms with rollback): alarms meanwhile do not roll back again",
                    short_name(&current)
                )
            }
            DeploymentEvent::Failed => format!(
                "deployment of {} failed; ECS is not configured to roll back, so alarms still act",
                short_name(&current)
            ),
        };
        if !tags.is_empty() {
            self.fleet.tag_many(&release.id, &tags).await?;
        }
        Ok(recorded(&release, event, why))
    }

    async fn consider(
        &self,
        cluster: &str,
        service: &str,
        cause: &str,
        dry_run: bool,
        label: &str,
        now: Timestamp,
    ) -> Result<Outcome, RollbackError> {
        let release = self.fleet.describe(cluster, service).await?;
        let key = release.id.to_string();
        let ledger = self.ledger.read(&key).await?;
        let family = family_and_revision(&release.task_definition)
            .map(|(f, _)| f.to_string())
            .unwrap_or_default();
        let revisions = if family.is_empty() {
            Vec::new()
        } else {
            self.fleet.revisions(&family).await?
        };
        let verdict = decide(
            &release,
            &ledger,
            &revisions,
            now,
            self.config.window,
            self.config.cooldown,
        );
        let from = release.task_definition.clone();
        let base = |action, why: String, to: Option<String>| Outcome {
            input: label.to_string(),
            service: Some(key.clone()),
            action,
            why,
            from: Some(short_name(&from).to_string()),
            to: to.map(|t| short_name(&t).to_string()),
        };
        let (to, why) = match verdict {
            Verdict::Hold { why } => {
                self.notify(
                    &format!("{key}: no rollback"),
                    &format!("{cause}\nNo rollback of {key}: {why}."),
                )
                .await;
                return Ok(base("held", why, None));
            }
            Verdict::Rollback { to, why } => (to, why),
        };
        if dry_run {
            return Ok(base("would-roll-back", why, Some(to)));
        }
        let mut rolled_away = ledger.rolled_away.clone();
        rolled_away.push(from.clone());
        let keep_from = rolled_away.len().saturating_sub(20);
        let next = LedgerEntry {
            version: ledger.version + 1,
            last: Some(RollbackRecord {
                from: from.clone(),
                to: to.clone(),
                at: now.to_string(),
                cause: cause.to_string(),
            }),
            rolled_away: rolled_away.split_off(keep_from),
        };
        if !self.ledger.commit(&key, ledger.version, &next).await? {
            info!(service = %key, "another invocation decided for this service first: no action");
            return Ok(base(
                "lost-race",
                "another invocation rolled this service back (or decided to) at the same moment"
                    .into(),
                None,
            ));
        }
        if let Err(e) = self.fleet.deploy(&release.id, &to).await {
            // Give the claim back, so the retry of this invocation is not blocked by its own cooldown.
            if let Err(undo) = self
                .ledger
                .commit(
                    &key,
                    next.version,
                    &LedgerEntry {
                        version: next.version + 1,
                        ..ledger.clone()
                    },
                )
                .await
            {
                warn!(service = %key, error = %report(&undo), "the rollback claim could not be released");
            }
            return Err(e.into());
        }
        let record = format!(
            "from={} to={} at={}",
            short_name(&from),
            short_name(&to),
            now
        );
        if let Err(e) = self
            .fleet
            .tag_many(&release.id, &[(LAST_ROLLBACK_TAG, record)])
            .await
        {
            warn!(service = %key, error = %report(&e), "the rollback was done but could not be tagged on the service");
        }
        telemetry::audit(&AuditRecord {
            service: "alarm-rollback",
            action: "rollback",
            target: &key,
            what: &format!(
                "{key} rolled back from {} to {}",
                short_name(&from),
                short_name(&to)
            ),
            why: cause,
            before: short_name(&from),
            after: short_name(&to),
        });
        self.notify(
            &format!("{key} rolled back to {}", short_name(&to)),
            &format!("{cause}\n{key} was rolled back from {} to {} ({why}).\nIt will not be rolled back again for {} min, and never to {}.",
                     short_name(&from), short_name(&to), self.config.cooldown.as_secs() / 60, short_name(&from)),
        )
        .await;
        Ok(base("rolled-back", why, Some(to)))
    }

    async fn notify(&self, subject: &str, message: &str) {
        if let Err(e) = self
            .notifier
            .publish(&format!("macro-ai-ops alarm-rollback: {subject}"), message)
            .await
        {
            warn!(error = %report(&e), "notification failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REV: &str = "arn:aws:ecs:us-east-1:1:task-definition/macro-ai-prod-api:";

    fn rev(n: u32) -> String {
        format!("{REV}{n}")
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn service(current: u32, tags: &[(&str, String)]) -> ServiceRelease {
        ServiceRelease {
            id: ServiceId {
                cluster: "c".into(),
                name: "s".into(),
                arn: "a".into(),
            },
            task_definition: rev(current),
            desired: 2,
            other_active_deployments: vec![],
            ecs_rolling_back: false,
            ecs_rolls_back_on_failure: false,
            foreign_controller: None,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);
    const HALF: Duration = Duration::from_secs(1800);

    fn released(current: u32, good: u32, started: &str) -> ServiceRelease {
        service(
            current,
            &[
                (KNOWN_GOOD_TAG, rev(good)),
                (RELEASE_TAG, rev(current)),
                (RELEASE_STARTED_TAG, started.into()),
            ],
        )
    }

    #[test]
    fn given_a_recent_release_that_is_not_known_good_then_it_rolls_back_to_known_good() {
        let s = released(2, 1, "2026-11-25T10:00:00Z");
        let v = decide(
            &s,
            &LedgerEntry::default(),
            &[rev(1), rev(2)],
            at("2026-11-25T10:10:00Z"),
            HOUR,
            HALF,
        );
        assert!(
            matches!(v, Verdict::Rollback { ref to, .. } if *to == rev(1)),
            "{v:?}"
        );
    }

    #[test]
    fn given_ecs_rolling_back_by_describe_or_by_its_event_then_it_holds() {
        let now = at("2026-11-25T10:10:00Z");
        let mut s = released(2, 1, "2026-11-25T10:00:00Z");
        s.ecs_rolling_back = true;
        let v = decide(&s, &LedgerEntry::default(), &[], now, HOUR, HALF);
        assert!(
            matches!(&v, Verdict::Hold { why } if why.contains("DescribeServices")),
            "{v:?}"
        );
        let mut s = released(2, 1, "2026-11-25T10:00:00Z");
        s.tags
            .insert(ECS_ROLLBACK_TAG.into(), "2026-11-25T10:05:00Z".into());
        let v = decide(&s, &LedgerEntry::default(), &[], now, HOUR, HALF);
        assert!(matches!(v, Verdict::Hold { .. }), "{v:?}");
        // Cleared (empty) or older than the window: no longer holds.
        for tag in ["", "2026-11-25T08:00:00Z"] {
            s.tags.insert(ECS_ROLLBACK_TAG.into(), tag.into());
            let v = decide(&s, &LedgerEntry::default(), &[], now, HOUR, HALF);
            assert!(matches!(v, Verdict::Rollback { .. }), "{tag}: {v:?}");
        }
    }

    #[test]
    fn given_each_guard_then_it_holds() {
        let now = at("2026-11-25T10:10:00Z");
        let code_deploy = ServiceRelease {
            foreign_controller: Some("CODE_DEPLOY".into()),
            ..released(2, 1, "2026-11-25T10:00:00Z")
        };
        let cases = [
            (
                code_deploy,
                LedgerEntry::default(),
                "controlled by CODE_DEPLOY",
            ),
            (
                service(1, &[(KNOWN_GOOD_TAG, rev(1))]),
                LedgerEntry::default(),
                "known-good",
            ),
            (
                released(2, 1, "2026-11-25T08:00:00Z"),
                LedgerEntry::default(),
                "outside the 60 min window",
            ),
            (
                service(2, &[(KNOWN_GOOD_TAG, rev(1))]),
                LedgerEntry::default(),
                "no deployment",
            ),
            (
                released(2, 1, "2026-11-25T10:00:00Z"),
                LedgerEntry {
                    version: 1,
                    rolled_away: vec![],
                    last: Some(RollbackRecord {
                        from: rev(3),
                        to: rev(2),
                        at: "2026-11-25T09:55:00Z".into(),
                        cause: "x".into(),
                    }),
                },
                "cooldown",
            ),
            (
                {
                    let mut s = released(2, 1, "2026-11-25T10:00:00Z");
                    s.tags.insert(SAVED_CAPACITY_TAG.into(), "desired=2".into());
                    s
                },
                LedgerEntry::default(),
                "scaled down on purpose",
            ),
            (
                {
                    let mut s = released(2, 1, "2026-11-25T10:00:00Z");
                    s.desired = 0;
                    s
                },
                LedgerEntry::default(),
                "scaled down on purpose",
            ),
            (
                released(2, 1, "2026-11-25T10:00:00Z"),
                LedgerEntry {
                    version: 1,
                    last: None,
                    rolled_away: vec![rev(1)],
                },
                "no earlier revision",
            ),
        ];
        for (s, ledger, expect) in cases {
            match decide(&s, &ledger, &[rev(2)], now, HOUR, HALF) {
                Verdict::Hold { why } => assert!(why.contains(expect), "{expect}: {why}"),
                other => panic!("{expect}: {other:?}"),
            }
        }
    }

    #[test]
    fn given_no_known_good_then_an_active_deployment_or_the_newest_older_revision_is_the_target() {
        let now = at("2026-11-25T10:10:00Z");
        let mut s = service(
            5,
            &[
                (RELEASE_TAG, rev(5)),
                (RELEASE_STARTED_TAG, "2026-11-25T10:00:00Z".into()),
            ],
        );
        s.other_active_deployments = vec![rev(3)];
        assert!(
            matches!(decide(&s, &LedgerEntry::default(), &[], now, HOUR, HALF), Verdict::Rollback { ref to, .. } if *to == rev(3))
        );
        s.other_active_deployments.clear();
        let ledger = LedgerEntry {
            version: 2,
            last: None,
            rolled_away: vec![rev(4)],
        };
        let revisions = [rev(1), rev(2), rev(4), rev(5), rev(6)];
        // rev 4 was rolled away from: never again; rev 6 is newer; rev 2 it is.
        assert!(
            matches!(decide(&s, &ledger, &revisions, now, HOUR, HALF), Verdict::Rollback { ref to, .. } if *to == rev(2))
        );
    }

    #[test]
    fn given_a_release_completed_longer_than_the_window_ago_then_it_is_known_good() {
        let s = service(
            2,
            &[
                (KNOWN_GOOD_TAG, rev(1)),
                (RELEASE_TAG, rev(2)),
                (RELEASE_STARTED_TAG, "2026-11-25T09:00:00Z".into()),
                (RELEASE_COMPLETED_TAG, "2026-11-25T09:05:00Z".into()),
            ],
        );
        assert_eq!(
            known_good(&s, at("2026-11-25T09:30:00Z"), HOUR),
            Some(rev(1))
        );
        assert_eq!(
            known_good(&s, at("2026-11-25T10:06:00Z"), HOUR),
            Some(rev(2))
        );
    }

    #[test]
    fn given_alarm_names_then_targets_follow_the_map_or_the_convention() {
        let c = RollbackConfig {
            alarm_targets: RollbackConfig::parse_alarm_targets(
                r#"{"Api5xx": "macro-ai-prod-cluster/macro-ai-prod-api-service"}"#,
            )
            .unwrap(),
            window: HOUR,
            cooldown: HOUR,
        };
        assert_eq!(
            c.target_of("Api5xx"),
            Some((
                "macro-ai-prod-cluster".into(),
                "macro-ai-prod-api-service".into()
            ))
        );
        assert_eq!(
            c.target_of("macro-ai-dev-api-error-rate"),
            Some((
                "macro-ai-dev-cluster".into(),
                "macro-ai-dev-api-service".into()
            ))
        );
        assert_eq!(c.target_of("billing-alarm"), None);
        for bad in [r#"{"a": "nocluster"}"#, "[]", r#"{"a": 1}"#] {
            assert!(RollbackConfig::parse_alarm_targets(bad).is_err(), "{bad}");
        }
    }
}

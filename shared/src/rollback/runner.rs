//! The rollbacker: each input (an alarm, a deployment event, a manual request) read, recorded or
//! decided, acted on at most once per bad release, and announced.

use super::config::RollbackConfig;
use super::decision::{Verdict, decide, known_good};
use super::event::{DeploymentEvent, Input};
use super::notices;
use super::ports::{LedgerEntry, ReleaseFleet, RollbackLedger, RollbackRecord};
use super::release::{
    ECS_ROLLBACK_TAG, KNOWN_GOOD_AT_TAG, KNOWN_GOOD_TAG, LAST_ROLLBACK_TAG, RELEASE_COMPLETED_TAG,
    RELEASE_STARTED_TAG, RELEASE_TAG, ServiceRelease, family_and_revision, short_name,
};
use crate::capacity::{FleetError, FleetErrorKind};
use crate::error::report;
use crate::ledger::LedgerError;
use crate::notify::Notifier;
use crate::telemetry::{self, AuditRecord};
use jiff::Timestamp;
use serde::Serialize;
use tracing::{info, warn};

/// The answer to a deployment event: what was recorded (or why nothing was), logged.
pub(crate) fn recorded(release: &ServiceRelease, event: DeploymentEvent, why: String) -> Outcome {
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
        crate::lambda::each_input(inputs, async |input| {
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
            let result = self.handle_input(input, &label, now).await;
            if let Err(e) = &result {
                warn!(input = %label, error = %report(e), "input could not be handled");
            }
            (label, result)
        })
        .await
    }

    /// One input: a deployment event is recorded; an alarm or a manual request is decided.
    async fn handle_input(
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
                    self.notifier
                        .announce(notices::unmapped(&alarm.alarm_name, &why))
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
                self.roll_back_if_bad(&cluster, &service, &cause, false, label, now)
                    .await
            }
            Input::Manual {
                cluster,
                service,
                reason,
                dry_run,
            } => {
                self.roll_back_if_bad(
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
        // A new deployment of the revision that is already the recorded release (refresh-
        // consumers forcing one after a secret changed, or anyone's forceNewDeployment) is not a
        // release: its window, tags and known-good promotion stay as they were. A revision we
        // or ECS rolled back, deployed again, is a release again.
        let redeployment = release.tag(RELEASE_TAG) == Some(current.as_str())
            && !ecs_rolling_back
            && !release.tag(LAST_ROLLBACK_TAG).is_some_and(|t| {
                t.split_whitespace()
                    .any(|p| p.strip_prefix("from=") == Some(short_name(&current)))
            });
        let completed = release.time_tag(RELEASE_COMPLETED_TAG).filter(|c| {
            release
                .time_tag(RELEASE_STARTED_TAG)
                .is_none_or(|s| *c >= s)
        });
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
            DeploymentEvent::InProgress if redeployment => format!(
                "a new deployment of {}, the recorded release (a refresh or a forced \
                 deployment): not a new release, its window and known-good stay",
                short_name(&current)
            ),
            DeploymentEvent::Completed if redeployment && completed.is_some() => format!(
                "a redeployment of {} completed; the release completed before: nothing moves",
                short_name(&current)
            ),
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

    /// The decision for one service and, when it says so, the one rollback: claimed in the
    /// ledger first, then deployed, then tagged, audited and announced.
    async fn roll_back_if_bad(
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
                self.notifier
                    .announce(notices::held(&key, cause, &why))
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
        self.notifier
            .announce(notices::rolled_back(
                &key,
                cause,
                short_name(&from),
                short_name(&to),
                &why,
                self.config.cooldown,
            ))
            .await;
        Ok(base("rolled-back", why, Some(to)))
    }
}

#[cfg(test)]
mod tests {
    //! The rollbacker on in-memory fakes: no stack, milliseconds. The same flows against moto's
    //! ECS and DynamoDB are in `tests/tests/alarm_rollback.rs`.

    use super::*;
    use crate::fakes::{MemoryFleet, MemoryRollbackLedger, RecordingNotifier, task_definition};
    use crate::rollback::parse;
    use std::time::Duration;

    const CLUSTER: &str = "macro-ai-prod-cluster";
    const SERVICE: &str = "macro-ai-prod-api-service";
    const ALARM: &str = include_str!("../../../events/alarm-rollback/metric-math-alarm.json");

    type Fixture = Rollbacker<MemoryFleet, MemoryRollbackLedger, RecordingNotifier>;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    /// Revision 3 released at 10:05 over a known-good 2, the alarm's moment (10:12) inside the
    /// hour's window.
    fn fixture() -> Fixture {
        let started = "2026-11-25T10:05:00Z";
        let fleet = MemoryFleet::new()
            .with_service(
                CLUSTER,
                SERVICE,
                2,
                None,
                &[
                    (KNOWN_GOOD_TAG, &task_definition(SERVICE, 2)),
                    (RELEASE_TAG, &task_definition(SERVICE, 3)),
                    (RELEASE_STARTED_TAG, started),
                ],
            )
            .with_release(CLUSTER, SERVICE, 3, 3);
        Rollbacker::new(
            fleet,
            MemoryRollbackLedger::default(),
            RecordingNotifier::default(),
            RollbackConfig {
                alarm_targets: Default::default(),
                window: Duration::from_secs(3600),
                cooldown: Duration::from_secs(1800),
            },
        )
    }

    async fn alarm(r: &Fixture, now: &str) -> Outcome {
        let inputs = parse(&serde_json::from_str(ALARM).expect("sample")).expect("parsed");
        let (mut outcomes, failures) = r.handle(inputs, at(now)).await;
        assert!(
            failures.is_empty(),
            "{:?}",
            failures.iter().map(|(l, _)| l).collect::<Vec<_>>()
        );
        outcomes.remove(0)
    }

    #[tokio::test]
    async fn given_an_alarm_on_a_recent_release_then_it_rolls_back_to_known_good_once() {
        let r = fixture();
        let first = alarm(&r, "2026-11-25T10:12:00Z").await;
        assert_eq!(
            (first.action, first.to.as_deref()),
            (
                "rolled-back",
                Some(short_name(&task_definition(SERVICE, 2)))
            )
        );
        assert_eq!(
            r.fleet.running(CLUSTER, SERVICE),
            Some(task_definition(SERVICE, 2))
        );
        // The same alarm again (SNS redelivery, a second alarm of the burst): no second rollback.
        let again = alarm(&r, "2026-11-25T10:13:00Z").await;
        assert_eq!(again.action, "held", "{}", again.why);
        assert_eq!(r.fleet.deploys().len(), 1);
        let subjects: Vec<String> = r.notifier.sent().into_iter().map(|n| n.subject).collect();
        assert!(
            subjects[0].ends_with("rolled back to macro-ai-prod-api-service:2"),
            "{subjects:?}"
        );
        assert_eq!(r.ledger.entry(&format!("{CLUSTER}/{SERVICE}")).version, 1);
    }

    #[tokio::test]
    async fn given_update_service_fails_then_the_claim_is_given_back_and_the_retry_rolls_back() {
        let r = fixture();
        r.fleet.fail("UpdateService");
        let inputs = parse(&serde_json::from_str(ALARM).expect("sample")).expect("parsed");
        let (_, failures) = r.handle(inputs, at("2026-11-25T10:12:00Z")).await;
        assert_eq!(failures.len(), 1);
        assert_eq!(
            r.fleet.running(CLUSTER, SERVICE),
            Some(task_definition(SERVICE, 3))
        );
        r.fleet.heal("UpdateService");
        assert_eq!(
            alarm(&r, "2026-11-25T10:12:30Z").await.action,
            "rolled-back"
        );
        assert_eq!(
            r.fleet.running(CLUSTER, SERVICE),
            Some(task_definition(SERVICE, 2))
        );
    }

    /// An ECS deployment event of the fixture's service (the shape of
    /// events/alarm-rollback/deployment-in-progress.json).
    async fn deployment(r: &Fixture, name: &str, at_: &str) -> Outcome {
        let event = serde_json::json!({
            "version": "0", "id": "e", "detail-type": "ECS Deployment State Change",
            "source": "aws.ecs", "account": "123456789012", "time": at_, "region": "us-east-1",
            "resources": [format!("arn:aws:ecs:us-east-1:123456789012:service/{CLUSTER}/{SERVICE}")],
            "detail": {"eventType": "INFO", "eventName": name, "deploymentId": "ecs-svc/1",
                       "updatedAt": at_, "reason": "ECS deployment ecs-svc/1 in progress."}});
        let (mut outcomes, failures) = r.handle(parse(&event).expect("parsed"), at(at_)).await;
        assert!(failures.is_empty());
        outcomes.remove(0)
    }

    #[tokio::test]
    async fn given_a_redeployment_of_the_recorded_release_then_its_window_and_known_good_stay() {
        let r = fixture();
        deployment(&r, "SERVICE_DEPLOYMENT_COMPLETED", "2026-11-25T10:10:00Z").await;
        let tags_before = r.fleet.service(CLUSTER, SERVICE).expect("service").tags;
        // refresh-consumers redeploys revision 3 after a secret changed, at 10:40.
        let refresh =
            deployment(&r, "SERVICE_DEPLOYMENT_IN_PROGRESS", "2026-11-25T10:40:00Z").await;
        assert!(refresh.why.contains("not a new release"), "{}", refresh.why);
        deployment(&r, "SERVICE_DEPLOYMENT_COMPLETED", "2026-11-25T10:45:00Z").await;
        assert_eq!(
            r.fleet.service(CLUSTER, SERVICE).expect("service").tags,
            tags_before
        );
        // 11:07 is past the window of the release that started at 10:05: no rollback (it would
        // be, had the refresh restarted the window at 10:40).
        assert_eq!(alarm(&r, "2026-11-25T11:07:00Z").await.action, "held");
        // Release 4 at 11:20: 3 completed at 10:10 and ran its window, so it is known-good now
        // (not only at 11:45, had the refresh's completion counted).
        let id = r.fleet.service(CLUSTER, SERVICE).expect("service").id;
        r.fleet
            .deploy(&id, &task_definition(SERVICE, 4))
            .await
            .expect("release 4");
        deployment(&r, "SERVICE_DEPLOYMENT_IN_PROGRESS", "2026-11-25T11:20:00Z").await;
        let tags = r.fleet.service(CLUSTER, SERVICE).expect("service").tags;
        assert_eq!(tags.get(KNOWN_GOOD_TAG), Some(&task_definition(SERVICE, 3)));
        assert_eq!(tags.get(RELEASE_TAG), Some(&task_definition(SERVICE, 4)));
    }

    #[tokio::test]
    async fn given_a_rolled_back_release_deployed_again_then_it_is_a_release_again() {
        let r = fixture();
        assert_eq!(
            alarm(&r, "2026-11-25T10:12:00Z").await.action,
            "rolled-back"
        );
        let id = r.fleet.service(CLUSTER, SERVICE).expect("service").id;
        r.fleet
            .deploy(&id, &task_definition(SERVICE, 3))
            .await
            .expect("3 again");
        let again = deployment(&r, "SERVICE_DEPLOYMENT_IN_PROGRESS", "2026-11-25T13:00:00Z").await;
        assert!(again.why.contains("release of"), "{}", again.why);
        let tags = r.fleet.service(CLUSTER, SERVICE).expect("service").tags;
        assert_eq!(
            tags.get(RELEASE_STARTED_TAG).map(String::as_str),
            Some("2026-11-25T13:00:00Z")
        );
    }

    #[tokio::test]
    async fn given_a_release_past_its_window_then_the_alarm_holds_and_says_why() {
        let r = fixture();
        let late = alarm(&r, "2026-11-25T12:00:00Z").await;
        assert_eq!(late.action, "held");
        assert!(r.fleet.deploys().is_empty());
        assert!(
            r.notifier.sent()[0].message.contains("No rollback of"),
            "{:?}",
            r.notifier.sent()
        );
    }
}

//! The budget responder: each alert, anomaly or manual request claimed once in the notification
//! ledger, then held, released or announced.

use super::config::BudgetConfig;
use super::message::{AlertType, Anomaly, BudgetInput};
use super::notices;
use crate::capacity::ServiceFleet;
use crate::environment;
use crate::error::report;
use crate::ledger::{Claim, LedgerError, NotificationLedger, Owner, claim_waiting};
use crate::notify::Notifier;
use crate::telemetry::{self};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use tracing::{info, warn};

fn usd(v: Option<f64>) -> String {
    v.map(|n| format!("${n:.2}"))
        .unwrap_or_else(|| "(not given)".into())
}

/// What happened to one input.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetOutcome {
    pub input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// `held`, `released`, `notified`, `duplicate`, `unmapped`, `below-threshold`, `nothing-held`.
    pub action: &'static str,
    pub why: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

/// A failure of one input; the others are still handled.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error(transparent)]
    Fleet(#[from] crate::capacity::FleetError),
    #[error(transparent)]
    Capacity(#[from] crate::capacity::CapacityError),
    #[error(transparent)]
    Dedupe(#[from] LedgerError),
    #[error(
        "`{0}` cannot be held: its policy is to notify only (production is never scaled by automation)"
    )]
    NotHoldable(String),
    #[error(
        "`{0}` is being handled by another invocation (its claim's lease has not run out): retried later"
    )]
    InProgress(String),
    #[error(
        "`{0}` is not the environment this deployment operates (MACRO_AI_ENVIRONMENT): use its own stack's function"
    )]
    NotOperated(String),
    /// Some services were done, some failed: the retry redoes only what failed (the rest is
    /// already where it should be).
    #[error("{action} of {env}: {} of {} service(s) failed: {}", failed.len(), failed.len() + done, failed.join("; "))]
    Partial {
        action: &'static str,
        env: String,
        done: usize,
        failed: Vec<String>,
    },
}

/// Runs budget response.
pub struct BudgetResponder<F, D, N> {
    pub(super) fleet: F,
    pub(super) ledger: D,
    pub(super) notifier: N,
    pub(super) config: BudgetConfig,
}

impl<F: ServiceFleet, D: NotificationLedger, N: Notifier> BudgetResponder<F, D, N> {
    pub fn new(fleet: F, ledger: D, notifier: N, config: BudgetConfig) -> Self {
        Self {
            fleet,
            ledger,
            notifier,
            config,
        }
    }

    /// Every input handled, each counted in the `Alerts` metric by kind and outcome; a failed one
    /// is reported after the others were done.
    pub async fn handle(
        &self,
        inputs: Vec<BudgetInput>,
        now: Timestamp,
    ) -> (Vec<BudgetOutcome>, Vec<(String, BudgetError)>) {
        crate::lambda::each_input(inputs, async |input| {
            let kind = match &input {
                BudgetInput::Budget { .. } => "budget",
                BudgetInput::Anomaly { .. } => "anomaly",
                _ => "request",
            };
            let (label, result) = self.handle_input(input, now).await;
            let outcome = result.as_ref().map_or("failed", |o| o.action);
            telemetry::emit(
                "budget-response",
                telemetry::Metric::Alerts { kind, outcome },
                1,
            );
            (label, result)
        })
        .await
    }

    /// One input, claimed in the notification ledger first when it is a notification.
    async fn handle_input(
        &self,
        input: BudgetInput,
        now: Timestamp,
    ) -> (String, Result<BudgetOutcome, BudgetError>) {
        let (label, key) = match &input {
            BudgetInput::Budget { alert, dedup_key } => (
                format!("budget {} ({:?})", alert.budget_name, alert.alert_type),
                Some(dedup_key.clone()),
            ),
            BudgetInput::Anomaly { anomaly, dedup_key } => (
                format!("anomaly {}", anomaly.anomaly_id),
                Some(dedup_key.clone()),
            ),
            BudgetInput::Hold { environment, .. } => {
                (format!("manual hold of {environment}"), None)
            }
            BudgetInput::Release { environment } => (format!("release of {environment}"), None),
            BudgetInput::NewPeriod { at } => (format!("new budget period at {at}"), None),
        };
        // An anomaly is one action per anomaly and per size: one that grows past
        // ANOMALY_ACTION_USD after a first alert is a new decision, not a duplicate.
        let key = match (&input, key) {
            (BudgetInput::Anomaly { anomaly, .. }, Some(k)) => Some(format!(
                "{k}:{}",
                if anomaly.total_impact > self.config.anomaly_action_usd {
                    "over"
                } else {
                    "under"
                }
            )),
            (_, k) => k,
        };
        let owner = Owner::of_this_invocation(self.config.claim_lease);
        if let Some(key) = &key {
            match claim_waiting(&self.ledger, key, &owner, self.config.claim_wait).await {
                Ok(Claim::New) => {}
                Ok(Claim::InProgress) => {
                    // Not a duplicate yet: the other invocation may still fail or die. Fail
                    // this one so the delivery is retried after the lease.
                    let e = BudgetError::InProgress(key.clone());
                    return (label, Err(e));
                }
                Ok(Claim::Done) => {
                    info!(input = %label, key, "already handled: a redelivery");
                    let duplicate = BudgetOutcome {
                        input: label.clone(),
                        environment: None,
                        action: "duplicate",
                        why: "this notification was already handled".into(),
                        services: vec![],
                    };
                    return (label, Ok(duplicate));
                }
                Err(e) => return (label, Err(e.into())),
            }
        }
        let result = self.act_on(input, &label, now).await;
        match &result {
            Ok(_) => {
                if let Some(key) = &key
                    && let Err(e) = self.ledger.finish(key, &owner).await
                {
                    // Handled; the lease runs out and a redelivery redoes it, which converges.
                    warn!(error = %report(&e), "the claim could not be marked done");
                }
            }
            Err(e) => {
                warn!(input = %label, error = %report(e), "input could not be handled");
                if let Some(key) = &key
                    && let Err(f) = self.ledger.forget(key, &owner).await
                {
                    warn!(error = %report(&f), "the claim could not be given back");
                }
            }
        }
        (label, result)
    }

    /// What one input asks, done: a hold, a release, or a notice.
    async fn act_on(
        &self,
        input: BudgetInput,
        label: &str,
        now: Timestamp,
    ) -> Result<BudgetOutcome, BudgetError> {
        let outcome = |environment: Option<String>, action, why: String, services| BudgetOutcome {
            input: label.to_string(),
            environment,
            action,
            why,
            services,
        };
        match input {
            BudgetInput::Budget { alert, .. } => {
                let spent = format!(
                    "{} {}: {} of a {} budget (alert above {})",
                    alert.budget_name,
                    match alert.alert_type {
                        AlertType::Actual => "ACTUAL",
                        AlertType::Forecasted => "FORECASTED",
                    },
                    usd(alert.amount),
                    usd(alert.budgeted),
                    usd(alert.threshold)
                );
                let Some(env) = self.config.environment_of_budget(&alert.budget_name) else {
                    let why = format!(
                        "budget `{}` maps to no environment (BUDGET_ENVIRONMENTS, or macro-ai-<env>-monthly): no action",
                        alert.budget_name
                    );
                    self.notifier
                        .announce(notices::unmapped_budget(&alert.budget_name, &spent, &why))
                        .await;
                    return Ok(outcome(None, "unmapped", why, vec![]));
                };
                let action = self.config.hold_to(&env);
                match (alert.alert_type, action) {
                    (AlertType::Actual, Some(to)) => {
                        let services = self.hold(&env, to, &spent, now).await?;
                        let why =
                            format!("ACTUAL spend over the threshold: {env} held at {to} task(s)");
                        self.announce_hold(&env, to, &spent, &services).await;
                        Ok(outcome(Some(env), "held", why, services))
                    }
                    (AlertType::Forecasted, _) | (AlertType::Actual, None) => {
                        let why = match alert.alert_type {
                            AlertType::Forecasted => {
                                "a forecast only: notify, no action".to_string()
                            }
                            AlertType::Actual => format!("the policy for {env} is to notify only"),
                        };
                        self.notifier
                            .announce(notices::over_budget(&alert.budget_name, &env, &spent, &why))
                            .await;
                        Ok(outcome(Some(env), "notified", why, vec![]))
                    }
                }
            }
            BudgetInput::Anomaly { anomaly, .. } => self.anomaly(anomaly, label, now).await,
            BudgetInput::Hold {
                environment,
                reason,
            } => {
                if !self.config.operates(&environment) {
                    return Err(BudgetError::NotOperated(environment.clone()));
                }
                let to = self
                    .config
                    .hold_to(&environment)
                    .ok_or_else(|| BudgetError::NotHoldable(environment.clone()))?;
                let spent = format!("manual hold: {reason}");
                let services = self.hold(&environment, to, &spent, now).await?;
                self.announce_hold(&environment, to, &spent, &services)
                    .await;
                Ok(outcome(
                    Some(environment.clone()),
                    "held",
                    format!("held at {to} task(s) by request"),
                    services,
                ))
            }
            BudgetInput::Release { environment } => {
                if !self.config.operates(&environment) {
                    return Err(BudgetError::NotOperated(environment.clone()));
                }
                let services = self.release(&environment, None).await?;
                self.announce_release(&environment, "released by request", &services)
                    .await;
                let action = if services.is_empty() {
                    "nothing-held"
                } else {
                    "released"
                };
                Ok(outcome(
                    Some(environment),
                    action,
                    "released by request".into(),
                    services,
                ))
            }
            BudgetInput::NewPeriod { at } => {
                // Budget periods are calendar months in UTC.
                let utc = jiff::tz::TimeZone::UTC;
                let today = utc.to_datetime(at);
                let start = Date::new(today.year(), today.month(), 1)
                    .ok()
                    .and_then(|d| utc.to_timestamp(d.at(0, 0, 0, 0)).ok())
                    .unwrap_or(at);
                let mut released = Vec::new();
                let envs: Vec<String> = self
                    .config
                    .policy
                    .keys()
                    .filter(|e| self.config.hold_to(e).is_some())
                    .cloned()
                    .collect();
                for env in envs {
                    let services = self.release(&env, Some(start)).await?;
                    if !services.is_empty() {
                        self.announce_release(&env, "a new budget period started", &services)
                            .await;
                    }
                    released.extend(services);
                }
                let action = if released.is_empty() {
                    "nothing-held"
                } else {
                    "released"
                };
                Ok(outcome(
                    None,
                    action,
                    format!("holds from before {start} released"),
                    released,
                ))
            }
        }
    }

    async fn anomaly(
        &self,
        anomaly: Anomaly,
        label: &str,
        now: Timestamp,
    ) -> Result<BudgetOutcome, BudgetError> {
        // An alert whose percentage cannot be known (the pre-2021 format, an expected spend of
        // 0) is announced with its dollars rather than dropped as "0%".
        let pct = match anomaly.impact_percentage {
            Some(p) => format!("{p:.1}%"),
            None => "percentage unknown".to_string(),
        };
        let env = self.config.environment_of_anomaly(&anomaly);
        // A small percentage of a large bill is still a large sum: above ANOMALY_ACTION_USD the
        // percentage gate does not apply.
        if let Some(pct) = anomaly.impact_percentage
            && pct < self.config.anomaly_min_percent
            && anomaly.total_impact <= self.config.anomaly_action_usd
        {
            info!(anomaly = %anomaly.anomaly_id, pct, "anomaly below the notification threshold");
            return Ok(BudgetOutcome {
                input: label.into(),
                environment: env,
                action: "below-threshold",
                why: format!(
                    "impact {pct:.1}% is below {:.0}%",
                    self.config.anomaly_min_percent
                ),
                services: vec![],
            });
        }
        let mut message = notices::anomaly_text(&anomaly, &pct);
        let hold_to = env
            .as_ref()
            .filter(|e| !environment::is_production(e))
            .and_then(|e| self.config.hold_to(e));
        match (env, hold_to) {
            (Some(env), Some(to)) if anomaly.total_impact > self.config.anomaly_action_usd => {
                let spent = format!(
                    "cost anomaly {} of ${:.2} ({pct}) attributed to {env}",
                    anomaly.anomaly_id, anomaly.total_impact
                );
                let services = self.hold(&env, to, &spent, now).await?;
                message.push_str(&format!(
                    "\nOver ${:.2} in {env}: acted like an ACTUAL budget breach.\n",
                    self.config.anomaly_action_usd
                ));
                self.announce_hold(&env, to, &message, &services).await;
                Ok(BudgetOutcome {
                    input: label.into(),
                    environment: Some(env.clone()),
                    action: "held",
                    why: format!(
                        "anomaly above ${:.2} in {env}",
                        self.config.anomaly_action_usd
                    ),
                    services,
                })
            }
            (env, _) => {
                self.notifier
                    .announce(notices::anomaly(&anomaly, &pct, message))
                    .await;
                Ok(BudgetOutcome {
                    input: label.into(),
                    environment: env,
                    action: "notified",
                    why: "anomaly announced with its root causes".into(),
                    services: vec![],
                })
            }
        }
    }

    async fn announce_hold(&self, env: &str, to: i32, spent: &str, services: &[String]) {
        self.notifier
            .announce(notices::held(
                env,
                &self.config.cluster_of(env),
                to,
                spent,
                services,
                &self.config.function_name,
            ))
            .await;
    }

    async fn announce_release(&self, env: &str, why: &str, services: &[String]) {
        self.notifier
            .announce(notices::released(env, why, services))
            .await;
    }
}

#[cfg(test)]
mod tests {
    //! The responder on in-memory fakes: no stack, milliseconds. The same flows against moto's
    //! ECS, Application Auto Scaling and DynamoDB are in `tests/tests/budget_response.rs`.

    use super::*;
    use crate::budget::parse;
    use crate::fakes::{MemoryFleet, MemoryNotificationLedger, RecordingNotifier};

    const DEV: &str = "macro-ai-dev-cluster";
    const PROD: &str = "macro-ai-prod-cluster";
    const DEV_ACTUAL: &str = include_str!("../../../events/budget-response/budget-dev-actual.json");
    const PROD_ACTUAL: &str =
        include_str!("../../../events/budget-response/budget-prod-actual.json");
    const RELEASE_DEV: &str = include_str!("../../../events/budget-response/release-dev.json");

    type Fixture = BudgetResponder<MemoryFleet, MemoryNotificationLedger, RecordingNotifier>;

    fn fixture() -> Fixture {
        let fleet = MemoryFleet::new()
            .with_service(DEV, "macro-ai-dev-api-service", 2, Some((1, 4)), &[])
            .with_service(DEV, "macro-ai-dev-ui-service", 1, None, &[])
            .with_service(PROD, "macro-ai-prod-api-service", 4, Some((2, 10)), &[]);
        BudgetResponder::new(
            fleet,
            MemoryNotificationLedger::default(),
            RecordingNotifier::default(),
            BudgetConfig::seed(),
        )
    }

    async fn deliver(r: &Fixture, event: &str) -> BudgetOutcome {
        let inputs = parse(&serde_json::from_str(event).expect("sample")).expect("parsed");
        let now: Timestamp = "2026-11-25T12:00:00Z".parse().expect("time");
        let (mut outcomes, failures) = r.handle(inputs, now).await;
        assert!(
            failures.is_empty(),
            "{:?}",
            failures.iter().map(|(l, _)| l).collect::<Vec<_>>()
        );
        outcomes.remove(0)
    }

    fn desired(r: &Fixture, cluster: &str, service: &str) -> (i32, Option<(i32, i32)>) {
        let s = r.fleet.service(cluster, service).expect("service");
        (
            s.capacity.desired,
            s.capacity.bounds.map(|b| (b.min, b.max)),
        )
    }

    #[tokio::test]
    async fn given_a_dev_breach_then_dev_is_held_once_and_released_exactly_as_it_was() {
        let r = fixture();
        let held = deliver(&r, DEV_ACTUAL).await;
        assert_eq!((held.action, held.services.len()), ("held", 2));
        assert_eq!(
            desired(&r, DEV, "macro-ai-dev-api-service"),
            (0, Some((0, 0)))
        );
        assert_eq!(desired(&r, DEV, "macro-ai-dev-ui-service"), (0, None));
        // SNS delivers the same notification again: one action, one message.
        assert_eq!(deliver(&r, DEV_ACTUAL).await.action, "duplicate");
        assert_eq!(r.notifier.sent().len(), 1);
        assert!(
            r.notifier.sent()[0]
                .message
                .contains("--payload '{\"release\": \"dev\"}'")
        );
        let released = deliver(&r, RELEASE_DEV).await;
        assert_eq!(released.action, "released");
        assert_eq!(
            desired(&r, DEV, "macro-ai-dev-api-service"),
            (2, Some((1, 4)))
        );
        assert_eq!(desired(&r, DEV, "macro-ai-dev-ui-service"), (1, None));
    }

    #[tokio::test]
    async fn given_a_prod_breach_then_it_is_announced_and_nothing_is_touched() {
        let r = fixture();
        let outcome = deliver(&r, PROD_ACTUAL).await;
        assert_eq!(outcome.action, "notified");
        assert_eq!(r.fleet.writes(), 0);
        assert_eq!(
            desired(&r, PROD, "macro-ai-prod-api-service"),
            (4, Some((2, 10)))
        );
    }

    #[tokio::test]
    async fn given_tagging_fails_then_the_hold_fails_for_a_retry_that_finishes_it() {
        let r = fixture();
        r.fleet.fail("TagResource");
        let inputs = parse(&serde_json::from_str(DEV_ACTUAL).expect("sample")).expect("parsed");
        let (_, failures) = r.handle(inputs, Timestamp::UNIX_EPOCH).await;
        assert_eq!(failures.len(), 1);
        assert_eq!(
            desired(&r, DEV, "macro-ai-dev-api-service"),
            (2, Some((1, 4)))
        );
        r.fleet.heal("TagResource");
        assert_eq!(deliver(&r, DEV_ACTUAL).await.action, "held");
        assert_eq!(
            desired(&r, DEV, "macro-ai-dev-api-service"),
            (0, Some((0, 0)))
        );
    }
}

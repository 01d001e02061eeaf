//! Budget response: a runaway bill is stopped in non-production and reported everywhere. AWS
//! Budgets can stop EC2 and RDS but not ECS; this holds a non-production environment's services
//! down (with the capacity logic after-hours scaling uses), announces what was spent and done and
//! how to release it, and never scales or caps production.

mod message;

pub use message::{
    AlertType, Anomaly, BudgetAlert, BudgetInput, InvalidEvent, RootCause, budget_text, money,
    parse,
};

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use tracing::{info, warn};

use crate::capacity::{self, BUDGET_HOLD_TAG, Change, ServiceFleet};
use crate::environment;
use crate::error::{BoxError, report};
use crate::notify::Notifier;
use crate::telemetry::{self, AuditRecord};

/// Remembers which notifications were handled, so a redelivery is one action and one message.
pub trait Deduper: Send + Sync {
    /// Claims `key` for handling: `New` the first time, and again once an earlier claim's lease
    /// ran out without `finish` (its invocation timed out or crashed); `InProgress` while another
    /// invocation holds a live lease; `Done` once handled.
    fn claim(&self, key: &str) -> impl Future<Output = Result<Claim, DedupeError>> + Send;
    /// Marks `key` handled: every later delivery is a duplicate.
    fn finish(&self, key: &str) -> impl Future<Output = Result<(), DedupeError>> + Send;
    /// Gives a claim back after a failure, so the retry is not taken for a duplicate.
    fn forget(&self, key: &str) -> impl Future<Output = Result<(), DedupeError>> + Send;
}

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    New,
    InProgress,
    Done,
}

#[derive(Debug, thiserror::Error)]
#[error("the notification ledger could not {operation} `{key}`")]
pub struct DedupeError {
    pub operation: &'static str,
    pub key: String,
    #[source]
    pub source: BoxError,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawAction {
    Word(String),
    ScaleTo {
        #[serde(rename = "scaleTo")]
        scale_to: i32,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvPolicy {
    actual: RawAction,
}

/// The function's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetConfig {
    /// Environment → the task count an ACTUAL breach holds its services at (`None`: notify only).
    pub policy: BTreeMap<String, Option<i32>>,
    /// Budget name → environment, besides the seed's `macro-ai-<env>-monthly`.
    pub budget_environments: BTreeMap<String, String>,
    /// Linked account id or monitor ARN → environment, for anomalies.
    pub anomaly_environments: BTreeMap<String, String>,
    pub anomaly_min_percent: f64,
    pub anomaly_action_usd: f64,
    /// How people reach this function to release a hold (its name in Lambda).
    pub function_name: String,
    /// Environment → its ECS cluster (`ENVIRONMENT_CLUSTERS`, from the template's parameters);
    /// an environment not listed uses `macro-ai-<env>-cluster`.
    pub environment_clusters: BTreeMap<String, String>,
    /// The one environment this deployment operates (`MACRO_AI_ENVIRONMENT`, one stack per
    /// environment): alerts about another are announced, never acted on (its IAM reaches only its
    /// own cluster). Unset: every environment of the policy.
    pub own_environment: Option<String>,
    /// How long a delivery waits for another invocation's claim on the same notification before
    /// failing for a retry (`DEDUPE_WAIT_SECONDS`, default 20): an anomaly arrives by SNS and by
    /// EventBridge at once, and the second must not page anyone by failing.
    pub claim_wait: Duration,
}

impl BudgetConfig {
    /// The seed's policy (dev held at 0 tasks, staging at 1, prod notified) with `BUDGET_POLICY`
    /// (`{"dev": {"actual": {"scaleTo": 0}}, "prod": {"actual": "notify"}}`) over it. A policy
    /// that would scale production is refused here, at cold start.
    pub fn parse_policy(raw: Option<&str>) -> Result<BTreeMap<String, Option<i32>>, String> {
        let mut policy: BTreeMap<String, Option<i32>> = [
            ("dev".to_string(), Some(0)),
            ("staging".to_string(), Some(1)),
            ("prod".to_string(), None),
        ]
        .into();
        let Some(raw) = raw.filter(|v| !v.trim().is_empty()) else {
            return Ok(policy);
        };
        let parsed: BTreeMap<String, RawEnvPolicy> = serde_json::from_str(raw).map_err(|e| {
            format!(
                "must be like {{\"dev\": {{\"actual\": {{\"scaleTo\": 0}}}}, \"prod\": {{\"actual\": \"notify\"}}}}: {e}"
            )
        })?;
        for (env, p) in parsed {
            let action = match p.actual {
                RawAction::Word(w) if w == "notify" => None,
                RawAction::Word(w) => {
                    return Err(format!(
                        "`{env}`: unknown action `{w}` (\"notify\" or {{\"scaleTo\": n}})"
                    ));
                }
                RawAction::ScaleTo { scale_to } if (0..=100).contains(&scale_to) => Some(scale_to),
                RawAction::ScaleTo { .. } => {
                    return Err(format!("`{env}`: scaleTo must be 0 to 100"));
                }
            };
            if action.is_some() && environment::is_production(&env) {
                return Err(format!(
                    "would scale `{env}`: production is never scaled or capped by automation; use \"notify\""
                ));
            }
            policy.insert(env, action);
        }
        Ok(policy)
    }

    /// The ECS cluster of `env`.
    pub fn cluster_of(&self, env: &str) -> String {
        self.environment_clusters
            .get(env)
            .cloned()
            .unwrap_or_else(|| environment::cluster(env))
    }

    /// Whether this deployment acts on `env` at all.
    pub fn operates(&self, env: &str) -> bool {
        self.own_environment
            .as_deref()
            .is_none_or(|own| own.eq_ignore_ascii_case(env))
    }

    /// The task count a breach holds `env` at; `None`: notify only (its policy, or not this
    /// deployment's environment).
    pub fn hold_to(&self, env: &str) -> Option<i32> {
        self.policy
            .get(env)
            .copied()
            .flatten()
            .filter(|_| self.operates(env))
    }

    /// The environment of a budget: `BUDGET_ENVIRONMENTS`, else `macro-ai-<env>-monthly`. Only
    /// monthly budgets map by name: holds are released by the monthly schedule, so a daily,
    /// quarterly or annual budget (read fine) acts only when an operator maps it on purpose.
    pub fn environment_of_budget(&self, name: &str) -> Option<String> {
        self.budget_environments
            .get(name)
            .cloned()
            .or_else(|| environment::of_monthly_budget(name).map(str::to_string))
    }

    /// The environment an anomaly is attributed to, by linked account or monitor.
    pub fn environment_of_anomaly(&self, anomaly: &Anomaly) -> Option<String> {
        anomaly
            .root_causes
            .iter()
            .filter_map(|c| c.linked_account.as_ref())
            .chain(anomaly.monitor_arn.iter())
            .find_map(|k| self.anomaly_environments.get(k).cloned())
    }
}

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
    Dedupe(#[from] DedupeError),
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
    fleet: F,
    dedupe: D,
    notifier: N,
    config: BudgetConfig,
}

impl<F: ServiceFleet, D: Deduper, N: Notifier> BudgetResponder<F, D, N> {
    pub fn new(fleet: F, dedupe: D, notifier: N, config: BudgetConfig) -> Self {
        Self {
            fleet,
            dedupe,
            notifier,
            config,
        }
    }

    pub async fn handle(
        &self,
        inputs: Vec<BudgetInput>,
        now: Timestamp,
    ) -> (Vec<BudgetOutcome>, Vec<(String, BudgetError)>) {
        let mut outcomes = Vec::new();
        let mut failures = Vec::new();
        for input in inputs {
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
            if let Some(key) = &key {
                match self.claim(key).await {
                    Ok(Claim::New) => {}
                    Ok(Claim::InProgress) => {
                        // Not a duplicate yet: the other invocation may still fail or die. Fail
                        // this one so the delivery is retried after the lease.
                        failures.push((label, BudgetError::InProgress(key.clone())));
                        continue;
                    }
                    Ok(Claim::Done) => {
                        info!(input = %label, key, "already handled: a redelivery");
                        outcomes.push(BudgetOutcome {
                            input: label,
                            environment: None,
                            action: "duplicate",
                            why: "this notification was already handled".into(),
                            services: vec![],
                        });
                        continue;
                    }
                    Err(e) => {
                        failures.push((label, e.into()));
                        continue;
                    }
                }
            }
            match self.one(input, &label, now).await {
                Ok(o) => {
                    if let Some(key) = &key
                        && let Err(e) = self.dedupe.finish(key).await
                    {
                        // Handled; the lease runs out and a redelivery redoes it, which converges.
                        warn!(error = %report(&e), "the claim could not be marked done");
                    }
                    outcomes.push(o);
                }
                Err(e) => {
                    warn!(input = %label, error = %report(&e), "input could not be handled");
                    if let Some(key) = &key
                        && let Err(f) = self.dedupe.forget(key).await
                    {
                        warn!(error = %report(&f), "the claim could not be given back");
                    }
                    failures.push((label, e));
                }
            }
        }
        (outcomes, failures)
    }

    /// Claims `key`, waiting up to `claim_wait` while another invocation holds it.
    async fn claim(&self, key: &str) -> Result<Claim, DedupeError> {
        let deadline = tokio::time::Instant::now() + self.config.claim_wait;
        loop {
            match self.dedupe.claim(key).await? {
                Claim::InProgress if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                other => return Ok(other),
            }
        }
    }

    async fn one(
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
                    self.notify(
                        &format!("unmapped budget {}", alert.budget_name),
                        &format!("{spent}.\n{why}."),
                    )
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
                        self.notify(
                            &format!("{} over budget ({env})", alert.budget_name),
                            &format!("{spent}.\nNo action: {why}."),
                        )
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
        let mut message = format!(
            "Cost anomaly {}: ${:.2} above expected ({pct}){}.\nRoot causes:\n",
            anomaly.anomaly_id,
            anomaly.total_impact,
            anomaly
                .subscription_name
                .as_deref()
                .map(|s| format!(", subscription {s}"))
                .unwrap_or_default()
        );
        for c in &anomaly.root_causes {
            message.push_str(&format!(
                "- service {}, region {}, account {}, usage type {}\n",
                c.service.as_deref().unwrap_or("?"),
                c.region.as_deref().unwrap_or("?"),
                c.linked_account.as_deref().unwrap_or("?"),
                c.usage_type.as_deref().unwrap_or("?")
            ));
        }
        if anomaly.root_causes.is_empty() {
            message.push_str("- none given\n");
        }
        if let Some(link) = &anomaly.details_link {
            message.push_str(&format!("Details: {link}\n"));
        }
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
                self.notify(
                    &format!("cost anomaly of ${:.2} ({pct})", anomaly.total_impact),
                    &message,
                )
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

    /// Holds every service of `env` at `to` tasks: the hold tag first (so after-hours scaling
    /// leaves the service alone from then on), then the capacity reduction, which saves what the
    /// service had unless after-hours scaling already did. Re-running converges.
    async fn hold(
        &self,
        env: &str,
        to: i32,
        why: &str,
        now: Timestamp,
    ) -> Result<Vec<String>, BudgetError> {
        if environment::is_production(env) {
            return Err(BudgetError::NotHoldable(env.to_string()));
        }
        let mut done = Vec::new();
        let mut failed = Vec::new();
        // Every service is tried, whatever happens to the others.
        for state in self.fleet.list(&self.config.cluster_of(env)).await? {
            match self.hold_one(&state, to, why, now).await {
                Ok(line) => done.push(line),
                Err(e) => {
                    warn!(service = %state.id, error = %report(&e), "could not hold the service");
                    failed.push(format!("{}: {}", state.id, report(&e)));
                }
            }
        }
        self.partial("hold", env, done, failed).await
    }

    /// One service held: the hold tag first, then the reduction. Converges when re-run.
    async fn hold_one(
        &self,
        state: &crate::capacity::ServiceState,
        to: i32,
        why: &str,
        now: Timestamp,
    ) -> Result<String, BudgetError> {
        if state.tag(BUDGET_HOLD_TAG).is_none() {
            self.fleet
                .tag(&state.id, BUDGET_HOLD_TAG, &format!("since={now} to={to}"))
                .await?;
        }
        // Tagged: after-hours scaling leaves it alone from now on. Reduce from the service as it
        // is now, not as `list` saw it (after-hours may have restored it in between).
        let fresh = self.fleet.get(&state.id).await?;
        let state = &fresh;
        Ok(match capacity::reduce_to(&self.fleet, state, to).await? {
            Change::Changed { before, after } => {
                telemetry::audit(&AuditRecord {
                    service: "budget-response",
                    action: "hold",
                    target: &state.id.to_string(),
                    what: &format!("{} held at {to} task(s)", state.id),
                    why,
                    before: &before.encode(),
                    after: &after.encode(),
                });
                format!("{}: {before} -> {after}", state.id)
            }
            Change::Unchanged => format!("{}: already at {to} or below", state.id),
        })
    }

    /// All done: the lines. Some failed: announced now (what was done and what was not), then an
    /// error, so the retry redoes what failed.
    async fn partial(
        &self,
        action: &'static str,
        env: &str,
        done: Vec<String>,
        failed: Vec<String>,
    ) -> Result<Vec<String>, BudgetError> {
        if failed.is_empty() {
            return Ok(done);
        }
        let mut m = format!(
            "The {action} of {env} is incomplete: {} service(s) failed and will be retried.\nFailed:\n",
            failed.len()
        );
        for f in &failed {
            m.push_str(&format!("- {f}\n"));
        }
        m.push_str("Done:\n");
        for d in &done {
            m.push_str(&format!("- {d}\n"));
        }
        self.notify(&format!("{env} {action} incomplete"), &m).await;
        Err(BudgetError::Partial {
            action,
            env: env.to_string(),
            done: done.len(),
            failed,
        })
    }

    /// Restores every held service of `env` (held before `before`, when given) and lifts the hold.
    async fn release(
        &self,
        env: &str,
        before: Option<Timestamp>,
    ) -> Result<Vec<String>, BudgetError> {
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for state in self.fleet.list(&self.config.cluster_of(env)).await? {
            let Some(hold) = state.tag(BUDGET_HOLD_TAG) else {
                continue;
            };
            let since = hold
                .split_whitespace()
                .find_map(|p| p.strip_prefix("since="))
                .and_then(|t| t.parse::<Timestamp>().ok());
            if let (Some(cutoff), Some(since)) = (before, since)
                && since >= cutoff
            {
                continue;
            }
            match self.release_one(&state).await {
                Ok(line) => done.push(line),
                Err(e) => {
                    warn!(service = %state.id, error = %report(&e), "could not release the service");
                    failed.push(format!("{}: {}", state.id, report(&e)));
                }
            }
        }
        self.partial("release", env, done, failed).await
    }

    /// One held service restored and its hold lifted.
    async fn release_one(
        &self,
        state: &crate::capacity::ServiceState,
    ) -> Result<String, BudgetError> {
        let line = match capacity::restore(&self.fleet, state).await? {
            Change::Changed { before, after } => {
                telemetry::audit(&AuditRecord {
                    service: "budget-response",
                    action: "release",
                    target: &state.id.to_string(),
                    what: &format!("{} released", state.id),
                    why: "budget hold released",
                    before: &before.encode(),
                    after: &after.encode(),
                });
                format!("{}: {before} -> {after}", state.id)
            }
            Change::Unchanged => format!("{}: nothing saved to restore", state.id),
        };
        self.fleet.untag(&state.id, BUDGET_HOLD_TAG).await?;
        Ok(line)
    }

    async fn announce_hold(&self, env: &str, to: i32, spent: &str, services: &[String]) {
        let mut m = format!(
            "{spent}\n\nDone: every service of {} held at {to} task(s):\n",
            self.config.cluster_of(env)
        );
        for s in services {
            m.push_str(&format!("- {s}\n"));
        }
        m.push_str(&format!(
            "\nTo release the hold before the next budget period (it is released automatically when one starts):\n  \
             aws lambda invoke --function-name {} --cli-binary-format raw-in-base64-out --payload '{{\"release\": \"{env}\"}}' /dev/stdout\n",
            self.config.function_name
        ));
        self.notify(&format!("{env} held by budget response"), &m)
            .await;
    }

    async fn announce_release(&self, env: &str, why: &str, services: &[String]) {
        let mut m = format!("Budget hold of {env} lifted ({why}); saved capacity restored:\n");
        for s in services {
            m.push_str(&format!("- {s}\n"));
        }
        if services.is_empty() {
            m.push_str("- nothing was held\n");
        }
        self.notify(&format!("{env} budget hold released"), &m)
            .await;
    }

    async fn notify(&self, subject: &str, message: &str) {
        if let Err(e) = self
            .notifier
            .publish(&format!("macro-ai-ops budget-response: {subject}"), message)
            .await
        {
            warn!(error = %report(&e), "notification failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_the_default_policy_then_dev_goes_to_0_staging_to_1_and_prod_notifies() {
        let policy = BudgetConfig::parse_policy(None).unwrap();
        assert_eq!(
            (policy["dev"], policy["staging"], policy["prod"]),
            (Some(0), Some(1), None)
        );
    }

    #[test]
    fn given_a_policy_that_scales_prod_then_it_is_refused_at_load() {
        for prod in ["prod", "production", "PROD"] {
            let raw = format!(r#"{{"{prod}": {{"actual": {{"scaleTo": 0}}}}}}"#);
            let err = BudgetConfig::parse_policy(Some(&raw)).unwrap_err();
            assert!(err.contains("production is never scaled"), "{err}");
        }
        let ok = BudgetConfig::parse_policy(Some(
            r#"{"dev": {"actual": "notify"}, "qa": {"actual": {"scaleTo": 0}}}"#,
        ))
        .unwrap();
        assert_eq!((ok["dev"], ok["qa"]), (None, Some(0)));
        for bad in [
            r#"{"dev": {"actual": "explode"}}"#,
            r#"{"dev": {"actual": {"scaleTo": -1}}}"#,
            r#"{"dev": {"forecast": "notify"}}"#,
            "[]",
        ] {
            assert!(BudgetConfig::parse_policy(Some(bad)).is_err(), "{bad}");
        }
    }
}

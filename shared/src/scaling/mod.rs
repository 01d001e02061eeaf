//! After-hours scaling: for an instant, decide for every scheduled service whether it should be
//! in hours (saved capacity restored) or off hours (held at the schedule's off capacity), and
//! move it there only if it is not. Reconcile, never toggle: running twice, late, or every
//! 15 minutes gives the same result.

mod event;

pub use event::{InvalidEvent, Mode, ScalingRequest};

use futures_util::StreamExt;
use futures_util::stream;
use jiff::Timestamp;
use serde::Serialize;
use tracing::{error, info, warn};

use crate::capacity::{
    self, BUDGET_HOLD_TAG, CapacityError, Change, ENVIRONMENT_TAG, KEEP_UP_UNTIL_TAG, SCHEDULE_TAG,
    ServiceFleet, ServiceState,
};
use crate::environment;
use crate::error::report;
use crate::notify::Notifier;
use crate::schedule::Schedules;
use crate::telemetry::{self, AuditRecord};

/// The function's settings, read once at cold start.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingConfig {
    pub clusters: Vec<String>,
    pub schedules: Schedules,
    /// Services handled at once (ECS throttles; the SDK retries what it throttles).
    pub concurrency: usize,
    /// The production stack's function (`MACRO_AI_ENVIRONMENT=prod`): it scales nothing, whatever
    /// it is asked (its schedule is disabled and its IAM has no write either).
    pub production: bool,
}

/// The environment a service belongs to: its cluster's by the convention, else its environment
/// tag.
pub fn environment_of(state: &ServiceState) -> Option<String> {
    environment::of_cluster(&state.id.cluster)
        .or_else(|| state.tag(ENVIRONMENT_TAG))
        .map(str::to_string)
}

/// Production is never scaled down by automation, whatever its tags say: a production cluster
/// name or a production environment tag is enough.
pub fn is_prod(state: &ServiceState) -> bool {
    environment::is_production_cluster(&state.id.cluster)
        || state
            .tag(ENVIRONMENT_TAG)
            .is_some_and(environment::is_production)
}

/// What to do with one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Reduce { to: i32 },
    Restore,
    Leave,
}

/// A plan and the reason for it, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub plan: Plan,
    pub why: String,
}

fn decision(plan: Plan, why: impl Into<String>) -> Decision {
    Decision {
        plan,
        why: why.into(),
    }
}

/// The pure decision for one service at `at`.
pub fn decide(state: &ServiceState, schedules: &Schedules, mode: Mode, at: Timestamp) -> Decision {
    let name = match state.tag(SCHEDULE_TAG) {
        None => return decision(Plan::Leave, format!("no {SCHEDULE_TAG} tag")),
        Some("off") => return decision(Plan::Leave, format!("{SCHEDULE_TAG}=off")),
        Some(name) => name,
    };
    if state.tag(BUDGET_HOLD_TAG).is_some() {
        return decision(Plan::Leave, "held by budget-response until released");
    }
    let Some(schedule) = schedules.get(name) else {
        return decision(Plan::Leave, format!("unknown schedule `{name}`"));
    };
    let (mut up, mut why) = match mode {
        Mode::ScaleUp => (true, "manual scale-up".to_string()),
        Mode::ScaleDown => (false, "manual scale-down".to_string()),
        Mode::Reconcile if schedule.in_hours(at) => (true, format!("in hours of {name}")),
        Mode::Reconcile => (false, format!("off hours of {name}")),
    };
    if !up {
        match state.tag(KEEP_UP_UNTIL_TAG).map(str::parse::<Timestamp>) {
            Some(Ok(until)) if at < until => {
                up = true;
                why = format!("kept up until {until} by {KEEP_UP_UNTIL_TAG}");
            }
            Some(Err(_)) => why.push_str(&format!(
                " ({KEEP_UP_UNTIL_TAG} is not an RFC 3339 time; ignored)"
            )),
            _ => {}
        }
    }
    if up {
        return decision(Plan::Restore, why);
    }
    if is_prod(state) {
        return decision(Plan::Leave, "production is never scaled down");
    }
    decision(
        Plan::Reduce {
            to: schedule.off_capacity,
        },
        why,
    )
}

/// The result for one service (or a cluster that could not be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceResult {
    pub service: String,
    /// `scaled-down`, `restored`, `unchanged`, `skipped`, `failed`, or `would-…` in a dry run.
    pub outcome: &'static str,
    pub why: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What one invocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingReport {
    pub at: String,
    pub mode: &'static str,
    pub dry_run: bool,
    pub changed: usize,
    pub failed: usize,
    pub services: Vec<ServiceResult>,
}

/// Runs after-hours scaling against a fleet, notifying through a notifier.
pub struct Scaler<F, N> {
    fleet: F,
    notifier: N,
    config: ScalingConfig,
}

impl<F: ServiceFleet, N: Notifier> Scaler<F, N> {
    pub fn new(fleet: F, notifier: N, config: ScalingConfig) -> Self {
        Self {
            fleet,
            notifier,
            config,
        }
    }

    pub async fn run(&self, request: &ScalingRequest) -> ScalingReport {
        let mut results = Vec::new();
        if self.config.production {
            info!("the production stack: after-hours scaling never scales production");
            results.push(ServiceResult {
                service: self.config.clusters.join(","),
                outcome: "skipped",
                why: "the production stack (MACRO_AI_ENVIRONMENT=prod): production is never \
                      scaled after hours"
                    .into(),
                before: None,
                after: None,
                error: None,
            });
            return ScalingReport {
                at: request.at.to_string(),
                mode: "none",
                dry_run: request.dry_run,
                changed: 0,
                failed: 0,
                services: results,
            };
        }
        let mut services = Vec::new();
        for cluster in &self.config.clusters {
            match self.fleet.list(cluster).await {
                Ok(list) => services.extend(list),
                Err(e) => {
                    error!(cluster, error = %report(&e), "cluster could not be read");
                    results.push(ServiceResult {
                        service: cluster.clone(),
                        outcome: "failed",
                        why: "the cluster could not be listed".into(),
                        before: None,
                        after: None,
                        error: Some(report(&e)),
                    });
                }
            }
        }
        let selected = services.into_iter().filter(|s| match &request.environment {
            Some(env) => environment_of(s).as_deref() == Some(env.as_str()),
            None => true,
        });
        let handled: Vec<ServiceResult> = stream::iter(selected)
            .map(|state| self.handle(state, request))
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        results.extend(handled);
        results.sort_by(|a, b| a.service.cmp(&b.service));
        let changed = results
            .iter()
            .filter(|r| matches!(r.outcome, "scaled-down" | "restored"))
            .count();
        let failed = results.iter().filter(|r| r.outcome == "failed").count();
        let report = ScalingReport {
            at: request.at.to_string(),
            mode: match request.mode {
                Mode::Reconcile => "reconcile",
                Mode::ScaleDown => "scale-down",
                Mode::ScaleUp => "scale-up",
            },
            dry_run: request.dry_run,
            changed,
            failed,
            services: results,
        };
        telemetry::metric("after-hours-scaling", "ServiceFailures", failed as u64);
        info!(changed, failed, services = report.services.len(), at = %report.at, "after-hours scaling done");
        if changed > 0 || failed > 0 {
            self.notify(&report).await;
        }
        report
    }

    /// After a restore: if a budget hold landed meanwhile, reduce to it again (the hold's
    /// `to=`), so the hold stands whatever the interleaving.
    async fn hold_again(&self, state: &ServiceState) -> Result<Change, capacity::CapacityError> {
        let fresh = self.fleet.get(&state.id).await?;
        let Some(to) = fresh.tag(BUDGET_HOLD_TAG).map(|hold| {
            hold.split_whitespace()
                .find_map(|p| p.strip_prefix("to="))
                .and_then(|n| n.parse::<i32>().ok())
                .unwrap_or(0)
        }) else {
            return Ok(Change::Changed {
                before: state.capacity,
                after: fresh.capacity,
            });
        };
        warn!(service = %state.id, to, "a budget hold landed during the restore: held again");
        capacity::reduce_to(&self.fleet, &fresh, to).await
    }

    async fn handle(&self, state: ServiceState, request: &ScalingRequest) -> ServiceResult {
        // About to write: decide again on the service as it is now, not as `list` saw it. A
        // budget hold that landed meanwhile (budget-response tags first) is then left alone.
        let state = if !request.dry_run
            && decide(&state, &self.config.schedules, request.mode, request.at).plan != Plan::Leave
        {
            match self.fleet.get(&state.id).await {
                Ok(fresh) => fresh,
                Err(e) => {
                    return ServiceResult {
                        service: state.id.to_string(),
                        outcome: "failed",
                        why: "the service could not be re-read before the change".into(),
                        before: Some(state.capacity.encode()),
                        after: None,
                        error: Some(report(&e)),
                    };
                }
            }
        } else {
            state
        };
        let d = decide(&state, &self.config.schedules, request.mode, request.at);
        let service = state.id.to_string();
        let before = Some(state.capacity.encode());
        let result = |outcome, after: Option<String>, error| ServiceResult {
            service: service.clone(),
            outcome,
            why: d.why.clone(),
            before: before.clone(),
            after,
            error,
        };
        if request.dry_run {
            let outcome = match (&d.plan, capacity::saved(&state)) {
                (Plan::Leave, _) => "skipped",
                (Plan::Reduce { to }, _)
                    if capacity::reduced(state.capacity, *to) == state.capacity =>
                {
                    "unchanged"
                }
                (Plan::Reduce { .. }, _) => "would-scale-down",
                (Plan::Restore, Ok(Some(_))) => "would-restore",
                (Plan::Restore, _) => "unchanged",
            };
            return result(outcome, None, None);
        }
        let change = match d.plan {
            Plan::Leave => return result("skipped", None, None),
            Plan::Reduce { to } => capacity::reduce_to(&self.fleet, &state, to).await,
            Plan::Restore => match capacity::restore(&self.fleet, &state).await {
                // A budget hold tagged between the re-read and the restore: put the hold back.
                Ok(Change::Changed { .. }) => self.hold_again(&state).await,
                other => other,
            },
        };
        match change {
            Ok(Change::Unchanged) => result("unchanged", None, None),
            Ok(Change::Changed { before, after }) => {
                let outcome = if d.plan == Plan::Restore {
                    "restored"
                } else {
                    "scaled-down"
                };
                telemetry::audit(&AuditRecord {
                    service: "after-hours-scaling",
                    action: outcome,
                    target: &service,
                    what: &format!("{service} {outcome}"),
                    why: &d.why,
                    before: &before.encode(),
                    after: &after.encode(),
                });
                result(outcome, Some(after.encode()), None)
            }
            Err(e) => {
                let text = report(&e);
                let hint = match &e {
                    CapacityError::UnreadableSavedTag { .. } => "",
                    CapacityError::Fleet(_) => " (the next run retries it)",
                };
                warn!(service = %service, error = %text, "service could not be reconciled{hint}");
                result("failed", None, Some(text))
            }
        }
    }

    async fn notify(&self, summary: &ScalingReport) {
        let subject = format!(
            "macro-ai-ops after-hours-scaling: {} changed, {} failed",
            summary.changed, summary.failed
        );
        let mut message = format!(
            "After-hours scaling ({}) for {}:\n",
            summary.mode, summary.at
        );
        for r in summary
            .services
            .iter()
            .filter(|r| r.outcome != "unchanged" && r.outcome != "skipped")
        {
            message.push_str(&format!(
                "- {}: {} ({}){}{}\n",
                r.service,
                r.outcome,
                r.why,
                match (&r.before, &r.after) {
                    (Some(b), Some(a)) => format!(": {b} -> {a}"),
                    _ => String::new(),
                },
                r.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
        }
        if let Err(e) = self.notifier.publish(&subject, &message).await {
            error!(error = %report(&e), "the summary could not be published");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::{Bounds, Capacity, ServiceId};
    use std::collections::BTreeMap;

    fn state(cluster: &str, tags: &[(&str, &str)]) -> ServiceState {
        ServiceState {
            id: ServiceId {
                cluster: cluster.into(),
                name: "api".into(),
                arn: "arn".into(),
            },
            capacity: Capacity {
                desired: 2,
                bounds: Some(Bounds { min: 1, max: 4 }),
            },
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn given_dev_off_hours_then_reduce_to_zero_and_in_hours_restore() {
        let schedules = Schedules::builtin("UTC").unwrap();
        let s = state(
            "macro-ai-dev-cluster",
            &[(SCHEDULE_TAG, "dev-office-hours")],
        );
        assert_eq!(
            decide(&s, &schedules, Mode::Reconcile, at("2026-11-24T19:00:00Z")).plan,
            Plan::Reduce { to: 0 }
        );
        assert_eq!(
            decide(&s, &schedules, Mode::Reconcile, at("2026-11-25T09:00:00Z")).plan,
            Plan::Restore
        );
        let st = state(
            "macro-ai-staging-cluster",
            &[(SCHEDULE_TAG, "staging-nightly")],
        );
        assert_eq!(
            decide(&st, &schedules, Mode::Reconcile, at("2026-11-24T23:00:00Z")).plan,
            Plan::Reduce { to: 1 }
        );
    }

    #[test]
    fn given_overrides_then_the_service_is_left_or_kept_up() {
        let schedules = Schedules::builtin("UTC").unwrap();
        let night = at("2026-11-24T19:00:00Z");
        for (cluster, tags, plan) in [
            ("macro-ai-dev-cluster", vec![], Plan::Leave),
            (
                "macro-ai-dev-cluster",
                vec![(SCHEDULE_TAG, "off")],
                Plan::Leave,
            ),
            (
                "macro-ai-dev-cluster",
                vec![(SCHEDULE_TAG, "nope")],
                Plan::Leave,
            ),
            (
                "macro-ai-prod-cluster",
                vec![(SCHEDULE_TAG, "dev-office-hours")],
                Plan::Leave,
            ),
            (
                "other",
                vec![
                    (SCHEDULE_TAG, "dev-office-hours"),
                    (ENVIRONMENT_TAG, "prod"),
                ],
                Plan::Leave,
            ),
            (
                "macro-ai-dev-cluster",
                vec![(SCHEDULE_TAG, "dev-office-hours"), (BUDGET_HOLD_TAG, "x")],
                Plan::Leave,
            ),
            (
                "macro-ai-dev-cluster",
                vec![
                    (SCHEDULE_TAG, "dev-office-hours"),
                    (KEEP_UP_UNTIL_TAG, "2026-11-24T22:00:00Z"),
                ],
                Plan::Restore,
            ),
            (
                "macro-ai-dev-cluster",
                vec![
                    (SCHEDULE_TAG, "dev-office-hours"),
                    (KEEP_UP_UNTIL_TAG, "2026-11-24T18:30:00Z"),
                ],
                Plan::Reduce { to: 0 },
            ),
            (
                "macro-ai-dev-cluster",
                vec![
                    (SCHEDULE_TAG, "dev-office-hours"),
                    (KEEP_UP_UNTIL_TAG, "late"),
                ],
                Plan::Reduce { to: 0 },
            ),
        ] {
            let s = state(cluster, &tags);
            assert_eq!(
                decide(&s, &schedules, Mode::Reconcile, night).plan,
                plan,
                "{cluster} {tags:?}"
            );
        }
        let prod = state(
            "macro-ai-prod-cluster",
            &[(SCHEDULE_TAG, "dev-office-hours")],
        );
        assert_eq!(
            decide(&prod, &schedules, Mode::ScaleDown, night).plan,
            Plan::Leave
        );
    }
}

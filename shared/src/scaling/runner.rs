//! The scaler: every scheduled service of the configured clusters reconciled with its office
//! hours, re-read right before each write, each change audited and the run summarised.

use super::ScalingConfig;
use super::decision::{Plan, decide, environment_of};
use super::event::{Mode, ScalingRequest};
use super::plan::{PlanReport, ServicePlan, plan_service};
use crate::capacity::{
    self, CapacityError, Change, SAVED_CAPACITY_TAG, STOPPED_AT_TAG, ServiceFleet, ServiceState,
};
use crate::error::report;
use crate::notify::{Notice, Notifier};
use crate::telemetry::{self, AuditRecord};
use futures_util::StreamExt;
use futures_util::stream;
use serde::Serialize;
use tracing::{error, info, warn};

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
        let (selected, unlisted) = self.selected(request).await;
        if let Some(name) = request
            .service
            .as_ref()
            .filter(|_| selected.is_empty() && unlisted.is_empty())
        {
            results.push(ServiceResult {
                service: name.clone(),
                outcome: "failed",
                why: format!(
                    "no service named `{name}` in {}{}",
                    self.config.clusters.join(", "),
                    request
                        .environment
                        .as_ref()
                        .map(|e| format!(" (environment {e})"))
                        .unwrap_or_default()
                ),
                before: None,
                after: None,
                error: Some("the service filter matched nothing: nothing was changed".into()),
            });
        }
        results.extend(unlisted.into_iter().map(|(cluster, e)| ServiceResult {
            service: cluster,
            outcome: "failed",
            why: "the cluster could not be listed".into(),
            before: None,
            after: None,
            error: Some(e),
        }));
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
                Mode::Plan { .. } => "plan",
            },
            dry_run: request.dry_run,
            changed,
            failed,
            services: results,
        };
        telemetry::emit(
            "after-hours-scaling",
            telemetry::Metric::ServiceFailures,
            failed as u64,
        );
        info!(changed, failed, services = report.services.len(), at = %report.at, "after-hours scaling done");
        if changed > 0 || failed > 0 {
            self.notify(&report).await;
        }
        report
    }

    /// The services of the configured clusters the request selects (its environment and
    /// service, if it names them), and the clusters that could not be listed, with why.
    async fn selected(
        &self,
        request: &ScalingRequest,
    ) -> (Vec<ServiceState>, Vec<(String, String)>) {
        let (mut services, mut unlisted) = (Vec::new(), Vec::new());
        for cluster in &self.config.clusters {
            match self.fleet.list(cluster).await {
                Ok(list) => services.extend(list),
                Err(e) => {
                    error!(cluster, error = %report(&e), "cluster could not be read");
                    unlisted.push((cluster.clone(), report(&e)));
                }
            }
        }
        services.retain(|s| {
            request
                .environment
                .as_ref()
                .is_none_or(|env| environment_of(s).as_deref() == Some(env.as_str()))
                && request
                    .service
                    .as_ref()
                    .is_none_or(|name| s.id.name == *name || s.id.arn == *name)
        });
        (services, unlisted)
    }

    /// `{"action": "plan"}`: each selected service's calendar; nothing is written.
    pub async fn plan(&self, request: &ScalingRequest) -> PlanReport {
        let (from, days) = match request.mode {
            Mode::Plan { from, days } => (from, days),
            _ => (None, 1),
        };
        let mut services = Vec::new();
        if self.config.production {
            services.push(ServicePlan::without_calendar(
                self.config.clusters.join(","),
                "the production stack: production is never scaled after hours".into(),
            ));
        } else {
            let (selected, unlisted) = self.selected(request).await;
            if let Some(name) = request
                .service
                .as_ref()
                .filter(|_| selected.is_empty() && unlisted.is_empty())
            {
                services.push(ServicePlan::without_calendar(
                    name.clone(),
                    format!(
                        "no service named `{name}` in {}",
                        self.config.clusters.join(", ")
                    ),
                ));
            }
            services.extend(unlisted.into_iter().map(|(cluster, e)| {
                ServicePlan::without_calendar(
                    cluster,
                    format!("the cluster could not be listed: {e}"),
                )
            }));
            services.extend(
                selected
                    .iter()
                    .map(|s| plan_service(s, &self.config.schedules, from, days, request.at)),
            );
        }
        services.sort_by(|a, b| a.service.cmp(&b.service));
        info!(services = services.len(), days, "after-hours plan listed");
        PlanReport {
            from: from.map_or_else(|| request.at.to_string(), |d| d.to_string()),
            days,
            services,
        }
    }

    /// Marks a stop-only service stopped at `at`, unless a newer mark is there already (a
    /// retried or late event never moves the mark back). Under a budget hold the mark is never
    /// before the hold's `since` (that clock is budget-response's, and the event may be late):
    /// the release then knows the schedule stopped it during the hold.
    async fn mark_stopped(
        &self,
        state: &ServiceState,
        at: jiff::Timestamp,
    ) -> Result<(), CapacityError> {
        let since = capacity::hold_since(state);
        // A `since` beyond how late an event can be is not budget-response's: not followed.
        let latest = at
            .checked_add(super::decision::MAX_EVENT_LATENESS)
            .unwrap_or(at);
        let mark = since
            .filter(|since| *since <= latest)
            .map_or(at, |since| at.max(since));
        let newer = super::decision::stop_mark(state, at).is_some_and(|existing| existing > mark);
        if !newer {
            self.fleet
                .tag(&state.id, STOPPED_AT_TAG, &mark.to_string())
                .await?;
        }
        Ok(())
    }

    /// After a restore: if a budget hold landed meanwhile, reduce to it again (the hold's
    /// `to=`), so the hold stands whatever the interleaving; and the day's capacity, which the
    /// restore just put back, is saved again if the restore's last write (removing the saved
    /// tag) came after the hold read it: the hold's release brings back exactly that.
    async fn hold_again(
        &self,
        state: &ServiceState,
        restored: capacity::Capacity,
    ) -> Result<Change, capacity::CapacityError> {
        let fresh = self.fleet.get(&state.id).await?;
        let Some(to) = super::decision::hold_to(&fresh) else {
            return Ok(Change::Changed {
                before: state.capacity,
                after: fresh.capacity,
            });
        };
        warn!(service = %state.id, to, "a budget hold landed during the restore: held again");
        let mut fresh = fresh;
        if capacity::saved(&fresh)?.is_none() {
            self.fleet
                .tag(&fresh.id, SAVED_CAPACITY_TAG, &restored.encode())
                .await?;
            fresh
                .tags
                .insert(SAVED_CAPACITY_TAG.to_string(), restored.encode());
        }
        capacity::reduce_to(&self.fleet, &fresh, to).await
    }

    async fn handle(&self, state: ServiceState, request: &ScalingRequest) -> ServiceResult {
        // About to write: decide again on the service as it is now, not as `list` saw it. A
        // budget hold that landed meanwhile (budget-response tags first) is then left alone.
        let first = decide(&state, &self.config.schedules, request.mode, request.at);
        let writes = matches!(first.plan, Plan::Reduce { .. } | Plan::Restore) || first.mark_stop;
        let state = if !request.dry_run && writes {
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
                (Plan::Refuse, _) => return result("invalid", None, Some(d.why.clone())),
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
            Plan::Leave if d.mark_stop => self
                .mark_stopped(&state, request.at)
                .await
                .map(|()| Change::Unchanged),
            Plan::Leave => return result("skipped", None, None),
            Plan::Refuse => {
                // Not a failure of the run (it would notify every 15 minutes): the service is
                // listed `invalid` with the reason, and the log says it each run.
                warn!(service = %service, why = %d.why, "service left alone: its tags cannot be read");
                return result("invalid", None, Some(d.why.clone()));
            }
            Plan::Reduce { to } => match capacity::reduce_to(&self.fleet, &state, to).await {
                // A stop-only service: the stop is marked after it is done (a crash before the
                // mark stops it again, harmlessly), so a person's start after it stands.
                Ok(change) if d.mark_stop => {
                    self.mark_stopped(&state, request.at).await.map(|()| change)
                }
                other => other,
            },
            Plan::Restore => match capacity::restore(&self.fleet, &state).await {
                // A budget hold tagged between the re-read and the restore: put the hold back.
                Ok(Change::Changed { after, .. }) => self.hold_again(&state, after).await,
                other => other,
            },
        };
        // Brought up by keep-up-until: the stop mark goes, so the keep-up's end is a new stop.
        let change = match change {
            Ok(change) if d.clear_mark => self
                .fleet
                .untag(&state.id, STOPPED_AT_TAG)
                .await
                .map(|()| change)
                .map_err(CapacityError::from),
            other => other,
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
        let subject = format!("{} changed, {} failed", summary.changed, summary.failed);
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
        self.notifier
            .announce(Notice::new("after-hours-scaling", subject, message))
            .await;
    }
}

#[cfg(test)]
mod tests {
    //! The scaler on in-memory fakes: no stack, milliseconds. The same nights against moto's ECS
    //! and Application Auto Scaling are in `tests/tests/after_hours_scaling.rs`.

    use super::*;
    use crate::capacity::SCHEDULE_TAG;
    use crate::fakes::{MemoryFleet, RecordingNotifier};
    use crate::schedule::Schedules;

    const DEV: &str = "macro-ai-dev-cluster";
    const PROD: &str = "macro-ai-prod-cluster";
    const EVENING: &str = include_str!("../../../events/after-hours-scaling/tuesday-evening.json");
    const MORNING: &str =
        include_str!("../../../events/after-hours-scaling/wednesday-morning.json");

    fn fixture() -> Scaler<MemoryFleet, RecordingNotifier> {
        let office = [(SCHEDULE_TAG, "dev-office-hours")];
        let fleet = MemoryFleet::new()
            .with_service(DEV, "macro-ai-dev-api-service", 2, Some((1, 4)), &office)
            .with_service(DEV, "macro-ai-dev-worker-service", 1, None, &[])
            .with_service(PROD, "macro-ai-prod-api-service", 4, Some((2, 10)), &office);
        let config = ScalingConfig {
            clusters: vec![DEV.into(), PROD.into()],
            schedules: Schedules::new("UTC", None).expect("the seed's schedules"),
            concurrency: 2,
            production: false,
        };
        Scaler::new(fleet, RecordingNotifier::default(), config)
    }

    async fn run(s: &Scaler<MemoryFleet, RecordingNotifier>, event: &str) -> ScalingReport {
        let event = serde_json::from_str(event).expect("sample");
        let request =
            ScalingRequest::from_value(&event, || jiff::Timestamp::UNIX_EPOCH).expect("request");
        s.run(&request).await
    }

    fn capacity(
        s: &Scaler<MemoryFleet, RecordingNotifier>,
        cluster: &str,
        name: &str,
    ) -> (i32, Option<(i32, i32)>) {
        let state = s.fleet.service(cluster, name).expect("service");
        (
            state.capacity.desired,
            state.capacity.bounds.map(|b| (b.min, b.max)),
        )
    }

    #[tokio::test]
    async fn given_an_evening_and_a_morning_then_dev_goes_off_and_comes_back_exactly() {
        let s = fixture();
        let evening = run(&s, EVENING).await;
        assert_eq!((evening.changed, evening.failed), (1, 0));
        assert_eq!(
            capacity(&s, DEV, "macro-ai-dev-api-service"),
            (0, Some((0, 0)))
        );
        // Untagged and production services are never touched, whatever their tags say.
        assert_eq!(capacity(&s, DEV, "macro-ai-dev-worker-service"), (1, None));
        assert_eq!(
            capacity(&s, PROD, "macro-ai-prod-api-service"),
            (4, Some((2, 10)))
        );
        // The same evening again changes nothing: reconcile, never toggle.
        assert_eq!(run(&s, EVENING).await.changed, 0);
        let morning = run(&s, MORNING).await;
        assert_eq!(morning.changed, 1);
        assert_eq!(
            capacity(&s, DEV, "macro-ai-dev-api-service"),
            (2, Some((1, 4)))
        );
        assert_eq!(
            s.notifier.sent().len(),
            2,
            "one summary per run that changed something"
        );
    }

    #[tokio::test]
    async fn given_a_failed_write_then_the_service_is_reported_failed_and_the_next_run_finishes() {
        let s = fixture();
        s.fleet.fail("UpdateService");
        let evening = run(&s, EVENING).await;
        assert_eq!(evening.failed, 1);
        s.fleet.heal("UpdateService");
        assert_eq!(run(&s, EVENING).await.failed, 0);
        assert_eq!(capacity(&s, DEV, "macro-ai-dev-api-service").0, 0);
        assert_eq!(run(&s, MORNING).await.changed, 1);
        assert_eq!(
            capacity(&s, DEV, "macro-ai-dev-api-service"),
            (2, Some((1, 4)))
        );
    }
}

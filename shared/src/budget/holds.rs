//! Holds and releases: every service of an environment held at a capacity (the hold tag first,
//! then the reduction) or released (restored exactly, or left stopped when its stop-only schedule
//! had stopped it), each service tried whatever happens to the others.

use super::notices;
use super::runner::{BudgetError, BudgetResponder};
use crate::capacity::{
    self, BUDGET_HOLD_TAG, Change, HOLD_STOPPED_BY_SCHEDULE, SAVED_CAPACITY_TAG, STOPPED_AT_TAG,
    ServiceFleet, held_stopped_by_schedule, hold_since,
};
use crate::environment;
use crate::error::report;
use crate::ledger::NotificationLedger;
use crate::notify::Notifier;
use crate::telemetry::{self, AuditRecord};
use jiff::Timestamp;
use tracing::warn;

impl<F: ServiceFleet, D: NotificationLedger, N: Notifier> BudgetResponder<F, D, N> {
    /// Holds every service of `env` at `to` tasks: the hold tag first (so after-hours scaling
    /// leaves the service alone from then on), then the capacity reduction, which saves what the
    /// service had unless after-hours scaling already did. Re-running converges.
    pub(super) async fn hold(
        &self,
        env: &str,
        to: i32,
        why: &str,
        now: Timestamp,
    ) -> Result<Vec<String>, BudgetError> {
        if environment::is_production(env) {
            return Err(BudgetError::NotHoldable(env.to_string()));
        }
        let services = self.fleet.list(&self.config.cluster_of(env)).await?;
        self.every_service("hold", env, services, async |state| {
            self.hold_one(state, to, why, now).await
        })
        .await
    }

    /// `act` on every service, whatever happens to the others: the lines of those done, or (some
    /// failed) the partial result announced and an error, so the retry redoes what failed.
    async fn every_service(
        &self,
        action: &'static str,
        env: &str,
        services: Vec<crate::capacity::ServiceState>,
        mut act: impl AsyncFnMut(&crate::capacity::ServiceState) -> Result<String, BudgetError>,
    ) -> Result<Vec<String>, BudgetError> {
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        for state in services {
            match act(&state).await {
                Ok(line) => done.push(line),
                Err(e) => {
                    warn!(service = %state.id, error = %report(&e), "could not {action} the service");
                    failed.push(format!("{}: {}", state.id, report(&e)));
                }
            }
        }
        self.partial(action, env, done, failed).await
    }

    /// One service held: the hold tag first, then the reduction. Converges when re-run.
    async fn hold_one(
        &self,
        state: &crate::capacity::ServiceState,
        to: i32,
        why: &str,
        now: Timestamp,
    ) -> Result<String, BudgetError> {
        // `stopped=schedule`: a stop-only service its schedule had already stopped (it saved
        // the capacity); the release then leaves it stopped, as it was before the hold.
        let stopped = |s: &crate::capacity::ServiceState| {
            s.tag(STOPPED_AT_TAG).is_some() && s.tag(SAVED_CAPACITY_TAG).is_some()
        };
        let value = |stopped: bool| {
            format!(
                "since={now} to={to}{}",
                if stopped {
                    format!(" {HOLD_STOPPED_BY_SCHEDULE}")
                } else {
                    String::new()
                }
            )
        };
        let tagged_now = state.tag(BUDGET_HOLD_TAG).is_none();
        if tagged_now {
            self.fleet
                .tag(&state.id, BUDGET_HOLD_TAG, &value(stopped(state)))
                .await?;
        }
        // Tagged: after-hours scaling leaves it alone from now on. Reduce from the service as it
        // is now, not as `list` saw it (after-hours may have restored it in between).
        let fresh = self.fleet.get(&state.id).await?;
        if tagged_now && stopped(&fresh) != stopped(state) {
            // The schedule stopped it, or a person started it, between the list and the tag.
            self.fleet
                .tag(&state.id, BUDGET_HOLD_TAG, &value(stopped(&fresh)))
                .await?;
        }
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
    pub(super) async fn partial(
        &self,
        action: &'static str,
        env: &str,
        done: Vec<String>,
        failed: Vec<String>,
    ) -> Result<Vec<String>, BudgetError> {
        if failed.is_empty() {
            return Ok(done);
        }
        self.notifier
            .announce(notices::incomplete(action, env, &done, &failed))
            .await;
        Err(BudgetError::Partial {
            action,
            env: env.to_string(),
            done: done.len(),
            failed,
        })
    }

    /// Restores every held service of `env` (held before `before`, when given) and lifts the hold.
    pub(super) async fn release(
        &self,
        env: &str,
        before: Option<Timestamp>,
    ) -> Result<Vec<String>, BudgetError> {
        let mut held = self.fleet.list(&self.config.cluster_of(env)).await?;
        held.retain(|state| {
            state.tag(BUDGET_HOLD_TAG).is_some()
                && !matches!((before, hold_since(state)), (Some(cutoff), Some(since)) if since >= cutoff)
        });
        self.every_service("release", env, held, async |state| {
            self.release_one(state).await
        })
        .await
    }

    /// One held service restored and its hold lifted.
    async fn release_one(
        &self,
        state: &crate::capacity::ServiceState,
    ) -> Result<String, BudgetError> {
        // Stopped by its stop-only schedule before the hold (the flag), or during it (after-hours
        // marks a held stop-only service when its off hours begin): left stopped.
        let flagged = held_stopped_by_schedule(state);
        let since = hold_since(state);
        let mark = state
            .tag(STOPPED_AT_TAG)
            .and_then(|m| m.parse::<Timestamp>().ok());
        let marked_during = matches!((mark, since), (Some(m), Some(s)) if m >= s);
        if mark.is_some() && (flagged || marked_during) {
            self.fleet.untag(&state.id, BUDGET_HOLD_TAG).await?;
            return Ok(format!(
                "{}: stopped by its stop-only schedule before the hold, left stopped (its capacity \
                 stays saved; a scale-up event brings it back)",
                state.id
            ));
        }
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
}

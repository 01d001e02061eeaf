//! After-hours scaling: for an instant, decide for every scheduled service whether it should be
//! in hours (saved capacity restored) or off hours (held at the schedule's off capacity), and
//! move it there only if it is not. Reconcile, never toggle: running twice, late, or every
//! 15 minutes gives the same result.

#[cfg(test)]
mod calendars;
mod decision;
mod event;
mod plan;
mod runner;
#[cfg(test)]
mod scenarios;

pub use decision::{Decision, Plan, decide, environment_of, is_prod, stop_only};
pub use plan::{PlanReport, PlannedChange, ServicePlan};
pub use runner::{Scaler, ScalingReport, ServiceResult};

use crate::schedule::Schedules;
pub use event::{InvalidEvent, MAX_PLAN_DAYS, Mode, ScalingRequest};

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

//! After-hours scaling: for an instant, decide for every scheduled service whether it should be
//! in hours (saved capacity restored) or off hours (held at the schedule's off capacity), and
//! move it there only if it is not. Reconcile, never toggle: running twice, late, or every
//! 15 minutes gives the same result.

#[cfg(test)]
mod calendars;
mod config;
mod decision;
mod event;
mod plan;
mod runner;
#[cfg(test)]
mod scenarios;

pub use config::ScalingConfig;
pub use decision::{Decision, Plan, decide, environment_of, is_prod, stop_only};
pub use plan::{PlanReport, PlannedChange, ServicePlan};
pub use runner::{Scaler, ScalingReport, ServiceResult};

pub use event::{InvalidEvent, MAX_PLAN_DAYS, Mode, ScalingRequest};

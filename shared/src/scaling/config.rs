//! After-hours scaling's settings.

use crate::schedule::Schedules;

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

//! The tags after-hours scaling, budget response and a person write on an ECS service.

/// The tag that holds what a reduced service had.
pub const SAVED_CAPACITY_TAG: &str = "macro-ai:saved-capacity";
/// The tag naming a service's office-hours schedule (`off` or absent: never scheduled).
pub const SCHEDULE_TAG: &str = "macro-ai:schedule";
/// `<RFC 3339 time>`: keep the service up until then (someone working late).
pub const KEEP_UP_UNTIL_TAG: &str = "macro-ai:keep-up-until";
/// Set by budget-response while a budget hold keeps a service down.
pub const BUDGET_HOLD_TAG: &str = "macro-ai:budget-hold";
/// `stop-only` (down at the start of off hours, never brought up by the schedule) or
/// `start-stop` (the default unless the schedule says `startsAutomatically: false`).
pub const SCHEDULE_MODE_TAG: &str = "macro-ai:schedule-mode";
/// `<RFC 3339 time>`: when after-hours scaling last stopped a stop-only service, so a person's
/// start after it is not fought until the next off-hours stretch.
pub const STOPPED_AT_TAG: &str = "macro-ai:stopped-at";
/// The environment of a service when its cluster name does not say it.
pub const ENVIRONMENT_TAG: &str = "macro-ai:environment";

//! The tags after-hours scaling, budget response and a person write on an ECS service, and the
//! one reader of the budget hold's.

use super::fleet::ServiceState;

/// The tag that holds what a reduced service had.
pub const SAVED_CAPACITY_TAG: &str = "macro-ai:saved-capacity";
/// The tag naming a service's office-hours schedule (`off` or absent: never scheduled).
pub const SCHEDULE_TAG: &str = "macro-ai:schedule";
/// `<RFC 3339 time>`: keep the service up until then (someone working late).
pub const KEEP_UP_UNTIL_TAG: &str = "macro-ai:keep-up-until";
/// Set by budget-response while a budget hold keeps a service down:
/// `since=<RFC 3339> to=<tasks>`, and [`HOLD_STOPPED_BY_SCHEDULE`] when its stop-only schedule
/// had already stopped it.
pub const BUDGET_HOLD_TAG: &str = "macro-ai:budget-hold";
/// The hold tag's flag: the service's stop-only schedule had stopped it before the hold.
pub const HOLD_STOPPED_BY_SCHEDULE: &str = "stopped=schedule";
/// `stop-only` (down at the start of off hours, never brought up by the schedule) or
/// `start-stop` (the default unless the schedule says `startsAutomatically: false`).
pub const SCHEDULE_MODE_TAG: &str = "macro-ai:schedule-mode";
/// `<RFC 3339 time>`: when after-hours scaling last stopped a stop-only service, so a person's
/// start after it is not fought until the next off-hours stretch.
pub const STOPPED_AT_TAG: &str = "macro-ai:stopped-at";
/// The environment of a service when its cluster name does not say it.
pub const ENVIRONMENT_TAG: &str = "macro-ai:environment";

/// The budget hold's field `key` (`since`, `to`), when the service is held and the tag has it.
pub fn hold_field<'a>(state: &'a ServiceState, key: &str) -> Option<&'a str> {
    state
        .tag(BUDGET_HOLD_TAG)?
        .split_whitespace()
        .find_map(|part| {
            part.split_once('=')
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| v)
        })
}

/// When the budget hold began, when it reads as a time.
pub fn hold_since(state: &ServiceState) -> Option<jiff::Timestamp> {
    hold_field(state, "since").and_then(|t| t.parse().ok())
}

/// True when the hold says the service's stop-only schedule had stopped it before the hold.
pub fn held_stopped_by_schedule(state: &ServiceState) -> bool {
    state.tag(BUDGET_HOLD_TAG).is_some_and(|hold| {
        hold.split_whitespace()
            .any(|p| p == HOLD_STOPPED_BY_SCHEDULE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::{Capacity, ServiceId};

    fn held(tag: Option<&str>) -> ServiceState {
        ServiceState {
            id: ServiceId {
                cluster: "c".into(),
                name: "s".into(),
                arn: "a".into(),
            },
            capacity: Capacity {
                desired: 0,
                bounds: None,
            },
            tags: tag
                .map(|t| (BUDGET_HOLD_TAG.to_string(), t.to_string()))
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn given_hold_tags_then_each_field_and_the_flag_are_read_by_name() {
        let s = held(Some("since=2026-12-01T12:00:00Z to=2 stopped=schedule"));
        assert_eq!(hold_field(&s, "to"), Some("2"));
        assert_eq!(hold_since(&s), "2026-12-01T12:00:00Z".parse().ok());
        assert!(held_stopped_by_schedule(&s));
        assert_eq!(hold_field(&s, "stopped"), Some("schedule"));
        assert_eq!(
            hold_field(&s, "t"),
            None,
            "a field is matched whole, not by prefix"
        );
        let plain = held(Some("since=yesterday to=0"));
        assert_eq!(
            (hold_since(&plain), held_stopped_by_schedule(&plain)),
            (None, false)
        );
        assert_eq!(hold_field(&held(None), "to"), None);
    }
}

//! The pure after-hours decision for one service at one instant: reduce it to its schedule's off
//! capacity, restore what was saved, or leave it (and why), never production.

use super::event::Mode;
use crate::capacity::{
    BUDGET_HOLD_TAG, ENVIRONMENT_TAG, KEEP_UP_UNTIL_TAG, SCHEDULE_MODE_TAG, SCHEDULE_TAG,
    STOPPED_AT_TAG, ServiceState, hold_field, reduced,
};
use crate::environment;
use crate::schedule::{Schedule, Schedules};
use jiff::Timestamp;

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
    environment::is_production_service(&state.id.cluster, state.tag(ENVIRONMENT_TAG))
}

/// The task count a budget hold keeps the service at, when it is held: the hold tag's `to=`,
/// 0 when the tag does not say (a hold never lets a service run more than it could).
pub fn hold_to(state: &ServiceState) -> Option<i32> {
    state.tag(BUDGET_HOLD_TAG).map(|_| {
        hold_field(state, "to")
            .and_then(|n| n.parse::<i32>().ok())
            .map_or(0, |n| n.max(0))
    })
}

/// Whether a service's schedule brings it back up, from its mode tag or else its schedule.
/// An unknown mode is an error naming it (the service is then left alone and reported failed).
pub fn stop_only(state: &ServiceState, schedule: &Schedule) -> Result<bool, String> {
    match state.tag(SCHEDULE_MODE_TAG).map(str::trim) {
        None => Ok(!schedule.starts_automatically),
        Some("stop-only") => Ok(true),
        Some("start-stop") => Ok(false),
        Some(other) => Err(format!(
            "{SCHEDULE_MODE_TAG}=`{other}` is not a mode (stop-only or start-stop); left alone"
        )),
    }
}

/// What to do with one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Reduce {
        to: i32,
    },
    Restore,
    Leave,
    /// Left alone because its tags cannot be read: reported as failed, so someone fixes them.
    Refuse,
}

/// A plan and the reason for it, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub plan: Plan,
    pub why: String,
    /// A stop-only service being stopped (or, under a budget hold, due to be): after the
    /// plan, tag when ([`STOPPED_AT_TAG`]), so a person's start after it stands until the next
    /// off stretch, and a hold's release knows the schedule stopped it.
    pub mark_stop: bool,
    /// A stop-only service brought up by `keep-up-until`: after the restore, remove its stop
    /// mark, so the keep-up's end (or its removal) is a new stop.
    pub clear_mark: bool,
}

fn decision(plan: Plan, why: impl Into<String>) -> Decision {
    Decision {
        plan,
        why: why.into(),
        mark_stop: false,
        clear_mark: false,
    }
}

/// `keep-up-until`, when it is set to a time after `at`.
fn kept_until(state: &ServiceState, at: Timestamp) -> Option<Timestamp> {
    state
        .tag(KEEP_UP_UNTIL_TAG)
        .and_then(|k| k.parse::<Timestamp>().ok())
        .filter(|until| at < *until)
}

/// How late an event can arrive (EventBridge retries a target for up to 24 hours): a stop mark
/// further ahead of an event's time than this was not written by a run of ours, and is ignored
/// (a hand-written `stopped-at=2099-…` cannot silence the schedule).
pub const MAX_EVENT_LATENESS: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// The stop mark, when it reads as a time no further ahead of `at` than an event can be late.
pub fn stop_mark(state: &ServiceState, at: Timestamp) -> Option<Timestamp> {
    state
        .tag(STOPPED_AT_TAG)
        .and_then(|m| m.parse::<Timestamp>().ok())
        .filter(|mark| {
            at.checked_add(MAX_EVENT_LATENESS)
                .is_ok_and(|latest| *mark <= latest)
        })
}

/// A stop-only service whose stop mark is later than `at`: a newer run already decided it (the
/// event is a retry or arrived late), so this one changes nothing.
fn superseded(state: &ServiceState, at: Timestamp) -> bool {
    stop_mark(state, at).is_some_and(|mark| mark > at)
}

/// For a stop-only service in off hours: true when it was already stopped in this off-hours
/// stretch (its stop mark is after the last on-hours instant and after any `keep-up-until`
/// that has run out since), so whatever runs now was started by a person and stays.
fn stopped_this_stretch(state: &ServiceState, schedule: &Schedule, at: Timestamp) -> bool {
    let Some(mark) = stop_mark(state, at).filter(|mark| *mark <= at) else {
        return false;
    };
    let kept_between = state
        .tag(KEEP_UP_UNTIL_TAG)
        .and_then(|k| k.parse::<Timestamp>().ok())
        .is_some_and(|until| mark < until && until <= at);
    !kept_between && !schedule.on_between(mark, at)
}

/// A held stop-only service whose schedule would stop it now (off hours, no keep-up, not yet
/// stopped in this stretch): the hold keeps it down, and the mark records that the schedule
/// stopped it, so the hold's release leaves it stopped.
fn held_stop_due(
    state: &ServiceState,
    schedules: &Schedules,
    name: &str,
    mode: Mode,
    at: Timestamp,
) -> bool {
    let Some(schedule) = schedules.get(name) else {
        return false;
    };
    matches!(mode, Mode::Reconcile)
        && stop_only(state, schedule) == Ok(true)
        && !superseded(state, at)
        && !schedule.in_hours(at)
        && kept_until(state, at).is_none()
        && !stopped_this_stretch(state, schedule, at)
}

/// The pure decision for one service at `at`.
pub fn decide(state: &ServiceState, schedules: &Schedules, mode: Mode, at: Timestamp) -> Decision {
    let name = match state.tag(SCHEDULE_TAG) {
        None => return decision(Plan::Leave, format!("no {SCHEDULE_TAG} tag")),
        Some("off") => return decision(Plan::Leave, format!("{SCHEDULE_TAG}=off")),
        Some(name) => name,
    };
    if let Some(to) = hold_to(state) {
        // The hold stands: never restored here, and brought back down if it is above the hold
        // (a restore that wrote the day capacity just as the hold landed, then stopped before
        // it could reduce again). `reduce_to` saves the capacity first if nothing is saved.
        let mark_stop = !is_prod(state) && held_stop_due(state, schedules, name, mode, at);
        if !is_prod(state) && reduced(state.capacity, to) != state.capacity {
            return Decision {
                mark_stop,
                ..decision(
                    Plan::Reduce { to },
                    format!("held by budget-response at {to} tasks, and above it: reduced again"),
                )
            };
        }
        return Decision {
            mark_stop,
            ..decision(
                Plan::Leave,
                if mark_stop {
                    "held by budget-response until released; stop-only and off hours: marked \
                     stopped, so the release leaves it stopped"
                } else {
                    "held by budget-response until released"
                },
            )
        };
    }
    let Some(schedule) = schedules.get(name) else {
        return decision(Plan::Leave, format!("unknown schedule `{name}`"));
    };
    let stop_only = match stop_only(state, schedule) {
        Ok(stop_only) => stop_only,
        Err(why) => return decision(Plan::Refuse, why),
    };
    let scheduled = matches!(mode, Mode::Reconcile | Mode::Plan { .. });
    if stop_only && scheduled && superseded(state, at) {
        return decision(
            Plan::Leave,
            format!(
                "stop-only, and a newer run already stopped it (at {}): this event is late",
                state.tag(STOPPED_AT_TAG).unwrap_or_default()
            ),
        );
    }
    // A mark left from when the service was stop-only: it goes with this run's change, so a
    // budget release never reads it as a schedule's stop.
    let stale_mark = !stop_only && state.tag(STOPPED_AT_TAG).is_some();
    let (mut up, mut why) = match mode {
        Mode::ScaleUp => (true, "manual scale-up".to_string()),
        Mode::ScaleDown => (false, "manual scale-down".to_string()),
        Mode::Reconcile | Mode::Plan { .. } if schedule.in_hours(at) => {
            (true, format!("in hours of {name}"))
        }
        Mode::Reconcile | Mode::Plan { .. } => {
            let local = schedule.time_zone.to_datetime(at).date();
            if schedule.is_holiday(local) {
                (false, format!("a holiday ({local}) in {name}"))
            } else {
                (false, format!("off hours of {name}"))
            }
        }
    };
    // `keep-up-until` brings a service up (or keeps it up) whatever the hours: for a stop-only
    // service in on hours too, where it is the way a person starts it.
    let kept = kept_until(state, at);
    if let Some(until) = kept {
        if !up || stop_only {
            up = true;
            why = format!("kept up until {until} by {KEEP_UP_UNTIL_TAG}");
        }
    } else if state
        .tag(KEEP_UP_UNTIL_TAG)
        .is_some_and(|k| k.parse::<Timestamp>().is_err())
    {
        why.push_str(&format!(
            " ({KEEP_UP_UNTIL_TAG} is not an RFC 3339 time; ignored)"
        ));
    }
    if up {
        if stop_only && scheduled && kept.is_none() {
            return decision(
                Plan::Leave,
                format!(
                    "{why}, but stop-only: never started by the schedule (a scale-up event or \
                     {KEEP_UP_UNTIL_TAG} brings it back)"
                ),
            );
        }
        return Decision {
            clear_mark: stale_mark
                || (stop_only && kept.is_some() && state.tag(STOPPED_AT_TAG).is_some()),
            ..decision(Plan::Restore, why)
        };
    }
    if is_prod(state) {
        return decision(Plan::Leave, "production is never scaled down");
    }
    if stop_only && scheduled && stopped_this_stretch(state, schedule, at) {
        return decision(
            Plan::Leave,
            format!(
                "{why}, stop-only: already stopped in this off-hours stretch (at {}); what runs \
                 now was started by a person and stays until the next stop",
                state.tag(STOPPED_AT_TAG).unwrap_or_default()
            ),
        );
    }
    Decision {
        plan: Plan::Reduce {
            to: schedule.off_capacity,
        },
        why,
        mark_stop: stop_only,
        clear_mark: stale_mark,
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
                // Held, running above the hold (2 tasks, max 4): brought down to it.
                Plan::Reduce { to: 0 },
            ),
            (
                "macro-ai-dev-cluster",
                vec![
                    (SCHEDULE_TAG, "dev-office-hours"),
                    (BUDGET_HOLD_TAG, "since=2026-11-24T10:00:00Z to=2"),
                ],
                Plan::Reduce { to: 2 },
            ),
            (
                "macro-ai-dev-cluster",
                vec![
                    (SCHEDULE_TAG, "dev-office-hours"),
                    (BUDGET_HOLD_TAG, "since=2026-11-24T10:00:00Z to=4"),
                ],
                // Fewer tasks than the hold, but a max above what runs: the hold itself brings
                // max down to the tasks running, so autoscaling cannot raise them.
                Plan::Reduce { to: 4 },
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

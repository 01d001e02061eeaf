//! The dry run that shows the calendar: for each service, when its schedule takes it down and
//! brings it up over the coming days, holidays, stop-only mode and `keep-up-until` included, so an
//! engineer can check a holiday list before it bites. Pure: the services as listed, and a span.

use super::decision::{hold_to, is_prod, stop_only};
use crate::capacity::{KEEP_UP_UNTIL_TAG, SCHEDULE_TAG, ServiceState};
use crate::schedule::{Schedule, Schedules};
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;

/// What `{"action": "plan"}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    /// The first day (in each schedule's zone), or the request's time when no `from` was given.
    pub from: String,
    pub days: u16,
    pub services: Vec<ServicePlan>,
}

/// One service's calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlan {
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// `start-stop`, `stop-only`, or `not scheduled`.
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub off_capacity: Option<i32>,
    /// Up or down by the schedule at the start of the span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_start: Option<&'static str>,
    /// The holidays that fall in the span.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<String>,
    pub changes: Vec<PlannedChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChange {
    /// UTC, RFC 3339.
    pub at: String,
    /// The schedule's local time, with its zone's abbreviation (`Thu 2026-12-24 18:00 GMT`).
    pub local: String,
    /// `down` or `up`.
    pub action: &'static str,
    pub why: String,
}

impl ServicePlan {
    /// A line with no calendar: a service (or cluster, or filter) and why it has none.
    pub fn without_calendar(service: String, note: String) -> Self {
        Self {
            service,
            schedule: None,
            time_zone: None,
            mode: "not scheduled",
            off_capacity: None,
            at_start: None,
            holidays: Vec::new(),
            changes: Vec::new(),
            note: Some(note),
        }
    }
}

fn unscheduled(state: &ServiceState, note: String) -> ServicePlan {
    ServicePlan::without_calendar(state.id.to_string(), note)
}

/// The span in `schedule`'s zone: from local midnight of `from` (or `now`) for `days` days.
pub fn span(
    schedule: &Schedule,
    from: Option<Date>,
    days: u16,
    now: Timestamp,
) -> (Timestamp, Timestamp) {
    let tz = &schedule.time_zone;
    let start = match from {
        Some(date) => date
            .to_zoned_datetime(tz.clone())
            .map(|z| z.timestamp())
            .unwrap_or(now),
        None => now,
    };
    let end = start
        .to_zoned_datetime(tz.clone())
        .checked_add(i64::from(days).days())
        .map(|z| z.timestamp())
        .unwrap_or(start);
    (start, end)
}

/// One service's calendar over `days` days from `from`.
pub fn plan_service(
    state: &ServiceState,
    schedules: &Schedules,
    from: Option<Date>,
    days: u16,
    now: Timestamp,
) -> ServicePlan {
    let name = match state.tag(SCHEDULE_TAG) {
        None => return unscheduled(state, format!("no {SCHEDULE_TAG} tag: never scaled")),
        Some("off") => return unscheduled(state, format!("{SCHEDULE_TAG}=off: never scaled")),
        Some(name) => name,
    };
    if is_prod(state) {
        return unscheduled(state, "production: never scaled down".into());
    }
    let Some(schedule) = schedules.get(name) else {
        return unscheduled(state, format!("unknown schedule `{name}`: left alone"));
    };
    let stop_only = match stop_only(state, schedule) {
        Ok(s) => s,
        Err(why) => return unscheduled(state, why),
    };
    let keep_until = state
        .tag(KEEP_UP_UNTIL_TAG)
        .and_then(|k| k.parse::<Timestamp>().ok());
    let up = |t: Timestamp| schedule.in_hours(t) || keep_until.is_some_and(|k| t < k);
    let (start, end) = span(schedule, from, days, now);
    let tz = &schedule.time_zone;
    let local = |t: Timestamp| {
        t.to_zoned_datetime(tz.clone())
            .strftime("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    };
    // Changes in [start, end): a change at the first midnight is listed, one at the last is not.
    let second = jiff::SignedDuration::from_secs(1);
    let before = |t: Timestamp| t.checked_sub(second).unwrap_or(t);
    // A stop-only service lists its stops only: the schedule's ups are not moves it makes (a
    // keep-up only ever ends within the span; a running one shows in `atStart`).
    let extra: Vec<Timestamp> = keep_until.into_iter().collect();
    let changes = schedule
        .transitions(before(start), before(end), &extra, up)
        .into_iter()
        .filter(|c| !(stop_only && c.up))
        .map(|c| {
            let date = tz.to_datetime(c.at).date();
            let why = match (c.up, keep_until) {
                (true, _) => format!("on hours of {name}"),
                (false, Some(k)) if k == c.at && !schedule.in_hours(c.at) => {
                    format!("{KEEP_UP_UNTIL_TAG} runs out")
                }
                (false, _) if schedule.is_holiday(date) && schedule.in_windows_at(c.at) => {
                    format!("holiday {date}")
                }
                (false, _) => format!("off hours of {name}"),
            };
            PlannedChange {
                at: c.at.to_string(),
                local: local(c.at),
                action: if c.up { "up" } else { "down" },
                why,
            }
        })
        .collect();
    let (first, last) = (
        tz.to_datetime(start).date(),
        tz.to_datetime(before(end)).date(),
    );
    let holidays = schedule
        .holidays()
        .iter()
        .filter(|h| h.first <= last && first <= h.last)
        .map(|h| {
            if h.first == h.last {
                h.first.to_string()
            } else {
                format!("{}..{}", h.first, h.last)
            }
        })
        .collect();
    let mut notes = Vec::new();
    if stop_only {
        notes.push(format!(
            "stop-only: never brought up by the schedule; a scale-up event or {KEEP_UP_UNTIL_TAG} \
             brings it back, and the next off-hours start stops it again"
        ));
    }
    if let Some(to) = hold_to(state) {
        notes.push(format!(
            "held by budget-response at {to} tasks until released; the calendar applies after"
        ));
    }
    ServicePlan {
        service: state.id.to_string(),
        schedule: Some(name.to_string()),
        time_zone: Some(schedule.time_zone_name().to_string()),
        mode: if stop_only { "stop-only" } else { "start-stop" },
        off_capacity: Some(schedule.off_capacity),
        at_start: Some(match (stop_only, keep_until.is_some_and(|k| start < k)) {
            (true, true) => "up",
            (true, false) => "down",
            (false, _) if up(start) => "up",
            (false, _) => "down",
        }),
        holidays,
        changes,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::{Bounds, Capacity, SCHEDULE_MODE_TAG, ServiceId};
    use jiff::civil::date;

    fn service(tags: &[(&str, &str)]) -> ServiceState {
        ServiceState {
            id: ServiceId {
                cluster: "macro-ai-dev-cluster".into(),
                name: "macro-ai-dev-api-service".into(),
                arn: "arn".into(),
            },
            capacity: Capacity {
                desired: 2,
                bounds: Some(Bounds { min: 1, max: 4 }),
            },
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn london() -> Schedules {
        Schedules::new("Europe/London", None)
            .and_then(|s| s.with_holidays(Some("2026-12-24..2026-12-26,2027-01-01")))
            .expect("schedules")
    }

    fn moves(plan: &ServicePlan) -> Vec<(String, &'static str)> {
        plan.changes
            .iter()
            .map(|c| (c.local.clone(), c.action))
            .collect()
    }

    #[test]
    fn given_christmas_week_in_london_then_dev_s_plan_skips_the_holidays() {
        let plan = plan_service(
            &service(&[(SCHEDULE_TAG, "dev-office-hours")]),
            &london(),
            Some(date(2026, 12, 21)),
            14,
            Timestamp::UNIX_EPOCH,
        );
        let got = moves(&plan);
        let expect: Vec<(String, &str)> = [
            ("Mon 2026-12-21 08:00 GMT", "up"),
            ("Mon 2026-12-21 18:00 GMT", "down"),
            ("Tue 2026-12-22 08:00 GMT", "up"),
            ("Tue 2026-12-22 18:00 GMT", "down"),
            ("Wed 2026-12-23 08:00 GMT", "up"),
            ("Wed 2026-12-23 18:00 GMT", "down"),
            // 24th (Thu), 25th, 26th: holidays; 27th Sunday.
            ("Mon 2026-12-28 08:00 GMT", "up"),
            ("Mon 2026-12-28 18:00 GMT", "down"),
            ("Tue 2026-12-29 08:00 GMT", "up"),
            ("Tue 2026-12-29 18:00 GMT", "down"),
            ("Wed 2026-12-30 08:00 GMT", "up"),
            ("Wed 2026-12-30 18:00 GMT", "down"),
            ("Thu 2026-12-31 08:00 GMT", "up"),
            ("Thu 2026-12-31 18:00 GMT", "down"),
            // 1 January: a holiday; then the weekend, and the span ends on Sunday 3 January.
        ]
        .into_iter()
        .map(|(l, a)| (l.to_string(), a))
        .collect();
        assert_eq!(got, expect);
        assert_eq!(plan.at_start, Some("down"));
        assert_eq!(plan.holidays, vec!["2026-12-24..2026-12-26", "2027-01-01"]);
        assert_eq!(plan.changes[0].at, "2026-12-21T08:00:00Z");
    }

    #[test]
    fn given_holidays_on_staging_s_on_days_then_it_stays_down_and_the_down_names_the_holiday() {
        // staging-nightly is on all weekend; with 24–26 December off, Wednesday's 22:00 stop
        // lasts until Sunday.
        let plan = plan_service(
            &service(&[(SCHEDULE_TAG, "staging-nightly")]),
            &london(),
            Some(date(2026, 12, 23)),
            5,
            Timestamp::UNIX_EPOCH,
        );
        let got: Vec<(String, &str, String)> = plan
            .changes
            .iter()
            .map(|c| (c.local.clone(), c.action, c.why.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "Wed 2026-12-23 06:00 GMT".into(),
                    "up",
                    "on hours of staging-nightly".into()
                ),
                (
                    "Wed 2026-12-23 22:00 GMT".into(),
                    "down",
                    "off hours of staging-nightly".into()
                ),
                (
                    "Sun 2026-12-27 00:00 GMT".into(),
                    "up",
                    "on hours of staging-nightly".into()
                ),
            ]
        );
        // A holiday on Sunday 27 December: staging, on all weekend, goes to its off capacity at
        // midnight, and the down names the holiday.
        let plan = plan_service(
            &service(&[(SCHEDULE_TAG, "staging-nightly")]),
            &Schedules::new("Europe/London", None)
                .and_then(|s| s.with_holidays(Some("2026-12-27")))
                .unwrap(),
            Some(date(2026, 12, 26)),
            2,
            Timestamp::UNIX_EPOCH,
        );
        let got: Vec<(&str, &str, &str)> = plan
            .changes
            .iter()
            .map(|c| (c.local.as_str(), c.action, c.why.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                // The span starts at a change: Friday 22:00–24:00 is off, Saturday on.
                (
                    "Sat 2026-12-26 00:00 GMT",
                    "up",
                    "on hours of staging-nightly"
                ),
                ("Sun 2026-12-27 00:00 GMT", "down", "holiday 2026-12-27"),
            ]
        );
    }

    #[test]
    fn given_stop_only_then_the_plan_lists_only_the_stops() {
        let plan = plan_service(
            &service(&[
                (SCHEDULE_TAG, "dev-office-hours"),
                (SCHEDULE_MODE_TAG, "stop-only"),
            ]),
            &london(),
            Some(date(2026, 12, 21)),
            3,
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(plan.mode, "stop-only");
        assert!(plan.changes.iter().all(|c| c.action == "down"));
        assert_eq!(plan.changes.len(), 3);
        assert!(
            plan.note
                .as_deref()
                .unwrap_or_default()
                .contains("stop-only")
        );
    }

    #[test]
    fn given_services_that_are_not_scheduled_then_the_plan_says_why() {
        for (tags, expect) in [
            (vec![], "no macro-ai:schedule tag"),
            (vec![(SCHEDULE_TAG, "off")], "=off"),
            (vec![(SCHEDULE_TAG, "nope")], "unknown schedule"),
            (
                vec![
                    (SCHEDULE_TAG, "dev-office-hours"),
                    (SCHEDULE_MODE_TAG, "sometimes"),
                ],
                "is not a mode",
            ),
        ] {
            let plan = plan_service(&service(&tags), &london(), None, 1, Timestamp::UNIX_EPOCH);
            assert!(plan.changes.is_empty());
            assert!(
                plan.note.as_deref().unwrap_or_default().contains(expect),
                "{tags:?}"
            );
        }
    }
}

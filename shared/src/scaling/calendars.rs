//! Weeks on the calendar, run as the schedule runs them: a reconcile every 15 minutes on the
//! in-memory fleet, recording the local time of every change. Holidays in `Europe/London`
//! (Christmas, and Easter 2027 across the change to BST), and stop-only services through two
//! evenings with a person's start in between.

use futures_util::FutureExt as _;
use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::capacity::{
    KEEP_UP_UNTIL_TAG, SAVED_CAPACITY_TAG, SCHEDULE_MODE_TAG, SCHEDULE_TAG, STOPPED_AT_TAG,
    ServiceFleet,
};
use crate::fakes::{MemoryFleet, RecordingNotifier};
use crate::schedule::Schedules;

const DEV: &str = "macro-ai-dev-cluster";
const API: &str = "macro-ai-dev-api-service";
const SANDBOX: &str = "macro-ai-dev-sandbox-service";

fn scaler<'a>(
    fleet: &'a MemoryFleet,
    schedules: &str,
    holidays: &str,
) -> Scaler<&'a MemoryFleet, RecordingNotifier> {
    Scaler::new(
        fleet,
        RecordingNotifier::default(),
        ScalingConfig {
            clusters: vec![DEV.into()],
            schedules: Schedules::new("Europe/London", Some(schedules))
                .and_then(|s| s.with_holidays(Some(holidays)))
                .expect("schedules"),
            concurrency: 1,
            production: false,
        },
    )
}

fn at(s: &str) -> Timestamp {
    s.parse().expect("time")
}

fn run(
    scaler: &Scaler<&MemoryFleet, RecordingNotifier>,
    value: serde_json::Value,
) -> ScalingReport {
    let request =
        ScalingRequest::from_value(&value, || at("2030-01-01T00:00:00Z")).expect("request");
    scaler
        .run(&request)
        .now_or_never()
        .expect("the fakes answer at once")
}

fn reconcile(scaler: &Scaler<&MemoryFleet, RecordingNotifier>, t: Timestamp) -> ScalingReport {
    run(
        scaler,
        serde_json::json!({"action": "reconcile", "at": t.to_string()}),
    )
}

fn capacity(fleet: &MemoryFleet, name: &str) -> (i32, Option<(i32, i32)>) {
    let s = fleet.service(DEV, name).expect("service");
    (
        s.capacity.desired,
        s.capacity.bounds.map(|b| (b.min, b.max)),
    )
}

fn london(t: Timestamp) -> String {
    t.to_zoned_datetime(jiff::tz::TimeZone::get("Europe/London").expect("zone"))
        .strftime("%a %m-%d %H:%M %Z")
        .to_string()
}

/// Reconciles every 15 minutes in `[from, until)`, returning each change of `name`'s desired
/// count as (local time, desired).
fn every_quarter_hour(
    scaler: &Scaler<&MemoryFleet, RecordingNotifier>,
    fleet: &MemoryFleet,
    name: &str,
    from: &str,
    until: &str,
    mut between: impl FnMut(Timestamp),
) -> Vec<(String, i32)> {
    let (mut t, until) = (at(from), at(until));
    let mut last = capacity(fleet, name).0;
    let mut changes = Vec::new();
    while t < until {
        between(t);
        let report = reconcile(scaler, t);
        assert_eq!(report.failed, 0, "{report:?}");
        let now = capacity(fleet, name).0;
        if now != last {
            changes.push((london(t), now));
            last = now;
        }
        t = t.checked_add(SignedDuration::from_mins(15)).expect("time");
    }
    changes
}

const OFFICE: &str = r#"[{"name": "office", "offCapacity": 0,
    "onHours": [{"days": ["Mon-Fri"], "start": "08:00", "end": "18:00"}]}]"#;

#[test]
fn given_christmas_in_london_then_dev_is_down_from_the_evening_before_to_the_next_working_morning_and_comes_back_exactly()
 {
    let fleet =
        MemoryFleet::new().with_service(DEV, API, 2, Some((1, 4)), &[(SCHEDULE_TAG, "office")]);
    let s = scaler(&fleet, OFFICE, "2026-12-24..2026-12-26,2026-12-28");
    // Monday 21 December 00:00 to Wednesday 30 December 00:00 (GMT = UTC in winter).
    let changes = every_quarter_hour(
        &s,
        &fleet,
        API,
        "2026-12-21T00:00:00Z",
        "2026-12-30T00:00:00Z",
        |_| {},
    );
    let expect: Vec<(String, i32)> = [
        ("Mon 12-21 00:00 GMT", 0), // off hours when the run starts
        ("Mon 12-21 08:00 GMT", 2),
        ("Mon 12-21 18:00 GMT", 0),
        ("Tue 12-22 08:00 GMT", 2),
        ("Tue 12-22 18:00 GMT", 0),
        ("Wed 12-23 08:00 GMT", 2),
        ("Wed 12-23 18:00 GMT", 0),
        // 24 (Thu), 25 (Fri), 26 (Sat) holidays, the weekend, 28 (Mon) a holiday too.
        ("Tue 12-29 08:00 GMT", 2),
        ("Tue 12-29 18:00 GMT", 0),
    ]
    .into_iter()
    .map(|(l, d)| (l.to_string(), d))
    .collect();
    assert_eq!(changes, expect);
    // Back exactly as it was, bounds included, and nothing left saved.
    let morning = reconcile(&s, at("2026-12-29T09:00:00Z"));
    assert_eq!(morning.changed, 1);
    assert_eq!(capacity(&fleet, API), (2, Some((1, 4))));
    assert!(tag_of(&fleet, API, SAVED_CAPACITY_TAG).as_deref().is_none());
}

#[test]
fn given_easter_across_the_change_to_bst_then_every_transition_is_at_the_right_local_time() {
    // Good Friday 26 March and Easter Monday 29 March 2027 off; BST starts on Sunday 28 March
    // at 01:00 UTC. Down on Thursday 18:00 GMT (18:00 UTC), up on Tuesday 08:00 BST (07:00 UTC).
    let fleet =
        MemoryFleet::new().with_service(DEV, API, 3, Some((2, 6)), &[(SCHEDULE_TAG, "office")]);
    let s = scaler(&fleet, OFFICE, "2027-03-26,2027-03-29");
    let changes = every_quarter_hour(
        &s,
        &fleet,
        API,
        "2027-03-25T12:00:00Z",
        "2027-03-31T00:00:00Z",
        |_| {},
    );
    assert_eq!(
        changes,
        vec![
            ("Thu 03-25 18:00 GMT".to_string(), 0),
            ("Tue 03-30 08:00 BST".to_string(), 3),
            ("Tue 03-30 18:00 BST".to_string(), 0),
        ]
    );
    let tuesday = reconcile(&s, at("2027-03-30T07:00:00Z"));
    assert_eq!(tuesday.changed, 1, "07:00 UTC is 08:00 BST");
    assert_eq!(capacity(&fleet, API), (3, Some((2, 6))));
}

#[test]
fn given_someone_on_call_over_christmas_then_keep_up_until_still_wins() {
    let fleet = MemoryFleet::new().with_service(
        DEV,
        API,
        2,
        Some((1, 4)),
        &[
            (SCHEDULE_TAG, "office"),
            (KEEP_UP_UNTIL_TAG, "2026-12-25T12:00:00Z"),
        ],
    );
    let s = scaler(&fleet, OFFICE, "2026-12-24..2026-12-26");
    let changes = every_quarter_hour(
        &s,
        &fleet,
        API,
        "2026-12-23T12:00:00Z",
        "2026-12-27T00:00:00Z",
        |_| {},
    );
    assert_eq!(changes, vec![("Fri 12-25 12:00 GMT".to_string(), 0)]);
}

const SANDBOXES: &str = r#"[{"name": "sandbox", "offCapacity": 0, "startsAutomatically": false,
    "onHours": [{"days": ["Mon-Fri"], "start": "08:00", "end": "19:00"}]}]"#;

const BOTH: &str = r#"[{"name": "sandbox", "offCapacity": 0, "startsAutomatically": false,
    "onHours": [{"days": ["Mon-Fri"], "start": "08:00", "end": "19:00"}]},
    {"name": "office", "offCapacity": 0,
    "onHours": [{"days": ["Mon-Fri"], "start": "08:00", "end": "18:00"}]}]"#;

#[test]
fn given_a_stop_only_sandbox_through_two_evenings_then_a_person_s_start_stands_until_the_next_evening()
 {
    let fleet = MemoryFleet::new()
        .with_service(DEV, SANDBOX, 2, Some((1, 4)), &[(SCHEDULE_TAG, "sandbox")])
        // The tag on an ordinary schedule makes it stop-only too.
        .with_service(
            DEV,
            API,
            1,
            None,
            &[(SCHEDULE_TAG, "office"), (SCHEDULE_MODE_TAG, "stop-only")],
        );
    let s = scaler(&fleet, BOTH, "");
    let mut started = false;
    // Tuesday 09:00 to Thursday 09:00 (UTC, winter: GMT).
    let changes = every_quarter_hour(
        &s,
        &fleet,
        SANDBOX,
        "2026-12-01T09:00:00Z",
        "2026-12-03T09:00:00Z",
        |t| {
            // Tuesday 21:00: someone starts it with the manual scale-up event (this service only).
            if t == at("2026-12-01T21:00:00Z") {
                let r = run(
                    &s,
                    serde_json::json!({"action": "scale-up", "service": SANDBOX, "at": t.to_string()}),
                );
                assert_eq!((r.changed, r.services.len()), (1, 1), "{r:?}");
                started = true;
            }
        },
    );
    assert!(started);
    assert_eq!(
        changes,
        vec![
            ("Tue 12-01 19:00 GMT".to_string(), 0),
            // The person's start (the 21:00 reconcile leaves it).
            ("Tue 12-01 21:00 GMT".to_string(), 2),
            // Never brought down again that night, nor up or down the next day; the next
            // evening stops it again.
            ("Wed 12-02 19:00 GMT".to_string(), 0),
        ]
    );
    assert_eq!(capacity(&fleet, SANDBOX), (0, Some((0, 0))));
    // Never brought up by the schedule: Thursday morning it is still down, capacity saved.
    let sandbox = fleet.service(DEV, SANDBOX).expect("sandbox");
    assert_eq!(
        sandbox.tag(SAVED_CAPACITY_TAG),
        Some("desired=2 min=1 max=4")
    );
    assert_eq!(sandbox.tag(STOPPED_AT_TAG), Some("2026-12-02T19:00:00Z"));
    // The api service (stop-only by its tag) went down at 18:00 and stayed down.
    assert_eq!(capacity(&fleet, API), (0, None));
    // The manual scale-up brings back exactly what was saved.
    let r = scale_up(&s, SANDBOX, "2026-12-03T09:00:00Z");
    assert_eq!(r.changed, 1);
    assert_eq!(capacity(&fleet, SANDBOX), (2, Some((1, 4))));
}

#[test]
fn given_a_stop_only_service_started_by_hand_then_it_is_not_fought_in_on_hours_nor_after_its_stop()
{
    let fleet = sandbox_fleet(2);
    let s = scaler(&fleet, SANDBOXES, "");
    let id = fleet.service(DEV, SANDBOX).expect("sandbox").id;
    let by_hand = |desired| {
        fleet
            .set_desired(&id, desired)
            .now_or_never()
            .expect("fake")
            .expect("set");
    };
    // Tuesday evening: stopped once.
    assert_eq!(reconcile(&s, at("2026-12-01T19:00:00Z")).changed, 1);
    // Someone raises it in the console at 20:00 (the saved tag still there): not fought.
    by_hand(1);
    for t in [
        "2026-12-01T20:00:00Z",
        "2026-12-02T03:00:00Z",
        "2026-12-02T10:00:00Z",
    ] {
        let r = reconcile(&s, at(t));
        assert_eq!(r.changed, 0, "{t}: {r:?}");
        assert_eq!(capacity(&fleet, SANDBOX).0, 1, "{t}");
    }
    // A keep-up-until that runs out at 22:00 the next evening: the stop waits for it.
    fleet
        .tag(&id, KEEP_UP_UNTIL_TAG, "2026-12-02T22:00:00Z")
        .now_or_never()
        .expect("fake")
        .expect("tag");
    assert_eq!(
        reconcile(&s, at("2026-12-02T19:00:00Z")).changed,
        1,
        "kept up: restored"
    );
    assert_eq!(capacity(&fleet, SANDBOX).0, 2);
    assert_eq!(reconcile(&s, at("2026-12-02T21:45:00Z")).changed, 0);
    assert_eq!(
        reconcile(&s, at("2026-12-02T22:00:00Z")).changed,
        1,
        "stopped when it ran out"
    );
    assert_eq!(capacity(&fleet, SANDBOX), (0, Some((0, 0))));
}

#[test]
fn given_an_unknown_schedule_mode_then_the_service_is_listed_invalid_and_left_alone() {
    let fleet = MemoryFleet::new().with_service(
        DEV,
        API,
        2,
        Some((1, 4)),
        &[
            (SCHEDULE_TAG, "office"),
            (SCHEDULE_MODE_TAG, "weekdays-only"),
        ],
    );
    let s = scaler(&fleet, OFFICE, "");
    let r = reconcile(&s, at("2026-12-01T19:00:00Z"));
    // Not a failure of the run: no summary every 15 minutes; the service says why.
    assert_eq!(
        (r.changed, r.failed, r.services[0].outcome),
        (0, 0, "invalid")
    );
    let error = r.services[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("macro-ai:schedule-mode=`weekdays-only` is not a mode"),
        "{error}"
    );
    assert_eq!(fleet.writes(), 0);
    assert_eq!(capacity(&fleet, API), (2, Some((1, 4))));
}

/// A fleet with one stop-only sandbox (the `sandbox` schedule) at `desired`, autoscaled 1..4.
fn sandbox_fleet(desired: i32) -> MemoryFleet {
    MemoryFleet::new().with_service(
        DEV,
        SANDBOX,
        desired,
        Some((1, 4)),
        &[(SCHEDULE_TAG, "sandbox")],
    )
}

/// A tag of one service of dev, as it is now.
fn tag_of(fleet: &MemoryFleet, name: &str, key: &str) -> Option<String> {
    fleet
        .service(DEV, name)
        .expect("service")
        .tag(key)
        .map(str::to_string)
}

/// budget-response holding dev at `now`.
fn hold_at(fleet: &MemoryFleet, now: &str) {
    let hold = crate::budget::BudgetInput::Hold {
        environment: "dev".into(),
        reason: "a budget breach".into(),
    };
    super::scenarios::budget_at(fleet, hold, at(now));
}

/// budget-response releasing dev at `now`.
fn release_at(fleet: &MemoryFleet, now: &str) {
    let release = crate::budget::BudgetInput::Release {
        environment: "dev".into(),
    };
    super::scenarios::budget_at(fleet, release, at(now));
}

/// A stop-only sandbox at `desired` (1..4 autoscaled), stopped on Monday 30 November at 19:00
/// and started again by a person with the scale-up event on Tuesday at 10:00.
fn sandbox_started_on_tuesday(fleet: &MemoryFleet, s: &Scaler<&MemoryFleet, RecordingNotifier>) {
    assert_eq!(reconcile(s, at("2026-11-30T19:00:00Z")).changed, 1);
    scale_up(s, SANDBOX, "2026-12-01T10:00:00Z");
    assert!(capacity(fleet, SANDBOX).0 > 0);
}

/// The manual scale-up of one service at `t`.
fn scale_up(s: &Scaler<&MemoryFleet, RecordingNotifier>, service: &str, t: &str) -> ScalingReport {
    run(
        s,
        serde_json::json!({"action": "scale-up", "service": service, "at": t}),
    )
}

#[test]
fn given_a_budget_hold_over_a_stopped_sandbox_then_its_release_leaves_it_stopped_and_a_started_one_comes_back()
 {
    let fleet = MemoryFleet::new()
        .with_service(DEV, SANDBOX, 2, Some((1, 4)), &[(SCHEDULE_TAG, "sandbox")])
        .with_service(
            DEV,
            API,
            3,
            None,
            &[(SCHEDULE_TAG, "sandbox"), (SCHEDULE_MODE_TAG, "stop-only")],
        );
    let s = scaler(&fleet, SANDBOXES, "");
    assert_eq!(reconcile(&s, at("2026-12-01T19:00:00Z")).changed, 2);
    // Someone starts the api service again that night; the sandbox stays stopped.
    scale_up(&s, API, "2026-12-01T20:00:00Z");
    assert_eq!(capacity(&fleet, API).0, 3);
    hold_at(&fleet, "2026-12-01T21:00:00Z");
    assert_eq!(
        (capacity(&fleet, SANDBOX).0, capacity(&fleet, API).0),
        (0, 0)
    );
    // Released the next morning, in on hours: the person's start comes back; the sandbox the
    // schedule had stopped stays stopped (a stop-only schedule would never bring it up).
    release_at(&fleet, "2026-12-02T09:00:00Z");
    assert_eq!(capacity(&fleet, API).0, 3);
    assert_eq!(capacity(&fleet, SANDBOX), (0, Some((0, 0))));
    let sandbox = fleet.service(DEV, SANDBOX).expect("sandbox");
    assert_eq!(
        sandbox.tag(SAVED_CAPACITY_TAG),
        Some("desired=2 min=1 max=4")
    );
    assert!(sandbox.tag(crate::capacity::BUDGET_HOLD_TAG).is_none());
    assert_eq!(reconcile(&s, at("2026-12-02T10:00:00Z")).changed, 0);
    // And the scale-up still brings back exactly what it had.
    scale_up(&s, SANDBOX, "2026-12-02T10:05:00Z");
    assert_eq!(capacity(&fleet, SANDBOX), (2, Some((1, 4))));
}

#[test]
fn given_keep_up_until_set_in_on_hours_then_a_stopped_stop_only_service_comes_up_at_once() {
    let fleet = sandbox_fleet(2);
    let s = scaler(&fleet, SANDBOXES, "");
    let id = fleet.service(DEV, SANDBOX).expect("sandbox").id;
    assert_eq!(reconcile(&s, at("2026-12-01T19:00:00Z")).changed, 1);
    assert_eq!(
        reconcile(&s, at("2026-12-02T10:00:00Z")).changed,
        0,
        "on hours: not started"
    );
    fleet
        .tag(&id, KEEP_UP_UNTIL_TAG, "2026-12-02T22:00:00Z")
        .now_or_never()
        .expect("fake")
        .expect("tag");
    let r = reconcile(&s, at("2026-12-02T10:15:00Z"));
    assert_eq!(r.changed, 1, "{r:?}");
    assert_eq!(capacity(&fleet, SANDBOX), (2, Some((1, 4))));
    // Its stop mark went with the keep-up restore: the keep-up's end is the next stop.
    assert!(tag_of(&fleet, SANDBOX, STOPPED_AT_TAG).as_deref().is_none());
    assert_eq!(
        reconcile(&s, at("2026-12-02T19:00:00Z")).changed,
        0,
        "kept up"
    );
    assert_eq!(
        reconcile(&s, at("2026-12-02T22:00:00Z")).changed,
        1,
        "stopped at its end"
    );
    assert_eq!(capacity(&fleet, SANDBOX), (0, Some((0, 0))));
}

#[test]
fn given_keep_up_until_removed_early_then_the_next_run_stops_the_service() {
    let fleet = sandbox_fleet(2);
    let s = scaler(&fleet, SANDBOXES, "");
    let id = fleet.service(DEV, SANDBOX).expect("sandbox").id;
    assert_eq!(reconcile(&s, at("2026-12-01T19:00:00Z")).changed, 1);
    fleet
        .tag(&id, KEEP_UP_UNTIL_TAG, "2026-12-02T02:00:00Z")
        .now_or_never()
        .expect("fake")
        .expect("tag");
    assert_eq!(
        reconcile(&s, at("2026-12-01T20:00:00Z")).changed,
        1,
        "kept up"
    );
    fleet
        .untag(&id, KEEP_UP_UNTIL_TAG)
        .now_or_never()
        .expect("fake")
        .expect("untag");
    assert_eq!(
        reconcile(&s, at("2026-12-01T20:15:00Z")).changed,
        1,
        "stopped again"
    );
    assert_eq!(capacity(&fleet, SANDBOX).0, 0);
}

#[test]
fn given_a_late_retry_of_the_evening_event_then_a_person_s_start_after_a_newer_stop_stands() {
    let fleet = sandbox_fleet(2);
    let s = scaler(&fleet, SANDBOXES, "");
    // The 19:00 invocation timed out; 19:15 stopped it; someone started it at 19:20; then the
    // 19:00 event is retried.
    assert_eq!(reconcile(&s, at("2026-12-01T19:15:00Z")).changed, 1);
    scale_up(&s, SANDBOX, "2026-12-01T19:20:00Z");
    let r = reconcile(&s, at("2026-12-01T19:00:00Z"));
    assert_eq!(r.changed, 0, "{r:?}");
    assert_eq!(capacity(&fleet, SANDBOX).0, 2);
    assert_eq!(
        tag_of(&fleet, SANDBOX, STOPPED_AT_TAG).as_deref(),
        Some("2026-12-01T19:15:00Z"),
        "the mark never moves back"
    );
}

#[test]
fn given_a_service_filter_that_matches_nothing_then_the_run_says_so_and_changes_nothing() {
    let fleet = MemoryFleet::new().with_service(
        DEV,
        SANDBOX,
        0,
        Some((0, 0)),
        &[(SCHEDULE_TAG, "sandbox")],
    );
    let s = scaler(&fleet, SANDBOXES, "");
    let r = run(
        &s,
        serde_json::json!({"action": "scale-up", "service": "macro-ai-dev-sandbx-service"}),
    );
    assert_eq!((r.changed, r.failed), (0, 1));
    assert!(
        r.services[0]
            .why
            .contains("no service named `macro-ai-dev-sandbx-service`"),
        "{r:?}"
    );
    assert_eq!(fleet.writes(), 0);
}

#[test]
fn given_a_hold_over_an_evening_then_the_release_next_day_leaves_the_stop_only_service_stopped() {
    let fleet = sandbox_fleet(3);
    let s = scaler(&fleet, SANDBOXES, "");
    sandbox_started_on_tuesday(&fleet, &s);
    // Held at noon; the evening passes under the hold; released on Wednesday morning.
    hold_at(&fleet, "2026-12-01T12:00:00Z");
    assert_eq!(capacity(&fleet, SANDBOX).0, 0);
    let evening = reconcile(&s, at("2026-12-01T19:00:00Z"));
    assert_eq!(evening.changed, 0, "{evening:?}");
    assert_eq!(
        tag_of(&fleet, SANDBOX, STOPPED_AT_TAG).as_deref(),
        Some("2026-12-01T19:00:00Z"),
        "the schedule's stop is marked under the hold"
    );
    release_at(&fleet, "2026-12-02T09:00:00Z");
    assert_eq!(capacity(&fleet, SANDBOX), (0, Some((0, 0))), "left stopped");
    assert_eq!(reconcile(&s, at("2026-12-02T10:00:00Z")).changed, 0);
    scale_up(&s, SANDBOX, "2026-12-02T10:05:00Z");
    assert_eq!(
        capacity(&fleet, SANDBOX),
        (3, Some((1, 4))),
        "what it had when held"
    );
}

#[test]
fn given_late_events_then_none_undoes_a_newer_run_or_a_person_s_start() {
    let fleet = sandbox_fleet(2);
    let s = scaler(&fleet, SANDBOXES, "");
    let id = fleet.service(DEV, SANDBOX).expect("sandbox").id;
    assert_eq!(reconcile(&s, at("2026-12-01T19:00:00Z")).changed, 1);
    scale_up(&s, SANDBOX, "2026-12-01T19:10:00Z");
    // The morning's 07:45 event, retried at 19:20: from an earlier stretch, superseded.
    let r = reconcile(&s, at("2026-12-01T07:45:00Z"));
    assert_eq!(r.changed, 0, "{r:?}");
    assert_eq!(capacity(&fleet, SANDBOX).0, 2);
    // A keep-up until 22:00; the 22:00 run stops it; a person starts it at 22:05; the 21:45
    // event arrives late: it neither clears the mark nor starts anything.
    fleet
        .tag(&id, KEEP_UP_UNTIL_TAG, "2026-12-01T22:00:00Z")
        .now_or_never()
        .expect("fake")
        .expect("tag");
    assert_eq!(reconcile(&s, at("2026-12-01T22:00:00Z")).changed, 1);
    scale_up(&s, SANDBOX, "2026-12-01T22:05:00Z");
    assert_eq!(reconcile(&s, at("2026-12-01T21:45:00Z")).changed, 0);
    let sandbox = fleet.service(DEV, SANDBOX).expect("sandbox");
    assert_eq!(sandbox.tag(STOPPED_AT_TAG), Some("2026-12-01T22:00:00Z"));
    assert_eq!(
        reconcile(&s, at("2026-12-01T22:15:00Z")).changed,
        0,
        "the start stands"
    );
    assert_eq!(capacity(&fleet, SANDBOX).0, 2);
}

#[test]
fn given_a_stop_mark_written_by_hand_far_ahead_then_it_does_not_silence_the_schedule() {
    let fleet = MemoryFleet::new().with_service(
        DEV,
        SANDBOX,
        2,
        Some((1, 4)),
        &[
            (SCHEDULE_TAG, "sandbox"),
            (STOPPED_AT_TAG, "2099-01-01T00:00:00Z"),
        ],
    );
    let s = scaler(&fleet, SANDBOXES, "");
    assert_eq!(reconcile(&s, at("2026-12-01T19:00:00Z")).changed, 1);
    assert_eq!(
        tag_of(&fleet, SANDBOX, STOPPED_AT_TAG).as_deref(),
        Some("2026-12-01T19:00:00Z")
    );
}

#[test]
fn given_a_stop_mark_left_on_a_service_no_longer_stop_only_then_its_release_restores_exactly() {
    // Once stop-only, now an ordinary office-hours service, its old mark still there.
    let fleet = MemoryFleet::new().with_service(
        DEV,
        API,
        2,
        Some((1, 4)),
        &[
            (SCHEDULE_TAG, "office"),
            (STOPPED_AT_TAG, "2026-11-20T18:00:00Z"),
        ],
    );
    let s = scaler(&fleet, OFFICE, "");
    assert_eq!(reconcile(&s, at("2026-12-01T18:00:00Z")).changed, 1);
    assert!(
        tag_of(&fleet, API, STOPPED_AT_TAG).as_deref().is_none(),
        "the old mark went with the evening's change"
    );
    hold_at(&fleet, "2026-12-01T21:00:00Z");
    release_at(&fleet, "2026-12-02T09:00:00Z");
    assert_eq!(capacity(&fleet, API), (2, Some((1, 4))));
}

#[test]
fn given_a_hold_landing_before_a_late_evening_event_then_the_release_still_leaves_it_stopped() {
    let fleet = sandbox_fleet(3);
    let s = scaler(&fleet, SANDBOXES, "");
    sandbox_started_on_tuesday(&fleet, &s);
    // The hold lands at 19:00:20; the 19:00:00 event is invoked 40 s late.
    hold_at(&fleet, "2026-12-01T19:00:20Z");
    assert_eq!(reconcile(&s, at("2026-12-01T19:00:00Z")).changed, 0);
    assert_eq!(
        tag_of(&fleet, SANDBOX, STOPPED_AT_TAG).as_deref(),
        Some("2026-12-01T19:00:20Z"),
        "marked no earlier than the hold"
    );
    release_at(&fleet, "2026-12-02T09:00:00Z");
    assert_eq!(capacity(&fleet, SANDBOX), (0, Some((0, 0))));
}

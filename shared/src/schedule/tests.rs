//! Schedules through the weeks, DST changes and holidays.

use super::*;
use jiff::{SignedDuration, Timestamp};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn builtin(zone: &str, name: &str) -> Schedule {
    Schedules::builtin(zone).unwrap().get(name).unwrap().clone()
}

#[test]
fn given_dev_office_hours_then_weekday_days_are_on_and_nights_and_weekends_off() {
    let dev = builtin("UTC", "dev-office-hours");
    for (t, on) in [
        ("2026-11-24T19:00:00Z", false), // Tuesday evening
        ("2026-11-25T09:00:00Z", true),  // Wednesday morning
        ("2026-11-25T07:59:59Z", false),
        ("2026-11-25T08:00:00Z", true),
        ("2026-11-25T17:59:00Z", true),
        ("2026-11-25T18:00:00Z", false),
        ("2026-11-28T12:00:00Z", false), // Saturday noon
        ("2026-11-29T12:00:00Z", false), // Sunday noon
        ("2026-11-30T07:00:00Z", false), // Monday before 08:00
    ] {
        assert_eq!(dev.in_hours(at(t)), on, "{t}");
    }
}

#[test]
fn given_staging_nightly_then_weekday_nights_are_off_and_weekends_on() {
    let staging = builtin("UTC", "staging-nightly");
    for (t, on) in [
        ("2026-11-24T23:00:00Z", false), // Tuesday 23:00
        ("2026-11-25T07:00:00Z", true),  // Wednesday 07:00
        ("2026-11-25T05:59:00Z", false),
        ("2026-11-25T06:00:00Z", true),
        ("2026-11-25T22:00:00Z", false),
        ("2026-11-28T03:00:00Z", true), // Saturday night hours are not weekday hours
        ("2026-11-30T03:00:00Z", false), // Monday 03:00 is
    ] {
        assert_eq!(staging.in_hours(at(t)), on, "{t}");
    }
}

#[test]
fn given_a_non_utc_zone_then_dst_changes_are_followed() {
    // Europe/London: BST (UTC+1) until 2026-10-25 01:00 UTC, GMT after.
    let dev = builtin("Europe/London", "dev-office-hours");
    assert!(
        dev.in_hours(at("2026-10-23T07:30:00Z")),
        "Fri 08:30 BST is on"
    );
    assert!(
        !dev.in_hours(at("2026-10-26T07:30:00Z")),
        "Mon 07:30 GMT is off"
    );
    assert!(
        dev.in_hours(at("2026-10-26T08:00:00Z")),
        "Mon 08:00 GMT is on"
    );
    assert!(
        !dev.in_hours(at("2026-10-23T17:30:00Z")),
        "Fri 18:30 BST is off"
    );
    // America/New_York: EDT → EST on 2026-11-01 (06:00 UTC).
    let ny = builtin("America/New_York", "dev-office-hours");
    assert!(ny.in_hours(at("2026-10-30T12:30:00Z")), "Fri 08:30 EDT");
    assert!(!ny.in_hours(at("2026-11-02T12:30:00Z")), "Mon 07:30 EST");
    assert!(ny.in_hours(at("2026-11-02T13:00:00Z")), "Mon 08:00 EST");
    // Spring forward in New York, 2026-03-08: Monday 08:00 EDT is 12:00 UTC.
    assert!(!ny.in_hours(at("2026-03-09T11:59:00Z")));
    assert!(ny.in_hours(at("2026-03-09T12:00:00Z")));
}

#[test]
fn given_custom_schedules_then_they_parse_including_overnight_windows() {
    let s = Schedules::new(
        "Europe/Berlin",
        Some(
            r#"[{"name": "night-shift", "offCapacity": 2,
            "onHours": [{"days": ["Mon-Wed", "Fri"], "start": "20:00", "end": "04:00"}]}]"#,
        ),
    )
    .unwrap();
    let night = s.get("night-shift").unwrap();
    assert_eq!(
        (night.off_capacity, night.time_zone_name()),
        (2, "Europe/Berlin")
    );
    assert!(
        night.in_hours(at("2026-11-23T20:00:00Z")),
        "Mon 21:00 Berlin"
    );
    assert!(
        night.in_hours(at("2026-11-24T02:00:00Z")),
        "Tue 03:00, from Monday's window"
    );
    assert!(
        !night.in_hours(at("2026-11-27T02:00:00Z")),
        "Fri 03:00: Thursday has no window"
    );
    assert!(s.get("dev-office-hours").is_some(), "built-ins stay");
}

#[test]
fn given_bad_schedules_then_the_error_names_the_problem() {
    for (raw, expect) in [
        ("{}", "is not a JSON array"),
        (
            r#"[{"name": "x", "offCapacity": 0, "onHours": []}]"#,
            "no onHours",
        ),
        (
            r#"[{"name": "x", "offCapacity": 0, "onHours": [{"days": ["Funday"], "start": "08:00", "end": "18:00"}]}]"#,
            "`Funday` is not a day",
        ),
        (
            r#"[{"name": "x", "offCapacity": 0, "onHours": [{"days": ["Mon"], "start": "8am", "end": "18:00"}]}]"#,
            "`8am` is not a time",
        ),
        (
            r#"[{"name": "x", "offCapacity": 0, "onHours": [{"days": ["Mon"], "start": "08:00", "end": "08:00"}]}]"#,
            "empty",
        ),
        (
            r#"[{"name": "x", "offCapacity": -1, "onHours": [{"days": ["Mon"], "start": "08:00", "end": "09:00"}]}]"#,
            "offCapacity",
        ),
        (
            r#"[{"name": "off", "offCapacity": 0, "onHours": [{"days": ["Mon"], "start": "08:00", "end": "09:00"}]}]"#,
            "reserved",
        ),
        (
            r#"[{"name": "x", "offCapacity": 0, "timeZone": "Mars/Olympus", "onHours": [{"days": ["Mon"], "start": "08:00", "end": "09:00"}]}]"#,
            "unknown time zone",
        ),
        (
            r#"[{"name": "x", "offCapacity": 0, "onhours": []}]"#,
            "unknown field",
        ),
    ] {
        let err = Schedules::new("UTC", Some(raw)).unwrap_err();
        assert!(
            err.to_string().contains("SCHEDULES") && err.to_string().contains(expect),
            "{raw}: {err}"
        );
    }
    let err = Schedules::new("Nowhere/Land", None).unwrap_err();
    assert!(err.to_string().contains("SCHEDULE_TIMEZONE"));
}

/// The invalid-input table of docs/after-hours-scaling.md's holidays section: each entry, in a schedule and
/// in `HOLIDAYS`, stops the function with an error naming it.
#[test]
fn given_bad_holidays_then_the_error_names_the_entry() {
    for (entry, expect) in [
        (
            "2026-12-32",
            "holiday `2026-12-32`: `2026-12-32` is not a date like 2026-12-24",
        ),
        ("2026-02-29", "`2026-02-29` is not a date"),
        ("24/12/2026", "`24/12/2026` is not a date"),
        ("2026-12-24..", "holiday `2026-12-24..`: `` is not a date"),
        (
            "2026-12-26..2026-12-24",
            "holiday `2026-12-26..2026-12-24` ends before it starts",
        ),
        ("2026-01-01..2026-06-30", "is 181 days; at most 62"),
        ("2026-12-24T00:00", "is not a date"),
    ] {
        let raw = format!(
            r#"[{{"name": "x", "offCapacity": 0, "holidays": ["{entry}"],
                "onHours": [{{"days": ["Mon"], "start": "08:00", "end": "09:00"}}]}}]"#
        );
        let err = Schedules::new("UTC", Some(&raw)).unwrap_err().to_string();
        assert!(
            err.contains("SCHEDULES") && err.contains("schedule `x`") && err.contains(expect),
            "{entry}: {err}"
        );
        let err = Schedules::builtin("UTC")
            .unwrap()
            .with_holidays(Some(&format!("2026-12-24,{entry}")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("HOLIDAYS") && err.contains(expect),
            "{entry}: {err}"
        );
    }
    for (raw, expect) in [
        ("[\"2026-12-24\", \"\"]", "an empty holiday entry"),
        (
            "2026-01-01..2026-03-03,2026-03-04..2026-05-04",
            "holidays 2026-01-01..2026-05-04 (adjacent or overlapping entries, joined) are 124 days",
        ),
        ("[\"2026-12-24\", 3]", "is not a JSON array of dates"),
    ] {
        let err = Schedules::builtin("UTC")
            .unwrap()
            .with_holidays(Some(raw))
            .unwrap_err();
        assert!(err.to_string().contains(expect), "{raw}: {err}");
    }
    // The same joined inside one schedule's list.
    let err = Schedules::new(
        "UTC",
        Some(
            r#"[{"name": "x", "offCapacity": 0,
            "holidays": ["2026-01-01..2026-02-28", "2026-03-01..2026-03-31"],
            "onHours": [{"days": ["Mon"], "start": "08:00", "end": "09:00"}]}]"#,
        ),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("holidays 2026-01-01..2026-03-31"),
        "{err}"
    );
    // A trailing comma in the comma-separated form is not an entry.
    let s = Schedules::builtin("UTC")
        .unwrap()
        .with_holidays(Some("2026-12-24, 2026-12-25,"))
        .unwrap();
    assert_eq!(
        s.get("dev-office-hours").unwrap().holidays().len(),
        1,
        "joined"
    );
    let err = Schedules::new(
        "UTC",
        Some(
            r#"[{"name": "x", "offCapacity": 0, "startsAutomatically": "no",
            "onHours": [{"days": ["Mon"], "start": "08:00", "end": "09:00"}]}]"#,
        ),
    )
    .unwrap_err();
    assert!(err.to_string().contains("invalid type"), "{err}");
}

#[test]
fn given_holidays_then_they_are_off_all_local_day_in_each_schedule_s_zone() {
    let s = Schedules::new(
        "Europe/London",
        Some(
            r#"[{"name": "ny", "offCapacity": 0, "timeZone": "America/New_York",
            "holidays": ["2026-11-26"], "startsAutomatically": false,
            "onHours": [{"days": ["Mon-Fri"], "start": "08:00", "end": "18:00"}]}]"#,
        ),
    )
    .and_then(|s| s.with_holidays(Some("2026-12-24..2026-12-25, 2026-12-24")))
    .unwrap();
    let dev = s.get("dev-office-hours").unwrap();
    assert!(dev.starts_automatically);
    assert!(dev.in_hours(at("2026-12-23T09:00:00Z")));
    assert!(!dev.in_hours(at("2026-12-24T09:00:00Z")), "Christmas Eve");
    assert!(!dev.in_hours(at("2026-12-25T09:00:00Z")));
    assert_eq!(dev.holidays().len(), 1, "the repeated date is one holiday");
    let ny = s.get("ny").unwrap();
    assert!(!ny.starts_automatically);
    // Thanksgiving in New York's own day: 09:00 EST is 14:00 UTC.
    assert!(!ny.in_hours(at("2026-11-26T14:00:00Z")));
    assert!(ny.in_hours(at("2026-11-27T14:00:00Z")));
    // HOLIDAYS applies to it too, read in its zone: 24 December 00:00 EST is 05:00 UTC.
    assert!(ny.in_hours(at("2026-12-23T22:59:00Z")), "23 Dec 17:59 EST");
    assert!(!ny.in_hours(at("2026-12-24T14:00:00Z")));
}

#[test]
fn given_a_zone_far_from_utc_then_the_holiday_is_its_local_day_not_the_utc_one() {
    // Auckland is UTC+13 in December: 25 December local runs from 24 Dec 11:00 UTC to
    // 25 Dec 11:00 UTC. On hours 00:00–24:00 every day isolate the holiday.
    let s = Schedules::new(
        "Pacific/Auckland",
        Some(
            r#"[{"name": "all-day", "offCapacity": 0, "holidays": ["2026-12-25"],
            "onHours": [{"days": ["Mon-Sun"], "start": "00:00", "end": "24:00"}]}]"#,
        ),
    )
    .unwrap();
    let all = s.get("all-day").unwrap();
    assert!(
        all.in_hours(at("2026-12-24T10:59:00Z")),
        "24 Dec 23:59 NZDT"
    );
    assert!(
        !all.in_hours(at("2026-12-24T11:00:00Z")),
        "25 Dec 00:00 NZDT"
    );
    assert!(
        !all.in_hours(at("2026-12-24T20:00:00Z")),
        "25 Dec 09:00 NZDT, 24 Dec in UTC"
    );
    assert!(
        all.in_hours(at("2026-12-25T11:00:00Z")),
        "26 Dec 00:00 NZDT"
    );
    assert!(
        all.in_hours(at("2026-12-25T20:00:00Z")),
        "26 Dec 09:00 NZDT, 25 Dec in UTC"
    );
}

#[test]
fn given_a_night_window_then_its_part_after_a_holiday_s_midnight_is_off_too() {
    // A Mon–Fri 20:00–02:00 shift: Thursday 24 December is a holiday, so its shift does not
    // run, nor its tail on Friday 00:00–02:00; Friday's own shift does.
    let s = Schedules::new(
        "UTC",
        Some(
            r#"[{"name": "night", "offCapacity": 0, "holidays": ["2026-12-24"],
            "onHours": [{"days": ["Mon-Fri"], "start": "20:00", "end": "02:00"}]}]"#,
        ),
    )
    .unwrap();
    let night = s.get("night").unwrap();
    assert!(
        !night.in_hours(at("2026-12-24T01:00:00Z")),
        "Wednesday's tail falls on the holiday"
    );
    assert!(night.in_hours(at("2026-12-23T21:00:00Z")));
    assert!(!night.in_hours(at("2026-12-24T21:00:00Z")));
    assert!(
        !night.in_hours(at("2026-12-25T01:00:00Z")),
        "the holiday's tail"
    );
    assert!(night.in_hours(at("2026-12-25T21:00:00Z")));
    assert!(
        night.in_hours(at("2026-12-26T01:00:00Z")),
        "Friday's tail on Saturday"
    );
}

/// The edges against a minute-by-minute look, through DST changes both ways in London and
/// New York (windows inside the gap and the fold), a holiday, and a window ending at
/// midnight: every change is found, at the same instant.
#[test]
fn given_dst_changes_and_holidays_then_the_edges_find_every_change_a_minute_scan_finds() {
    let s = Schedules::new(
        "Europe/London",
        Some(
            r#"[{"name": "odd", "offCapacity": 0, "holidays": ["2027-03-29"],
            "onHours": [{"days": ["Sat", "Sun"], "start": "01:30", "end": "02:30"},
                        {"days": ["Mon-Fri"], "start": "22:00", "end": "24:00"},
                        {"days": ["Mon-Fri"], "start": "08:15", "end": "17:45"}]},
            {"name": "ny", "offCapacity": 0, "timeZone": "America/New_York",
            "onHours": [{"days": ["Sun"], "start": "01:15", "end": "02:15"},
                        {"days": ["Mon-Fri"], "start": "08:00", "end": "18:00"}]}]"#,
        ),
    )
    .unwrap();
    for (name, from, until) in [
        ("odd", "2027-03-24T00:00:00Z", "2027-04-01T00:00:00Z"),
        ("odd", "2026-10-21T00:00:00Z", "2026-10-28T00:00:00Z"),
        ("ny", "2026-10-28T00:00:00Z", "2026-11-04T00:00:00Z"),
        ("ny", "2027-03-10T00:00:00Z", "2027-03-17T00:00:00Z"),
        (
            "dev-office-hours",
            "2026-12-20T00:00:00Z",
            "2027-01-05T00:00:00Z",
        ),
    ] {
        let sched = s.get(name).unwrap();
        let (from, until) = (at(from), at(until));
        let fast = sched.transitions(from, until, &[], |t| sched.in_hours(t));
        let mut slow = Vec::new();
        let mut state = sched.in_hours(from);
        let mut t = from;
        while t < until {
            t = t.checked_add(SignedDuration::from_mins(1)).unwrap();
            if sched.in_hours(t) != state {
                state = !state;
                slow.push(Transition { at: t, up: state });
            }
        }
        assert!(!slow.is_empty(), "{name}");
        assert_eq!(fast, slow, "{name}");
    }
}

//! Office-hours schedules: when a non-production service runs at full capacity ("on hours") and
//! what it runs at otherwise. Small and exact: weekly windows in an IANA time zone, evaluated
//! with a real tz database (DST-correct), for a given instant — never the wall clock. Holidays
//! (dates in the schedule's zone) are off hours all day.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use std::collections::BTreeMap;

use crate::config::ConfigError;

/// One weekly window of on-hours: on `days`, from `start` to `end` (local time). An `end` at or
/// before `start` runs past midnight into the next day; `end` may be `24:00`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    days: Vec<Weekday>,
    start: Minutes,
    end: Minutes,
}

/// Minutes since local midnight, 0..=1440.
type Minutes = u16;

/// A named schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    /// Desired count (and min = max of the scalable target) outside on-hours.
    pub off_capacity: i32,
    pub time_zone: TimeZone,
    time_zone_name: String,
    windows: Vec<Window>,
    /// Whole local days that are off hours, as inclusive ranges (the schedule's own and
    /// `HOLIDAYS`).
    holidays: Vec<Holiday>,
    /// False for a stop-only schedule: services go down at the start of off hours and only a
    /// person brings them back (a manual scale-up, or `keep-up-until`).
    pub starts_automatically: bool,
}

/// Holidays: inclusive ranges of local dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Holiday {
    pub first: Date,
    pub last: Date,
}

/// The longest holiday range accepted (a company shutdown; a longer pause is `schedule=off`).
pub const MAX_HOLIDAY_DAYS: i32 = 62;

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.off_capacity == other.off_capacity
            && self.time_zone_name == other.time_zone_name
            && self.windows == other.windows
            && self.holidays == other.holidays
            && self.starts_automatically == other.starts_automatically
    }
}

/// A moment the schedule moves a service: up (on hours begin) or down (off hours begin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub at: Timestamp,
    pub up: bool,
}

/// The furthest a schedule is scanned, minute by minute (beyond the longest holiday and a
/// weekend around it).
pub const MAX_SCAN_DAYS: i64 = MAX_HOLIDAY_DAYS as i64 + 8;

impl Schedule {
    /// True when `at` falls in one of the on-hours windows, in the schedule's zone, on a day that
    /// is not a holiday.
    pub fn in_hours(&self, at: Timestamp) -> bool {
        let local = self.time_zone.to_datetime(at);
        if self.is_holiday(local.date()) {
            return false;
        }
        self.in_windows(local)
    }

    /// True when `date` (local) is one of the schedule's holidays.
    pub fn is_holiday(&self, date: Date) -> bool {
        self.holidays
            .iter()
            .any(|h| (h.first..=h.last).contains(&date))
    }

    /// The holiday ranges, sorted.
    pub fn holidays(&self) -> &[Holiday] {
        &self.holidays
    }

    /// True when `at` is in on hours by the weekly windows alone (holidays aside).
    pub fn in_windows_at(&self, at: Timestamp) -> bool {
        self.in_windows(self.time_zone.to_datetime(at))
    }

    /// True when the schedule is in on hours at some whole minute in `(from, until]`; also true
    /// when that stretch is longer than [`MAX_SCAN_DAYS`] (too long to be one off stretch).
    pub fn on_between(&self, from: Timestamp, until: Timestamp) -> bool {
        let cap = from
            .checked_add(SignedDuration::from_hours(24 * MAX_SCAN_DAYS))
            .unwrap_or(Timestamp::MAX);
        if until > cap {
            return true;
        }
        let mut t = next_minute(from);
        while t <= until {
            if self.in_hours(t) {
                return true;
            }
            t = match t.checked_add(SignedDuration::from_mins(1)) {
                Ok(next) => next,
                Err(_) => break,
            };
        }
        false
    }

    fn in_windows(&self, local: jiff::civil::DateTime) -> bool {
        let day = local.weekday();
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let yesterday = day.previous();
        self.windows.iter().any(|w| {
            if w.start < w.end {
                w.days.contains(&day) && (w.start..w.end).contains(&minute)
            } else {
                // Past midnight: the evening part today, the morning part from yesterday's window.
                (w.days.contains(&day) && minute >= w.start)
                    || (w.days.contains(&yesterday) && minute < w.end)
            }
        })
    }

    pub fn time_zone_name(&self) -> &str {
        &self.time_zone_name
    }
}

/// Every change of `up(t)` in `(from, until]`, checked at each whole minute (the windows are
/// whole local minutes and every zone in use has whole-minute offsets, so no change is
/// missed, DST included). At most [`MAX_SCAN_DAYS`] are scanned.
pub fn transitions(
    from: Timestamp,
    until: Timestamp,
    up: impl Fn(Timestamp) -> bool,
) -> Vec<Transition> {
    let cap = from
        .checked_add(SignedDuration::from_hours(24 * MAX_SCAN_DAYS))
        .unwrap_or(Timestamp::MAX);
    let until = until.min(cap);
    let mut out = Vec::new();
    let mut state = up(from);
    let mut t = next_minute(from);
    while t <= until {
        let now = up(t);
        if now != state {
            out.push(Transition { at: t, up: now });
            state = now;
        }
        t = match t.checked_add(SignedDuration::from_mins(1)) {
            Ok(next) => next,
            Err(_) => break,
        };
    }
    out
}

/// The first whole minute strictly after `t`.
fn next_minute(t: Timestamp) -> Timestamp {
    let secs = t.as_second().div_euclid(60) * 60 + 60;
    Timestamp::from_second(secs).unwrap_or(t)
}

/// The schedules a function knows: the built-in ones from the seed, plus `SCHEDULES`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedules {
    by_name: BTreeMap<String, Schedule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawWindow {
    days: Vec<String>,
    start: String,
    end: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSchedule {
    name: String,
    off_capacity: i32,
    #[serde(default)]
    time_zone: Option<String>,
    on_hours: Vec<RawWindow>,
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default = "yes")]
    starts_automatically: bool,
}

fn yes() -> bool {
    true
}

const WEEKDAYS: [Weekday; 5] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
];

impl Schedules {
    /// The seed's schedules in `zone`: `dev-office-hours` (on 08:00–18:00 Mon–Fri, off at 0) and
    /// `staging-nightly` (off 22:00–06:00 on weekdays, at 1).
    pub fn builtin(zone: &str) -> Result<Self, ConfigError> {
        let (time_zone, time_zone_name) = zone_named(zone, "SCHEDULE_TIMEZONE")?;
        let hm = |h: u16, m: u16| h * 60 + m;
        let dev = Schedule {
            name: "dev-office-hours".into(),
            off_capacity: 0,
            time_zone: time_zone.clone(),
            time_zone_name: time_zone_name.clone(),
            windows: vec![Window {
                days: WEEKDAYS.to_vec(),
                start: hm(8, 0),
                end: hm(18, 0),
            }],
            holidays: Vec::new(),
            starts_automatically: true,
        };
        // "Off 10 PM – 6 AM weekdays": the weekday clock hours 22:00–24:00 and 00:00–06:00.
        let staging = Schedule {
            name: "staging-nightly".into(),
            off_capacity: 1,
            time_zone,
            time_zone_name,
            windows: vec![
                Window {
                    days: WEEKDAYS.to_vec(),
                    start: hm(6, 0),
                    end: hm(22, 0),
                },
                Window {
                    days: vec![Weekday::Saturday, Weekday::Sunday],
                    start: 0,
                    end: hm(24, 0),
                },
            ],
            holidays: Vec::new(),
            starts_automatically: true,
        };
        Ok(Self {
            by_name: [dev, staging]
                .into_iter()
                .map(|s| (s.name.clone(), s))
                .collect(),
        })
    }

    /// The built-ins in `zone` (`SCHEDULE_TIMEZONE`) plus the JSON array `extra` (`SCHEDULES`;
    /// same names replace built-ins).
    pub fn new(zone: &str, extra: Option<&str>) -> Result<Self, ConfigError> {
        let mut schedules = Self::builtin(zone)?;
        if let Some(raw) = extra.filter(|s| !s.trim().is_empty()) {
            for s in parse_schedules(raw, zone)? {
                schedules.by_name.insert(s.name.clone(), s);
            }
        }
        Ok(schedules)
    }

    /// Adds `raw` (`HOLIDAYS`: dates and ranges, comma-separated) to every schedule, each read
    /// in that schedule's own zone.
    pub fn with_holidays(mut self, raw: Option<&str>) -> Result<Self, ConfigError> {
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return Ok(self);
        };
        let items: Vec<String> = if raw.trim_start().starts_with('[') {
            serde_json::from_str(raw).map_err(|e| {
                ConfigError::new(
                    "HOLIDAYS",
                    format!("is not a JSON array of dates or a comma-separated list: {e}"),
                )
            })?
        } else {
            raw.split(',').map(str::to_string).collect()
        };
        let extra = parse_holidays(&items).map_err(|p| ConfigError::new("HOLIDAYS", p))?;
        for schedule in self.by_name.values_mut() {
            schedule.holidays.extend(extra.iter().copied());
            schedule.holidays = merged(std::mem::take(&mut schedule.holidays));
        }
        Ok(self)
    }

    pub fn get(&self, name: &str) -> Option<&Schedule> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

fn bad(problem: impl Into<String>) -> ConfigError {
    ConfigError::new("SCHEDULES", problem)
}

fn zone_named(name: &str, variable: &'static str) -> Result<(TimeZone, String), ConfigError> {
    TimeZone::get(name)
        .map(|tz| (tz, name.to_string()))
        .map_err(|_| {
            ConfigError::new(
                variable,
                format!(
                    "names an unknown time zone `{name}` (use an IANA name like Europe/London)"
                ),
            )
        })
}

fn parse_schedules(raw: &str, default_zone: &str) -> Result<Vec<Schedule>, ConfigError> {
    let list: Vec<RawSchedule> = serde_json::from_str(raw).map_err(|e| {
        bad(format!(
            "is not a JSON array of {{\"name\", \"offCapacity\", \"onHours\": [{{\"days\", \"start\", \"end\"}}], \"timeZone\"?}}: {e}"
        ))
    })?;
    list.into_iter()
        .map(|r| {
            let name = r.name.trim().to_string();
            if name.is_empty() || name == "off" || name.len() > 128 {
                return Err(bad(
                    "has a schedule without a usable name (`off` is reserved)",
                ));
            }
            if !(0..=1000).contains(&r.off_capacity) {
                return Err(bad(format!(
                    "schedule `{name}`: offCapacity must be 0 to 1000"
                )));
            }
            if r.on_hours.is_empty() {
                return Err(bad(format!("schedule `{name}` has no onHours window")));
            }
            let windows = r
                .on_hours
                .iter()
                .map(|w| parse_window(w).map_err(|p| bad(format!("schedule `{name}`: {p}"))))
                .collect::<Result<Vec<_>, _>>()?;
            let zone = r.time_zone.as_deref().unwrap_or(default_zone);
            let (time_zone, time_zone_name) = zone_named(zone, "SCHEDULES")?;
            let mut holidays =
                parse_holidays(&r.holidays).map_err(|p| bad(format!("schedule `{name}`: {p}")))?;
            holidays.sort();
            holidays.dedup();
            Ok(Schedule {
                name,
                off_capacity: r.off_capacity,
                time_zone,
                time_zone_name,
                windows,
                holidays,
                starts_automatically: r.starts_automatically,
            })
        })
        .collect()
}

/// The ranges sorted, with overlapping and adjacent ones joined.
fn merged(mut holidays: Vec<Holiday>) -> Vec<Holiday> {
    holidays.sort();
    let mut out: Vec<Holiday> = Vec::with_capacity(holidays.len());
    for h in holidays {
        match out.last_mut() {
            Some(last) if last.last.tomorrow().map_or(true, |next| h.first <= next) => {
                last.last = last.last.max(h.last);
            }
            _ => out.push(h),
        }
    }
    out
}

/// `2026-12-24` or `2026-12-24..2026-12-26` (inclusive), each checked: a real date, a range that
/// does not end before it starts, and at most [`MAX_HOLIDAY_DAYS`] days.
pub fn parse_holidays(items: &[String]) -> Result<Vec<Holiday>, String> {
    let date = |s: &str, whole: &str| -> Result<Date, String> {
        let s = s.trim();
        s.parse::<Date>()
            .ok()
            .filter(|_| s.len() == 10)
            .ok_or_else(|| format!("holiday `{whole}`: `{s}` is not a date like 2026-12-24"))
    };
    items
        .iter()
        .map(|item| {
            let whole = item.trim();
            if whole.is_empty() {
                return Err("has an empty holiday entry".to_string());
            }
            let (first, last) = match whole.split_once("..") {
                Some((a, b)) => (date(a, whole)?, date(b, whole)?),
                None => {
                    let d = date(whole, whole)?;
                    (d, d)
                }
            };
            if last < first {
                return Err(format!(
                    "holiday `{whole}` ends before it starts (write FIRST..LAST)"
                ));
            }
            let days = first.until(last).map(|span| span.get_days()).unwrap_or(i32::MAX) + 1;
            if days > MAX_HOLIDAY_DAYS {
                return Err(format!(
                    "holiday `{whole}` is {days} days; at most {MAX_HOLIDAY_DAYS} (use {} for longer)",
                    "macro-ai:schedule=off"
                ));
            }
            Ok(Holiday { first, last })
        })
        .collect()
}

fn parse_window(w: &RawWindow) -> Result<Window, String> {
    let mut days = Vec::new();
    for d in &w.days {
        match d.split_once('-') {
            Some((from, to)) => {
                let (mut day, last) = (weekday(from)?, weekday(to)?);
                loop {
                    days.push(day);
                    if day == last {
                        break;
                    }
                    day = day.next();
                }
            }
            None => days.push(weekday(d)?),
        }
    }
    if days.is_empty() {
        return Err("a window has no days".into());
    }
    let (start, end) = (clock(&w.start)?, clock(&w.end)?);
    if start == end || start == 1440 {
        return Err(format!(
            "window {}–{} is empty or starts at 24:00",
            w.start, w.end
        ));
    }
    Ok(Window {
        days,
        start,
        end: if end == 0 { 1440 } else { end },
    })
}

fn weekday(s: &str) -> Result<Weekday, String> {
    Ok(match s.trim().to_ascii_lowercase().get(..3) {
        Some("mon") => Weekday::Monday,
        Some("tue") => Weekday::Tuesday,
        Some("wed") => Weekday::Wednesday,
        Some("thu") => Weekday::Thursday,
        Some("fri") => Weekday::Friday,
        Some("sat") => Weekday::Saturday,
        Some("sun") => Weekday::Sunday,
        _ => {
            return Err(format!(
                "`{}` is not a day (Mon … Sun, or a range like Mon-Fri)",
                s.trim()
            ));
        }
    })
}

fn clock(s: &str) -> Result<Minutes, String> {
    if s == "24:00" {
        return Ok(1440);
    }
    let t: Time = s
        .parse()
        .ok()
        .filter(|_| s.len() == 5)
        .ok_or_else(|| format!("`{s}` is not a time like 08:00"))?;
    if t.second() != 0 {
        return Err(format!("`{s}` must be whole minutes"));
    }
    Ok(t.hour() as u16 * 60 + t.minute() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The invalid-input table of the README's holidays section: each entry, in a schedule and
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
            ("2026-12-24,,2026-12-25", "an empty holiday entry"),
            ("[\"2026-12-24\", 3]", "is not a JSON array of dates"),
        ] {
            let err = Schedules::builtin("UTC")
                .unwrap()
                .with_holidays(Some(raw))
                .unwrap_err();
            assert!(err.to_string().contains(expect), "{raw}: {err}");
        }
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
}

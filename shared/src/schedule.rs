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

/// The furthest a schedule is looked at in one go: beyond the longest holiday and a weekend
/// around it. A longer stretch is not one off-hours stretch.
pub const MAX_SCAN_DAYS: i64 = MAX_HOLIDAY_DAYS as i64 + 8;

impl Schedule {
    /// True when `at` falls in one of the on-hours windows, in the schedule's zone, and not on a
    /// holiday. A holiday is off all its local day, and the part of a window that runs past
    /// midnight into the next day belongs to the day it started on (off too).
    pub fn in_hours(&self, at: Timestamp) -> bool {
        let local = self.time_zone.to_datetime(at);
        let date = local.date();
        if self.is_holiday(date) {
            return false;
        }
        let after_holiday = date.yesterday().is_ok_and(|d| self.is_holiday(d));
        self.windows_at(local, !after_holiday)
    }

    /// True when `date` (local) is one of the schedule's holidays.
    pub fn is_holiday(&self, date: Date) -> bool {
        self.holidays
            .iter()
            .any(|h| (h.first..=h.last).contains(&date))
    }

    /// The holiday ranges, sorted and merged.
    pub fn holidays(&self) -> &[Holiday] {
        &self.holidays
    }

    /// True when `at` is in on hours by the weekly windows alone (holidays aside).
    pub fn in_windows_at(&self, at: Timestamp) -> bool {
        self.windows_at(self.time_zone.to_datetime(at), true)
    }

    /// The instants in `(from, until]` at which [`Schedule::in_hours`] can change: each local
    /// midnight and window edge of the days in between (both instants of a local time a DST
    /// fold repeats), and each change of the zone's offset (where a DST gap jumps over an
    /// edge). Between two of them the answer is constant, so looking at these alone is exact,
    /// at a few instants a day instead of one a minute. At most [`MAX_SCAN_DAYS`] from `from`.
    pub fn edges(&self, from: Timestamp, until: Timestamp) -> Vec<Timestamp> {
        let cap = from
            .checked_add(SignedDuration::from_hours(24 * MAX_SCAN_DAYS))
            .unwrap_or(Timestamp::MAX);
        let until = until.min(cap);
        if until <= from {
            return Vec::new();
        }
        let tz = &self.time_zone;
        let mut minutes: Vec<Minutes> = vec![0];
        for w in &self.windows {
            minutes.extend([w.start, w.end % 1440]);
        }
        minutes.sort_unstable();
        minutes.dedup();
        let mut out = Vec::new();
        // A day either side: a fall-back across midnight (historical day-line moves) would
        // otherwise leave a local date out.
        let first = tz.to_datetime(from).date();
        let mut day = first.yesterday().unwrap_or(first);
        let last = tz.to_datetime(until).date();
        let last = last.tomorrow().unwrap_or(last);
        loop {
            for &m in &minutes {
                let Ok(time) = Time::new((m / 60) as i8, (m % 60) as i8, 0, 0) else {
                    continue;
                };
                let ambiguous = tz.to_ambiguous_timestamp(day.to_datetime(time));
                out.extend(ambiguous.earlier().ok());
                out.extend(ambiguous.later().ok());
            }
            if day >= last {
                break;
            }
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        out.extend(
            tz.following(from)
                .map(|t| t.timestamp())
                .take_while(|t| *t <= until),
        );
        out.retain(|t| from < *t && *t <= until);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// True when the schedule is in on hours at some instant in `(from, until]`; also true when
    /// that stretch is longer than [`MAX_SCAN_DAYS`] (too long to be one off stretch).
    pub fn on_between(&self, from: Timestamp, until: Timestamp) -> bool {
        let cap = from
            .checked_add(SignedDuration::from_hours(24 * MAX_SCAN_DAYS))
            .unwrap_or(Timestamp::MAX);
        if until > cap {
            return true;
        }
        if until <= from {
            return false;
        }
        // At `from` (its state holds until the first edge), then at every edge.
        self.in_hours(from)
            || self
                .edges(from, until)
                .into_iter()
                .any(|t| self.in_hours(t))
    }

    /// Every change of `up(t)` in `(from, until]`, where `up` changes only at this schedule's
    /// [`edges`](Schedule::edges) and at the `extra` instants (a `keep-up-until`).
    pub fn transitions(
        &self,
        from: Timestamp,
        until: Timestamp,
        extra: &[Timestamp],
        up: impl Fn(Timestamp) -> bool,
    ) -> Vec<Transition> {
        let mut candidates = self.edges(from, until);
        candidates.extend(extra.iter().copied().filter(|t| from < *t && *t <= until));
        candidates.sort_unstable();
        candidates.dedup();
        let mut out = Vec::new();
        let mut state = up(from);
        for t in candidates {
            let now = up(t);
            if now != state {
                out.push(Transition { at: t, up: now });
                state = now;
            }
        }
        out
    }

    /// The weekly windows at a local time; `tails` says whether the part of yesterday's window
    /// that runs past midnight counts (not after a holiday).
    fn windows_at(&self, local: jiff::civil::DateTime, tails: bool) -> bool {
        let day = local.weekday();
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let yesterday = day.previous();
        self.windows.iter().any(|w| {
            if w.start < w.end {
                w.days.contains(&day) && (w.start..w.end).contains(&minute)
            } else {
                // Past midnight: the evening part today, the morning part from yesterday's window.
                (w.days.contains(&day) && minute >= w.start)
                    || (tails && w.days.contains(&yesterday) && minute < w.end)
            }
        })
    }

    pub fn time_zone_name(&self) -> &str {
        &self.time_zone_name
    }
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
        // A comma-separated list may end with a comma (or have blanks); a JSON array may not.
        let items: Vec<String> = if raw.trim_start().starts_with('[') {
            items
        } else {
            items.into_iter().filter(|i| !i.trim().is_empty()).collect()
        };
        let extra = parse_holidays(&items).map_err(|p| ConfigError::new("HOLIDAYS", p))?;
        for schedule in self.by_name.values_mut() {
            let mut all = std::mem::take(&mut schedule.holidays);
            all.extend(extra.iter().copied());
            schedule.holidays = merged(all).map_err(|p| {
                ConfigError::new("HOLIDAYS", format!("in schedule `{}`: {p}", schedule.name))
            })?;
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
            let holidays = parse_holidays(&r.holidays)
                .and_then(merged)
                .map_err(|p| bad(format!("schedule `{name}`: {p}")))?;
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

/// The ranges sorted, with overlapping and adjacent ones joined; a joined range longer than
/// [`MAX_HOLIDAY_DAYS`] is refused like a single one (it is one stretch off).
fn merged(mut holidays: Vec<Holiday>) -> Result<Vec<Holiday>, String> {
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
    for h in &out {
        let days = length(h);
        if days > MAX_HOLIDAY_DAYS {
            return Err(format!(
                "holidays {}..{} (adjacent or overlapping entries, joined) are {days} days; at most \
                 {MAX_HOLIDAY_DAYS} (use macro-ai:schedule=off for longer)",
                h.first, h.last
            ));
        }
    }
    Ok(out)
}

/// Days in a range, both ends included.
fn length(h: &Holiday) -> i32 {
    h.first
        .until(h.last)
        .map(|span| span.get_days())
        .unwrap_or(i32::MAX)
        .saturating_add(1)
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
            let days = length(&Holiday { first, last });
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
}

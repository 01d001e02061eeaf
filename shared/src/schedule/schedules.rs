//! The schedules a function knows: the seed's built-ins, `SCHEDULES` and `HOLIDAYS`, validated at
//! cold start with errors that name what is wrong.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use serde::Deserialize;
use std::collections::BTreeMap;

use super::model::{Schedule, Window};
use super::parse::{merged, parse_holidays, parse_window};
use crate::config::ConfigError;

/// The schedules a function knows: the built-in ones from the seed, plus `SCHEDULES`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedules {
    by_name: BTreeMap<String, Schedule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawWindow {
    pub(super) days: Vec<String>,
    pub(super) start: String,
    pub(super) end: String,
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

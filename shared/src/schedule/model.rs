//! A schedule: weekly windows of on hours in a time zone, holidays, and the instants where on
//! hours can change.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// One weekly window of on-hours: on `days`, from `start` to `end` (local time). An `end` at or
/// before `start` runs past midnight into the next day; `end` may be `24:00`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub(super) days: Vec<Weekday>,
    pub(super) start: Minutes,
    pub(super) end: Minutes,
}

/// Minutes since local midnight, 0..=1440.
pub(super) type Minutes = u16;

/// A named schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    /// Desired count (and min = max of the scalable target) outside on-hours.
    pub off_capacity: i32,
    pub time_zone: TimeZone,
    pub(super) time_zone_name: String,
    pub(super) windows: Vec<Window>,
    /// Whole local days that are off hours, as inclusive ranges (the schedule's own and
    /// `HOLIDAYS`).
    pub(super) holidays: Vec<Holiday>,
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

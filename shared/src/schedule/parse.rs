//! The text a schedule is written in: windows (`Mon-Fri`, `08:00`–`18:00`) and holidays
//! (`2026-12-24..2026-12-26`), each checked.

use jiff::civil::{Date, Time, Weekday};

use super::model::{Holiday, MAX_HOLIDAY_DAYS, Minutes, Window};
use super::schedules::RawWindow;

/// The ranges sorted, with overlapping and adjacent ones joined; a joined range longer than
/// [`MAX_HOLIDAY_DAYS`] is refused like a single one (it is one stretch off).
pub(super) fn merged(mut holidays: Vec<Holiday>) -> Result<Vec<Holiday>, String> {
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
pub(super) fn length(h: &Holiday) -> i32 {
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

pub(super) fn parse_window(w: &RawWindow) -> Result<Window, String> {
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

pub(super) fn weekday(s: &str) -> Result<Weekday, String> {
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

pub(super) fn clock(s: &str) -> Result<Minutes, String> {
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

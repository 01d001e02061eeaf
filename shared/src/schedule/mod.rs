//! Office-hours schedules: when a non-production service runs at full capacity ("on hours") and
//! what it runs at otherwise. Small and exact: weekly windows in an IANA time zone, evaluated
//! with a real tz database (DST-correct), for a given instant — never the wall clock. Holidays
//! (dates in the schedule's zone) are off hours all day.
//!
//! - `model`: a schedule, its windows and holidays, and the edges where on hours can change;
//! - `schedules`: the ones a function knows (built-ins, `SCHEDULES`, `HOLIDAYS`);
//! - `parse`: windows and holiday dates as written, each checked.

mod model;
mod parse;
mod schedules;
#[cfg(test)]
mod tests;

pub use model::{Holiday, MAX_HOLIDAY_DAYS, MAX_SCAN_DAYS, Schedule, Transition, Window};
pub use parse::parse_holidays;
pub use schedules::Schedules;

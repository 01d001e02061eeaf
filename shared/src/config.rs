//! Reading a function's configuration from its environment, once, with errors that name the
//! variable and say what it must be. Each function's `Config::from_lookup` (in its own crate) is
//! the one place that lists every variable it reads, built from these helpers; tests pass a
//! closure where the function passes [`process_env`].

use std::collections::BTreeMap;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use crate::rotation::PasswordPolicy;

/// Configuration that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("configuration variable {variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

/// The process environment as a lookup; tests pass a closure instead.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable's value, trimmed; `None` when it is unset or blank (the template passes `""` for
/// an optional parameter left empty).
pub fn text(get: &impl Fn(&str) -> Option<String>, variable: &str) -> Option<String> {
    get(variable)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A variable's value, or `default` when it is unset or blank.
pub fn text_or(get: &impl Fn(&str) -> Option<String>, variable: &str, default: &str) -> String {
    text(get, variable).unwrap_or_else(|| default.to_string())
}

/// A pin: a value that, when set, confines the function (the only host it logs in to, the only
/// user it rotates). Unset or empty (the template's "not given") is no pin; a value of spaces
/// is refused rather than read as no pin, since a pin typed wrong must not open what it closes.
pub fn pin(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<String>, ConfigError> {
    match get(variable) {
        Some(raw) if !raw.is_empty() && raw.trim().is_empty() => Err(ConfigError::new(
            variable,
            "is only spaces: leave it empty for no pin, or name what it pins",
        )),
        _ => Ok(text(get, variable)),
    }
}

/// A variable that must be set: `what` says what it names.
pub fn required(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    what: &str,
) -> Result<String, ConfigError> {
    text(get, variable).ok_or_else(|| ConfigError::new(variable, format!("must name {what}")))
}

/// A whole number within `range` (`unit` names it in the error), or `default` when unset.
pub fn whole<T>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    range: RangeInclusive<T>,
    unit: &str,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Display,
{
    match text(get, variable) {
        None => Ok(default),
        Some(raw) => raw
            .parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                ConfigError::new(
                    variable,
                    format!(
                        "must be a whole number{unit} from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
            }),
    }
}

/// A whole number of seconds within `range`, or `default` when unset.
pub fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    range: RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    whole(get, variable, default, range, " of seconds").map(Duration::from_secs)
}

/// A whole number of minutes within `range`, or `default` when unset.
pub fn minutes(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    range: RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    whole(get, variable, default, range, " of minutes").map(|m| Duration::from_secs(m * 60))
}

/// A whole number of hours within `range`, or `default` when unset.
pub fn hours(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    range: RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    whole(get, variable, default, range, " of hours").map(|h| Duration::from_secs(h * 3600))
}

/// A TCP port, or `default` when unset.
pub fn port(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u16,
) -> Result<u16, ConfigError> {
    whole(get, variable, default, 1..=u16::MAX, " (a port)")
}

/// A finite, non-negative number (an amount, a percentage), or `default` when unset.
pub fn amount(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: f64,
) -> Result<f64, ConfigError> {
    match text(get, variable) {
        None => Ok(default),
        Some(raw) => raw
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| ConfigError::new(variable, "must be a non-negative number")),
    }
}

/// A JSON object of strings (`{"name": "value"}`); empty when unset.
pub fn json_map(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<BTreeMap<String, String>, ConfigError> {
    match text(get, variable) {
        None => Ok(BTreeMap::new()),
        Some(raw) => serde_json::from_str(&raw)
            .map_err(|_| ConfigError::new(variable, "must be a JSON object of strings")),
    }
}

/// `PASSWORD_LENGTH` (default 32, 16 to 4096) and `EXCLUDE_CHARACTERS` (default
/// [`PasswordPolicy::DEFAULT_EXCLUDE`]; set but empty excludes nothing): how the two database
/// rotations ask GetRandomPassword for passwords.
pub fn password_policy(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<PasswordPolicy, ConfigError> {
    Ok(PasswordPolicy {
        length: whole(
            get,
            "PASSWORD_LENGTH",
            PasswordPolicy::DEFAULT_LENGTH,
            16..=4096,
            "",
        )?,
        exclude_characters: get("EXCLUDE_CHARACTERS")
            .unwrap_or_else(|| PasswordPolicy::DEFAULT_EXCLUDE.to_string()),
    })
}

/// A comma-separated list (blank items dropped), or `default` when unset; never empty (a list
/// that is set but names nothing is refused, not replaced by the default).
pub fn list(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: &str,
) -> Result<Vec<String>, ConfigError> {
    let items: Vec<String> = get(variable)
        .unwrap_or_else(|| default.to_string())
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect();
    if items.is_empty() {
        return Err(ConfigError::new(variable, "lists nothing"));
    }
    Ok(items)
}

/// A comma-separated list that may be left out: unset or empty is `None`; set to nothing but
/// spaces and commas is refused (a list typed wrong must not read as "none").
pub fn optional_list(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<Vec<String>>, ConfigError> {
    match get(variable) {
        None => Ok(None),
        Some(raw) if raw.is_empty() => Ok(None),
        Some(_) => list(get, variable, "").map(Some),
    }
}

/// `true` or `false` (any case), or `default` when unset or empty.
pub fn flag(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match text(get, variable) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ConfigError::new(variable, "must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_optional_lists_and_flags_then_unset_is_the_default_and_typos_are_refused() {
        let none = |_: &str| None;
        assert_eq!(optional_list(&none, "X").unwrap(), None);
        assert_eq!(optional_list(&only(""), "X").unwrap(), None);
        assert_eq!(
            optional_list(&only(" a, b ,"), "X").unwrap(),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert!(optional_list(&only(" , "), "X").is_err());
        assert!(flag(&none, "X", true).unwrap());
        assert!(!flag(&only("FALSE"), "X", true).unwrap());
        assert!(flag(&only("True"), "X", false).unwrap());
        assert_eq!(flag(&only("yes"), "X", true).unwrap_err().variable, "X");
    }

    fn only(value: &'static str) -> impl Fn(&str) -> Option<String> {
        move |_| Some(value.to_string())
    }

    #[test]
    fn given_durations_then_defaults_values_and_bad_values_are_handled() {
        let unset = |_: &str| None;
        assert_eq!(
            seconds(&unset, "T", 5, 1..=60).unwrap(),
            Duration::from_secs(5)
        );
        assert_eq!(
            seconds(&only(" 12 "), "T", 5, 1..=60).unwrap(),
            Duration::from_secs(12)
        );
        assert_eq!(
            minutes(&only("2"), "T", 5, 1..=60).unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(
            hours(&unset, "T", 1, 0..=2).unwrap(),
            Duration::from_secs(3600)
        );
        let err = seconds(&only("0"), "T", 5, 1..=60).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration variable T must be a whole number of seconds from 1 to 60"
        );
        assert!(minutes(&only("soon"), "M", 5, 1..=60).is_err());
    }

    #[test]
    fn given_texts_then_blank_is_unset_and_required_names_what_is_missing() {
        assert_eq!(text(&only("  "), "X"), None);
        assert_eq!(text_or(&only(""), "X", "d"), "d");
        assert_eq!(text(&only(" v "), "X").as_deref(), Some("v"));
        let err = required(&only(""), "TABLE", "the ledger table").unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration variable TABLE must name the ledger table"
        );
    }

    #[test]
    fn given_numbers_ports_maps_and_lists_then_bad_values_name_the_variable() {
        assert_eq!(port(&only("6380"), "P", 6379).unwrap(), 6380);
        assert!(port(&only("0"), "P", 6379).is_err());
        assert!(port(&only("70000"), "P", 6379).is_err());
        assert_eq!(amount(&only("12.5"), "A", 1.0).unwrap(), 12.5);
        for bad in ["-1", "NaN", "inf", "x"] {
            let get = move |_: &str| Some(bad.to_string());
            assert_eq!(amount(&get, "A", 1.0).unwrap_err().variable, "A");
        }
        assert_eq!(json_map(&only(r#"{"a": "b"}"#), "J").unwrap()["a"], "b");
        assert_eq!(json_map(&only("[1]"), "J").unwrap_err().variable, "J");
        assert_eq!(list(&only(" a, ,b "), "L", "").unwrap(), vec!["a", "b"]);
        assert_eq!(list(&|_: &str| None, "L", "x,y").unwrap(), vec!["x", "y"]);
        assert_eq!(list(&only(" , "), "L", "x").unwrap_err().variable, "L");
        assert_eq!(list(&only(""), "L", "x").unwrap_err().variable, "L");
        assert_eq!(pin(&only(""), "P").unwrap(), None);
        assert_eq!(pin(&only(" h "), "P").unwrap(), Some("h".into()));
        assert_eq!(pin(&only("  "), "P").unwrap_err().variable, "P");
    }
}

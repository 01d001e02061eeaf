//! Reading a function's configuration from its environment, once, with errors that name the
//! variable and say what it must be.

use std::time::Duration;

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

/// A whole number of seconds from `variable`, within `range`, or `default` when unset.
pub fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    match get(variable) {
        None => Ok(Duration::from_secs(default)),
        Some(raw) => match raw.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(Duration::from_secs(n)),
            _ => Err(ConfigError::new(
                variable,
                format!(
                    "must be a whole number of seconds from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_seconds_variables_then_defaults_values_and_bad_values_are_handled() {
        let unset = |_: &str| None;
        assert_eq!(
            seconds(&unset, "T", 5, 1..=60).unwrap(),
            Duration::from_secs(5)
        );
        let set = |_: &str| Some("12".to_string());
        assert_eq!(
            seconds(&set, "T", 5, 1..=60).unwrap(),
            Duration::from_secs(12)
        );
        let bad = |_: &str| Some("0".to_string());
        let err = seconds(&bad, "T", 5, 1..=60).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration variable T must be a whole number of seconds from 1 to 60"
        );
    }
}

//! How new passwords are made: length and excluded characters, read once from the environment.

use crate::config::ConfigError;

/// `PASSWORD_LENGTH` / `EXCLUDE_CHARACTERS` for GetRandomPassword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub length: u16,
    pub exclude_characters: String,
}

impl PasswordPolicy {
    /// Characters that break connection URLs, shells or SQL quoting when they appear in a password.
    pub const DEFAULT_EXCLUDE: &'static str = ":/@\"'\\`";
    pub const DEFAULT_LENGTH: u16 = 32;

    /// Reads the policy from a variable lookup (the process environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let length = match get("PASSWORD_LENGTH") {
            None => Self::DEFAULT_LENGTH,
            Some(raw) => match raw.trim().parse::<u16>() {
                Ok(n) if (16..=4096).contains(&n) => n,
                _ => {
                    return Err(ConfigError::new(
                        "PASSWORD_LENGTH",
                        "must be a whole number from 16 to 4096",
                    ));
                }
            },
        };
        let exclude_characters =
            get("EXCLUDE_CHARACTERS").unwrap_or_else(|| Self::DEFAULT_EXCLUDE.to_string());
        Ok(Self {
            length,
            exclude_characters,
        })
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            length: Self::DEFAULT_LENGTH,
            exclude_characters: Self::DEFAULT_EXCLUDE.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_no_variables_then_the_defaults_apply() {
        let p = PasswordPolicy::from_lookup(|_| None).unwrap();
        assert_eq!(p, PasswordPolicy::default());
        assert_eq!(p.length, 32);
        assert_eq!(p.exclude_characters, ":/@\"'\\`");
    }

    #[test]
    fn given_variables_then_they_are_used_and_bad_lengths_refused() {
        let p = PasswordPolicy::from_lookup(|k| match k {
            "PASSWORD_LENGTH" => Some("40".into()),
            "EXCLUDE_CHARACTERS" => Some("".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!((p.length, p.exclude_characters.as_str()), (40, ""));
        for bad in ["8", "abc", "99999", ""] {
            let err =
                PasswordPolicy::from_lookup(|k| (k == "PASSWORD_LENGTH").then(|| bad.to_string()))
                    .unwrap_err();
            assert!(err.to_string().contains("PASSWORD_LENGTH"), "{err}");
        }
    }
}

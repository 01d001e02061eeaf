//! How new passwords are made: length and excluded characters (the function's `PASSWORD_LENGTH`
//! and `EXCLUDE_CHARACTERS`).

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
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            length: Self::DEFAULT_LENGTH,
            exclude_characters: Self::DEFAULT_EXCLUDE.to_string(),
        }
    }
}

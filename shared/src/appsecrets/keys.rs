//! Which keys a secret holds and how each is made: the `APP_SECRET_KEYS` configuration.

use base64::Engine as _;
use std::time::Duration;

/// Where the keys an app still accepts live in the secret.
pub const PREVIOUS: &str = "previous";
/// Where the keys the next version signs with are published, so apps accept them first.
pub const NEXT: &str = "next";

/// How a key's characters are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFormat {
    /// GetRandomPassword's printable characters, minus `exclude`.
    Printable { exclude: String },
    /// Lower-case hexadecimal (the OS RNG).
    Hex,
    /// Standard base64 without padding (the OS RNG).
    Base64,
}

/// One rotated field: its name, length in characters and format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub name: String,
    pub length: usize,
    pub format: KeyFormat,
}

impl KeySpec {
    /// Whether `value` is a key of this spec (length and alphabet).
    pub(crate) fn accepts(&self, value: &str) -> bool {
        value.chars().count() == self.length
            && match &self.format {
                KeyFormat::Printable { exclude } => value
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !exclude.contains(c)),
                KeyFormat::Hex => value.chars().all(|c| c.is_ascii_hexdigit()),
                KeyFormat::Base64 => base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .is_ok(),
            }
    }

    pub(crate) fn describe(&self) -> String {
        match &self.format {
            KeyFormat::Printable { exclude } => {
                format!("{} printable characters without `{exclude}`", self.length)
            }
            KeyFormat::Hex => format!("{} hex digits", self.length),
            KeyFormat::Base64 => format!("{} characters of standard base64", self.length),
        }
    }
}

/// The seed's rule for `jwt-secrets`: 64 characters, excluding `" @ / \ '`.
pub const SEED_EXCLUDE: &str = "\"@/\\'";

/// What the function rotates and how long tokens live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSecretOptions {
    pub keys: Vec<KeySpec>,
    /// The longest a token or session signed with a key is accepted (`TOKEN_MAX_AGE_HOURS`).
    pub token_max_age: Duration,
    /// How old AWSCURRENT must be before a rotation replaces it (`MIN_KEY_AGE_HOURS`, default
    /// `TOKEN_MAX_AGE_HOURS`): an immediate rotate-secret by hand would otherwise drop a key that
    /// tokens still carry. 0 turns the guard off (the demo rotates twice in a minute).
    pub min_key_age: Duration,
}

impl Default for AppSecretOptions {
    fn default() -> Self {
        Self {
            keys: vec![KeySpec {
                name: "accessTokenSecret".into(),
                length: 64,
                format: KeyFormat::Printable {
                    exclude: SEED_EXCLUDE.into(),
                },
            }],
            token_max_age: Duration::from_secs(720 * 3600),
            min_key_age: Duration::from_secs(720 * 3600),
        }
    }
}

/// Reads `APP_SECRET_KEYS` (`name:length[:printable|hex|base64]`, comma-separated); printable
/// keys exclude `exclude`.
pub fn parse_keys(raw: &str, exclude: &str) -> Result<Vec<KeySpec>, String> {
    let mut keys: Vec<KeySpec> = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let mut parts = item.split(':');
        let name = parts.next().unwrap_or_default().trim();
        if name.is_empty()
            || name == PREVIOUS
            || name == NEXT
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "`{item}`: a key name is letters, digits, `_` or `-` (and not `previous` or `next`)"
            ));
        }
        let length = parts
            .next()
            .and_then(|l| l.trim().parse::<usize>().ok())
            .filter(|l| (16..=4096).contains(l))
            .ok_or_else(|| format!("`{item}`: the length must be 16 to 4096 characters"))?;
        let format = match parts.next().map(str::trim) {
            None | Some("printable") => KeyFormat::Printable {
                exclude: exclude.to_string(),
            },
            Some("hex") if length % 2 == 0 => KeyFormat::Hex,
            Some("hex") => return Err(format!("`{item}`: a hex key has an even length")),
            Some("base64") if length % 4 == 0 => KeyFormat::Base64,
            Some("base64") => {
                return Err(format!(
                    "`{item}`: a base64 key is a whole number of 4-character groups"
                ));
            }
            Some(other) => {
                return Err(format!(
                    "`{item}`: unknown format `{other}` (printable, hex or base64)"
                ));
            }
        };
        if parts.next().is_some() {
            return Err(format!("`{item}`: name:length[:format], nothing more"));
        }
        if keys.iter().any(|k| k.name == name) {
            return Err(format!("`{name}` is listed twice"));
        }
        keys.push(KeySpec {
            name: name.to_string(),
            length,
            format,
        });
    }
    if keys.is_empty() {
        return Err("lists no key".into());
    }
    Ok(keys)
}

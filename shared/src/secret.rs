//! A string that holds a credential. It cannot be printed by accident: `Debug` and `Display`
//! show a redaction marker, so a secret that reaches a log line or an error says nothing.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::fmt;

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`), `%` included.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A user, password or database name as a URL carries it: every byte outside RFC 3986's
/// unreserved set percent-encoded. Node's `decodeURIComponent` (node-redis, ioredis,
/// node-postgres, postgres-js) throws on `%zz` and silently turns `%41` into `A`, so only this
/// encoding reads back as the value itself.
pub fn url_component(value: &str) -> String {
    utf8_percent_encode(value, NOT_UNRESERVED).to_string()
}

/// A credential or a whole secret value. Read it only with [`SecretString::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a value that must never be logged.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: use it to talk to a backend or the secret store, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_url_components_then_only_unreserved_characters_stay() {
        assert_eq!(url_component("aZ09-._~"), "aZ09-._~");
        assert_eq!(
            url_component("p@ss:w/rd%41 é"),
            "p%40ss%3Aw%2Frd%2541%20%C3%A9"
        );
    }

    #[test]
    fn given_a_secret_when_formatted_then_the_value_is_hidden() {
        let s = SecretString::new("hunter2-very-secret");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-very-secret");
    }
}

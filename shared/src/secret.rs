//! A string that holds a credential. It cannot be printed by accident: `Debug` and `Display`
//! show a redaction marker, so a secret that reaches a log line or an error says nothing.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};
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

/// A secret value that is not what it should be. The message names the secret (its label) and
/// the field, never a value: a secret may hold more credentials than ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSecret(pub String);

impl fmt::Display for InvalidSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The one reader of a secret's JSON fields, for every backend, with one wording: a missing
/// field, an empty one and one of the wrong type each read the same whichever secret it is.
#[derive(Clone)]
pub struct Fields {
    map: Map<String, Value>,
    label: String,
}

impl Fields {
    /// The secret's JSON object, or `{label} is not a JSON object like {like}`.
    pub fn parse(raw: &SecretString, label: &str, like: &str) -> Result<Self, InvalidSecret> {
        match serde_json::from_str::<Value>(raw.expose()) {
            Ok(Value::Object(map)) => Ok(Self::of(map, label)),
            _ => Err(InvalidSecret(format!(
                "{label} is not a JSON object like {like}"
            ))),
        }
    }

    /// Fields already parsed.
    pub fn of(map: Map<String, Value>, label: &str) -> Self {
        Self {
            map,
            label: label.to_string(),
        }
    }

    /// The object itself.
    pub fn map(&self) -> &Map<String, Value> {
        &self.map
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.map
    }

    /// `{label} {what}`: what is wrong, named by field.
    pub fn invalid(&self, what: impl fmt::Display) -> InvalidSecret {
        InvalidSecret(format!("{} {what}", self.label))
    }

    /// A text field: absent or null is `None`; empty, or not a string, is an error.
    pub fn text(&self, name: &str) -> Result<Option<String>, InvalidSecret> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(self.invalid(format!("has an empty `{name}` field"))),
            Some(_) => Err(self.invalid(format!("field `{name}` must be a string"))),
        }
    }

    /// A text field that must be there.
    pub fn required(&self, name: &str) -> Result<String, InvalidSecret> {
        self.text(name)?
            .ok_or_else(|| self.invalid(format!("has no `{name}` field")))
    }

    /// A port, as a number or a string of digits, 1 to 65535.
    pub fn port(&self, name: &str) -> Result<Option<u16>, InvalidSecret> {
        let bad = || self.invalid(format!("field `{name}` must be a port number"));
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .map(Some)
                .ok_or_else(bad),
            Some(Value::String(s)) => s
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .map(Some)
                .ok_or_else(bad),
            Some(_) => Err(bad()),
        }
    }

    /// A JSON boolean.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, InvalidSecret> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.invalid(format!("field `{name}` must be true or false"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wording every backend's secret errors share.
    #[test]
    fn given_bad_fields_then_each_error_names_the_secret_and_the_field_never_a_value() {
        let raw = SecretString::new(
            r#"{"user": "", "n": 5, "port": "99999", "tls": "yes", "ok": "fine-topsecret"}"#,
        );
        let f = Fields::parse(&raw, "AWSCURRENT", "{\"x\"}").unwrap();
        for (got, expect) in [
            (
                f.text("user").unwrap_err(),
                "AWSCURRENT has an empty `user` field",
            ),
            (
                f.text("n").unwrap_err(),
                "AWSCURRENT field `n` must be a string",
            ),
            (
                f.required("host").unwrap_err(),
                "AWSCURRENT has no `host` field",
            ),
            (
                f.port("port").unwrap_err(),
                "AWSCURRENT field `port` must be a port number",
            ),
            (
                f.flag("tls").unwrap_err(),
                "AWSCURRENT field `tls` must be true or false",
            ),
        ] {
            assert_eq!(got.0, expect);
        }
        assert_eq!(f.text("ok").unwrap().as_deref(), Some("fine-topsecret"));
        assert_eq!(f.text("absent").unwrap(), None);
        let err = Fields::parse(&SecretString::new("topsecret"), "AWSPENDING", "{\"x\"}").err();
        assert_eq!(
            err.map(|e| e.0),
            Some("AWSPENDING is not a JSON object like {\"x\"}".to_string())
        );
    }

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

//! The PostgreSQL secret as Macro AI stores it, `{username, password, engine: "postgres", host,
//! port, dbname, sslmode?, masterarn?}`, and the rules a rotation must keep. Unknown fields are
//! kept untouched when a new version is made.

use serde_json::{Map, Value};

use crate::rotation::BackendError;
use crate::secret::SecretString;

/// The suffix of the second login in the alternating-users strategy.
pub const CLONE_SUFFIX: &str = "_clone";
/// PostgreSQL truncates identifiers longer than this many bytes.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// How the connection is protected. The default is `require`: never a silent plaintext fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    Prefer,
    #[default]
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// How the rotation changes credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// The same role gets a new password (logged in as itself).
    SingleUser,
    /// The pending version uses the other of `<user>` / `<user>_clone`, set up by the admin login
    /// in the secret named by `masterarn`.
    Alternating { master_arn: String },
}

/// A parsed PostgreSQL secret. `Debug` shows where and who, never the password or the values
/// of other fields (a secret may hold more credentials than ours).
#[derive(Clone)]
pub struct PgSecret {
    fields: Map<String, Value>,
    pub username: String,
    pub password: SecretString,
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub sslmode: SslMode,
    pub masterarn: Option<String>,
}

impl std::fmt::Debug for PgSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSecret")
            .field("username", &self.username)
            .field("password", &self.password)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .field("masterarn", &self.masterarn)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PgSecret {
    /// Parses a secret value; `label` says which one in errors ("AWSCURRENT", "the master secret").
    /// Errors name fields, never values.
    pub fn parse(raw: &SecretString, label: &str) -> Result<Self, BackendError> {
        let bad = |what: String| BackendError::invalid_secret(format!("{label} {what}"));
        let fields = match serde_json::from_str::<Value>(raw.expose()) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(bad(
                    "is not a JSON object like {\"username\", \"password\", \"engine\": \
                     \"postgres\", \"host\", \"port\", \"dbname\"}"
                        .into(),
                ));
            }
        };
        let text = |name: &str, required: bool| -> Result<Option<String>, BackendError> {
            match fields.get(name) {
                None | Some(Value::Null) if !required => Ok(None),
                None | Some(Value::Null) => Err(bad(format!("has no `{name}` field"))),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(Value::String(_)) => Err(bad(format!("has an empty `{name}` field"))),
                Some(_) => Err(bad(format!("field `{name}` must be a string"))),
            }
        };
        let required = |name: &str| text(name, true).map(Option::unwrap_or_default);

        let engine = required("engine")?;
        if engine != "postgres" {
            return Err(bad(format!(
                "has engine `{}`, not `postgres`: this function rotates PostgreSQL secrets only",
                engine.chars().take(32).collect::<String>()
            )));
        }
        let username = required("username")?;
        if username.len() > MAX_IDENTIFIER_BYTES || username.contains('\0') {
            return Err(bad(
                "field `username` is not a valid PostgreSQL role name".into()
            ));
        }
        let password = SecretString::new(required("password")?);
        let host = required("host")?;
        let port = match fields.get("port") {
            None | Some(Value::Null) => 5432,
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("field `port` must be a port number".into()))?,
            Some(Value::String(s)) => s
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("field `port` must be a port number".into()))?,
            Some(_) => return Err(bad("field `port` must be a port number".into())),
        };
        let dbname = text("dbname", false)?.unwrap_or_else(|| "postgres".into());
        let sslmode =
            match text("sslmode", false)? {
                None => SslMode::default(),
                Some(s) => SslMode::parse(&s).ok_or_else(|| {
                    bad("field `sslmode` must be disable, prefer, require, verify-ca or verify-full"
                    .into())
                })?,
            };
        let masterarn = text("masterarn", false)?;
        Ok(Self {
            fields,
            username,
            password,
            host,
            port,
            dbname,
            sslmode,
            masterarn,
        })
    }

    pub fn strategy(&self) -> Strategy {
        match &self.masterarn {
            None => Strategy::SingleUser,
            Some(arn) => Strategy::Alternating {
                master_arn: arn.clone(),
            },
        }
    }

    /// The same secret with another login: every other field, known or not, kept as it was.
    pub fn with_login(&self, username: &str, password: &SecretString) -> SecretString {
        let mut fields = self.fields.clone();
        fields.insert("username".into(), Value::from(username));
        fields.insert("password".into(), Value::from(password.expose()));
        SecretString::new(Value::Object(fields).to_string())
    }

    /// True when both point at the same server (host compared without case, and port).
    pub fn same_server(&self, other: &PgSecret) -> bool {
        self.host.eq_ignore_ascii_case(&other.host) && self.port == other.port
    }
}

/// The other login of the alternating pair: `app` ↔ `app_clone`.
pub fn alternate_username(username: &str) -> Result<String, BackendError> {
    if let Some(base) = username
        .strip_suffix(CLONE_SUFFIX)
        .filter(|b| !b.is_empty())
    {
        return Ok(base.to_string());
    }
    let clone = format!("{username}{CLONE_SUFFIX}");
    if clone.len() > MAX_IDENTIFIER_BYTES {
        return Err(BackendError::invalid_secret(format!(
            "username is too long to add `{CLONE_SUFFIX}` (PostgreSQL allows {MAX_IDENTIFIER_BYTES} bytes)"
        )));
    }
    Ok(clone)
}

/// The role that owns what either login of the pair creates: the name without `_clone`.
pub fn owner_username(username: &str) -> &str {
    username
        .strip_suffix(CLONE_SUFFIX)
        .filter(|b| !b.is_empty())
        .unwrap_or(username)
}

/// Checks that `pending` is an allowed successor of `current` under the current strategy.
pub fn check_successor(current: &PgSecret, pending: &PgSecret) -> Result<(), BackendError> {
    if !current.same_server(pending) {
        return Err(BackendError::refused(
            "AWSPENDING points at another server (host or port) than AWSCURRENT: a rotation \
             changes credentials only; update the secret's host outside rotation",
        ));
    }
    if current.masterarn != pending.masterarn {
        return Err(BackendError::refused(
            "AWSPENDING and AWSCURRENT disagree on `masterarn`: the rotation strategy cannot \
             change during a rotation",
        ));
    }
    let expected = match current.strategy() {
        Strategy::SingleUser => current.username.clone(),
        Strategy::Alternating { .. } => alternate_username(&current.username)?,
    };
    if pending.username != expected {
        return Err(BackendError::refused(format!(
            "AWSPENDING has username `{}` but this strategy expects `{expected}` after `{}`",
            pending.username, current.username
        )));
    }
    Ok(())
}

/// `"name"` with inner quotes doubled: a safe SQL identifier for any role name.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A safe SQL string literal whatever `standard_conforming_strings` is (PostgreSQL's
/// `quote_literal`): quotes doubled, and backslashes doubled inside `E'...'`.
pub fn quote_literal(value: &str) -> String {
    let body = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(v: Value) -> SecretString {
        SecretString::new(v.to_string())
    }

    fn base() -> Value {
        json!({"username": "macro_ai_app", "password": "p4ss-word", "engine": "postgres",
               "host": "db.internal", "port": 5432, "dbname": "macro_ai", "extra": {"k": [1]}})
    }

    #[test]
    fn given_a_secret_when_debug_formatted_then_no_password_or_other_value_is_shown() {
        let mut v = base();
        v["password"] = json!("hunter2-pg-pw");
        v["apiToken"] = json!("other-value-7");
        let s = PgSecret::parse(&secret(v), "AWSCURRENT").unwrap();
        let shown = format!("{s:?} {s:#?}");
        assert!(
            shown.contains("macro_ai_app") && shown.contains("apiToken"),
            "{shown}"
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("other-value-7"),
            "{shown}"
        );
    }

    #[test]
    fn given_a_seed_secret_when_parsed_then_fields_and_defaults_are_read() {
        let s = PgSecret::parse(&secret(base()), "AWSCURRENT").unwrap();
        assert_eq!(
            (
                s.username.as_str(),
                s.host.as_str(),
                s.port,
                s.dbname.as_str()
            ),
            ("macro_ai_app", "db.internal", 5432, "macro_ai")
        );
        assert_eq!(s.sslmode, SslMode::Require);
        assert_eq!(s.strategy(), Strategy::SingleUser);
    }

    #[test]
    fn given_a_new_login_then_every_other_field_is_kept() {
        let s = PgSecret::parse(&secret(base()), "AWSCURRENT").unwrap();
        let out = s.with_login("macro_ai_app_clone", &SecretString::new("n3w"));
        let v: Value = serde_json::from_str(out.expose()).unwrap();
        let mut expected = base();
        expected["username"] = json!("macro_ai_app_clone");
        expected["password"] = json!("n3w");
        assert_eq!(v, expected);
    }

    #[test]
    fn given_bad_secrets_then_errors_name_the_problem_but_never_the_values() {
        let cases = [
            (json!("just-a-string-secret"), "is not a JSON object"),
            (
                json!({"username": "u", "engine": "postgres", "host": "h"}),
                "no `password`",
            ),
            (
                json!({"username": "u", "password": "topsecret", "engine": "mysql", "host": "h"}),
                "engine `mysql`",
            ),
            (
                json!({"username": "u", "password": "topsecret", "engine": "postgres", "host": "h",
                    "port": "topsecret"}),
                "`port` must be a port number",
            ),
            (
                json!({"username": "u", "password": "topsecret", "engine": "postgres", "host": "h",
                    "sslmode": "allow"}),
                "`sslmode` must be",
            ),
            (
                json!({"username": "u", "password": 5, "engine": "postgres", "host": "h"}),
                "`password` must be a string",
            ),
        ];
        for (value, expect) in cases {
            let err = PgSecret::parse(&secret(value.clone()), "AWSCURRENT").unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(expect), "{value}: {msg}");
            assert!(
                !msg.contains("topsecret") && !msg.contains("just-a-string"),
                "{msg}"
            );
        }
        let non_json = PgSecret::parse(&SecretString::new("not json {"), "AWSCURRENT").unwrap_err();
        assert!(!non_json.to_string().contains("not json"));
    }

    #[test]
    fn given_usernames_then_the_alternate_toggles_and_the_owner_is_the_base() {
        assert_eq!(alternate_username("app").unwrap(), "app_clone");
        assert_eq!(alternate_username("app_clone").unwrap(), "app");
        assert_eq!(alternate_username("_clone").unwrap(), "_clone_clone");
        assert_eq!(owner_username("app_clone"), "app");
        assert_eq!(owner_username("app"), "app");
        assert!(alternate_username(&"x".repeat(60)).is_err());
    }

    #[test]
    fn given_successors_then_only_the_strategy_s_changes_are_allowed() {
        let cur = PgSecret::parse(&secret(base()), "AWSCURRENT").unwrap();
        let mut moved = base();
        moved["host"] = json!("evil.example");
        let moved = PgSecret::parse(&secret(moved), "AWSPENDING").unwrap();
        assert!(check_successor(&cur, &moved).is_err());
        let mut renamed = base();
        renamed["username"] = json!("other");
        let renamed = PgSecret::parse(&secret(renamed), "AWSPENDING").unwrap();
        assert!(check_successor(&cur, &renamed).is_err());
        assert!(check_successor(&cur, &cur).is_ok());

        let mut alt = base();
        alt["masterarn"] = json!("arn:master");
        let alt_cur = PgSecret::parse(&secret(alt.clone()), "AWSCURRENT").unwrap();
        assert!(check_successor(&alt_cur, &alt_cur).is_err());
        alt["username"] = json!("macro_ai_app_clone");
        let alt_pen = PgSecret::parse(&secret(alt), "AWSPENDING").unwrap();
        assert!(check_successor(&alt_cur, &alt_pen).is_ok());
    }

    #[test]
    fn given_hostile_names_and_values_then_quoting_is_safe() {
        assert_eq!(quote_ident("app"), "\"app\"");
        assert_eq!(
            quote_ident("a\"; DROP ROLE x; --"),
            "\"a\"\"; DROP ROLE x; --\""
        );
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\'b"), "E'a\\\\''b'");
    }
}

//! The PostgreSQL secret as Macro AI stores it, `{username, password, engine, host, port, dbname,
//! sslmode?, masterarn?}` (engine `postgres` or `aurora-postgresql`), the master secret of the
//! alternating strategy (RDS-managed ones hold only `username` and `password`), and the rules a
//! rotation must keep. Unknown fields are kept untouched when a new version is made, but for
//! `url` (what the seed's postgres-js client reads), which follows the new login.

use serde_json::{Map, Value};

use crate::rotation::BackendError;
use crate::secret::{Fields, SecretString};

/// The suffix of the second login in the alternating-users strategy.
pub const CLONE_SUFFIX: &str = "_clone";
/// PostgreSQL truncates identifiers longer than this many bytes.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// How the connection is protected. The default is `require`: never a silent plaintext fallback.
/// Ordered from weakest to strongest, so two settings combine to the stronger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum SslMode {
    Disable,
    Prefer,
    #[default]
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// The name as libpq and the secret spell it.
    pub fn parse(s: &str) -> Option<Self> {
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

/// The engines whose secrets this backend rotates (compared without case): RDS for PostgreSQL,
/// and Aurora PostgreSQL (the seed's cluster).
pub const ENGINES: [&str; 2] = ["postgres", "aurora-postgresql"];

/// Where and how a login reaches the server. Every login a step makes uses AWSCURRENT's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub sslmode: SslMode,
}

/// The admin login of the alternating strategy, at the app secret's endpoint.
#[derive(Debug)]
pub struct MasterLogin {
    pub username: String,
    pub password: SecretString,
    pub endpoint: Endpoint,
}

/// What a PostgreSQL secret looks like, for the error when it is not a JSON object.
const LIKE: &str =
    "{\"username\", \"password\", \"engine\": \"postgres\", \"host\", \"port\", \"dbname\"}";

/// A field that reaches the connection (user, host, database): no control characters. A NUL
/// would end the value inside PostgreSQL's startup packet and smuggle in parameters of its own
/// (a `search_path` that overrides the function's).
fn connection_text(f: &Fields, name: &str) -> Result<Option<String>, BackendError> {
    let value = f.text(name)?;
    if value
        .as_deref()
        .is_some_and(|v| v.chars().any(char::is_control))
    {
        return Err(f
            .invalid(format!("field `{name}` contains control characters"))
            .into());
    }
    Ok(value)
}

fn sslmode(f: &Fields) -> Result<Option<SslMode>, BackendError> {
    f.text("sslmode")?
        .map(|s| {
            SslMode::parse(&s).ok_or_else(|| {
                f.invalid(
                    "field `sslmode` must be disable, prefer, require, verify-ca or verify-full",
                )
                .into()
            })
        })
        .transpose()
}

fn engine(f: &Fields, required: bool) -> Result<(), BackendError> {
    let engine = match f.text("engine")? {
        Some(e) => e,
        None if required => return Err(f.invalid("has no `engine` field").into()),
        None => return Ok(()),
    };
    if ENGINES.iter().any(|e| e.eq_ignore_ascii_case(&engine)) {
        return Ok(());
    }
    Err(f
        .invalid(format!(
            "has engine `{}`, not `postgres` or `aurora-postgresql`: this function rotates \
             PostgreSQL secrets only",
            engine.chars().take(32).collect::<String>()
        ))
        .into())
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
        let read = Fields::parse(raw, label, LIKE)?;
        engine(&read, true)?;
        let username = connection_text(&read, "username")?
            .ok_or_else(|| BackendError::from(read.invalid("has no `username` field")))?;
        if username.len() > MAX_IDENTIFIER_BYTES {
            return Err(BackendError::from(
                read.invalid("field `username` is not a valid PostgreSQL role name"),
            ));
        }
        let password = SecretString::new(read.required("password")?);
        let host = connection_text(&read, "host")?
            .ok_or_else(|| BackendError::from(read.invalid("has no `host` field")))?;
        let port = read.port("port")?.unwrap_or(5432);
        let dbname = connection_text(&read, "dbname")?.unwrap_or_else(|| "postgres".into());
        let sslmode = sslmode(&read)?.unwrap_or_default();
        let masterarn = read.text("masterarn")?;
        Ok(Self {
            fields: read.into_map(),
            username,
            password,
            host,
            port,
            dbname,
            sslmode,
            masterarn,
        })
    }

    /// Where this secret's login goes.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: self.host.clone(),
            port: self.port,
            dbname: self.dbname.clone(),
            sslmode: self.sslmode,
        }
    }

    /// Parses the master secret named by `masterarn`. An RDS-managed master secret holds only
    /// `username` and `password`: database and TLS come from this (the app) secret. The host the
    /// master logs in to never comes from the app secret, which someone with only
    /// `PutSecretValue` may have rewritten: it is the master secret's own `host`, else `pinned`
    /// (the function's `PG_HOST`/`PG_PORT`), else the rotation is refused. A master secret that
    /// names another server than the app secret is refused; its `sslmode` can only make the
    /// login stricter than the app secret's, never weaker.
    pub fn master_login(
        &self,
        raw: &SecretString,
        pinned: Option<(&str, u16)>,
    ) -> Result<MasterLogin, BackendError> {
        let label = "the master secret";
        let read = Fields::parse(raw, label, LIKE)?;
        engine(&read, false)?;
        let username = connection_text(&read, "username")?
            .ok_or_else(|| BackendError::from(read.invalid("has no `username` field")))?;
        let password = SecretString::new(read.required("password")?);
        let (host, port) = match (connection_text(&read, "host")?, pinned) {
            (Some(host), _) => (host, read.port("port")?.unwrap_or(5432)),
            (None, Some((host, port))) => (host.to_string(), port),
            (None, None) => {
                return Err(BackendError::refused(
                    "the master secret names no host (an RDS-managed secret holds only the \
                     login) and PG_HOST is not set: the master's password is sent only to a \
                     host the app secret cannot change; set the template's DatabaseHost",
                ));
            }
        };
        if !host.eq_ignore_ascii_case(&self.host) || port != self.port {
            return Err(BackendError::refused(
                "the master secret points at another server than the secret being rotated",
            ));
        }
        let mut endpoint = self.endpoint();
        endpoint.host = host;
        endpoint.port = port;
        // The master's database is never the app secret's to choose (it could hold objects the
        // app's owner planted): the master secret's own, else `postgres`, which RDS and Aurora
        // always have. Roles are cluster-wide, so any database serves.
        endpoint.dbname = connection_text(&read, "dbname")?.unwrap_or_else(|| "postgres".into());
        if let Some(mode) = sslmode(&read)? {
            endpoint.sslmode = endpoint.sslmode.max(mode);
        }
        Ok(MasterLogin {
            username,
            password,
            endpoint,
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

    /// The same secret with another login: every other field, known or not, kept as it was, and
    /// a `url` rewritten to the new login (the user, the percent-encoded password, host, port and
    /// dbname from the secret's own fields, its query such as `sslmode` kept).
    pub fn with_login(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<SecretString, BackendError> {
        let mut fields = self.fields.clone();
        if let Some(url) = fields.get("url") {
            let url = url.as_str().ok_or_else(|| {
                BackendError::invalid_secret("AWSCURRENT: field `url` must be a string")
            })?;
            let url = self.login_url(url, username, password)?;
            fields.insert("url".into(), Value::from(url));
        }
        fields.insert("username".into(), Value::from(username));
        fields.insert("password".into(), Value::from(password.expose()));
        Ok(SecretString::new(Value::Object(fields).to_string()))
    }

    /// `<scheme>://<user>:<password>@<host>:<port>/<dbname>[?<query of old>]`, read back as a
    /// client reads it before it is written: a host or dbname that would not come back whole is
    /// refused. Errors never quote the URL (it holds a password).
    fn login_url(
        &self,
        old: &str,
        username: &str,
        password: &SecretString,
    ) -> Result<String, BackendError> {
        use crate::secret::url_component;
        let bad =
            |what: &str| BackendError::invalid_secret(format!("AWSCURRENT: field `url` {what}"));
        let parsed = url::Url::parse(old).map_err(|_| bad("is not a URL"))?;
        let scheme = parsed.scheme();
        if scheme != "postgres" && scheme != "postgresql" {
            return Err(bad("must be a postgres:// or postgresql:// URL"));
        }
        // Query parameters that some clients let override the login or server it carries.
        if let Some((key, _)) = parsed.query_pairs().find(|(k, _)| {
            ["user", "password", "passfile", "host", "port", "dbname"]
                .iter()
                .any(|o| k.eq_ignore_ascii_case(o))
        }) {
            return Err(bad(&format!(
                "sets `{}` in its query, which would override the login or server it carries",
                crate::event::short(&key)
            )));
        }
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let mut url = format!(
            "{scheme}://{}:{}@{host}:{}/{}",
            url_component(username),
            url_component(password.expose()),
            self.port,
            url_component(&self.dbname)
        );
        if let Some(query) = parsed.query() {
            url.push('?');
            url.push_str(query);
        }
        let decoded = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|d| d.into_owned())
                .ok()
        };
        let back = url::Url::parse(&url).ok();
        let whole = back.is_some_and(|u| {
            decoded(u.username()).as_deref() == Some(username)
                && u.password().and_then(decoded).as_deref() == Some(password.expose())
                && u.host_str().is_some_and(|h| {
                    h.trim_start_matches('[')
                        .trim_end_matches(']')
                        .eq_ignore_ascii_case(&self.host)
                })
                && u.port() == Some(self.port)
                && u.path().strip_prefix('/').and_then(decoded).as_deref() == Some(&self.dbname)
        });
        if !whole {
            return Err(bad(
                "cannot carry the secret's host and dbname (they do not read back)",
            ));
        }
        Ok(url)
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
    if pending.sslmode < current.sslmode {
        return Err(BackendError::refused(
            "AWSPENDING's `sslmode` is weaker than AWSCURRENT's: a rotation never lowers TLS",
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
    // `x_clone_clone` → `x_clone` would leave the pair (`x`, `x_clone`) without the user whose
    // login proves possession.
    if owner_username(&current.username) != owner_username(&expected) {
        return Err(BackendError::refused(format!(
            "username `{}` is not one of a pair `<user>` / `<user>{CLONE_SUFFIX}`: refused",
            current.username
        )));
    }
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
        let out = s
            .with_login("macro_ai_app_clone", &SecretString::new("n3w"))
            .unwrap();
        let v: Value = serde_json::from_str(out.expose()).unwrap();
        let mut expected = base();
        expected["username"] = json!("macro_ai_app_clone");
        expected["password"] = json!("n3w");
        assert_eq!(v, expected);
    }

    #[test]
    fn given_a_url_then_it_follows_the_new_login_and_keeps_its_query() {
        let mut v = base();
        v["url"] = json!(
            "postgresql://macro_ai_app:old%21@db.internal:5432/macro_ai?sslmode=require&application_name=api"
        );
        let s = PgSecret::parse(&secret(v), "AWSCURRENT").unwrap();
        let password = "a#b%c?d&e f+g=h;i[j]k{l}m!n*o(p)q$r,s^t|u<v>w~x-y_z.";
        let out = s
            .with_login("macro_ai_app_clone", &SecretString::new(password))
            .unwrap();
        let v: Value = serde_json::from_str(out.expose()).unwrap();
        let url = v["url"].as_str().unwrap();
        let (login, rest) = url
            .strip_prefix("postgresql://")
            .and_then(|u| u.split_once('@'))
            .unwrap();
        assert_eq!(
            rest,
            format!(
                "{}:5432/{}?sslmode=require&application_name=api",
                base()["host"].as_str().unwrap(),
                base()["dbname"].as_str().unwrap()
            )
        );
        let (user, pass) = login.split_once(':').unwrap();
        assert_eq!(user, "macro_ai_app_clone");
        assert_eq!(
            crate::fakes::decode_uri_component(pass).as_deref(),
            Some(password)
        );
        assert!(
            pass.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
            "{pass}"
        );
        // An IPv6 host is bracketed; a secret without `url` gets none.
        let mut v = base();
        v["host"] = json!("::1");
        v["url"] = json!("postgres://u:p@[::1]:5432/x");
        let out = PgSecret::parse(&secret(v), "AWSCURRENT")
            .unwrap()
            .with_login("u", &SecretString::new("p"))
            .unwrap();
        assert!(
            out.expose().contains("postgres://u:p@[::1]:5432/"),
            "{}",
            out.expose()
        );
        let out = PgSecret::parse(&secret(base()), "AWSCURRENT")
            .unwrap()
            .with_login("u", &SecretString::new("p"))
            .unwrap();
        assert!(!out.expose().contains("url"));
    }

    #[test]
    fn given_a_url_that_cannot_follow_then_it_is_refused_without_quoting_it() {
        for (url, says) in [
            (json!(5), "must be a string"),
            (json!("not a url hunter2"), "is not a URL"),
            (json!("redis://u:hunter2@h:1/x"), "postgres://"),
            (json!("mysql://u:hunter2@h/x"), "postgres://"),
            (
                json!("postgres://u:p@h:1/x?password=hunter2"),
                "`password` in its query",
            ),
            (
                json!("postgres://u:p@h:1/x?sslmode=require&User=x"),
                "`User` in its query",
            ),
        ] {
            let mut v = base();
            v["url"] = url.clone();
            let e = PgSecret::parse(&secret(v), "AWSCURRENT")
                .unwrap()
                .with_login("u", &SecretString::new("p"))
                .unwrap_err();
            assert!(
                e.message.contains(says) && !e.message.contains("hunter2"),
                "{url}: {}",
                e.message
            );
        }
        let mut v = base();
        v["host"] = json!("db.internal/evil?x=");
        v["url"] = json!("postgres://u:p@db.internal:5432/x");
        let e = PgSecret::parse(&secret(v), "AWSCURRENT")
            .unwrap()
            .with_login("u", &SecretString::new("p"))
            .unwrap_err();
        assert!(e.message.contains("do not read back"), "{}", e.message);
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
        // `x_clone_clone` is no user of a pair.
        let mut twice = base();
        twice["masterarn"] = json!("arn:master");
        twice["username"] = json!("x_clone_clone");
        let twice_cur = PgSecret::parse(&secret(twice.clone()), "AWSCURRENT").unwrap();
        twice["username"] = json!("x_clone");
        let twice_pen = PgSecret::parse(&secret(twice), "AWSPENDING").unwrap();
        let err = check_successor(&twice_cur, &twice_pen).unwrap_err();
        assert!(err.to_string().contains("not one of a pair"), "{err}");
    }

    #[test]
    fn given_control_characters_in_a_connection_field_then_the_secret_is_refused() {
        for field in ["username", "host", "dbname"] {
            let mut v = base();
            v[field] = json!("macro_ai\u{0}search_path\u{0}public,pg_catalog");
            let err = PgSecret::parse(&secret(v), "AWSCURRENT").unwrap_err();
            assert!(
                err.to_string().contains("control characters"),
                "{field}: {err}"
            );
        }
        let app = PgSecret::parse(&secret(base()), "AWSCURRENT").unwrap();
        let err = app
            .master_login(
                &secret(
                    json!({"username": "postgres", "password": "m", "host": "db.internal",
                               "dbname": "x\u{0}options\u{0}-c"}),
                ),
                None,
            )
            .unwrap_err();
        assert!(err.to_string().contains("control characters"), "{err}");
    }

    #[test]
    fn given_aurora_and_mixed_case_engines_then_they_are_accepted() {
        for engine in ["aurora-postgresql", "Aurora-PostgreSQL", "POSTGRES"] {
            let mut v = base();
            v["engine"] = json!(engine);
            assert!(
                PgSecret::parse(&secret(v), "AWSCURRENT").is_ok(),
                "{engine}"
            );
        }
        let mut v = base();
        v["engine"] = json!("aurora-mysql");
        let err = PgSecret::parse(&secret(v), "AWSCURRENT").unwrap_err();
        assert!(err.to_string().contains("aurora-mysql"), "{err}");
    }

    #[test]
    fn given_an_rds_managed_master_secret_then_the_endpoint_comes_from_the_app_secret() {
        let mut app = base();
        app["sslmode"] = json!("verify-full");
        let app = PgSecret::parse(&secret(app), "AWSCURRENT").unwrap();
        // rds!cluster-… secrets hold exactly these two fields.
        let managed = json!({"username": "postgres", "password": "m4ster"});
        // Without a pin its password would go wherever the app secret says: refused.
        let err = app
            .master_login(&secret(managed.clone()), None)
            .unwrap_err();
        assert!(err.to_string().contains("PG_HOST"), "{err}");
        let m = app
            .master_login(&secret(managed), Some(("db.internal", 5432)))
            .unwrap();
        assert_eq!(
            (m.username.as_str(), m.password.expose()),
            ("postgres", "m4ster")
        );
        let mut expected = app.endpoint();
        expected.dbname = "postgres".into();
        assert_eq!(
            m.endpoint, expected,
            "the master's database is never the app's"
        );
        // A rewritten app host is not where the pinned master goes: refused.
        let mut moved = base();
        moved["host"] = json!("evil.example");
        let moved = PgSecret::parse(&secret(moved), "AWSCURRENT").unwrap();
        let err = moved
            .master_login(
                &secret(json!({"username": "postgres", "password": "m"})),
                Some(("db.internal", 5432)),
            )
            .unwrap_err();
        assert!(err.to_string().contains("another server"), "{err}");

        // A master secret may be stricter, never weaker, and never elsewhere.
        let weaker = json!({"username": "postgres", "password": "m", "sslmode": "disable",
                            "host": "DB.internal", "port": 5432, "dbname": "admin"});
        let m = app.master_login(&secret(weaker), None).unwrap();
        assert_eq!(m.endpoint.sslmode, SslMode::VerifyFull);
        assert_eq!(m.endpoint.dbname, "admin");
        let plain = PgSecret::parse(&secret(base()), "AWSCURRENT").unwrap();
        let stricter = json!({"username": "postgres", "password": "m", "sslmode": "verify-ca"});
        assert_eq!(
            plain
                .master_login(&secret(stricter), Some(("db.internal", 5432)))
                .unwrap()
                .endpoint
                .sslmode,
            SslMode::VerifyCa
        );
        for elsewhere in [
            json!({"username": "postgres", "password": "m", "host": "evil.example"}),
            json!({"username": "postgres", "password": "m", "host": "db.internal", "port": 6543}),
        ] {
            let err = app.master_login(&secret(elsewhere), None).unwrap_err();
            assert!(err.to_string().contains("another server"), "{err}");
        }
        let err = app
            .master_login(&secret(json!({"username": "postgres"})), None)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("the master secret has no `password`"),
            "{err}"
        );
    }

    #[test]
    fn given_a_pending_version_with_weaker_tls_then_it_is_refused() {
        let mut cur = base();
        cur["sslmode"] = json!("verify-full");
        let cur = PgSecret::parse(&secret(cur), "AWSCURRENT").unwrap();
        let mut pen = base();
        pen["sslmode"] = json!("disable");
        let pen = PgSecret::parse(&secret(pen), "AWSPENDING").unwrap();
        let err = check_successor(&cur, &pen).unwrap_err();
        assert!(err.to_string().contains("never lowers TLS"), "{err}");
        assert!(SslMode::Disable < SslMode::Prefer && SslMode::Require < SslMode::VerifyCa);
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

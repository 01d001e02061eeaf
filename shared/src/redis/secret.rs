//! The Redis secret in both shapes Macro AI uses: `{"url": "redis://user:pass@host:port/db"}`
//! (`rediss://` for TLS) and `{"username","password","host","port","tls"}`, plus an optional
//! `"adminarn"`. A new version keeps the shape it had and every other field.

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::rotation::BackendError;
use crate::secret::SecretString;

const DEFAULT_PORT: u16 = 6379;

#[derive(Clone, PartialEq, Eq)]
enum Shape {
    Url(url::Url),
    Fields,
}

/// A parsed Redis secret. `Debug` shows where and who, never the password, the URL (which holds
/// it) or the values of other fields.
#[derive(Clone)]
pub struct RedisSecret {
    fields: Map<String, Value>,
    shape: Shape,
    pub username: String,
    pub password: SecretString,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub adminarn: Option<String>,
}

impl std::fmt::Debug for RedisSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shape = match self.shape {
            Shape::Url(_) => "url",
            Shape::Fields => "fields",
        };
        f.debug_struct("RedisSecret")
            .field("shape", &shape)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("adminarn", &self.adminarn)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl RedisSecret {
    /// Parses a secret value; errors name fields, never values (a URL holds the password).
    pub fn parse(raw: &SecretString, label: &str) -> Result<Self, BackendError> {
        let bad = |what: &str| BackendError::invalid_secret(format!("{label} {what}"));
        let fields = match serde_json::from_str::<Value>(raw.expose()) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(bad(
                    "is not a JSON object like {\"url\": \"redis://user:pass@host:port\"} or \
                     {\"username\", \"password\", \"host\", \"port\", \"tls\"}",
                ));
            }
        };
        let text = |name: &str| -> Result<Option<String>, BackendError> {
            match fields.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(bad(&format!("field `{name}` must be a non-empty string"))),
            }
        };
        let adminarn = text("adminarn")?;
        if let Some(raw_url) = text("url")? {
            let url = url::Url::parse(&raw_url)
                .map_err(|_| bad("field `url` is not a valid redis:// or rediss:// URL"))?;
            let tls = match url.scheme() {
                "redis" => false,
                "rediss" => true,
                _ => return Err(bad("field `url` must use the redis:// or rediss:// scheme")),
            };
            let decode = |s: &str| {
                percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| bad("field `url` has a user or password that is not UTF-8"))
            };
            let username = match decode(url.username())? {
                u if u.is_empty() => "default".to_string(),
                u => u,
            };
            let password = decode(url.password().unwrap_or_default())?;
            if password.is_empty() {
                return Err(bad("field `url` has no password"));
            }
            let host = url
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| bad("field `url` has no host"))?
                .to_string();
            return Ok(Self {
                port: url.port().unwrap_or(DEFAULT_PORT),
                shape: Shape::Url(url),
                fields,
                username,
                password: SecretString::new(password),
                host,
                tls,
                adminarn,
            });
        }
        let password = text("password")?.ok_or_else(|| bad("has neither `url` nor `password`"))?;
        let host = text("host")?.ok_or_else(|| bad("has no `host` field"))?;
        let port = match fields.get("port") {
            None | Some(Value::Null) => DEFAULT_PORT,
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("field `port` must be a port number"))?,
            Some(Value::String(s)) => s
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("field `port` must be a port number"))?,
            Some(_) => return Err(bad("field `port` must be a port number")),
        };
        let tls = match fields.get("tls") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("field `tls` must be true or false")),
        };
        Ok(Self {
            username: text("username")?.unwrap_or_else(|| "default".into()),
            password: SecretString::new(password),
            host,
            port,
            tls,
            adminarn,
            shape: Shape::Fields,
            fields,
        })
    }

    /// The same secret with another password, in the shape it had.
    pub fn with_password(&self, password: &SecretString) -> Result<SecretString, BackendError> {
        let mut fields = self.fields.clone();
        match &self.shape {
            Shape::Url(url) => {
                let mut url = url.clone();
                url.set_password(Some(password.expose())).map_err(|_| {
                    BackendError::invalid_secret("the secret's `url` cannot carry a password")
                })?;
                fields.insert("url".into(), Value::from(url.as_str()));
            }
            Shape::Fields => {
                fields.insert("password".into(), Value::from(password.expose()));
            }
        }
        Ok(SecretString::new(Value::Object(fields).to_string()))
    }

    /// True when both name the same user on the same server with the same transport.
    pub fn same_login_target(&self, other: &RedisSecret) -> bool {
        self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
            && self.tls == other.tls
            && self.username == other.username
    }

    /// True when both point at the same server (host, port and transport).
    pub fn same_server(&self, other: &RedisSecret) -> bool {
        self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
            && self.tls == other.tls
    }

    /// `host:port (tls)` for messages.
    pub fn target(&self) -> String {
        format!(
            "user `{}` at {}:{}{}",
            self.username,
            self.host,
            self.port,
            if self.tls { " over TLS" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn given_both_shapes_when_debug_formatted_then_no_password_or_url_is_shown() {
        for raw in [
            json!({"url": "rediss://app:hunter2-url-pw@cache.internal:6380/0", "token": "other-value-7"}),
            json!({"username": "app", "password": "hunter2-field-pw", "host": "cache.internal",
                   "token": "other-value-7"}),
        ] {
            let s = RedisSecret::parse(&SecretString::new(raw.to_string()), "AWSCURRENT").unwrap();
            let shown = format!("{s:?} {s:#?}");
            assert!(
                shown.contains("cache.internal") && shown.contains("token"),
                "{shown}"
            );
            for hidden in ["hunter2", "other-value-7", "rediss://"] {
                assert!(!shown.contains(hidden), "{hidden} in {shown}");
            }
        }
    }

    fn secret(v: Value) -> SecretString {
        SecretString::new(v.to_string())
    }

    #[test]
    fn given_the_url_shape_then_user_password_host_and_tls_are_read() {
        let s = RedisSecret::parse(
            &secret(json!({"url": "rediss://macro_ai_app:p%40ss@cache.internal:6380/0", "x": 1})),
            "AWSCURRENT",
        )
        .unwrap();
        assert_eq!(
            (
                s.username.as_str(),
                s.password.expose(),
                s.host.as_str(),
                s.port,
                s.tls
            ),
            ("macro_ai_app", "p@ss", "cache.internal", 6380, true)
        );
        let plain = RedisSecret::parse(&secret(json!({"url": "redis://:pw@h"})), "c").unwrap();
        assert_eq!(
            (plain.username.as_str(), plain.port, plain.tls),
            ("default", 6379, false)
        );
    }

    #[test]
    fn given_a_new_password_then_the_shape_and_other_fields_are_kept() {
        let url = RedisSecret::parse(
            &secret(json!({"url": "rediss://app:old@cache:6380/2", "adminarn": "arn:a", "x": [1]})),
            "AWSCURRENT",
        )
        .unwrap();
        let new = SecretString::new("n#w/p?ss%:word");
        let out: Value = serde_json::from_str(url.with_password(&new).unwrap().expose()).unwrap();
        assert_eq!(
            (out["adminarn"].clone(), out["x"].clone()),
            (json!("arn:a"), json!([1]))
        );
        let again = RedisSecret::parse(&SecretString::new(out.to_string()), "AWSPENDING").unwrap();
        assert_eq!(again.password.expose(), "n#w/p?ss%:word");
        assert!(again.same_login_target(&url));
        assert!(out["url"].as_str().unwrap().starts_with("rediss://app:"));

        let fields = RedisSecret::parse(
            &secret(
                json!({"username": "app", "password": "old", "host": "h", "port": "6379",
                           "tls": true}),
            ),
            "AWSCURRENT",
        )
        .unwrap();
        let out: Value =
            serde_json::from_str(fields.with_password(&new).unwrap().expose()).unwrap();
        assert_eq!(
            out,
            json!({"username": "app", "password": "n#w/p?ss%:word", "host": "h",
                               "port": "6379", "tls": true})
        );
    }

    #[test]
    fn given_bad_secrets_then_errors_never_show_the_value() {
        for (v, expect) in [
            (
                json!({"url": "http://u:topsecret@h"}),
                "redis:// or rediss://",
            ),
            (json!({"url": "redis://u@h"}), "no password"),
            (json!({"url": "not a url topsecret"}), "not a valid"),
            (
                json!({"username": "u", "host": "h"}),
                "neither `url` nor `password`",
            ),
            (
                json!({"password": "topsecret", "host": "h", "tls": "yes"}),
                "`tls` must be",
            ),
            (json!("topsecret"), "not a JSON object"),
        ] {
            let err = RedisSecret::parse(&secret(v.clone()), "AWSCURRENT").unwrap_err();
            assert!(err.to_string().contains(expect), "{v}: {err}");
            assert!(!err.to_string().contains("topsecret"));
        }
    }
}

//! The Redis secret in both shapes Macro AI uses: `{"url": "redis://user:pass@host:port/db"}`
//! (`rediss://` for TLS) and `{"username","password","host","port","tls"}`, plus what says how
//! the password is changed: `"adminarn"` (a self-managed Redis's ACL), `"user_arn"` (an
//! ElastiCache RBAC user) or `"replication_group_id"` (an ElastiCache AUTH token). A new version
//! keeps the shape it had and every other field.

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::rotation::BackendError;
use crate::secret::{Fields, SecretString};

const DEFAULT_PORT: u16 = 6379;

#[derive(Clone, PartialEq, Eq)]
enum Shape {
    Url(url::Url),
    Fields,
}

/// How a secret's password is changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A self-managed Redis: the admin login named by `adminarn` runs `ACL SETUSER`.
    Acl { adminarn: String },
    /// An ElastiCache RBAC user: `ModifyUser` on the user `user_arn` names.
    ElastiCacheUser { user_arn: String },
    /// An ElastiCache AUTH token: `ModifyReplicationGroup` on the group.
    AuthToken { group_id: String },
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
    pub user_arn: Option<String>,
    pub replication_group_id: Option<String>,
    /// An admin secret's list of the primary's other nodes (`"host:port"`): ACL users are not
    /// replicated, so a self-managed rotation changes each node. Only an admin secret may say it.
    pub nodes: Vec<(String, u16)>,
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
            .field("user_arn", &self.user_arn)
            .field("replication_group_id", &self.replication_group_id)
            .field("nodes", &self.nodes)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl RedisSecret {
    /// Parses a secret value; errors name fields, never values (a URL holds the password).
    pub fn parse(raw: &SecretString, label: &str) -> Result<Self, BackendError> {
        let read = Fields::parse(
            raw,
            label,
            "{\"url\": \"redis://user:pass@host:port\"} or \
             {\"username\", \"password\", \"host\", \"port\", \"tls\"}",
        )?;
        let bad = |what: &str| BackendError::from(read.invalid(what));
        let text = |name: &str| read.text(name).map_err(BackendError::from);
        let adminarn = text("adminarn")?;
        let user_arn = text("user_arn")?;
        let replication_group_id = text("replication_group_id")?;
        let nodes = match read.map().get("nodes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().and_then(host_port))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("field `nodes` must list \"host:port\" strings"))?,
            Some(_) => return Err(bad("field `nodes` must list \"host:port\" strings")),
        };
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
                fields: read.into_map(),
                username,
                password: SecretString::new(password),
                host,
                tls,
                adminarn,
                user_arn,
                replication_group_id,
                nodes,
            });
        }
        let password = text("password")?.ok_or_else(|| bad("has neither `url` nor `password`"))?;
        let host = text("host")?.ok_or_else(|| bad("has no `host` field"))?;
        let port = read.port("port")?.unwrap_or(DEFAULT_PORT);
        let tls = read.flag("tls")?.unwrap_or(false);
        Ok(Self {
            username: text("username")?.unwrap_or_else(|| "default".into()),
            password: SecretString::new(password),
            host,
            port,
            tls,
            adminarn,
            user_arn,
            replication_group_id,
            nodes,
            shape: Shape::Fields,
            fields: read.into_map(),
        })
    }

    /// How this secret's password is changed: exactly one of `adminarn`, `user_arn`,
    /// `replication_group_id`.
    pub fn mode(&self) -> Result<Mode, BackendError> {
        match (&self.adminarn, &self.user_arn, &self.replication_group_id) {
            (Some(a), None, None) => Ok(Mode::Acl {
                adminarn: a.clone(),
            }),
            (None, Some(u), None) => Ok(Mode::ElastiCacheUser {
                user_arn: u.clone(),
            }),
            (None, None, Some(g)) => Ok(Mode::AuthToken {
                group_id: g.clone(),
            }),
            (None, None, None) => Err(BackendError::invalid_secret(
                "the secret says neither `adminarn` (a self-managed Redis: the admin login that \
                 changes the user's ACL), `user_arn` (an ElastiCache RBAC user) nor \
                 `replication_group_id` (an ElastiCache AUTH token)",
            )),
            _ => Err(BackendError::invalid_secret(
                "the secret names more than one of `adminarn`, `user_arn`, \
                 `replication_group_id`: exactly one says how the password is changed",
            )),
        }
    }

    /// The same secret with another password, in the shape it had.
    pub fn with_password(&self, password: &SecretString) -> Result<SecretString, BackendError> {
        let mut fields = self.fields.clone();
        match &self.shape {
            Shape::Url(url) => {
                let mut url = url.clone();
                // Already encoded: `set_password` leaves existing `%XX` as they are.
                let encoded = crate::secret::url_component(password.expose());
                url.set_password(Some(&encoded)).map_err(|_| {
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

    /// The same login at another node of the same deployment (same user, password, transport).
    pub fn at_node(&self, host: &str, port: u16) -> RedisSecret {
        RedisSecret {
            host: host.to_string(),
            port,
            nodes: Vec::new(),
            ..self.clone()
        }
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

/// `host:port`, or `host` alone (the default port); `None` when it is neither.
fn host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().ok().filter(|p| *p > 0)?),
        None => (text, DEFAULT_PORT),
    };
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    valid.then(|| (host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_host_port_strings_and_anything_else_is_refused() {
        let parse = |nodes: serde_json::Value| {
            let raw = json!({"username": "admin", "password": "p", "host": "h", "nodes": nodes});
            RedisSecret::parse(&SecretString::new(raw.to_string()), "the admin secret")
        };
        let secret = parse(json!(["replica-1:6380", "replica-2"])).unwrap();
        assert_eq!(
            secret.nodes,
            vec![
                ("replica-1".to_string(), 6380),
                ("replica-2".to_string(), 6379)
            ]
        );
        for bad in [
            json!("replica:6379"),
            json!([6379]),
            json!([":6379"]),
            json!(["replica:0"]),
            json!(["replica:x"]),
            json!(["user@replica:6379"]),
            json!(["replica/6379"]),
        ] {
            let e = parse(bad.clone()).expect_err(&bad.to_string());
            assert!(e.message.contains("`nodes`"), "{}", e.message);
        }
        let node = secret.at_node("replica-1", 6380);
        assert_eq!((node.host.as_str(), node.port), ("replica-1", 6380));
        assert_eq!(node.password.expose(), "p");
        assert!(node.nodes.is_empty());
    }
    use serde_json::json;

    #[test]
    fn given_every_character_get_random_password_returns_then_a_strict_decoder_reads_it_back() {
        // GetRandomPassword's alphabet: letters, digits and these punctuation characters.
        let punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
        let alphabet: String = ('a'..='z')
            .chain('A'..='Z')
            .chain('0'..='9')
            .chain(punctuation.chars())
            .collect();
        // Long, and with the escapes that fool a lax decoder side by side.
        let passwords = [
            alphabet.repeat(2),
            "%41%zz%%2".to_string() + &alphabet,
            "p%25w0rd@host:1/x?y#z".to_string(),
        ];
        let current = RedisSecret::parse(
            &SecretString::new(json!({"url": "redis://app:old@cache.internal:6379/0"}).to_string()),
            "AWSCURRENT",
        )
        .unwrap();
        for password in passwords {
            let out = current
                .with_password(&SecretString::new(password.clone()))
                .unwrap();
            let v: Value = serde_json::from_str(out.expose()).unwrap();
            let url = v["url"].as_str().unwrap();
            let parsed = url::Url::parse(url).unwrap();
            assert_eq!(parsed.host_str(), Some("cache.internal"), "{url}");
            assert_eq!(parsed.username(), "app");
            let raw = parsed.password().unwrap();
            assert!(
                raw.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
                "only unreserved characters and escapes: {raw}"
            );
            assert_eq!(
                crate::fakes::decode_uri_component(raw).as_deref(),
                Some(password.as_str())
            );
            // And our own parser reads the same password back.
            let again = RedisSecret::parse(&out, "AWSPENDING").unwrap();
            assert_eq!(again.password.expose(), password);
        }
    }

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

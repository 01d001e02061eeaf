//! Redis (ACL users) as a rotation backend. setSecret **adds** the pending password to the user
//! with an admin login, so the current and the pending password both work; finishSecret removes
//! every password that is neither AWSCURRENT nor AWSPREVIOUS, so a client holding the previous
//! secret keeps working until the next rotation.

pub mod resp;
pub mod secret;

use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;
use tracing::info;

use crate::config::{self, ConfigError};
use crate::rotation::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, BackendError, BackendErrorKind, CreateContext,
    CredentialBackend, Finished, SecretStore, SetOutcome, Staged, VersionRef,
};
use crate::secret::SecretString;
use resp::{Reply, RespConnection, RespError, TlsSettings};
pub use secret::RedisSecret;

/// Connection settings that are the function's, not the secret's.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Bounds the connect, the TLS handshake and every command.
    pub timeout: Duration,
    /// A private CA bundle to trust besides the public roots.
    pub tls_ca_file: Option<PathBuf>,
}

impl RedisOptions {
    /// `REDIS_TIMEOUT_SECONDS` (default 5) and `REDIS_TLS_CA_FILE`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            timeout: config::seconds(&get, "REDIS_TIMEOUT_SECONDS", 5, 1..=60)?,
            tls_ca_file: get("REDIS_TLS_CA_FILE")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        })
    }
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            tls_ca_file: None,
        }
    }
}

/// The Redis rotation backend; its TLS settings are built once, at cold start.
#[derive(Clone)]
pub struct RedisBackend {
    timeout: Duration,
    tls: TlsSettings,
}

impl RedisBackend {
    pub fn new(options: RedisOptions) -> Result<Self, ConfigError> {
        let tls = TlsSettings::new(options.tls_ca_file.as_deref())
            .map_err(|e| ConfigError::new("REDIS_TLS_CA_FILE", e.to_string()))?;
        Ok(Self {
            timeout: options.timeout,
            tls,
        })
    }

    /// Connects and authenticates as `secret`'s user; `label` names the credential in errors.
    async fn login(
        &self,
        secret: &RedisSecret,
        label: &str,
    ) -> Result<RespConnection, BackendError> {
        let target = secret.target();
        let tls = secret.tls.then_some(&self.tls);
        let mut conn = RespConnection::connect(&secret.host, secret.port, tls, self.timeout)
            .await
            .map_err(|e| resp_error(e, label, &target))?;
        conn.command(&[
            b"AUTH",
            secret.username.as_bytes(),
            secret.password.expose().as_bytes(),
        ])
        .await
        .map_err(|e| resp_error(e, label, &target))?;
        Ok(conn)
    }

    async fn check_login(&self, secret: &RedisSecret, label: &str) -> Result<(), BackendError> {
        let mut conn = self.login(secret, label).await?;
        match conn.command(&[b"PING"]).await {
            Ok(Reply::Simple(s)) if s == "PONG" => Ok(()),
            Ok(_) => Err(BackendError::new(
                BackendErrorKind::Failed,
                format!(
                    "Redis answered PING oddly for {label} ({})",
                    secret.target()
                ),
            )),
            Err(e) => Err(resp_error(e, label, &secret.target())),
        }
    }

    /// An admin connection from the secret named by `adminarn`, on the same server.
    async fn admin<S: SecretStore>(
        &self,
        store: &S,
        secret: &RedisSecret,
    ) -> Result<RespConnection, BackendError> {
        let arn = secret.adminarn.as_deref().ok_or_else(|| {
            BackendError::invalid_secret(
                "the secret has no `adminarn`: Redis rotation adds the new password with an \
                 admin login; name the admin secret in `adminarn`",
            )
        })?;
        let raw = store
            .get(arn, VersionRef::Stage(AWSCURRENT))
            .await?
            .ok_or_else(|| {
                BackendError::invalid_secret(format!(
                    "the admin secret `{arn}` has no AWSCURRENT value"
                ))
            })?;
        let admin = RedisSecret::parse(&raw, "the admin secret")?;
        if !admin.same_server(secret) {
            return Err(BackendError::refused(
                "the admin secret points at another Redis server than the secret being rotated",
            ));
        }
        self.login(&admin, "the admin secret").await
    }

    /// The SHA-256 hashes of the user's passwords (what `ACL GETUSER` shows).
    async fn password_hashes(
        conn: &mut RespConnection,
        user: &str,
    ) -> Result<Vec<String>, BackendError> {
        let reply = conn
            .command(&[b"ACL", b"GETUSER", user.as_bytes()])
            .await
            .map_err(|e| acl_error(e, user))?;
        let items = match reply {
            Reply::Array(Some(items)) => items,
            Reply::Array(None) | Reply::Bulk(None) => {
                return Err(BackendError::refused(format!(
                    "Redis user `{user}` does not exist: create it (with its permissions) first; \
                     rotation only changes passwords"
                )));
            }
            _ => {
                return Err(BackendError::new(
                    BackendErrorKind::Failed,
                    "ACL GETUSER answered oddly",
                ));
            }
        };
        let mut pairs = items.chunks(2);
        let passwords = pairs
            .find(|kv| kv.first().and_then(Reply::as_text).as_deref() == Some("passwords"))
            .and_then(|kv| kv.get(1).cloned());
        Ok(match passwords {
            Some(Reply::Array(Some(list))) => list.iter().filter_map(Reply::as_text).collect(),
            _ => Vec::new(),
        })
    }

    /// Persists the ACLs when the server keeps them in an ACL file, so a restart does not bring
    /// back the old passwords. Servers without one (ElastiCache, config-file users) say so; fine.
    async fn persist_acl(conn: &mut RespConnection) -> Result<(), BackendError> {
        match conn.command(&[b"ACL", b"SAVE"]).await {
            Ok(_) => Ok(()),
            Err(RespError::Server(e)) if e.contains("ACL file") || e.contains("unknown") => Ok(()),
            Err(e) => Err(acl_error(e, "(ACL SAVE)")),
        }
    }
}

fn password_hash(password: &SecretString) -> String {
    hex::encode(Sha256::digest(password.expose().as_bytes()))
}

impl CredentialBackend for RedisBackend {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn create_pending<S: SecretStore>(
        &self,
        ctx: &CreateContext<'_, S>,
        current: &SecretString,
    ) -> Result<SecretString, BackendError> {
        let current = RedisSecret::parse(current, AWSCURRENT)?;
        let password = ctx.new_password().await?;
        current.with_password(&password)
    }

    async fn set_pending<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
    ) -> Result<SetOutcome, BackendError> {
        let current = RedisSecret::parse(&staged.current, AWSCURRENT)?;
        let pending = RedisSecret::parse(&staged.pending, AWSPENDING)?;
        if !current.same_login_target(&pending) || current.adminarn != pending.adminarn {
            return Err(BackendError::refused(
                "AWSPENDING names another user, server, transport or admin secret than \
                 AWSCURRENT: a rotation changes the password only",
            ));
        }
        match self.check_login(&pending, AWSPENDING).await {
            Ok(()) => return Ok(SetOutcome::AlreadyInPlace),
            Err(e) if e.kind == BackendErrorKind::LoginRefused => {}
            Err(e) => return Err(e),
        }
        let mut admin = self.admin(store, &pending).await?;
        // Fails clearly if the user does not exist, instead of creating a disabled one.
        Self::password_hashes(&mut admin, &pending.username).await?;
        let add = format!(">{}", pending.password.expose());
        admin
            .command(&[
                b"ACL",
                b"SETUSER",
                pending.username.as_bytes(),
                add.as_bytes(),
            ])
            .await
            .map_err(|e| acl_error(e, &pending.username))?;
        Self::persist_acl(&mut admin).await?;
        Ok(SetOutcome::Installed {
            change: format!(
                "pending password added to Redis user `{}` (the current one still works)",
                pending.username
            ),
        })
    }

    async fn test_pending(&self, pending: &SecretString) -> Result<(), BackendError> {
        let pending = RedisSecret::parse(pending, AWSPENDING)?;
        self.check_login(&pending, AWSPENDING).await
    }

    async fn validate_current(&self, current: &SecretString) -> Result<(), BackendError> {
        let current = RedisSecret::parse(current, AWSCURRENT)?;
        self.check_login(&current, AWSCURRENT).await
    }

    async fn after_finish<S: SecretStore>(
        &self,
        store: &S,
        finished: &Finished<'_>,
    ) -> Result<Option<String>, BackendError> {
        // The versions finishSecret promoted and replaced, read by id: their values never change.
        let current = store
            .get(finished.secret_id, VersionRef::Id(finished.current))
            .await?
            .ok_or_else(|| BackendError::invalid_secret("the promoted version has no value"))?;
        let current = RedisSecret::parse(&current, AWSCURRENT)?;
        let previous = match finished.previous {
            Some(id) => match store.get(finished.secret_id, VersionRef::Id(id)).await? {
                Some(raw) => Some(RedisSecret::parse(&raw, AWSPREVIOUS)?),
                None => None,
            },
            None => None,
        };
        let keep: Vec<String> = std::iter::once(&current)
            .chain(previous.iter().filter(|p| p.same_login_target(&current)))
            .map(|s| password_hash(&s.password))
            .collect();
        let mut admin = self.admin(store, &current).await?;
        let stale: Vec<String> = Self::password_hashes(&mut admin, &current.username)
            .await?
            .into_iter()
            .filter(|h| !keep.contains(h))
            .collect();
        if stale.is_empty() {
            return Ok(None);
        }
        let mut args: Vec<Vec<u8>> = vec![
            b"ACL".to_vec(),
            b"SETUSER".to_vec(),
            current.username.clone().into_bytes(),
        ];
        args.extend(stale.iter().map(|h| format!("!{h}").into_bytes()));
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        admin
            .command(&refs)
            .await
            .map_err(|e| acl_error(e, &current.username))?;
        Self::persist_acl(&mut admin).await?;
        info!(user = %current.username, removed = stale.len(), "old Redis passwords removed");
        Ok(Some(format!(
            "{} password(s) older than AWSPREVIOUS removed from Redis user `{}`",
            stale.len(),
            current.username
        )))
    }
}

/// Classifies a failed login: refused credentials, an unreachable server, TLS, or other.
fn resp_error(e: RespError, label: &str, target: &str) -> BackendError {
    let (kind, message) = match &e {
        RespError::Server(text)
            if text.starts_with("WRONGPASS")
                || text.starts_with("NOAUTH")
                || text.contains("invalid password") =>
        {
            (
                BackendErrorKind::LoginRefused,
                format!("Redis refused the {label} login ({target})"),
            )
        }
        RespError::Connect(_) | RespError::Timeout(_) | RespError::Io(_) => (
            BackendErrorKind::Unavailable,
            format!("could not reach Redis for {label} ({target})"),
        ),
        RespError::Tls(_) | RespError::TlsConfig(_) => (
            BackendErrorKind::Failed,
            format!("TLS with Redis failed for {label} ({target}); TLS is never downgraded"),
        ),
        _ => (
            BackendErrorKind::Failed,
            format!("Redis login failed for {label} ({target})"),
        ),
    };
    BackendError::with_source(kind, message, e)
}

fn acl_error(e: RespError, user: &str) -> BackendError {
    // Redis echoes a rejected ACL modifier in its error text; a `>password` modifier must not
    // travel on in an error, so keep only the text before the first quote.
    let e = match e {
        RespError::Server(text) => RespError::Server(
            text.split('\'')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        ),
        other => other,
    };
    let kind = match &e {
        RespError::Connect(_) | RespError::Timeout(_) | RespError::Io(_) => {
            BackendErrorKind::Unavailable
        }
        _ => BackendErrorKind::Failed,
    };
    BackendError::with_source(
        kind,
        format!("changing the ACL of Redis user `{user}` failed (does the admin login have +acl?)"),
        e,
    )
}

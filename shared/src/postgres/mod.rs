//! PostgreSQL as a rotation backend: the rules in [`secret`], the SQL here. Logins are single
//! connections (no pool: a rotation makes a handful), bounded by a connect timeout, with
//! statement logging off so no password-bearing statement reaches a log.

pub mod scram;
pub mod secret;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use std::path::PathBuf;
use std::time::Duration;
use tracing::info;

use crate::config::{self, ConfigError};
use crate::rotation::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, BackendError, BackendErrorKind, CreateContext,
    CredentialBackend, SecretStore, SetOutcome, Staged, VersionRef,
};
use crate::secret::SecretString;
pub use secret::{PgSecret, SslMode, Strategy};
use secret::{alternate_username, check_successor, owner_username, quote_ident, quote_literal};

/// Connection settings that are the function's, not the secret's.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// How long one login may take before the server counts as unreachable.
    pub connect_timeout: Duration,
    /// CA bundle for `verify-ca` / `verify-full` (the RDS bundle in production).
    pub ssl_root_cert: Option<PathBuf>,
}

impl PostgresOptions {
    /// `DB_CONNECT_TIMEOUT_SECONDS` (default 5) and `PG_SSL_ROOT_CERT` (a file path).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            connect_timeout: config::seconds(&get, "DB_CONNECT_TIMEOUT_SECONDS", 5, 1..=60)?,
            ssl_root_cert: get("PG_SSL_ROOT_CERT")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        })
    }
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            ssl_root_cert: None,
        }
    }
}

/// The PostgreSQL rotation backend.
#[derive(Debug, Clone, Default)]
pub struct PostgresBackend {
    options: PostgresOptions,
}

impl PostgresBackend {
    pub fn new(options: PostgresOptions) -> Self {
        Self { options }
    }

    /// Logs in with `secret`; `label` names the credential in errors.
    async fn connect(&self, secret: &PgSecret, label: &str) -> Result<PgConnection, BackendError> {
        let mut options = PgConnectOptions::new_without_pgpass()
            .host(&secret.host)
            .port(secret.port)
            .username(&secret.username)
            .password(secret.password.expose())
            .database(&secret.dbname)
            .application_name("macro-ai-ops")
            .ssl_mode(match secret.sslmode {
                SslMode::Disable => PgSslMode::Disable,
                SslMode::Prefer => PgSslMode::Prefer,
                SslMode::Require => PgSslMode::Require,
                SslMode::VerifyCa => PgSslMode::VerifyCa,
                SslMode::VerifyFull => PgSslMode::VerifyFull,
            })
            .disable_statement_logging();
        if let Some(ca) = &self.options.ssl_root_cert {
            options = options.ssl_root_cert(ca);
        }
        let target = format!(
            "user `{}` at {}:{}/{}",
            secret.username, secret.host, secret.port, secret.dbname
        );
        match tokio::time::timeout(self.options.connect_timeout, options.connect()).await {
            Err(_) => Err(BackendError::new(
                BackendErrorKind::Unavailable,
                format!(
                    "PostgreSQL did not answer within {}s for {label} ({target})",
                    self.options.connect_timeout.as_secs()
                ),
            )),
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(login_error(e, label, &target)),
        }
    }

    /// Logs in and runs a query; `Ok` means the credential works.
    async fn check_login(&self, secret: &PgSecret, label: &str) -> Result<(), BackendError> {
        let mut conn = self.connect(secret, label).await?;
        sqlx::query("SELECT 1")
            .execute(&mut conn)
            .await
            .map_err(|e| sql_error(e, &format!("a test query as {label} failed")))?;
        // The server ends the session when the socket closes; a failed goodbye changes nothing.
        let _ = conn.close().await;
        Ok(())
    }

    /// `Ok(true)` when `secret` already logs in, `Ok(false)` when it is refused.
    async fn already_works(&self, secret: &PgSecret, label: &str) -> Result<bool, BackendError> {
        match self.check_login(secret, label).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind == BackendErrorKind::LoginRefused => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn set_single_user<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
        current: &PgSecret,
        pending: &PgSecret,
    ) -> Result<SetOutcome, BackendError> {
        let mut conn = match self.connect(current, AWSCURRENT).await {
            Ok(conn) => conn,
            Err(e) if e.kind == BackendErrorKind::LoginRefused => {
                // AWSCURRENT may be refused if a rotation set the role's password but failed
                // before finishSecret; the version before it may still log in.
                let previous = match store
                    .get(&staged.secret_id, VersionRef::Stage(AWSPREVIOUS))
                    .await
                {
                    Ok(Some(raw)) => Some(PgSecret::parse(&raw, AWSPREVIOUS)?),
                    // AWSPREVIOUS is only a fallback; its absence leaves AWSCURRENT's refusal.
                    Ok(None) | Err(_) => None,
                }
                .filter(|p| p.same_server(pending) && p.username == pending.username);
                match previous {
                    Some(prev) => self.connect(&prev, AWSPREVIOUS).await.map_err(|pe| {
                        BackendError::with_source(
                            pe.kind,
                            "neither AWSCURRENT nor AWSPREVIOUS can log in to set the new password",
                            pe,
                        )
                    })?,
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        set_password(&mut conn, &pending.username, &pending.password).await?;
        let _ = conn.close().await;
        Ok(SetOutcome::Installed {
            change: format!("password of role `{}` changed", pending.username),
        })
    }

    async fn set_alternating<S: SecretStore>(
        &self,
        store: &S,
        master_arn: &str,
        pending: &PgSecret,
    ) -> Result<SetOutcome, BackendError> {
        let master_raw = store
            .get(master_arn, VersionRef::Stage(AWSCURRENT))
            .await?
            .ok_or_else(|| {
                BackendError::invalid_secret(format!(
                    "the master secret `{master_arn}` has no AWSCURRENT value"
                ))
            })?;
        let master = PgSecret::parse(&master_raw, "the master secret")?;
        if !master.same_server(pending) {
            return Err(BackendError::refused(
                "the master secret points at another server than the secret being rotated",
            ));
        }
        let mut conn = self.connect(&master, "the master secret").await?;
        let owner = owner_username(&pending.username);
        let change = ensure_login(&mut conn, owner, &pending.username, &pending.password).await?;
        let _ = conn.close().await;
        Ok(SetOutcome::Installed { change })
    }
}

impl CredentialBackend for PostgresBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn create_pending<S: SecretStore>(
        &self,
        ctx: &CreateContext<'_, S>,
        current: &SecretString,
    ) -> Result<SecretString, BackendError> {
        let current = PgSecret::parse(current, AWSCURRENT)?;
        let username = match current.strategy() {
            Strategy::SingleUser => current.username.clone(),
            Strategy::Alternating { .. } => alternate_username(&current.username)?,
        };
        let password = ctx.new_password().await?;
        Ok(current.with_login(&username, &password))
    }

    async fn set_pending<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
    ) -> Result<SetOutcome, BackendError> {
        let current = PgSecret::parse(&staged.current, AWSCURRENT)?;
        let pending = PgSecret::parse(&staged.pending, AWSPENDING)?;
        check_successor(&current, &pending)?;
        if self.already_works(&pending, AWSPENDING).await? {
            return Ok(SetOutcome::AlreadyInPlace);
        }
        match current.strategy() {
            Strategy::SingleUser => {
                self.set_single_user(store, staged, &current, &pending)
                    .await
            }
            Strategy::Alternating { master_arn } => {
                self.set_alternating(store, &master_arn, &pending).await
            }
        }
    }

    async fn test_pending(&self, pending: &SecretString) -> Result<(), BackendError> {
        let pending = PgSecret::parse(pending, AWSPENDING)?;
        self.check_login(&pending, AWSPENDING).await
    }

    async fn validate_current(&self, current: &SecretString) -> Result<(), BackendError> {
        let current = PgSecret::parse(current, AWSCURRENT)?;
        self.check_login(&current, AWSCURRENT).await
    }
}

/// Sets `role`'s password from a verifier computed here: the clear text never leaves the function.
async fn set_password(
    conn: &mut PgConnection,
    role: &str,
    password: &SecretString,
) -> Result<(), BackendError> {
    let verifier = scram::verifier(password.expose())?;
    // Only the password: a role may change its own password, not its other attributes.
    let statement = format!(
        "ALTER ROLE {} WITH PASSWORD {}",
        quote_ident(role),
        quote_literal(&verifier)
    );
    sqlx::raw_sql(AssertSqlSafe(statement))
        .execute(&mut *conn)
        .await
        .map_err(|e| sql_error(e, &format!("could not set the password of role `{role}`")))?;
    Ok(())
}

/// Makes `login` a working login for the alternating pair owned by `owner`, in one transaction.
///
/// AWS's alternating-users template grants the clone membership in the original user, so objects
/// the clone creates are the clone's alone and the original user cannot use them after the next
/// swap. Here the clone's sessions run as the owner (`ALTER ROLE clone SET role = owner`), so
/// whatever either login creates belongs to the owner and stays fully usable by both.
async fn ensure_login(
    conn: &mut PgConnection,
    owner: &str,
    login: &str,
    password: &SecretString,
) -> Result<String, BackendError> {
    let verifier = scram::verifier(password.expose())?;
    let mut tx = conn
        .begin()
        .await
        .map_err(|e| sql_error(e, "could not start a transaction"))?;
    let exists = |rows: &[(String,)], name: &str| rows.iter().any(|(r,)| r == name);
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT rolname::text FROM pg_roles WHERE rolname = $1 OR rolname = $2")
            .bind(owner)
            .bind(login)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| sql_error(e, "could not look up the roles"))?;
    if !exists(&rows, owner) {
        return Err(BackendError::refused(format!(
            "role `{owner}` does not exist: the alternating strategy needs the original user"
        )));
    }
    let (statements, change) = if login == owner {
        (
            vec![format!(
                "ALTER ROLE {} WITH LOGIN PASSWORD {}",
                quote_ident(login),
                quote_literal(&verifier)
            )],
            format!("password of role `{login}` changed"),
        )
    } else {
        let create_or_alter = if exists(&rows, login) {
            format!(
                "ALTER ROLE {} WITH LOGIN PASSWORD {}",
                quote_ident(login),
                quote_literal(&verifier)
            )
        } else {
            format!(
                "CREATE ROLE {} WITH LOGIN PASSWORD {}",
                quote_ident(login),
                quote_literal(&verifier)
            )
        };
        (
            vec![
                create_or_alter,
                format!("GRANT {} TO {}", quote_ident(owner), quote_ident(login)),
                format!(
                    "ALTER ROLE {} SET role = {}",
                    quote_ident(login),
                    quote_literal(owner)
                ),
            ],
            format!("role `{login}` set up as the alternate login of `{owner}`"),
        )
    };
    for statement in statements {
        sqlx::raw_sql(AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await
            .map_err(|e| sql_error(e, &format!("could not set up role `{login}`")))?;
    }
    tx.commit()
        .await
        .map_err(|e| sql_error(e, "could not commit the role change"))?;
    info!(role = login, owner, "alternate login ready");
    Ok(change)
}

/// Classifies a failed login: refused credentials, an unreachable server, or anything else.
fn login_error(e: sqlx::Error, label: &str, target: &str) -> BackendError {
    let kind = match &e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // invalid_password, invalid_authorization_specification
            Some("28P01") | Some("28000") => BackendErrorKind::LoginRefused,
            // cannot_connect_now (starting or stopping), too_many_connections
            Some("57P03") | Some("53300") => BackendErrorKind::Unavailable,
            _ => BackendErrorKind::Failed,
        },
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => BackendErrorKind::Unavailable,
        _ => BackendErrorKind::Failed,
    };
    let message = match kind {
        BackendErrorKind::LoginRefused => {
            format!("PostgreSQL refused the {label} login ({target})")
        }
        BackendErrorKind::Unavailable => {
            format!("could not reach PostgreSQL for {label} ({target})")
        }
        _ => format!("could not log in to PostgreSQL with {label} ({target})"),
    };
    BackendError::with_source(kind, message, e)
}

fn sql_error(e: sqlx::Error, what: &str) -> BackendError {
    let kind = match &e {
        sqlx::Error::Io(_) => BackendErrorKind::Unavailable,
        _ => BackendErrorKind::Failed,
    };
    BackendError::with_source(kind, what.to_string(), e)
}

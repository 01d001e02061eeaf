//! PostgreSQL as a rotation backend: the rules in [`secret`], the SQL here. Logins are single
//! connections (no pool: a rotation makes a handful), bounded by a connect timeout; every session
//! has a statement and lock timeout and `search_path = pg_catalog, pg_temp`. The driver's
//! statement logging is off; the server's own (`log_statement = ddl`, pgaudit) would still log
//! the SCRAM verifier of `ALTER ROLE`, never the clear-text password.
//!
//! A secret's contents may have been written by someone who may only `PutSecretValue` on it, so
//! no credential the function holds goes where the secret alone says: the master logs in only at
//! the master secret's own host or the configured `PG_HOST`; AWSPREVIOUS is tried only on the same
//! server as AWSCURRENT; every login has at least `PG_MIN_SSLMODE`; and the master acts only after
//! the secret's own login has proven it holds the pair's password, only for a pair that reaches no
//! further than that login already does.

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection};
use std::future::Future;
use std::time::Duration;

use super::errors::{login_error, sql_error};
pub use super::options::PostgresOptions;
pub use super::secret::{Endpoint, PgSecret, SslMode, Strategy};
use super::secret::{alternate_username, check_successor, owner_username};
use crate::rotation::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, BackendError, BackendErrorKind, CreateContext,
    CredentialBackend, Retirement, SecretStore, SetOutcome, Staged, VersionRef,
};
use crate::rotation::{prove_with_previous, secret_arn};
use crate::secret::SecretString;

/// The PostgreSQL rotation backend.
#[derive(Debug, Clone, Default)]
pub struct PostgresBackend {
    pub(super) options: PostgresOptions,
}

impl PostgresBackend {
    pub fn new(options: PostgresOptions) -> Self {
        Self { options }
    }

    /// Logs in as `username` at `at`; `label` names the credential in errors.
    pub(super) async fn connect(
        &self,
        at: &Endpoint,
        username: &str,
        password: &SecretString,
        label: &str,
    ) -> Result<PgConnection, BackendError> {
        self.check_endpoint(at)?;
        let sslmode = at.sslmode.max(self.options.min_sslmode);
        let limit = self.options.statement_timeout.as_millis().to_string();
        let mut options = PgConnectOptions::new_without_pgpass()
            .host(&at.host)
            .port(at.port)
            .username(username)
            .password(password.expose())
            .database(&at.dbname)
            .application_name("macro-ai-ops")
            .options([
                ("statement_timeout", limit.as_str()),
                ("lock_timeout", limit.as_str()),
                ("idle_in_transaction_session_timeout", limit.as_str()),
                // Startup options win over database and role settings: no object a database
                // owner planted in another schema is ever resolved by the function's SQL.
                ("search_path", "pg_catalog,pg_temp"),
            ])
            .ssl_mode(match sslmode {
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
        let target = format!("user `{username}` at {}:{}/{}", at.host, at.port, at.dbname);
        match tokio::time::timeout(self.options.connect_timeout, options.connect()).await {
            Err(_) => Err(BackendError::new(
                BackendErrorKind::Unavailable,
                format!(
                    "PostgreSQL did not answer within {}s for {label} ({target})",
                    self.options.connect_timeout.as_secs()
                ),
            )),
            Ok(Ok(mut conn)) => {
                // Said again once connected: a pooler may drop startup options, and this is the
                // setting every statement below resolves names with.
                self.bounded(
                    "could not set the session's search_path",
                    sqlx::raw_sql("SET search_path = pg_catalog, pg_temp").execute(&mut conn),
                )
                .await?;
                Ok(conn)
            }
            Ok(Err(e)) => Err(login_error(e, label, &target)),
        }
    }

    /// With `PG_HOST` set, a login anywhere else is refused before anything is sent.
    pub(super) fn check_endpoint(&self, at: &Endpoint) -> Result<(), BackendError> {
        match &self.options.pinned {
            Some((host, port)) if !host.eq_ignore_ascii_case(&at.host) || *port != at.port => {
                Err(BackendError::refused(format!(
                    "the secret names {}:{}, not the database this function rotates ({host}:{port}, \
                     PG_HOST/PG_PORT): refused before any login",
                    at.host, at.port
                )))
            }
            _ => Ok(()),
        }
    }

    /// Runs one round trip, bounded on our side too (a server that stops answering mid-statement
    /// never reaches its own timeout).
    pub(super) async fn bounded<T>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, BackendError> {
        let limit = self.options.statement_timeout + Duration::from_secs(2);
        match tokio::time::timeout(limit, work).await {
            Ok(result) => result.map_err(|e| sql_error(e, what)),
            Err(_) => Err(BackendError::new(
                BackendErrorKind::Unavailable,
                format!(
                    "{what}: PostgreSQL did not answer within {}s",
                    limit.as_secs()
                ),
            )),
        }
    }

    /// Logs in and runs a query; `Ok` means the credential works.
    pub(super) async fn check_login(
        &self,
        at: &Endpoint,
        username: &str,
        password: &SecretString,
        label: &str,
    ) -> Result<(), BackendError> {
        let mut conn = self.connect(at, username, password, label).await?;
        self.bounded(
            &format!("a test query as {label} failed"),
            // The simple protocol: one round trip, where a prepared statement takes two.
            sqlx::raw_sql("SELECT 1").execute(&mut conn),
        )
        .await?;
        // The server ends the session when the socket closes; a failed goodbye changes nothing.
        let _ = conn.close().await;
        Ok(())
    }

    /// `Ok(true)` when the login already works, `Ok(false)` when it is refused.
    pub(super) async fn already_works(
        &self,
        at: &Endpoint,
        secret: &PgSecret,
        label: &str,
    ) -> Result<bool, BackendError> {
        match self
            .check_login(at, &secret.username, &secret.password, label)
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.kind == BackendErrorKind::LoginRefused => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Proof of possession: a session as the secret's own user, with AWSCURRENT's password or,
    /// when the server refuses it (a rotation that set the password but did not finish),
    /// AWSPREVIOUS's. Both users must be in `allowed`; AWSPREVIOUS is tried only when it names the
    /// same server as AWSCURRENT (else its honest password would go where a rewritten AWSCURRENT
    /// points), with the stricter TLS of the two. Returns the user that proved itself.
    pub(super) async fn prove<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
        current: &PgSecret,
        allowed: &[&str],
    ) -> Result<(String, PgConnection), BackendError> {
        check_allowed(current, allowed)?;
        match self.current_login(current).await {
            Ok(conn) => Ok((current.username.clone(), conn)),
            Err(refused) if refused.kind == BackendErrorKind::LoginRefused => {
                self.prove_previous(store, staged, current, allowed, refused)
                    .await
            }
            Err(e) => Err(e),
        }
    }

    /// AWSCURRENT's own login, at the server it names.
    async fn current_login(&self, current: &PgSecret) -> Result<PgConnection, BackendError> {
        self.connect(
            &current.endpoint(),
            &current.username,
            &current.password,
            AWSCURRENT,
        )
        .await
    }

    /// AWSCURRENT was `refused`: AWSPREVIOUS, when it names the same server and an allowed user,
    /// with the stricter TLS of the two ([`prove_with_previous`]).
    async fn prove_previous<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
        current: &PgSecret,
        allowed: &[&str],
        refused: BackendError,
    ) -> Result<(String, PgConnection), BackendError> {
        let (secret, conn) = prove_with_previous(
            store,
            &staged.secret_id,
            refused,
            |raw| {
                PgSecret::parse(raw, AWSPREVIOUS)
                    .ok()
                    .filter(|p| allowed.contains(&p.username.as_str()) && p.same_server(current))
            },
            |secret: PgSecret, label| {
                // The previous login never gets less TLS than the current one would.
                let mut at = current.endpoint();
                at.sslmode = at.sslmode.max(secret.sslmode);
                async move {
                    self.connect(&at, &secret.username, &secret.password, label)
                        .await
                }
            },
        )
        .await?;
        Ok((secret.username, conn))
    }

    /// A single user: possession with AWSCURRENT, then the change. When the server refuses
    /// AWSCURRENT, AWSPENDING is asked next (a retry after the change was applied and its reply
    /// lost finds it in place), AWSPREVIOUS last: so a retry never depends on AWSPREVIOUS's
    /// login, and the happy path makes one login, not a refused AWSPENDING one first.
    pub(super) async fn set_single_user<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
        current: &PgSecret,
        pending: &PgSecret,
    ) -> Result<SetOutcome, BackendError> {
        let allowed = [pending.username.as_str()];
        check_allowed(current, &allowed)?;
        let mut conn = match self.current_login(current).await {
            Ok(conn) => conn,
            Err(refused) if refused.kind == BackendErrorKind::LoginRefused => {
                if self
                    .already_works(&current.endpoint(), pending, AWSPENDING)
                    .await?
                {
                    return Ok(SetOutcome::AlreadyInPlace);
                }
                self.prove_previous(store, staged, current, &allowed, refused)
                    .await?
                    .1
            }
            Err(e) => return Err(e),
        };
        self.set_password(&mut conn, &pending.username, &pending.password)
            .await?;
        let _ = conn.close().await;
        Ok(SetOutcome::Installed {
            change: format!("password of role `{}` changed", pending.username),
        })
    }

    pub(super) async fn set_alternating<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
        master_arn: &str,
        current: &PgSecret,
        pending: &PgSecret,
    ) -> Result<SetOutcome, BackendError> {
        let owner = owner_username(&pending.username);
        let clone = alternate_username(owner)?;
        let pair = [owner, clone.as_str()];
        // First the secret's own login: the master acts only for a secret that holds the pair's
        // password, so a rewritten `username` cannot borrow the master's privileges.
        let (proven, conn) = self.prove(store, staged, current, &pair).await?;
        let _ = conn.close().await;
        let master_raw = store
            .get(master_arn, VersionRef::Stage(AWSCURRENT))
            .await?
            .ok_or_else(|| {
                BackendError::invalid_secret(format!(
                    "the master secret `{master_arn}` has no AWSCURRENT value"
                ))
            })?;
        let pinned = self.options.pinned.as_ref().map(|(h, p)| (h.as_str(), *p));
        let master = current.master_login(&master_raw, pinned)?;
        if let Some(name) = pair
            .iter()
            .find(|n| n.eq_ignore_ascii_case(&master.username))
        {
            return Err(BackendError::refused(format!(
                "the pair `{owner}` / `{clone}` includes `{name}`, the master secret's user: \
                 the rotation never hands the master's login to an application secret"
            )));
        }
        let mut conn = self
            .connect(
                &master.endpoint,
                &master.username,
                &master.password,
                "the master secret",
            )
            .await?;
        let change = self
            .ensure_login(
                &mut conn,
                owner,
                &pending.username,
                &pending.password,
                &proven,
            )
            .await?;
        let _ = conn.close().await;
        Ok(SetOutcome::Installed { change })
    }
}

impl CredentialBackend for PostgresBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    /// Alternating users: setSecret sets the password of AWSPREVIOUS's user. A single user has
    /// no overlap: setSecret changes the password AWSCURRENT holds.
    fn retirement(&self, current: &SecretString) -> Result<Retirement, BackendError> {
        Ok(match PgSecret::parse(current, AWSCURRENT)?.strategy() {
            Strategy::SingleUser => Retirement::NoOverlap,
            Strategy::Alternating { .. } => Retirement::AtSet,
        })
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
        current.with_login(&username, &password)
    }

    async fn set_pending<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
    ) -> Result<SetOutcome, BackendError> {
        let current = PgSecret::parse(&staged.current, AWSCURRENT)?;
        let pending = PgSecret::parse(&staged.pending, AWSPENDING)?;
        check_successor(&current, &pending)?;
        match current.strategy() {
            Strategy::SingleUser => {
                self.set_single_user(store, staged, &current, &pending)
                    .await
            }
            Strategy::Alternating { .. }
                if self
                    .already_works(&current.endpoint(), &pending, AWSPENDING)
                    .await? =>
            {
                Ok(SetOutcome::AlreadyInPlace)
            }
            Strategy::Alternating { master_arn } => {
                // Compared by the ARNs Secrets Manager gives them, whatever spelling names them.
                let refused = || {
                    BackendError::refused(
                        "the secret's `masterarn` is not the master secret this function was \
                         deployed with (DB_MASTER_SECRET_ARN, the template's \
                         DatabaseMasterSecretArn; unset means single-user rotation only)",
                    )
                };
                let want = self
                    .options
                    .master_secret_arn
                    .as_deref()
                    .ok_or_else(refused)?;
                let named = secret_arn(store, &master_arn).await?;
                if named != secret_arn(store, want).await? {
                    return Err(refused());
                }
                if named == staged.secret_arn {
                    return Err(BackendError::refused(
                        "`masterarn` names the secret being rotated: the master login must come \
                         from a secret of its own",
                    ));
                }
                // Read by the ARN just compared, not the secret's own spelling of it.
                self.set_alternating(store, staged, &named, &current, &pending)
                    .await
            }
        }
    }

    async fn test_pending(&self, pending: &SecretString) -> Result<(), BackendError> {
        let pending = PgSecret::parse(pending, AWSPENDING)?;
        self.check_login(
            &pending.endpoint(),
            &pending.username,
            &pending.password,
            AWSPENDING,
        )
        .await
    }

    async fn validate_current(&self, current: &SecretString) -> Result<(), BackendError> {
        let current = PgSecret::parse(current, AWSCURRENT)?;
        self.check_login(
            &current.endpoint(),
            &current.username,
            &current.password,
            AWSCURRENT,
        )
        .await
    }
}

/// Only users the rotation changes may prove possession.
fn check_allowed(current: &PgSecret, allowed: &[&str]) -> Result<(), BackendError> {
    if allowed.contains(&current.username.as_str()) {
        Ok(())
    } else {
        Err(BackendError::refused(format!(
            "AWSCURRENT's user `{}` is not one of the users this rotation changes",
            current.username
        )))
    }
}

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
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use tracing::info;

use super::scram;
pub use super::secret::{Endpoint, PgSecret, SslMode, Strategy};
use super::secret::{
    alternate_username, check_successor, owner_username, quote_ident, quote_literal,
};
use crate::rotation::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, BackendError, BackendErrorKind, CreateContext,
    CredentialBackend, Retirement, SecretStore, SetOutcome, Staged, VersionRef,
};
use crate::rotation::{prove_possession, secret_arn};
use crate::secret::SecretString;

/// Connection settings that are the function's, not the secret's.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// How long one login may take before the server counts as unreachable.
    pub connect_timeout: Duration,
    /// The longest one statement may run, or wait for a lock, on every session.
    pub statement_timeout: Duration,
    /// CA bundle for `verify-ca` / `verify-full` (the RDS bundle in production), added to the
    /// public roots.
    pub ssl_root_cert: Option<PathBuf>,
    /// The least TLS any login gets, whatever a secret says.
    pub min_sslmode: SslMode,
    /// The database's host and port: when set, every login must go there.
    pub pinned: Option<(String, u16)>,
    /// The one master secret the alternating strategy may use.
    pub master_secret_arn: Option<String>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            ssl_root_cert: None,
            min_sslmode: SslMode::Require,
            pinned: None,
            master_secret_arn: None,
        }
    }
}

/// The PostgreSQL rotation backend.
#[derive(Debug, Clone, Default)]
pub struct PostgresBackend {
    options: PostgresOptions,
}

/// Role attributes that reach beyond an application's own data.
const ELEVATED: [&str; 4] = ["CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS"];

impl PostgresBackend {
    pub fn new(options: PostgresOptions) -> Self {
        Self { options }
    }

    /// Logs in as `username` at `at`; `label` names the credential in errors.
    async fn connect(
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
    fn check_endpoint(&self, at: &Endpoint) -> Result<(), BackendError> {
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
    async fn bounded<T>(
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
    async fn check_login(
        &self,
        at: &Endpoint,
        username: &str,
        password: &SecretString,
        label: &str,
    ) -> Result<(), BackendError> {
        let mut conn = self.connect(at, username, password, label).await?;
        self.bounded(
            &format!("a test query as {label} failed"),
            sqlx::query("SELECT 1").execute(&mut conn),
        )
        .await?;
        // The server ends the session when the socket closes; a failed goodbye changes nothing.
        let _ = conn.close().await;
        Ok(())
    }

    /// `Ok(true)` when the login already works, `Ok(false)` when it is refused.
    async fn already_works(
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
    async fn prove<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
        current: &PgSecret,
        allowed: &[&str],
    ) -> Result<(String, PgConnection), BackendError> {
        if !allowed.contains(&current.username.as_str()) {
            return Err(BackendError::refused(format!(
                "AWSCURRENT's user `{}` is not one of the users this rotation changes",
                current.username
            )));
        }
        let (secret, conn) = prove_possession(
            store,
            &staged.secret_id,
            current,
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

    async fn set_single_user<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
        current: &PgSecret,
        pending: &PgSecret,
    ) -> Result<SetOutcome, BackendError> {
        let (_, mut conn) = self
            .prove(store, staged, current, &[pending.username.as_str()])
            .await?;
        self.set_password(&mut conn, &pending.username, &pending.password)
            .await?;
        let _ = conn.close().await;
        Ok(SetOutcome::Installed {
            change: format!("password of role `{}` changed", pending.username),
        })
    }

    async fn set_alternating<S: SecretStore>(
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
        if self
            .already_works(&current.endpoint(), &pending, AWSPENDING)
            .await?
        {
            return Ok(SetOutcome::AlreadyInPlace);
        }
        match current.strategy() {
            Strategy::SingleUser => {
                self.set_single_user(store, staged, &current, &pending)
                    .await
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

impl PostgresBackend {
    /// Sets `role`'s password from a verifier computed here: the clear text never leaves the
    /// function.
    async fn set_password(
        &self,
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
        self.bounded(
            &format!("could not set the password of role `{role}`"),
            sqlx::raw_sql(AssertSqlSafe(statement)).execute(&mut *conn),
        )
        .await?;
        Ok(())
    }

    /// Makes `login` a working login for the alternating pair owned by `owner`, in one
    /// transaction, after checking that the pair reaches no further than `proven` (the login
    /// that proved the secret holds the pair's password) already does.
    ///
    /// AWS's alternating-users template grants the clone membership in the original user, so
    /// objects the clone creates are the clone's alone and the original user cannot use them
    /// after the next swap. Here the clone's sessions run as the owner (`ALTER ROLE clone SET
    /// role = owner`), so whatever either login creates belongs to the owner and stays fully
    /// usable by both.
    async fn ensure_login(
        &self,
        conn: &mut PgConnection,
        owner: &str,
        login: &str,
        password: &SecretString,
        proven: &str,
    ) -> Result<String, BackendError> {
        let verifier = scram::verifier(password.expose())?;
        // Both users of the pair, whichever of them is being set up and whichever proved itself.
        let clone = alternate_username(owner)?;
        let mut tx = self
            .bounded("could not start a transaction", conn.begin())
            .await?;
        let rows: Vec<RoleRow> = self
            .bounded(
                "could not look up the roles",
                sqlx::query_as(
                    "SELECT rolname::text, rolsuper, rolcreaterole, rolcreatedb, rolreplication, \
                     rolbypassrls, pg_catalog.pg_has_role($3::pg_catalog.name, oid, 'USAGE') \
                     FROM pg_catalog.pg_roles \
                     WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.name \
                        OR rolname OPERATOR(pg_catalog.=) $2::pg_catalog.name",
                )
                .bind(owner)
                .bind(&clone)
                .bind(proven)
                .fetch_all(&mut *tx),
            )
            .await?;
        if !rows.iter().any(|r| r.0 == owner) {
            return Err(BackendError::refused(format!(
                "role `{owner}` does not exist: the alternating strategy needs the original user"
            )));
        }
        check_reach(&rows, proven)?;
        // A clone counts only as this function sets it up: linked to its owner (created and
        // granted in one transaction), with no member of its own (else someone else holds it).
        let clone_exists = rows.iter().any(|r| r.0 == clone);
        if clone_exists {
            let (linked, members): (bool, i64) = self
                .bounded(
                    "could not look up the clone's memberships",
                    sqlx::query_as(
                        "SELECT pg_catalog.pg_has_role($1::pg_catalog.name, $2::pg_catalog.name, \
                                'USAGE'), \
                                (SELECT pg_catalog.count(*) FROM pg_catalog.pg_auth_members m \
                                 WHERE m.roleid OPERATOR(pg_catalog.=) \
                                       (SELECT oid FROM pg_catalog.pg_roles \
                                        WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.name))",
                    )
                    .bind(&clone)
                    .bind(owner)
                    .fetch_one(&mut *tx),
                )
                .await?;
            if !linked {
                return Err(BackendError::refused(format!(
                    "role `{clone}` exists but is not a member of `{owner}`: it was not set up as \
                     the pair's second login by this function, so it is not adopted"
                )));
            }
            if members > 0 {
                return Err(BackendError::refused(format!(
                    "role `{clone}` has members of its own: someone else can act as it, so it \
                     is not adopted as `{owner}`'s second login"
                )));
            }
        }
        // Any role either user of the pair belongs to, the proven login must belong to as well.
        let beyond: Vec<(String, String)> = self
            .bounded(
                "could not look up the pair's memberships",
                sqlx::query_as(
                    "SELECT p.rolname::text, r.rolname::text \
                     FROM pg_catalog.pg_roles p JOIN pg_catalog.pg_roles r \
                       ON r.oid OPERATOR(pg_catalog.<>) p.oid \
                      AND pg_catalog.pg_has_role(p.oid, r.oid, 'MEMBER') \
                     WHERE (p.rolname OPERATOR(pg_catalog.=) $1::pg_catalog.name \
                            OR p.rolname OPERATOR(pg_catalog.=) $2::pg_catalog.name) \
                       AND NOT pg_catalog.pg_has_role($3::pg_catalog.name, r.oid, 'USAGE') \
                     ORDER BY 1, 2",
                )
                .bind(owner)
                .bind(&clone)
                .bind(proven)
                .fetch_all(&mut *tx),
            )
            .await?;
        if let Some((role, group)) = beyond.first() {
            return Err(BackendError::refused(format!(
                "role `{role}` is a member of `{group}`, which the secret's own login `{proven}` \
                 is not: the rotation never gives an application secret more than its login has"
            )));
        }
        let exists = rows.iter().any(|r| r.0 == login);
        let set_up = |verb: &str| {
            format!(
                "{verb} ROLE {} WITH LOGIN PASSWORD {}",
                quote_ident(login),
                quote_literal(&verifier)
            )
        };
        let (statements, change) = if login == owner {
            (
                vec![set_up("ALTER")],
                format!("password of role `{login}` changed"),
            )
        } else {
            (
                vec![
                    set_up(if exists { "ALTER" } else { "CREATE" }),
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
            self.bounded(
                &format!("could not set up role `{login}`"),
                sqlx::raw_sql(AssertSqlSafe(statement)).execute(&mut *tx),
            )
            .await?;
        }
        self.bounded("could not commit the role change", tx.commit())
            .await?;
        info!(role = login, owner, "alternate login ready");
        Ok(change)
    }
}

/// A role of the pair: name, superuser, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS, and whether
/// the proven login holds its privileges (`USAGE`: itself, or a member that inherits them).
type RoleRow = (String, bool, bool, bool, bool, bool, bool);

fn elevated(row: &RoleRow) -> Vec<&'static str> {
    let flags = [row.2, row.3, row.4, row.5];
    ELEVATED
        .iter()
        .zip(flags)
        .filter_map(|(name, on)| on.then_some(*name))
        .collect()
}

/// Refuses a pair that would reach further than the proven login: a superuser in it, or an
/// attribute (CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS) that neither the proven login nor a
/// role of the pair it already belongs to has.
fn check_reach(rows: &[RoleRow], proven: &str) -> Result<(), BackendError> {
    let held: Vec<&str> = rows.iter().filter(|r| r.6).flat_map(elevated).collect();
    for row in rows {
        if row.1 {
            return Err(BackendError::refused(format!(
                "role `{}` is a superuser: the rotation never sets up or changes a superuser \
                 login for an application secret",
                row.0
            )));
        }
        if let Some(extra) = elevated(row).into_iter().find(|a| !held.contains(a)) {
            return Err(BackendError::refused(format!(
                "role `{}` has {extra}, which the secret's own login `{proven}` does not: the \
                 rotation never gives an application secret more than its login already has",
                row.0
            )));
        }
    }
    Ok(())
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
        // A certificate the client refused surfaces as an I/O error: it is no outage, and no
        // retry (least of all one without TLS) would change it.
        sqlx::Error::Tls(_) => BackendErrorKind::Failed,
        sqlx::Error::Io(io) if is_tls_refusal(io) => BackendErrorKind::Failed,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => BackendErrorKind::Unavailable,
        _ => BackendErrorKind::Failed,
    };
    let tls_refused = match &e {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => is_tls_refusal(io),
        _ => false,
    };
    let message = match (kind, &e) {
        (BackendErrorKind::LoginRefused, _) => {
            format!("PostgreSQL refused the {label} login ({target})")
        }
        (BackendErrorKind::Unavailable, _) => {
            format!("could not reach PostgreSQL for {label} ({target})")
        }
        _ if tls_refused => format!(
            "the TLS handshake with PostgreSQL failed for {label} ({target}): its certificate is \
             not trusted (PG_SSL_ROOT_CERT) or does not name the host; never retried without TLS"
        ),
        _ => format!("could not log in to PostgreSQL with {label} ({target})"),
    };
    BackendError::with_source(kind, message, e)
}

/// True when the TLS layer refused the server (its certificate, its name), not the network.
fn is_tls_refusal(io: &std::io::Error) -> bool {
    io.get_ref()
        .and_then(|inner| inner.downcast_ref::<tokio_rustls::rustls::Error>())
        .is_some_and(|e| {
            matches!(
                e,
                tokio_rustls::rustls::Error::InvalidCertificate(_)
                    | tokio_rustls::rustls::Error::NoCertificatesPresented
                    | tokio_rustls::rustls::Error::PeerIncompatible(_)
                    | tokio_rustls::rustls::Error::AlertReceived(_)
            )
        })
}

fn sql_error(e: sqlx::Error, what: &str) -> BackendError {
    let (kind, why) = match &e {
        sqlx::Error::Io(_) => (BackendErrorKind::Unavailable, ""),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // query_canceled (statement_timeout), lock_not_available (lock_timeout)
            Some("57014") | Some("55P03") => (
                BackendErrorKind::Unavailable,
                ": it timed out, most likely waiting for a lock another session holds on the \
                 role; the retry finishes it once that session ends",
            ),
            // admin_shutdown, crash_shutdown, cannot_connect_now
            Some("57P01") | Some("57P02") | Some("57P03") => (BackendErrorKind::Unavailable, ""),
            _ => (BackendErrorKind::Failed, ""),
        },
        _ => (BackendErrorKind::Failed, ""),
    };
    BackendError::with_source(kind, format!("{what}{why}"), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, flags: [bool; 5], member: bool) -> RoleRow {
        (
            name.into(),
            flags[0],
            flags[1],
            flags[2],
            flags[3],
            flags[4],
            member,
        )
    }

    const PLAIN: [bool; 5] = [false; 5];

    #[test]
    fn given_an_ordinary_pair_then_it_may_be_rotated() {
        let rows = [row("app", PLAIN, true), row("app_clone", PLAIN, false)];
        assert!(check_reach(&rows, "app").is_ok());
        // The owner's CREATEDB is the clone's too when the clone proved itself (it runs as owner).
        let rows = [
            row("app", [false, false, true, false, false], true),
            row("app_clone", PLAIN, true),
        ];
        assert!(check_reach(&rows, "app_clone").is_ok());
    }

    #[test]
    fn given_a_pair_that_reaches_further_than_the_proven_login_then_it_is_refused() {
        let superuser = [
            row("app", PLAIN, true),
            row("app_clone", [true, false, false, false, false], false),
        ];
        let e = check_reach(&superuser, "app").unwrap_err();
        assert_eq!(e.kind, BackendErrorKind::Refused);
        assert!(e.message.contains("superuser"), "{}", e.message);
        // A proven clone that is not (yet) a member of a CREATEROLE owner does not get it.
        let rows = [
            row("ops", [false, true, false, false, false], false),
            row("ops_clone", PLAIN, true),
        ];
        let e = check_reach(&rows, "ops_clone").unwrap_err();
        assert!(e.message.contains("CREATEROLE"), "{}", e.message);
        let rows = [
            row("app", PLAIN, true),
            row("app_clone", [false, false, false, true, false], false),
        ];
        assert!(
            check_reach(&rows, "app")
                .unwrap_err()
                .message
                .contains("REPLICATION")
        );
    }
}

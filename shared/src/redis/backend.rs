//! Redis (ACL users) as a rotation backend. setSecret **adds** the pending password to the user
//! with an admin login, so the current and the pending password both work; finishSecret removes
//! every password that is neither AWSCURRENT nor AWSPREVIOUS, so a client holding the previous
//! secret keeps working until the next rotation.
//!
//! The admin acts only for a secret whose own login works (AWSCURRENT, else AWSPREVIOUS on the
//! same server), never on the admin's own user; every step that changed or found the ACL
//! persists it (`ACL SAVE`, or `CONFIG REWRITE` for users kept in redis.conf), so a retried step
//! also finishes a save that failed.

use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;
use tracing::info;

use super::connection::{ConnError, RedisConnection, TlsSettings, text};
use super::elasticache::{ElastiCacheApi, TokenChange, TokenUpdate, fit_policy, user_id, wait_for};
pub use super::secret::{Mode, RedisSecret};
use crate::aws::elasticache::ElastiCacheClient;
use crate::config::ConfigError;
use crate::rotation::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, BackendError, BackendErrorKind, CreateContext,
    CredentialBackend, Finished, Retirement, SecretStore, SetOutcome, Staged, VersionRef,
};
use crate::rotation::{prove_possession, secret_arn};
use crate::secret::SecretString;
use redis::acl::Rule;
use redis::{Cmd, Value};

/// Connection settings that are the function's, not the secret's.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Bounds the connect, the TLS handshake and every command.
    pub timeout: Duration,
    /// A private CA bundle to trust besides the public roots.
    pub tls_ca_file: Option<PathBuf>,
    /// How long a step waits for an ElastiCache user to be `active` or a group `available`.
    pub elasticache_wait: Duration,
    /// How often it asks while waiting.
    pub elasticache_poll: Duration,
    /// The only user name this function rotates, when set (as AWS's own template checks).
    pub user_name: Option<String>,
    /// The only ElastiCache user (ARN) this function rotates, when set.
    pub user_arn: Option<String>,
    /// The only replication group whose AUTH token this function rotates, when set.
    pub replication_group_id: Option<String>,
    /// The Redis endpoint (host, port): when set, every login must go there. Required for the
    /// ElastiCache modes, whose secrets could otherwise send the proof anywhere.
    pub pinned: Option<(String, u16)>,
    /// The only admin secret (`adminarn`) a self-managed rotation may use, when set
    /// (`REDIS_ADMIN_SECRET_ARN`, the template's `RedisAdminSecretArn`).
    pub admin_secret_arn: Option<String>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            tls_ca_file: None,
            elasticache_wait: Duration::from_secs(300),
            elasticache_poll: Duration::from_secs(5),
            user_name: None,
            user_arn: None,
            replication_group_id: None,
            pinned: None,
            admin_secret_arn: None,
        }
    }
}

/// The Redis rotation backend; its TLS settings are built once, at cold start.
#[derive(Clone)]
pub struct RedisBackend {
    timeout: Duration,
    tls: TlsSettings,
    options: RedisOptions,
    elasticache: Option<ElastiCacheClient>,
}

impl RedisBackend {
    pub fn new(options: RedisOptions) -> Result<Self, ConfigError> {
        let tls = TlsSettings::new(options.tls_ca_file.as_deref())
            .map_err(|e| ConfigError::new("REDIS_TLS_CA_FILE", e.to_string()))?;
        Ok(Self {
            timeout: options.timeout,
            tls,
            options,
            elasticache: None,
        })
    }

    /// With an ElastiCache client: secrets with `user_arn` or `replication_group_id` rotate too.
    pub fn with_elasticache(mut self, api: ElastiCacheClient) -> Self {
        self.elasticache = Some(api);
        self
    }

    fn api(&self) -> Result<&ElastiCacheClient, BackendError> {
        self.elasticache.as_ref().ok_or_else(|| {
            BackendError::new(
                BackendErrorKind::Failed,
                "this rotator has no ElastiCache client (a secret with `user_arn` or \
                 `replication_group_id` needs one)",
            )
        })
    }

    /// The secret names what this function was deployed for: the configured user name, user
    /// ARN and replication group (IAM allows only those; this says so before calling).
    fn check_configured(&self, secret: &RedisSecret, mode: &Mode) -> Result<(), BackendError> {
        let o = &self.options;
        let mismatch = |what: &str, want: &str| {
            Err(BackendError::refused(format!(
                "the secret's {what} is not `{want}`, the one this function rotates"
            )))
        };
        if let Some(want) = &o.user_name
            && secret.username != *want
        {
            return mismatch("user name (REDIS_USER_NAME)", want);
        }
        if matches!(mode, Mode::Acl { .. }) {
            return Ok(());
        }
        // ElastiCache: the endpoint, the transport and the resource are the deployment's, never
        // only the secret's (else the proof could go to any server that says yes).
        if o.pinned.is_none() {
            return Err(BackendError::refused(
                "an ElastiCache secret is rotated only with REDIS_HOST set (the template's \
                 RedisHost): the endpoint every login must go to",
            ));
        }
        if !secret.tls {
            return Err(BackendError::refused(
                "ElastiCache RBAC users and AUTH tokens need in-transit encryption: the secret \
                 must use rediss:// (or \"tls\": true)",
            ));
        }
        match mode {
            Mode::ElastiCacheUser { user_arn } => match &o.user_arn {
                Some(want) if user_arn == want => Ok(()),
                Some(want) => mismatch("`user_arn` (ELASTICACHE_USER_ARN)", want),
                None => Err(BackendError::refused(
                    "an ElastiCache user is rotated only with ELASTICACHE_USER_ARN set",
                )),
            },
            Mode::AuthToken { group_id } => match &o.replication_group_id {
                Some(want) if group_id == want => Ok(()),
                Some(want) => mismatch(
                    "`replication_group_id` (ELASTICACHE_REPLICATION_GROUP_ID)",
                    want,
                ),
                None => Err(BackendError::refused(
                    "an AUTH token is rotated only with ELASTICACHE_REPLICATION_GROUP_ID set",
                )),
            },
            Mode::Acl { .. } => Ok(()),
        }
    }

    /// Waits for the user to be `active`, refusing one whose name is not the secret's.
    async fn wait_user(&self, id: &str, name: &str) -> Result<(), BackendError> {
        let api = self.api()?;
        wait_for(
            &format!("ElastiCache user `{id}`"),
            "active",
            self.options.elasticache_wait,
            self.options.elasticache_poll,
            || async {
                let user = api.describe_user(id).await?;
                if user.name != name {
                    return Err(BackendError::refused(format!(
                        "ElastiCache user `{id}` is named `{}`, not `{name}` as the secret says",
                        user.name
                    )));
                }
                Ok(user.status)
            },
        )
        .await
    }

    async fn wait_group(&self, group_id: &str) -> Result<(), BackendError> {
        let api = self.api()?;
        wait_for(
            &format!("replication group `{group_id}`"),
            "available",
            self.options.elasticache_wait,
            self.options.elasticache_poll,
            || api.group_status(group_id),
        )
        .await
    }

    /// RBAC user: ModifyUser with the pending and the current password (ElastiCache allows two:
    /// the overlap window), once the user is `active`.
    async fn set_user<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
        current: &RedisSecret,
        pending: &RedisSecret,
        user_arn: &str,
    ) -> Result<SetOutcome, BackendError> {
        let id = user_id(user_arn)?;
        if self.works(pending, AWSPENDING).await? {
            return Ok(SetOutcome::AlreadyInPlace);
        }
        // The password kept beside the pending one is the one that just logged in, never an
        // AWSCURRENT value nobody proved (someone else may have chosen it).
        let proven = self.prove(store, staged, current).await?;
        self.wait_user(id, &pending.username).await?;
        self.api()?
            .set_user_passwords(id, &[&pending.password, &proven.password])
            .await?;
        Ok(SetOutcome::Installed {
            change: format!(
                "ElastiCache user `{id}` now accepts the pending and the current password"
            ),
        })
    }

    /// AUTH token: if two tokens are in use, SET the current one (dropping the one older than
    /// AWSCURRENT), then ROTATE in the pending one: current and pending are both accepted.
    async fn set_token<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
        current: &RedisSecret,
        pending: &RedisSecret,
        group_id: &str,
    ) -> Result<SetOutcome, BackendError> {
        if self.works(pending, AWSPENDING).await? {
            return Ok(SetOutcome::AlreadyInPlace);
        }
        let proven = self.prove(store, staged, current).await?;
        self.wait_group(group_id).await?;
        let api = self.api()?;
        // ElastiCache says whether two tokens are in use: ROTATE, and only when it refuses for
        // that reason SET the token that just logged in (dropping the other one), then ROTATE.
        // (AWS allows SET only after a ROTATE, which is exactly then.)
        if api
            .set_auth_token(group_id, &pending.password, TokenUpdate::Rotate)
            .await?
            == TokenChange::TwoTokensInUse
        {
            api.set_auth_token(group_id, &proven.password, TokenUpdate::Set)
                .await?;
            self.wait_group(group_id).await?;
            if api
                .set_auth_token(group_id, &pending.password, TokenUpdate::Rotate)
                .await?
                == TokenChange::TwoTokensInUse
            {
                return Err(BackendError::new(
                    BackendErrorKind::Failed,
                    format!(
                        "replication group `{group_id}` still reports two AUTH tokens after a SET"
                    ),
                ));
            }
        }
        Ok(SetOutcome::Installed {
            change: format!(
                "replication group `{group_id}` now accepts the pending and the current AUTH token"
            ),
        })
    }

    /// `Ok(true)` when the login works, `Ok(false)` when refused.
    async fn works(&self, secret: &RedisSecret, label: &str) -> Result<bool, BackendError> {
        match self.check_login(secret, label).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind == BackendErrorKind::LoginRefused => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Connects and authenticates as `secret`'s user; `label` names the credential in errors.
    async fn login(
        &self,
        secret: &RedisSecret,
        label: &str,
    ) -> Result<RedisConnection, BackendError> {
        if let Some((host, port)) = &self.options.pinned
            && (!host.eq_ignore_ascii_case(&secret.host) || *port != secret.port)
        {
            return Err(BackendError::refused(format!(
                "{label} names {}:{}, not the Redis this function rotates ({host}:{port}, \
                 REDIS_HOST/REDIS_PORT): refused before any login",
                secret.host, secret.port
            )));
        }
        self.connect_as(secret, label).await
    }

    /// Connects and authenticates as `secret`'s user, wherever it points: only for logins whose
    /// endpoint an admin chose (the nodes an admin secret lists); everything else goes through
    /// `login`, which holds the endpoint to REDIS_HOST/REDIS_PORT.
    async fn connect_as(
        &self,
        secret: &RedisSecret,
        label: &str,
    ) -> Result<RedisConnection, BackendError> {
        let target = secret.target();
        let tls = secret.tls.then_some(&self.tls);
        let mut conn = RedisConnection::connect(&secret.host, secret.port, tls, self.timeout)
            .await
            .map_err(|e| resp_error(e, label, &target))?;
        conn.auth(&secret.username, secret.password.expose())
            .await
            .map_err(|e| resp_error(e, label, &target))?;
        Ok(conn)
    }

    /// The login works: a successful `AUTH` is the proof. The `PING` after it only checks the
    /// session; a least-privilege user without `+ping` answers `NOPERM`, which is fine.
    async fn check_login(&self, secret: &RedisSecret, label: &str) -> Result<(), BackendError> {
        let mut conn = self.login(secret, label).await?;
        match conn.query(&redis::cmd("PING")).await {
            Ok(Value::SimpleString(s)) if s == "PONG" => Ok(()),
            Err(e) if e.code() == Some("NOPERM") => Ok(()),
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

    /// Admin connections to every node the user lives on: the server the secret names (the
    /// primary) first, then each node the admin secret lists in `nodes` (ACL users are not
    /// replicated). The admin secret is named by `adminarn`, must point at the same server and
    /// another user; the admin's password goes to its own host and the nodes it lists, nowhere
    /// the application secret says.
    async fn admin_nodes<S: SecretStore>(
        &self,
        store: &S,
        rotated_arn: &str,
        secret: &RedisSecret,
    ) -> Result<Vec<Node>, BackendError> {
        if !secret.nodes.is_empty() {
            return Err(BackendError::refused(
                "the secret lists `nodes`: the admin login goes to each of them, so only the \
                 admin secret may list them (move `nodes` there)",
            ));
        }
        let arn = secret.adminarn.as_deref().ok_or_else(|| {
            BackendError::invalid_secret(
                "the secret has no `adminarn`: Redis rotation adds the new password with an \
                 admin login; name the admin secret in `adminarn`",
            )
        })?;
        // `adminarn` is written by whoever writes this secret: it may name only the configured
        // admin secret, and never the rotated secret itself, compared by the ARNs Secrets
        // Manager gives them (a name or a partial ARN names the same secret as its ARN).
        let want = self.options.admin_secret_arn.as_deref().ok_or_else(|| {
            BackendError::refused(
                "REDIS_ADMIN_SECRET_ARN is not set: this deployment rotates no self-managed Redis \
                 (a secret with `adminarn`); set the template's RedisAdminSecretArn to the one \
                 admin secret it may use",
            )
        })?;
        let named = secret_arn(store, arn).await?;
        if named != secret_arn(store, want).await? {
            return Err(BackendError::refused(format!(
                "`adminarn` names `{arn}`, not the admin secret this function is configured \
                 with (REDIS_ADMIN_SECRET_ARN)"
            )));
        }
        if named == rotated_arn {
            return Err(BackendError::refused(
                "`adminarn` names the secret being rotated: the admin login must come from a \
                 secret of its own",
            ));
        }
        // Read by the ARN just compared, not the secret's own spelling of it.
        let raw = store
            .get(&named, VersionRef::Stage(AWSCURRENT))
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
        if admin.username == secret.username {
            return Err(BackendError::refused(format!(
                "the secret names `{}`, the admin secret's own user: the rotation never hands \
                 the admin's login to an application secret",
                secret.username
            )));
        }
        let primary = format!("{}:{}", admin.host, admin.port).to_ascii_lowercase();
        let mut seen = vec![primary.clone()];
        for (host, port) in &admin.nodes {
            let target = format!("{host}:{port}").to_ascii_lowercase();
            if seen.contains(&target) {
                return Err(BackendError::invalid_secret(format!(
                    "the admin secret lists {target} twice (or the primary itself) in `nodes`"
                )));
            }
            seen.push(target);
        }
        let mut nodes = vec![Node {
            target: primary,
            conn: self.login(&admin, "the admin secret").await?,
        }];
        for (host, port) in &admin.nodes {
            let node = admin.at_node(host, *port);
            nodes.push(Node {
                target: format!("{host}:{port}"),
                conn: self
                    .connect_as(&node, "the admin secret (a listed node)")
                    .await?,
            });
        }
        Ok(nodes)
    }

    /// Proof of possession before the admin acts: the secret's own user logs in with AWSCURRENT
    /// or, if refused (a rotation that added a password but never finished, then a restore),
    /// with AWSPREVIOUS when it names the same user on the same server.
    async fn prove<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
        current: &RedisSecret,
    ) -> Result<RedisSecret, BackendError> {
        let (secret, ()) = prove_possession(
            store,
            &staged.secret_id,
            current,
            |raw| {
                RedisSecret::parse(raw, AWSPREVIOUS)
                    .ok()
                    .filter(|p| p.same_login_target(current))
            },
            |secret: RedisSecret, label| async move { self.check_login(&secret, label).await },
        )
        .await?;
        Ok(secret)
    }

    /// The SHA-256 hashes of the user's passwords (what `ACL GETUSER` shows).
    async fn password_hashes(
        conn: &mut RedisConnection,
        user: &str,
    ) -> Result<Vec<String>, BackendError> {
        let reply = conn
            .query(&Cmd::acl_getuser(user))
            .await
            .map_err(|e| acl_error(e, user))?;
        let items = match reply {
            Value::Array(items) => items,
            Value::Nil => {
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
            .find(|kv| kv.first().and_then(text).as_deref() == Some("passwords"))
            .and_then(|kv| kv.get(1).cloned());
        Ok(match passwords {
            Some(Value::Array(list)) => list.iter().filter_map(text).collect(),
            _ => Vec::new(),
        })
    }

    /// ACLs are not replicated: on a primary with replicas the change would reach one node of
    /// several, and a failover would bring back the old password. Refused rather than half done.
    /// `listed` is how many other nodes the admin secret lists (each gets the change too).
    async fn refuse_replicas(
        conn: &mut RedisConnection,
        listed: usize,
    ) -> Result<(), BackendError> {
        let info = match conn.query(redis::cmd("INFO").arg("replication")).await {
            Ok(reply) if text(&reply).is_some() => text(&reply).unwrap_or_default(),
            Ok(_) => {
                return Err(BackendError::new(
                    BackendErrorKind::Failed,
                    "INFO replication answered oddly: refusing rather than guessing the topology",
                ));
            }
            Err(e) => return Err(acl_error(e, "(INFO replication)")),
        };
        if info.lines().any(|l| l.trim() == "role:slave") {
            return Err(BackendError::refused(
                "the Redis server is a replica: ACL changes belong on the primary (and each node)",
            ));
        }
        let replicas = info
            .lines()
            .find_map(|l| l.strip_prefix("connected_slaves:"))
            .and_then(|n| n.trim().parse::<u32>().ok())
            .ok_or_else(|| {
                BackendError::new(
                    BackendErrorKind::Failed,
                    "INFO replication did not say how many replicas are connected: refusing \
                     rather than guessing the topology",
                )
            })?;
        if replicas as usize > listed {
            return Err(BackendError::refused(format!(
                "the Redis server reports {replicas} connected replica(s) and the admin secret \
                 lists {listed} other node(s): ACL users are not replicated, so the new password \
                 would miss a node; list every node in the admin secret's `nodes` (or use \
                 ElastiCache, whose ModifyUser reaches all of them)"
            )));
        }
        Ok(())
    }

    /// A node the admin secret lists must be a replica (not a primary of its own).
    async fn require_replica(node: &mut Node) -> Result<(), BackendError> {
        let info = node
            .conn
            .query(redis::cmd("INFO").arg("replication"))
            .await
            .map_err(|e| acl_error(e, "(INFO replication)"))?;
        let info = text(&info).unwrap_or_default();
        if !info.lines().any(|l| l.trim() == "role:slave") {
            return Err(BackendError::refused(format!(
                "{}, listed in the admin secret's `nodes`, is not a replica: list only the \
                 primary's replicas",
                node.target
            )));
        }
        Ok(())
    }

    /// `persist_acl` on every node.
    async fn persist_all(nodes: &mut [Node]) -> Result<(), BackendError> {
        for node in nodes {
            Self::persist_acl(&mut node.conn)
                .await
                .map_err(|e| e.context(&format!("on {}", node.target)))?;
        }
        Ok(())
    }

    /// Persists the users so a restart brings back neither a lost pending password nor a removed
    /// old one: `ACL SAVE` when the server keeps them in an ACL file, `CONFIG REWRITE` when they
    /// live in redis.conf. A server with neither would forget them: that is an error.
    async fn persist_acl(conn: &mut RedisConnection) -> Result<&'static str, BackendError> {
        let saved = match conn.query(&Cmd::acl_save()).await {
            Ok(_) => return Ok("ACL SAVE"),
            Err(ConnError::Server { text, .. }) if text.contains("ACL file") => text,
            Err(e) => {
                return Err(BackendError::with_source(
                    match e {
                        ConnError::Server { .. } => BackendErrorKind::Failed,
                        _ => BackendErrorKind::Unavailable,
                    },
                    "ACL SAVE failed: the change is live but not saved, and a restart would undo \
                     it; the retried step saves it again",
                    e,
                ));
            }
        };
        match conn.query(redis::cmd("CONFIG").arg("REWRITE")).await {
            Ok(_) => Ok("CONFIG REWRITE"),
            Err(e) => Err(BackendError::with_source(
                BackendErrorKind::Failed,
                format!(
                    "Redis keeps its users neither in an ACL file ({saved}) nor in a config file \
                     it can rewrite: a restart would lose the rotated password; configure \
                     `aclfile` (or start Redis from a redis.conf)"
                ),
                e,
            )),
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

    /// ElastiCache drops AWSPREVIOUS's password at setSecret (`ModifyUser` with `[pending,
    /// current]`, or `SET` of the current token); self-managed Redis at finishSecret's clean-up.
    fn retirement(&self, current: &SecretString) -> Result<Retirement, BackendError> {
        Ok(match RedisSecret::parse(current, AWSCURRENT)?.mode()? {
            Mode::Acl { .. } => Retirement::AtFinish,
            Mode::ElastiCacheUser { .. } | Mode::AuthToken { .. } => Retirement::AtSet,
        })
    }

    async fn create_pending<S: SecretStore>(
        &self,
        ctx: &CreateContext<'_, S>,
        current: &SecretString,
    ) -> Result<SecretString, BackendError> {
        let current = RedisSecret::parse(current, AWSCURRENT)?;
        let mode = current.mode()?;
        self.check_configured(&current, &mode)?;
        let password = match mode {
            Mode::Acl { .. } => ctx.new_password().await?,
            // ElastiCache refuses some characters and lengths: the policy is made to fit.
            Mode::ElastiCacheUser { .. } | Mode::AuthToken { .. } => {
                ctx.store
                    .random_password(&fit_policy(ctx.passwords))
                    .await?
            }
        };
        current.with_password(&password)
    }

    async fn set_pending<S: SecretStore>(
        &self,
        store: &S,
        staged: &Staged,
    ) -> Result<SetOutcome, BackendError> {
        let current = RedisSecret::parse(&staged.current, AWSCURRENT)?;
        let pending = RedisSecret::parse(&staged.pending, AWSPENDING)?;
        let mode = current.mode()?;
        if !current.same_login_target(&pending) || pending.mode()? != mode {
            return Err(BackendError::refused(
                "AWSPENDING names another user, server, transport, admin secret, ElastiCache \
                 user or replication group than AWSCURRENT: a rotation changes the password only",
            ));
        }
        self.check_configured(&current, &mode)?;
        match mode {
            Mode::Acl { .. } => {}
            Mode::ElastiCacheUser { user_arn } => {
                return self
                    .set_user(store, staged, &current, &pending, &user_arn)
                    .await;
            }
            Mode::AuthToken { group_id } => {
                return self
                    .set_token(store, staged, &current, &pending, &group_id)
                    .await;
            }
        }
        // The admin's view decides (ACL GETUSER's hashes), not a login: a `nopass` user lets any
        // password in. The admin secret is checked to name this server before anything is sent.
        let mut nodes = self
            .admin_nodes(store, &staged.secret_arn, &pending)
            .await?;
        let user = pending.username.as_str();
        let pending_hash = password_hash(&pending.password);
        // Fails clearly if the user does not exist on a node, instead of creating a disabled one.
        let mut hashes = Vec::with_capacity(nodes.len());
        for node in &mut nodes {
            hashes.push(node.password_hashes(user).await?);
        }
        if hashes.iter().all(|h| h.contains(&pending_hash)) {
            // A retry: the password may be live but never saved (ACL SAVE failed last time).
            Self::persist_all(&mut nodes).await?;
            return Ok(SetOutcome::AlreadyInPlace);
        }
        // The proven password must be one of the user's own: a `nopass` user proves nothing.
        // On every node: a node whose user lacks it (`nopass`, or ACLs that drifted) would lose
        // the current password the moment `>pending` is added, so nothing is changed anywhere.
        let proven = password_hash(&self.prove(store, staged, &current).await?.password);
        if let Some((node, _)) = nodes
            .iter()
            .zip(&hashes)
            .find(|(_, h)| !h.contains(&proven))
        {
            return Err(BackendError::refused(format!(
                "the secret's password is not one of Redis user `{user}`'s on {} (a `nopass` \
                 user lets any password in; each node needs the same ACL): nothing is changed \
                 without proof of that user's password on every node",
                node.target
            )));
        }
        let listed = nodes.len() - 1;
        Self::refuse_replicas(&mut nodes[0].conn, listed).await?;
        for node in &mut nodes[1..] {
            Self::require_replica(node).await?;
        }
        let add = [Rule::AddPass(pending.password.expose().to_string())];
        for (node, hashes) in nodes.iter_mut().zip(&hashes) {
            if !hashes.contains(&pending_hash) {
                node.conn
                    .query(&Cmd::acl_setuser_rules(user, &add))
                    .await
                    .map_err(|e| acl_error(e, user))?;
            }
        }
        Self::persist_all(&mut nodes).await?;
        let on = if listed == 0 {
            String::new()
        } else {
            format!(" on {} nodes", nodes.len())
        };
        Ok(SetOutcome::Installed {
            change: format!(
                "pending password added to Redis user `{user}`{on} (the current one still works)"
            ),
        })
    }

    async fn test_pending(&self, pending: &SecretString) -> Result<(), BackendError> {
        let pending = RedisSecret::parse(pending, AWSPENDING)?;
        self.check_configured(&pending, &pending.mode()?)?;
        // ElastiCache: once the change reached every node (the resource settled), a real AUTH.
        match pending.mode()? {
            Mode::Acl { .. } => {}
            Mode::ElastiCacheUser { user_arn } => {
                self.wait_user(user_id(&user_arn)?, &pending.username)
                    .await?
            }
            Mode::AuthToken { group_id } => self.wait_group(&group_id).await?,
        }
        self.check_login(&pending, AWSPENDING).await
    }

    async fn validate_current(&self, current: &SecretString) -> Result<(), BackendError> {
        let current = RedisSecret::parse(current, AWSCURRENT)?;
        // Validation only logs in; a secret that says how it is rotated is held to the same
        // deployment rules (pin, TLS, configured resource) as its rotation.
        if let Ok(mode) = current.mode() {
            self.check_configured(&current, &mode)?;
        }
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
        if !matches!(current.mode()?, Mode::Acl { .. }) {
            // ElastiCache already holds exactly [AWSCURRENT, AWSPREVIOUS] since setSecret.
            return Ok(None);
        }
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
        let mut nodes = self
            .admin_nodes(store, finished.secret_arn, &current)
            .await?;
        let user = current.username.as_str();
        // A replaced version whose password the user does not have (AWSCURRENT was refused and
        // the rotation proved itself with AWSPREVIOUS) names no password to keep: removing the
        // others now could drop the one clients still use. The next rotation cleans up.
        let primary = nodes[0].password_hashes(user).await?;
        if previous
            .as_ref()
            .is_some_and(|p| !primary.contains(&password_hash(&p.password)))
        {
            info!(user = %user, "the replaced version's password is not the user's: clean-up left to the next rotation");
            Self::persist_all(&mut nodes).await?;
            return Ok(None);
        }
        // Nothing is removed anywhere unless every node has every password kept: a node that
        // missed the new one would otherwise be left with none that clients hold.
        let mut per_node = Vec::with_capacity(nodes.len());
        for node in &mut nodes {
            let hashes = node.password_hashes(user).await?;
            if let Some(missing) = keep.iter().find(|k| !hashes.contains(k)) {
                let which = if *missing == keep[0] {
                    "AWSCURRENT"
                } else {
                    "AWSPREVIOUS"
                };
                return Err(BackendError::new(
                    BackendErrorKind::Failed,
                    format!(
                        "Redis user `{user}` on {} lacks the {which} password: no old password \
                         is removed on any node until every node has it (rotate again, or fix \
                         that node's ACL)",
                        node.target
                    ),
                ));
            }
            per_node.push(hashes);
        }
        let mut removed = 0;
        for (node, hashes) in nodes.iter_mut().zip(per_node) {
            let stale: Vec<Rule> = hashes
                .into_iter()
                .filter(|h| !keep.contains(h))
                .map(Rule::RemoveHashedPass)
                .collect();
            if !stale.is_empty() {
                node.conn
                    .query(&Cmd::acl_setuser_rules(user, &stale))
                    .await
                    .map_err(|e| acl_error(e, user))?;
                removed = removed.max(stale.len());
            }
        }
        // Saved whether or not anything was stale: on a retry the save may be the part that
        // failed last time.
        Self::persist_all(&mut nodes).await?;
        if removed == 0 {
            return Ok(None);
        }
        info!(user = %user, removed, nodes = nodes.len(), "old Redis passwords removed");
        Ok(Some(format!(
            "{removed} password(s) older than AWSPREVIOUS removed from Redis user `{user}`"
        )))
    }
}

/// An admin connection to one node of a self-managed Redis.
struct Node {
    /// `host:port`, for messages.
    target: String,
    conn: RedisConnection,
}

impl Node {
    async fn password_hashes(&mut self, user: &str) -> Result<Vec<String>, BackendError> {
        RedisBackend::password_hashes(&mut self.conn, user)
            .await
            .map_err(|e| e.context(&format!("on {}", self.target)))
    }
}

/// Classifies a failed login: refused credentials, an unreachable server, TLS, or other.
fn resp_error(e: ConnError, label: &str, target: &str) -> BackendError {
    // Redis before 6 answers a wrong password with `ERR invalid password`.
    let refused = match &e {
        ConnError::Server { code, text } => {
            code == "WRONGPASS" || code == "NOAUTH" || text.contains("invalid password")
        }
        _ => false,
    };
    // A login's reply may come from any server a secret names: keep only its code (WRONGPASS,
    // NOAUTH, ERR), never text that server chose to send back.
    let e = match e {
        ConnError::Server { code, .. } => ConnError::Server {
            code: code.chars().take(32).collect(),
            text: String::new(),
        },
        other => other,
    };
    let (kind, message) = match &e {
        _ if refused => (
            BackendErrorKind::LoginRefused,
            format!("Redis refused the {label} login ({target})"),
        ),
        ConnError::Connect(_) | ConnError::Timeout(_) | ConnError::Io => (
            BackendErrorKind::Unavailable,
            format!("could not reach Redis for {label} ({target})"),
        ),
        ConnError::Tls(_) | ConnError::TlsConfig(_) => (
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

fn acl_error(e: ConnError, user: &str) -> BackendError {
    // Redis echoes a rejected ACL modifier in its error text; a `>password` modifier must not
    // travel on in an error, so keep only the text before the first quote.
    let e = match e {
        ConnError::Server { code, text } => ConnError::Server {
            code,
            text: text
                .split('\'')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        },
        other => other,
    };
    let kind = match &e {
        ConnError::Connect(_) | ConnError::Timeout(_) | ConnError::Io => {
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

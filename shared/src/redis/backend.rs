//! Redis (ACL users) as a rotation backend. setSecret **adds** the pending password to the user
//! with an admin login, so the current and the pending password both work; finishSecret removes
//! every password that is neither AWSCURRENT nor AWSPREVIOUS, so a client holding the previous
//! secret keeps working until the next rotation.
//!
//! The admin acts only for a secret whose own login works (AWSCURRENT, else AWSPREVIOUS on the
//! same server), never on the admin's own user; every step that changed or found the ACL
//! persists it (`ACL SAVE`, or `CONFIG REWRITE` for users kept in redis.conf), so a retried step
//! also finishes a save that failed.

use std::time::Duration;
use tracing::info;

use super::acl::{Node, password_hash, persist_all, refuse_replicas, require_replica};
use super::connection::{RedisConnection, TlsSettings};
use super::elasticache::{ElastiCacheApi, fit_policy, user_id};
use super::errors::{acl_error, resp_error};
pub use super::options::RedisOptions;
pub use super::secret::{Mode, RedisSecret};
use crate::config::ConfigError;
use crate::rotation::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, BackendError, BackendErrorKind, CreateContext,
    CredentialBackend, Finished, Retirement, SecretStore, SetOutcome, Staged, VersionRef,
};
use crate::rotation::{prove_possession, secret_arn};
use crate::secret::SecretString;
use redis::acl::Rule;
use redis::{Cmd, Value};

/// The Redis rotation backend; its TLS settings are built once, at cold start.
#[derive(Clone)]
pub struct RedisBackend<E> {
    pub(super) timeout: Duration,
    pub(super) tls: TlsSettings,
    pub(super) options: RedisOptions,
    pub(super) elasticache: Option<E>,
}

impl<E: ElastiCacheApi> RedisBackend<E> {
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
    pub fn with_elasticache(mut self, api: E) -> Self {
        self.elasticache = Some(api);
        self
    }

    pub(super) fn api(&self) -> Result<&E, BackendError> {
        self.elasticache.as_ref().ok_or_else(|| {
            BackendError::new(
                BackendErrorKind::Failed,
                "this rotator has no ElastiCache client (a secret with `user_arn` or \
                 `replication_group_id` needs one)",
            )
        })
    }

    /// `Ok(true)` when the login works, `Ok(false)` when refused.
    pub(super) async fn works(
        &self,
        secret: &RedisSecret,
        label: &str,
    ) -> Result<bool, BackendError> {
        match self.check_login(secret, label).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind == BackendErrorKind::LoginRefused => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Connects and authenticates as `secret`'s user; `label` names the credential in errors.
    pub(super) async fn login(
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
    pub(super) async fn connect_as(
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
    pub(super) async fn check_login(
        &self,
        secret: &RedisSecret,
        label: &str,
    ) -> Result<(), BackendError> {
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
    pub(super) async fn admin_nodes<S: SecretStore>(
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
    pub(super) async fn prove<S: SecretStore>(
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
}

impl<E: ElastiCacheApi> CredentialBackend for RedisBackend<E> {
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
            persist_all(&mut nodes).await?;
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
        refuse_replicas(&mut nodes[0].conn, listed).await?;
        for node in &mut nodes[1..] {
            require_replica(node).await?;
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
        persist_all(&mut nodes).await?;
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
            persist_all(&mut nodes).await?;
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
        persist_all(&mut nodes).await?;
        if removed == 0 {
            return Ok(None);
        }
        info!(user = %user, removed, nodes = nodes.len(), "old Redis passwords removed");
        Ok(Some(format!(
            "{removed} password(s) older than AWSPREVIOUS removed from Redis user `{user}`"
        )))
    }
}

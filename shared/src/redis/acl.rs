//! Self-managed Redis: the admin's work on every node (ACL users' password hashes, no replicas
//! left behind, persistence with `ACL SAVE` or `CONFIG REWRITE`).

use redis::{Cmd, Value};
use sha2::{Digest, Sha256};

use super::connection::{ConnError, RedisConnection, text};
use super::errors::acl_error;
use crate::rotation::{BackendError, BackendErrorKind};
use crate::secret::SecretString;

/// An admin connection to one node of a self-managed Redis.
pub(super) struct Node {
    /// `host:port`, for messages.
    pub(super) target: String,
    pub(super) conn: RedisConnection,
}

impl Node {
    pub(super) async fn password_hashes(
        &mut self,
        user: &str,
    ) -> Result<Vec<String>, BackendError> {
        password_hashes(&mut self.conn, user)
            .await
            .map_err(|e| e.context(&format!("on {}", self.target)))
    }
}

pub(super) fn password_hash(password: &SecretString) -> String {
    hex::encode(Sha256::digest(password.expose().as_bytes()))
}

/// The SHA-256 hashes of the user's passwords (what `ACL GETUSER` shows).
pub(super) async fn password_hashes(
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
pub(super) async fn refuse_replicas(
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
pub(super) async fn require_replica(node: &mut Node) -> Result<(), BackendError> {
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
pub(super) async fn persist_all(nodes: &mut [Node]) -> Result<(), BackendError> {
    for node in nodes {
        persist_acl(&mut node.conn)
            .await
            .map_err(|e| e.context(&format!("on {}", node.target)))?;
    }
    Ok(())
}

/// Persists the users so a restart brings back neither a lost pending password nor a removed
/// old one: `ACL SAVE` when the server keeps them in an ACL file, `CONFIG REWRITE` when they
/// live in redis.conf. A server with neither would forget them: that is an error.
pub(super) async fn persist_acl(conn: &mut RedisConnection) -> Result<&'static str, BackendError> {
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

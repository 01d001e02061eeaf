//! The function's own Redis settings (not the secret's): timeouts, the private CA, the waits for
//! ElastiCache, and the pins that say what this deployment may rotate.

use std::path::PathBuf;
use std::time::Duration;

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

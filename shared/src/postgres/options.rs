//! The function's own PostgreSQL settings (not the secret's): timeouts, the TLS floor, the CA,
//! the pinned host.

use std::path::PathBuf;
use std::time::Duration;

use super::secret::SslMode;

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

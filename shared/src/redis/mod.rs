//! Redis as a rotation backend: ElastiCache RBAC users and AUTH tokens, or self-managed ACL users.
//!
//! - [`secret`]: the secret's shape and mode;
//! - [`connection`]: logins over RESP (TLS, AUTH), and replies;
//! - [`elasticache`]: the ElastiCache port and its waits;
//! - `backend`: pinning, the admin's ACL work and the `CredentialBackend` implementation.

mod acl;
mod backend;
pub mod connection;
pub mod elasticache;
mod elasticache_mode;
mod errors;
#[cfg(any(test, feature = "fakes"))]
pub mod fake_elasticache;
#[cfg(any(test, feature = "fakes"))]
pub mod node_url;
mod options;
mod pinning;
pub mod secret;

pub use backend::*;

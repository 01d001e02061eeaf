//! In-memory fakes of every port, each in a file beside the port or adapter it stands in for
//! (serverless-rust-demo's `MemoryStore`), gathered here under one name. Each orchestrator's unit
//! tests run on them in milliseconds, without the local stack. They keep state the way the real
//! services do where the orchestrators depend on it (tags, task definitions, versions and staging
//! labels, conditional writes) and can be told to fail an operation. They model no IAM, no throttling and no eventual consistency: the
//! end-to-end tests in `tests/` (moto, PostgreSQL, Redis) cover those.

pub use crate::capacity::fake_fleet::{MemoryFleet, WriteHook, task_definition};
pub use crate::ledger::fake::MemoryNotificationLedger;
pub use crate::notify::fake::RecordingNotifier;
#[cfg(feature = "redis")]
pub use crate::redis::fake_elasticache::MemoryElastiCache;
#[cfg(feature = "redis")]
pub use crate::redis::node_url::decode_uri_component;
pub use crate::rollback::fake_ledger::MemoryRollbackLedger;
pub use crate::rotation::fake_backend::MemoryCredential;
pub use crate::rotation::fake_store::MemorySecretStore;

use std::sync::{Mutex, MutexGuard};

/// When the fakes' first deployments and versions were made: long before any test's change.
pub(crate) const LONG_AGO: jiff::Timestamp = jiff::Timestamp::constant(1_767_225_600, 0);

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already; the data is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn injected(operation: &'static str) -> crate::error::BoxError {
    format!("{operation} failed (injected by the fake)").into()
}

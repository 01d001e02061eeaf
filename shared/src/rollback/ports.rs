//! What alarm-rollback needs from the world: the fleet of releases (ECS) and the rollback
//! ledger (DynamoDB), each a small trait with an in-memory fake in `crate::fakes`.

use super::release::ServiceRelease;
use crate::capacity::{FleetError, ServiceId};
use crate::ledger::LedgerError;
use serde::Serialize;
use std::future::Future;

/// The port to ECS for releases.
pub trait ReleaseFleet: Send + Sync {
    fn describe(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = Result<ServiceRelease, FleetError>> + Send;
    /// ACTIVE task definition ARNs of `family`, any order.
    fn revisions(
        &self,
        family: &str,
    ) -> impl Future<Output = Result<Vec<String>, FleetError>> + Send;
    fn deploy(
        &self,
        service: &ServiceId,
        task_definition: &str,
    ) -> impl Future<Output = Result<(), FleetError>> + Send;
    fn tag_many(
        &self,
        service: &ServiceId,
        tags: &[(&str, String)],
    ) -> impl Future<Output = Result<(), FleetError>> + Send;
}

/// One rollback, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackRecord {
    pub from: String,
    pub to: String,
    pub at: String,
    pub cause: String,
}

/// What the ledger knows about a service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerEntry {
    /// 0 when the service has never been rolled back.
    pub version: u64,
    pub last: Option<RollbackRecord>,
    /// Task definitions rolled away from: never a target again.
    pub rolled_away: Vec<String>,
}

/// The atomic guard across concurrent Lambda instances.
pub trait RollbackLedger: Send + Sync {
    fn read(&self, service: &str) -> impl Future<Output = Result<LedgerEntry, LedgerError>> + Send;
    /// Writes `next` if the entry is still at `expected_version`; `Ok(false)` if someone else
    /// wrote first.
    fn commit(
        &self,
        service: &str,
        expected_version: u64,
        next: &LedgerEntry,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;
}

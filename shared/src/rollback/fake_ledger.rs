//! The rollback ledger in memory, beside its port (`ports.rs`) and its DynamoDB adapter.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::fakes::lock;
use crate::ledger::LedgerError;
use crate::rollback::{LedgerEntry, RollbackLedger};

/// The rollback ledger in memory, with DynamoDB's conditional write: a commit at a stale
/// version loses.
#[derive(Debug, Default)]
pub struct MemoryRollbackLedger(Mutex<BTreeMap<String, LedgerEntry>>);

impl MemoryRollbackLedger {
    pub fn entry(&self, service: &str) -> LedgerEntry {
        lock(&self.0).get(service).cloned().unwrap_or_default()
    }
}

impl RollbackLedger for MemoryRollbackLedger {
    async fn read(&self, service: &str) -> Result<LedgerEntry, LedgerError> {
        Ok(self.entry(service))
    }

    async fn commit(
        &self,
        service: &str,
        expected_version: u64,
        next: &LedgerEntry,
    ) -> Result<bool, LedgerError> {
        let mut entries = lock(&self.0);
        let at = entries.get(service).map_or(0, |e| e.version);
        if at != expected_version {
            return Ok(false);
        }
        entries.insert(service.to_string(), next.clone());
        Ok(true)
    }
}

//! The notification ledger in memory, beside its port.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::fakes::lock;
use crate::ledger::{Claim, LedgerError, NotificationLedger, Owner};

/// The notification ledger in memory, with DynamoDB's conditions: a claim is in progress until
/// finished or forgotten by its owner, and taken over once its lease has run out.
#[derive(Debug, Default)]
pub struct MemoryNotificationLedger(Mutex<BTreeMap<String, (Claim, Owner)>>);

fn now_seconds() -> u64 {
    jiff::Timestamp::now().as_second().max(0) as u64
}

fn not_the_owner(operation: &'static str, key: &str) -> LedgerError {
    LedgerError {
        ledger: "notification",
        operation,
        key: key.to_string(),
        source: "the claim is another invocation's (the conditional write failed)".into(),
    }
}

impl NotificationLedger for MemoryNotificationLedger {
    async fn claim(&self, key: &str, owner: &Owner) -> Result<Claim, LedgerError> {
        let mut claims = lock(&self.0);
        match claims.get(key) {
            // A claim whose lease ran out is taken over, as the DynamoDB condition allows.
            Some((Claim::InProgress, held)) if held.until < now_seconds() => {}
            Some((found, _)) => return Ok(*found),
            None => {}
        }
        claims.insert(key.to_string(), (Claim::InProgress, owner.clone()));
        Ok(Claim::New)
    }

    async fn finish(&self, key: &str, owner: &Owner) -> Result<(), LedgerError> {
        let mut claims = lock(&self.0);
        match claims.get_mut(key) {
            Some((claim, held)) if held.id == owner.id => {
                *claim = Claim::Done;
                Ok(())
            }
            _ => Err(not_the_owner("finish", key)),
        }
    }

    async fn forget(&self, key: &str, owner: &Owner) -> Result<(), LedgerError> {
        let mut claims = lock(&self.0);
        match claims.get(key) {
            // Only a claim in progress is given back: a handled notification stays handled.
            Some((Claim::InProgress, held)) if held.id == owner.id => {
                claims.remove(key);
                Ok(())
            }
            _ => Err(not_the_owner("forget", key)),
        }
    }
}

//! What the suite remembers between invocations, written only with conditional writes: of
//! several invocations writing at once (a redelivery, SNS and EventBridge delivering the same
//! alert) exactly one wins and the others learn that they lost. Two ledgers use the pattern: the
//! rollback ledger (one versioned entry per service, `rollback::RollbackLedger`) and the
//! notification ledger (one claim per notification, [`NotificationLedger`]). Their DynamoDB
//! adapters are in `aws::dynamodb`, their in-memory fakes in `fakes`.

use std::future::Future;

use crate::error::BoxError;

/// A ledger call that failed (not one that lost a race: that is an answer, not an error).
#[derive(Debug, thiserror::Error)]
#[error("the {ledger} ledger could not {operation} `{key}`")]
pub struct LedgerError {
    /// Which ledger: `rollback` or `notification`.
    pub ledger: &'static str,
    pub operation: &'static str,
    pub key: String,
    #[source]
    pub source: BoxError,
}

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    New,
    InProgress,
    Done,
}

/// Remembers which notifications were handled, so a redelivery is one action and one message.
pub trait NotificationLedger: Send + Sync {
    /// Claims `key` for handling: `New` the first time, and again once an earlier claim's lease
    /// ran out without `finish` (its invocation timed out or crashed); `InProgress` while another
    /// invocation holds a live lease; `Done` once handled.
    fn claim(&self, key: &str) -> impl Future<Output = Result<Claim, LedgerError>> + Send;
    /// Marks `key` handled: every later delivery is a duplicate.
    fn finish(&self, key: &str) -> impl Future<Output = Result<(), LedgerError>> + Send;
    /// Gives a claim back after a failure, so the retry is not taken for a duplicate.
    fn forget(&self, key: &str) -> impl Future<Output = Result<(), LedgerError>> + Send;
}

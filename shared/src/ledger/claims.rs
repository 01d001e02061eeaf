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

/// Who holds a claim, and until when: an invocation (its request id) until its own deadline has
/// passed (or the configured lease, when longer). A claim is never taken over while the
/// invocation that made it may still run, and only its owner finishes or gives it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: String,
    /// Epoch seconds after which another invocation may take the claim over.
    pub until: u64,
}

impl Owner {
    /// The invocation being handled: its request id, its lease running to the later of `lease`
    /// from now and its deadline plus a margin (so a lease configured shorter than the function's
    /// timeout cannot hand a live claim to a redelivery). Outside an invocation (a test), an id
    /// of its own.
    pub fn of_this_invocation(lease: std::time::Duration) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let invocation = crate::telemetry::invocation();
        let deadline = invocation
            .as_ref()
            .and_then(|i| i.deadline_ms)
            .map(|ms| ms / 1000 + DEADLINE_MARGIN_SECONDS);
        let id = invocation
            .map(|i| i.request_id)
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| {
                let mut b = [0u8; 8];
                let _ = getrandom::fill(&mut b);
                format!("local-{}", hex::encode(b))
            });
        Self {
            id,
            until: (now + lease.as_secs()).max(deadline.unwrap_or(0)),
        }
    }
}

/// After an invocation's deadline, how long before its claim may be taken over (the runtime
/// stops it at the deadline; the margin covers clocks).
const DEADLINE_MARGIN_SECONDS: u64 = 10;

/// Claims `key` for `owner`, waiting up to `wait` (every 2 s) while another invocation holds it:
/// a notification that arrives twice at once (SNS and EventBridge) must not fail the second
/// delivery into a page while the first is handled.
pub async fn claim_waiting<L: NotificationLedger>(
    ledger: &L,
    key: &str,
    owner: &Owner,
    wait: std::time::Duration,
) -> Result<Claim, LedgerError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match ledger.claim(key, owner).await? {
            Claim::InProgress if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            other => return Ok(other),
        }
    }
}

/// Remembers which notifications were handled, so a redelivery is one action and one message.
pub trait NotificationLedger: Send + Sync {
    /// Claims `key` for `owner`: `New` the first time, and again once an earlier claim's lease
    /// ran out without `finish` (its invocation timed out or crashed); `InProgress` while another
    /// invocation holds a live lease; `Done` once handled.
    fn claim(
        &self,
        key: &str,
        owner: &Owner,
    ) -> impl Future<Output = Result<Claim, LedgerError>> + Send;
    /// Marks `key` handled, if `owner` still holds it: every later delivery is a duplicate.
    fn finish(
        &self,
        key: &str,
        owner: &Owner,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;
    /// Gives a claim back after a failure, if `owner` still holds it, so the retry is not taken
    /// for a duplicate (a claim another invocation took over is left to it).
    fn forget(
        &self,
        key: &str,
        owner: &Owner,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;
}

/// The ownership rules every notification ledger keeps, as one scenario on a fresh `key`: a
/// claim whose lease ran out is taken over; its first owner, still running after all, can then
/// neither give it back nor mark it done; a third invocation finds it in progress, then done
/// once its owner finishes it. Run on the fake (below) and on DynamoDB (the end-to-end tests).
#[cfg(any(test, feature = "fakes"))]
pub async fn taken_over_claim_scenario<L: NotificationLedger>(ledger: &L, key: &str) {
    let expired = Owner {
        id: "first".into(),
        until: 0,
    };
    let second = Owner {
        id: "second".into(),
        until: u64::MAX / 2,
    };
    let third = Owner {
        id: "third".into(),
        until: u64::MAX / 2,
    };
    assert_eq!(ledger.claim(key, &expired).await.ok(), Some(Claim::New));
    // The first invocation's lease ran out: a redelivery takes the claim over.
    assert_eq!(ledger.claim(key, &second).await.ok(), Some(Claim::New));
    // The first invocation, still running after all, fails: it cannot give back the second's.
    assert!(
        ledger.forget(key, &expired).await.is_err(),
        "forget by a non-owner"
    );
    assert!(
        ledger.finish(key, &expired).await.is_err(),
        "finish by a non-owner"
    );
    assert_eq!(
        ledger.claim(key, &third).await.ok(),
        Some(Claim::InProgress)
    );
    assert!(
        ledger.finish(key, &second).await.is_ok(),
        "finish by its owner"
    );
    assert_eq!(ledger.claim(key, &third).await.ok(), Some(Claim::Done));
    // Done is final: not even its owner gives it back.
    assert!(
        ledger.forget(key, &second).await.is_err(),
        "forget of a done claim"
    );
    assert_eq!(ledger.claim(key, &third).await.ok(), Some(Claim::Done));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MemoryNotificationLedger;
    use std::time::Duration;

    #[tokio::test]
    async fn given_a_lease_shorter_than_the_invocation_then_the_claim_lasts_to_its_deadline() {
        let now = jiff::Timestamp::now().as_second() as u64;
        let deadline_ms = (now + 60) * 1000;
        let owner = crate::telemetry::within(
            crate::telemetry::Invocation {
                request_id: "req-1".into(),
                trace_id: None,
                deadline_ms: Some(deadline_ms),
            },
            async { Owner::of_this_invocation(Duration::from_secs(1)) },
        )
        .await;
        assert_eq!(owner.id, "req-1");
        assert!(
            owner.until >= now + 60 + DEADLINE_MARGIN_SECONDS,
            "{owner:?}"
        );
        // Outside an invocation: an id of its own, the lease from now.
        let local = Owner::of_this_invocation(Duration::from_secs(90));
        assert!(local.id.starts_with("local-") && local.until >= now + 90);
    }

    #[tokio::test]
    async fn given_a_claim_taken_over_then_its_first_owner_can_neither_finish_nor_forget_it() {
        taken_over_claim_scenario(&MemoryNotificationLedger::default(), "k").await;
    }
}

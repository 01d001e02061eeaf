//! The two ledgers (`crate::ledger`) on DynamoDB. [`RollbackLedger`]: one item per service, written with a condition on its version
//! (optimistic concurrency), so of several invocations deciding at once exactly one commits.
//! Chosen over a lock with expiry because the commit *is* the record: there is nothing to
//! release and nothing to expire, and a crashed invocation leaves no lock behind.

use crate::error::BoxError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

use super::{CallFailure, call_failure};
use crate::ledger::{Claim, LedgerError, NotificationLedger, Owner};
use crate::rollback::{LedgerEntry, RollbackLedger, RollbackRecord};

#[derive(Clone, Debug)]
pub struct DynamoRollbackLedger {
    client: Client,
    table: String,
}

impl DynamoRollbackLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

const ROLLBACK: &str = "rollback";
const NOTIFICATION: &str = "notification";

/// A conditional write that found its condition false: another invocation wrote first. An
/// answer, not a failure.
fn lost_race<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    matches!(call_failure(e), CallFailure::Service(Some(ref c)) if c == "ConditionalCheckFailedException")
}

fn failed(
    ledger: &'static str,
    operation: &'static str,
    key: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> LedgerError {
    LedgerError {
        ledger,
        operation,
        key: key.to_string(),
        source: Box::new(e),
    }
}

fn text(item: &HashMap<String, AttributeValue>, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

impl RollbackLedger for DynamoRollbackLedger {
    async fn read(&self, service: &str) -> Result<LedgerEntry, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(service.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed(ROLLBACK, "read", service, e))?;
        let Some(item) = out.item() else {
            return Ok(LedgerEntry::default());
        };
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let last = match (
            text(item, "last_from"),
            text(item, "last_to"),
            text(item, "last_at"),
        ) {
            (Some(from), Some(to), Some(at)) => Some(RollbackRecord {
                from,
                to,
                at,
                cause: text(item, "last_cause").unwrap_or_default(),
            }),
            _ => None,
        };
        let rolled_away = item
            .get("rolled_away")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default();
        Ok(LedgerEntry {
            version,
            last,
            rolled_away,
        })
    }

    async fn commit(
        &self,
        service: &str,
        expected_version: u64,
        next: &LedgerEntry,
    ) -> Result<bool, LedgerError> {
        let mut item = HashMap::from([
            ("pk".to_string(), AttributeValue::S(service.to_string())),
            (
                "version".to_string(),
                AttributeValue::N(next.version.to_string()),
            ),
            (
                "rolled_away".to_string(),
                AttributeValue::L(
                    next.rolled_away
                        .iter()
                        .cloned()
                        .map(AttributeValue::S)
                        .collect(),
                ),
            ),
        ]);
        if let Some(last) = &next.last {
            item.insert("last_from".into(), AttributeValue::S(last.from.clone()));
            item.insert("last_to".into(), AttributeValue::S(last.to.clone()));
            item.insert("last_at".into(), AttributeValue::S(last.at.clone()));
            item.insert("last_cause".into(), AttributeValue::S(last.cause.clone()));
        }
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = if expected_version == 0 {
            request.condition_expression("attribute_not_exists(pk)")
        } else {
            request
                .condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(expected_version.to_string()))
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if lost_race(&e) => Ok(false),
            Err(e) => Err(failed(ROLLBACK, "commit", service, e)),
        }
    }
}

/// [`NotificationLedger`] on DynamoDB: one item per notification key, kept for 14
/// days (the table's TTL attribute `expires_at`). A claim is `state = in-progress` with its
/// `owner` (the invocation's request id) and a lease (`lease_until`, epoch seconds: past the
/// invocation's deadline), so a claim whose invocation timed out or crashed can be taken over by
/// the retry, and never one that may still run; `finish` makes it `done` and `forget` deletes it,
/// each only for its owner.
#[derive(Clone, Debug)]
pub struct DynamoNotificationLedger {
    client: Client,
    table: String,
}

impl DynamoNotificationLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn epoch_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

const DEDUPE_DAYS: u64 = 14;

impl NotificationLedger for DynamoNotificationLedger {
    async fn claim(&self, key: &str, owner: &Owner) -> Result<Claim, LedgerError> {
        let error = |operation, e: BoxError| LedgerError {
            ledger: NOTIFICATION,
            operation,
            key: key.to_string(),
            source: e,
        };
        // Twice at most: a claim given back (a failed attempt's `forget`) between the put and
        // the read is claimed again.
        for _ in 0..2 {
            let now = epoch_seconds();
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(key.to_string()))
                .item("state", AttributeValue::S("in-progress".into()))
                .item("owner", AttributeValue::S(owner.id.clone()))
                .item("lease_until", AttributeValue::N(owner.until.to_string()))
                .item(
                    "expires_at",
                    AttributeValue::N((now + DEDUPE_DAYS * 86_400).to_string()),
                )
                // New, or an in-progress claim whose lease ran out (its invocation died).
                .condition_expression(
                    "attribute_not_exists(pk) OR (#state = :progress AND lease_until < :now)",
                )
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":progress", AttributeValue::S("in-progress".into()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Claim::New),
                Err(e) if lost_race(&e) => {}
                Err(e) => return Err(error("claim", Box::new(e))),
            }
            let item = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(key.to_string()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| error("read", Box::new(e)))?;
            let Some(found) = item.item() else {
                continue;
            };
            // An item of the old shape (no `state`) was a finished claim.
            return Ok(
                match found
                    .get("state")
                    .and_then(|s| s.as_s().ok())
                    .map(String::as_str)
                {
                    Some("in-progress") => Claim::InProgress,
                    _ => Claim::Done,
                },
            );
        }
        Ok(Claim::InProgress)
    }

    async fn finish(&self, key: &str, owner: &Owner) -> Result<(), LedgerError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_string()))
            .condition_expression("#owner = :me")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", AttributeValue::S(owner.id.clone()))
            .update_expression("SET #state = :done REMOVE lease_until")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":done", AttributeValue::S("done".into()))
            .send()
            .await
            .map_err(|e| failed(NOTIFICATION, "finish", key, e))?;
        Ok(())
    }

    async fn forget(&self, key: &str, owner: &Owner) -> Result<(), LedgerError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_string()))
            // Its own claim, still in progress: a handled notification stays handled.
            .condition_expression("#owner = :me AND #state = :progress")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":me", AttributeValue::S(owner.id.clone()))
            .expression_attribute_values(":progress", AttributeValue::S("in-progress".into()))
            .send()
            .await
            .map_err(|e| failed(NOTIFICATION, "forget", key, e))?;
        Ok(())
    }
}

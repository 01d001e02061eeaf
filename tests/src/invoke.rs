//! Invoking a function's handler the way the Lambda runtime does (an empty context), and the
//! sample events under `events/`, read the one way every test reads them.

use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use shared::lambda::FunctionError;
use std::future::Future;

/// A function's service, as its handler serves it.
pub trait Function {
    fn handle(
        &self,
        event: LambdaEvent<Value>,
    ) -> impl Future<Output = Result<Value, FunctionError>>;
}

impl<S, B, C, N> Function for shared::rotation::Rotator<S, B, C, N>
where
    S: shared::rotation::SecretStore,
    B: shared::rotation::CredentialBackend,
    C: shared::consumers::ConsumerReader,
    N: shared::notify::Notifier,
{
    fn handle(
        &self,
        event: LambdaEvent<Value>,
    ) -> impl Future<Output = Result<Value, FunctionError>> {
        shared::lambda::handle_rotation(self, event)
    }
}

impl<F, N> Function for shared::scaling::Scaler<F, N>
where
    F: shared::capacity::ServiceFleet,
    N: shared::notify::Notifier,
{
    fn handle(
        &self,
        event: LambdaEvent<Value>,
    ) -> impl Future<Output = Result<Value, FunctionError>> {
        after_hours_scaling::handle(self, event)
    }
}

impl<F, L, N> Function for shared::rollback::Rollbacker<F, L, N>
where
    F: shared::rollback::ReleaseFleet,
    L: shared::rollback::RollbackLedger,
    N: shared::notify::Notifier,
{
    fn handle(
        &self,
        event: LambdaEvent<Value>,
    ) -> impl Future<Output = Result<Value, FunctionError>> {
        alarm_rollback::handle(self, event)
    }
}

impl<F, D, N> Function for shared::budget::BudgetResponder<F, D, N>
where
    F: shared::capacity::ServiceFleet,
    D: shared::ledger::NotificationLedger,
    N: shared::notify::Notifier,
{
    fn handle(
        &self,
        event: LambdaEvent<Value>,
    ) -> impl Future<Output = Result<Value, FunctionError>> {
        budget_response::handle(self, event)
    }
}

impl<S, F, L, N> Function for shared::consumers::Refresher<S, F, L, N>
where
    S: shared::rotation::SecretStore,
    F: shared::consumers::ConsumerFleet,
    L: shared::ledger::NotificationLedger,
    N: shared::notify::Notifier,
{
    fn handle(
        &self,
        event: LambdaEvent<Value>,
    ) -> impl Future<Output = Result<Value, FunctionError>> {
        refresh_consumers::handle(self, event)
    }
}

/// Invokes `function` with `event` as the Lambda runtime would.
pub async fn invoke<T: Function>(function: &T, event: Value) -> Result<Value, FunctionError> {
    function
        .handle(LambdaEvent::new(event, Context::default()))
        .await
}

/// The sample event `events/<path>` (`budget-response/budget-dev-actual.json`,
/// `aws-samples/…`: events/aws-samples/SOURCES.md says where each real one came from).
pub fn sample(path: &str) -> Value {
    serde_json::from_str(&sample_text(path)).unwrap_or_else(|e| panic!("events/{path}: {e}"))
}

/// The text of `events/<path>` (a message body as AWS sends it inside an envelope).
pub fn sample_text(path: &str) -> String {
    let file = crate::root().join("events").join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

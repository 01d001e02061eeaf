//! Notifications to the people who run Macro AI: one port, one SNS adapter.

use std::future::Future;

use crate::error::BoxError;

/// A notification that could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("the notification `{subject}` could not be published")]
pub struct NotifyError {
    pub subject: String,
    #[source]
    pub source: BoxError,
}

/// Where summaries and alerts go.
pub trait Notifier: Send + Sync {
    /// Publishes `message` under `subject`.
    fn publish(
        &self,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

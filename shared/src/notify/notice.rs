//! Notifications to the people who run Macro AI: one port, one SNS adapter.

use std::future::Future;

use tracing::warn;

use crate::error::{BoxError, report};

/// One notification, in words: a subject that names the function that sends it, and a message.
/// Neither ever holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub subject: String,
    pub message: String,
}

impl Notice {
    /// A notice from `function` (`alarm-rollback`, `budget-response`): its subject starts with
    /// `macro-ai-ops <function>: `, so every message of the suite is found by one filter.
    pub fn new(
        function: &str,
        subject: impl std::fmt::Display,
        message: impl Into<String>,
    ) -> Self {
        Self {
            subject: format!("macro-ai-ops {function}: {subject}"),
            message: message.into(),
        }
    }
}

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

    /// Publishes `notice`. A failure is logged and goes no further: the action a notice reports
    /// is done (or refused) whether or not anyone hears of it.
    fn announce(&self, notice: Notice) -> impl Future<Output = ()> + Send
    where
        Self: Sized,
    {
        async move {
            if let Err(e) = self.publish(&notice.subject, &notice.message).await {
                warn!(subject = %notice.subject, error = %report(&e), "notification failed");
            }
        }
    }
}

/// A notifier shared by reference.
impl<T: Notifier> Notifier for &T {
    fn publish(
        &self,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send {
        (**self).publish(subject, message)
    }
}

/// No one to tell: the notifier of a function that announces nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Notifier for Silent {
    async fn publish(&self, _subject: &str, _message: &str) -> Result<(), NotifyError> {
        Ok(())
    }
}

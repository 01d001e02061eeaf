//! [`Notifier`] on SNS. Without a topic (`NOTIFY_TOPIC_ARN` unset) notifications are only logged.

use aws_sdk_sns::Client;
use tracing::info;

use crate::notify::{Notifier, NotifyError};

/// SNS subjects are at most 100 characters.
const SUBJECT_LIMIT: usize = 100;

#[derive(Clone, Debug)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: Option<String>,
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: Option<String>) -> Self {
        Self { client, topic_arn }
    }
}

impl Notifier for SnsNotifier {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), NotifyError> {
        let Some(topic) = &self.topic_arn else {
            info!(
                subject,
                "no NOTIFY_TOPIC_ARN: notification logged only\n{message}"
            );
            return Ok(());
        };
        let subject: String = subject
            .chars()
            .filter(|c| !c.is_control())
            .take(SUBJECT_LIMIT)
            .collect();
        self.client
            .publish()
            .topic_arn(topic)
            .subject(&subject)
            .message(message)
            .send()
            .await
            .map_err(|e| NotifyError {
                subject: subject.clone(),
                source: Box::new(e),
            })?;
        info!(subject, topic = %topic, "notification published");
        Ok(())
    }
}

//! A notifier in memory, beside the port.

use std::sync::Mutex;

use crate::fakes::lock;
use crate::notify::{Notice, Notifier, NotifyError};

/// A notifier that keeps what it was asked to publish.
#[derive(Debug, Default)]
pub struct RecordingNotifier(Mutex<Vec<Notice>>);

impl RecordingNotifier {
    pub fn sent(&self) -> Vec<Notice> {
        lock(&self.0).clone()
    }
}

impl Notifier for RecordingNotifier {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), NotifyError> {
        lock(&self.0).push(Notice {
            subject: subject.to_string(),
            message: message.to_string(),
        });
        Ok(())
    }
}

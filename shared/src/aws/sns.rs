//! [`Notifier`] on SNS. Without a topic (`NOTIFY_TOPIC_ARN` unset) notifications are only logged.

use aws_sdk_sns::Client;
use tracing::info;

use crate::notify::{Notifier, NotifyError};

/// SNS: "ASCII text that begins with a letter, number, or punctuation mark; must not include line
/// breaks or control characters; and must be less than 100 characters long."
const SUBJECT_LIMIT: usize = 99;

/// A subject SNS accepts, whatever the text: ASCII (arrows and dashes spelled out, anything
/// else `?`), no control characters, not starting with a space, under 100 characters (cut with
/// `...`). The message keeps the whole text.
pub fn sns_subject(text: &str) -> String {
    let mut ascii = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if c.is_control() => ascii.push(' '),
            c if c.is_ascii() => ascii.push(c),
            '\u{2192}' => ascii.push_str("->"),
            '\u{2013}' | '\u{2014}' => ascii.push('-'),
            '\u{2018}' | '\u{2019}' => ascii.push('\''),
            '\u{201c}' | '\u{201d}' => ascii.push('"'),
            '\u{2026}' => ascii.push_str("..."),
            _ => ascii.push('?'),
        }
    }
    let ascii = ascii.trim();
    if ascii.is_empty() {
        return "macro-ai-ops notification".to_string();
    }
    if ascii.len() <= SUBJECT_LIMIT {
        return ascii.to_string();
    }
    format!("{}...", ascii[..SUBJECT_LIMIT - 3].trim_end())
}

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
        let subject = sns_subject(subject);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_any_text_then_the_subject_is_ascii_and_under_100_characters() {
        let long = "macro-ai-staging-cluster/macro-ai-staging-api-service: rolled back \
                    macro-ai-staging-api:41 \u{2192} macro-ai-staging-api:40 after alarm \
                    macro-ai-staging-api-error-rate";
        assert!(long.chars().count() > 100);
        for text in [
            long,
            "caf\u{e9} \u{2014} ok",
            "\n\tline\r\nbreak",
            "",
            "\u{1f4b8}",
        ] {
            let s = sns_subject(text);
            assert!(s.len() < 100, "{s}");
            assert!(s.chars().all(|c| c.is_ascii() && !c.is_control()), "{s:?}");
            assert!(!s.starts_with(' ') && !s.is_empty(), "{s:?}");
        }
        assert!(sns_subject(long).ends_with("..."));
        assert!(sns_subject(long).contains("->"));
        assert_eq!(sns_subject("caf\u{e9} \u{2014} ok"), "caf? - ok");
    }
}

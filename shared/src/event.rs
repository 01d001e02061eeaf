//! The envelopes AWS delivers events in, opened in one place for every function: SNS records,
//! EventBridge events and CloudWatch's direct Lambda alarm action, read with `aws_lambda_events`'
//! types (the shapes AWS guarantees). What is inside them (an alarm, a Budgets text, an anomaly)
//! is each function's own tolerant type.

use aws_lambda_events::event::cloudwatch_alarms::CloudWatchAlarm;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sns::SnsEvent;
use serde_json::{Map, Value};

/// A payload that cannot be handled; nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("invalid event: {0}")]
pub struct InvalidEvent(pub String);

impl InvalidEvent {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// One SNS notification out of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsNotification {
    /// Unique per published message; a redelivery keeps it.
    pub message_id: String,
    pub topic_arn: String,
    /// Optional when publishing (AWS Budgets sends one, some publishers do not).
    pub subject: Option<String>,
    pub message: String,
}

/// A CloudWatch alarm state change as EventBridge and the direct alarm action carry it
/// (`detail` / `alarmData`: `alarmName`, `state`, `previousState`, `configuration`).
pub type AlarmData = aws_lambda_events::event::cloudwatch_alarms::CloudWatchAlarmData<Value, Value>;

/// What an invocation carried.
#[derive(Debug)]
pub enum Envelope {
    /// SNS records (`Records[].Sns`), in order.
    Sns(Vec<SnsNotification>),
    /// An EventBridge event (`source`, `detail-type`, `detail`).
    EventBridge(Box<EventBridgeEvent<Value>>),
    /// CloudWatch invoking the function as an alarm action (`source: aws.cloudwatch`,
    /// top-level `alarmData`), supported by CloudWatch since 2023.
    AlarmAction(Box<CloudWatchAlarm<Value, Value>>),
    /// Anything else: a JSON object of the function's own (a manual request, a test).
    Direct(Map<String, Value>),
}

/// Opens the envelope. A payload that claims an AWS envelope but does not have its shape is an
/// error naming what is missing, never a guess.
pub fn open(event: &Value) -> Result<Envelope, InvalidEvent> {
    let obj = event.as_object().ok_or_else(|| {
        InvalidEvent::new("expected a JSON object (SNS records, an EventBridge event, ...)")
    })?;
    if let Some(records) = obj.get("Records") {
        if records.as_array().is_none_or(|r| r.is_empty()) {
            return Err(InvalidEvent::new("`Records` must be a non-empty array"));
        }
        let sns: SnsEvent = serde_json::from_value(event.clone()).map_err(|e| {
            InvalidEvent(format!(
                "`Records` is not a batch of SNS records (EventSource, Sns.MessageId, \
                 Sns.Message, …): {}",
                serde_error(&e)
            ))
        })?;
        return Ok(Envelope::Sns(
            sns.records
                .into_iter()
                .map(|r| SnsNotification {
                    message_id: r.sns.message_id,
                    topic_arn: r.sns.topic_arn,
                    subject: r.sns.subject.filter(|s| !s.is_empty()),
                    message: r.sns.message,
                })
                .collect(),
        ));
    }
    if obj.contains_key("alarmData") {
        let alarm: CloudWatchAlarm<Value, Value> =
            serde_json::from_value(event.clone()).map_err(|e| {
                InvalidEvent(format!(
                    "`alarmData` is not a CloudWatch alarm action payload (time, \
                     alarmData.alarmName, alarmData.state, …): {}",
                    serde_error(&e)
                ))
            })?;
        return Ok(Envelope::AlarmAction(Box::new(alarm)));
    }
    if obj.contains_key("detail-type") {
        let event: EventBridgeEvent<Value> =
            serde_json::from_value(event.clone()).map_err(|e| {
                InvalidEvent(format!(
                    "not an EventBridge event (source, detail-type, detail): {}",
                    serde_error(&e)
                ))
            })?;
        return Ok(Envelope::EventBridge(Box::new(event)));
    }
    Ok(Envelope::Direct(obj.clone()))
}

/// Reads an alarm state change out of an EventBridge event's `detail` (the same shape as the
/// alarm action's `alarmData`).
pub fn alarm_data(detail: &Value) -> Result<AlarmData, InvalidEvent> {
    serde_json::from_value(detail.clone()).map_err(|e| {
        InvalidEvent(format!(
            "the CloudWatch Alarm State Change has no readable detail (alarmName, state, \
             configuration): {}",
            serde_error(&e)
        ))
    })
}

/// serde_json's messages can quote input: kept short.
pub fn serde_error(e: &serde_json::Error) -> String {
    short(&e.to_string())
}

/// The first 120 characters, for messages that quote input.
pub fn short(s: &str) -> String {
    s.chars().take(120).collect()
}

/// An SNS batch as Lambda receives it (every field AWS sends), for unit tests and fuzzing.
#[cfg(any(test, feature = "fuzzing"))]
pub fn sns_batch(messages: &[(&str, &str)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, message)| {
            serde_json::json!({"EventSource": "aws:sns", "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:t:0",
                "Sns": {"Type": "Notification", "MessageId": id,
                        "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
                        "Subject": null, "Message": message,
                        "Timestamp": "2026-11-25T10:00:00.000Z", "SignatureVersion": "1",
                        "Signature": "EXAMPLE", "SigningCertUrl": "https://example.com/c.pem",
                        "UnsubscribeUrl": "https://example.com/u", "MessageAttributes": {}}})
        })
        .collect();
    serde_json::json!({ "Records": records })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn given_each_envelope_then_it_is_recognised_and_bad_ones_are_named() {
        assert!(matches!(
            open(&json!({"rollback": "c/s", "reason": "r"})).unwrap(),
            Envelope::Direct(_)
        ));
        for (e, expect) in [
            (json!([1]), "expected a JSON object"),
            (json!({"Records": []}), "non-empty"),
            (
                json!({"Records": [{"Sns": {"Message": "x"}}]}),
                "SNS records",
            ),
            (json!({"detail-type": "X"}), "EventBridge"),
            (
                json!({"source": "aws.cloudwatch", "alarmData": {"alarmName": "a"}}),
                "alarm action",
            ),
        ] {
            let err = open(&e).unwrap_err();
            assert!(err.to_string().contains(expect), "{e}: {err}");
        }
    }
}

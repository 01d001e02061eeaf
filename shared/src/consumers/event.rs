//! What refresh-consumers is asked: Secrets Manager's native `Secret Label Updated` event (on
//! EventBridge's default bus, for every label but AWSPENDING and AWSPREVIOUS), a manual refresh,
//! or the scheduled reconciliation.

use jiff::Timestamp;
use serde_json::Value;

use crate::event::{self, Envelope, InvalidEvent};

/// One request to refresh-consumers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRequest {
    /// A staging label moved (`detail.labelUpdated` onto `detail.versionId`).
    LabelUpdated {
        /// The secret's ARN (`resources[0]`), else its name (`detail.name`).
        secret: String,
        label: String,
        version: String,
        /// When the label moved (the event's `time`), if it says.
        at: Option<Timestamp>,
    },
    /// `{"refresh": "<secret name or ARN>", "dryRun": false}`: redeploy its consumers now.
    Manual { secret: String, dry_run: bool },
    /// `{"reconcile": true}` (a schedule): redeploy the consumers of each configured secret
    /// that still run from before its last change (a lost event, a service that was at 0).
    Reconcile { dry_run: bool },
}

const SOURCE: &str = "aws.secretsmanager";
const DETAIL_TYPE: &str = "Secret Label Updated";

fn text<'a>(map: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn dry_run(map: &serde_json::Map<String, Value>) -> Result<bool, InvalidEvent> {
    match map.get("dryRun") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(InvalidEvent::new("`dryRun` must be true or false")),
    }
}

/// Reads a payload. Anything but the three shapes is `InvalidEvent`, naming what was expected.
pub fn parse(payload: &Value) -> Result<RefreshRequest, InvalidEvent> {
    match event::open(payload)? {
        Envelope::EventBridge(e) => {
            if e.source != SOURCE || e.detail_type != DETAIL_TYPE {
                return Err(InvalidEvent(format!(
                    "an EventBridge event of `{}` / `{}`: expected `{SOURCE}` / `{DETAIL_TYPE}`",
                    event::short(&e.source),
                    event::short(&e.detail_type)
                )));
            }
            let detail = e.detail.as_object().ok_or_else(|| {
                InvalidEvent::new("the Secret Label Updated event has no `detail` object")
            })?;
            let field = |k: &str| {
                text(detail, k).map(str::to_string).ok_or_else(|| {
                    InvalidEvent(format!(
                        "the Secret Label Updated event has no `detail.{k}`"
                    ))
                })
            };
            let label = field("labelUpdated")?;
            let version = field("versionId")?;
            let arn = e
                .resources
                .iter()
                .flatten()
                .find(|r| r.starts_with("arn:") && r.contains(":secretsmanager:"))
                .cloned();
            let secret = match arn {
                Some(arn) => arn,
                None => field("name")?,
            };
            let at = e
                .time
                .and_then(|t| Timestamp::from_millisecond(t.timestamp_millis()).ok());
            Ok(RefreshRequest::LabelUpdated {
                secret,
                label,
                version,
                at,
            })
        }
        Envelope::Direct(map) => {
            let known = |k: &str| matches!(k, "refresh" | "reconcile" | "dryRun");
            if let Some(k) = map.keys().find(|k| !known(k)) {
                return Err(InvalidEvent(format!(
                    "unknown field `{}`: expected {{\"refresh\": \"<secret name or ARN>\", \
                     \"dryRun\": false}} or {{\"reconcile\": true}}",
                    event::short(k)
                )));
            }
            let dry_run = dry_run(&map)?;
            match (map.get("refresh"), map.get("reconcile")) {
                (Some(_), None) => {
                    let secret = text(&map, "refresh").ok_or_else(|| {
                        InvalidEvent::new("`refresh` must name a secret (its name or ARN)")
                    })?;
                    Ok(RefreshRequest::Manual {
                        secret: secret.to_string(),
                        dry_run,
                    })
                }
                (None, Some(Value::Bool(true))) => Ok(RefreshRequest::Reconcile { dry_run }),
                (None, Some(_)) => Err(InvalidEvent::new("`reconcile` must be true")),
                _ => Err(InvalidEvent::new(
                    "expected a Secret Label Updated event, {\"refresh\": \"<secret name or \
                     ARN>\"} or {\"reconcile\": true}",
                )),
            }
        }
        Envelope::Sns(_) | Envelope::AlarmAction(_) => Err(InvalidEvent::new(
            "expected a Secret Label Updated event (EventBridge), not SNS or an alarm action",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The example on the Secrets Manager user guide's "Secret Label Updated event" page
    /// (events/aws-samples/secret-label-updated-doc.json is the same, see SOURCES.md).
    fn documented() -> Value {
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "Secret Label Updated",
            "source": "aws.secretsmanager",
            "account": "012345678901",
            "time": "2024-02-06T16:43:48Z",
            "region": "us-west-2",
            "resources": ["arn:aws:secretsmanager:us-west-2:012345678901:secret:mySecret-a1b2c3"],
            "detail": {"name": "mySecret", "labelUpdated": "AWSCURRENT",
                       "versionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"}
        })
    }

    #[test]
    fn given_the_documented_event_then_secret_label_version_and_time_are_read() {
        assert_eq!(
            parse(&documented()).unwrap(),
            RefreshRequest::LabelUpdated {
                secret: "arn:aws:secretsmanager:us-west-2:012345678901:secret:mySecret-a1b2c3"
                    .into(),
                label: "AWSCURRENT".into(),
                version: "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111".into(),
                at: Some("2024-02-06T16:43:48Z".parse().unwrap()),
            }
        );
        // Without resources, the name names the secret.
        let mut e = documented();
        e["resources"] = json!([]);
        assert!(
            matches!(parse(&e).unwrap(), RefreshRequest::LabelUpdated { secret, .. } if secret == "mySecret")
        );
    }

    #[test]
    fn given_manual_requests_then_they_are_read_and_typos_are_refused() {
        assert_eq!(
            parse(&json!({"refresh": "macro-ai/dev/database"})).unwrap(),
            RefreshRequest::Manual {
                secret: "macro-ai/dev/database".into(),
                dry_run: false
            }
        );
        assert_eq!(
            parse(&json!({"reconcile": true, "dryRun": true})).unwrap(),
            RefreshRequest::Reconcile { dry_run: true }
        );
        for (bad, says) in [
            (json!({"refresh": ""}), "must name a secret"),
            (json!({"refresh": 3}), "must name a secret"),
            (
                json!({"refresh": "s", "dryrun": true}),
                "unknown field `dryrun`",
            ),
            (json!({"refresh": "s", "dryRun": "yes"}), "dryRun"),
            (json!({"reconcile": "yes"}), "must be true"),
            (json!({"refresh": "s", "reconcile": true}), "expected"),
            (json!({}), "expected"),
        ] {
            let e = parse(&bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn given_other_events_then_each_is_refused_with_what_was_expected() {
        let mut other = documented();
        other["detail-type"] = json!("AWS API Call via CloudTrail");
        let mut no_version = documented();
        no_version["detail"]["versionId"] = json!("");
        let mut no_detail = documented();
        no_detail["detail"] = json!("x");
        for (bad, says) in [
            (other, "expected `aws.secretsmanager`"),
            (no_version, "detail.versionId"),
            (no_detail, "no `detail` object"),
            (crate::event::sns_batch(&[("m", "x")]), "not SNS"),
            (json!([1]), "JSON object"),
        ] {
            let e = parse(&bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}

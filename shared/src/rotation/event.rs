//! Parsing of what a rotation function is invoked with: the Secrets Manager rotation event
//! `{Step, SecretId, ClientRequestToken, RotationToken?}` or a validation request
//! `{"validate": "<secret id>"}` from a daily schedule.

use aws_lambda_events::event::secretsmanager::SecretsManagerSecretRotationEvent;
use serde_json::Value;
use std::fmt;

use super::RotationError;

/// The four steps of the Secrets Manager rotation contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Make the new secret value and store it as AWSPENDING.
    Create,
    /// Install the AWSPENDING credential on the target.
    Set,
    /// Prove the AWSPENDING credential works.
    Test,
    /// Move AWSCURRENT to the new version.
    Finish,
}

impl Step {
    /// The step's name as Secrets Manager spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Create => "createSecret",
            Step::Set => "setSecret",
            Step::Test => "testSecret",
            Step::Finish => "finishSecret",
        }
    }

    /// Secrets Manager sends `createSecret` …; aws-lambda-java-libs' fixture says
    /// `CreateSecret`, so the case is not held against a caller.
    fn parse(s: &str) -> Result<Self, RotationError> {
        match s.to_ascii_lowercase().as_str() {
            "createsecret" => Ok(Step::Create),
            "setsecret" => Ok(Step::Set),
            "testsecret" => Ok(Step::Test),
            "finishsecret" => Ok(Step::Finish),
            _ => Err(RotationError::UnknownStep(truncate(s))),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rotation step for one secret version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationStep {
    pub step: Step,
    pub secret_id: String,
    /// The version being made: Secrets Manager's ClientRequestToken.
    pub token: String,
    /// Passed back to PutSecretValue when present (rotation through an assumed role).
    pub rotation_token: Option<String>,
}

/// What a rotation function was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationRequest {
    Rotate(RotationStep),
    /// Log in with AWSCURRENT and report; change nothing.
    Validate {
        secret_id: String,
    },
}

impl RotationRequest {
    /// Reads an invocation payload. Every problem is named; nothing about the payload's values is
    /// echoed beyond the field names and the (truncated) step name.
    pub fn from_value(event: &Value) -> Result<Self, RotationError> {
        let obj = event.as_object().ok_or_else(|| {
            RotationError::InvalidEvent(format!("expected a JSON object, got {}", json_kind(event)))
        })?;
        if let Some(v) = obj.get("validate") {
            let secret_id = non_empty_string(v, "validate")?;
            return Ok(RotationRequest::Validate { secret_id });
        }
        // Each field named, never its value echoed; then the shape Secrets Manager guarantees,
        // as `aws_lambda_events` types it. RotationToken (added in 2024 for rotation through an
        // assumed role) is read beside it.
        for name in ["Step", "SecretId", "ClientRequestToken"] {
            match obj.get(name) {
                Some(Value::String(_)) => {}
                None => {
                    return Err(RotationError::InvalidEvent(format!(
                        "missing field `{name}`: a rotation event has Step, SecretId and \
                         ClientRequestToken; a validation event is {{\"validate\": \"<secret id>\"}}"
                    )));
                }
                Some(other) => {
                    return Err(RotationError::InvalidEvent(format!(
                        "field `{name}` must be a string, got {}",
                        json_kind(other)
                    )));
                }
            }
        }
        let event: SecretsManagerSecretRotationEvent = serde_json::from_value(event.clone())
            .map_err(|_| {
                RotationError::InvalidEvent(
                    "not a Secrets Manager rotation event (Step, SecretId, ClientRequestToken)"
                        .into(),
                )
            })?;
        let non_empty = |value: String, name: &str| {
            if value.trim().is_empty() {
                Err(RotationError::InvalidEvent(format!(
                    "field `{name}` is empty"
                )))
            } else {
                Ok(value)
            }
        };
        let step = Step::parse(&event.step)?;
        let secret_id = non_empty(event.secret_id, "SecretId")?;
        let token = non_empty(event.client_request_token, "ClientRequestToken")?;
        let rotation_token = match obj.get("RotationToken") {
            None | Some(Value::Null) => None,
            Some(v) => Some(non_empty_string(v, "RotationToken")?),
        };
        Ok(RotationRequest::Rotate(RotationStep {
            step,
            secret_id,
            token,
            rotation_token,
        }))
    }
}

fn non_empty_string(v: &Value, name: &str) -> Result<String, RotationError> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        Value::String(_) => Err(RotationError::InvalidEvent(format!(
            "field `{name}` is empty"
        ))),
        other => Err(RotationError::InvalidEvent(format!(
            "field `{name}` must be a string, got {}",
            json_kind(other)
        ))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn given_a_rotation_event_when_parsed_then_all_fields_are_read() {
        let e = json!({"Step": "setSecret", "SecretId": "arn:x", "ClientRequestToken": "t-1",
                       "RotationToken": "rt"});
        let RotationRequest::Rotate(r) = RotationRequest::from_value(&e).unwrap() else {
            panic!("expected a rotation step")
        };
        assert_eq!(r.step, Step::Set);
        assert_eq!(r.secret_id, "arn:x");
        assert_eq!(r.token, "t-1");
        assert_eq!(r.rotation_token.as_deref(), Some("rt"));
    }

    #[test]
    fn given_a_validate_event_when_parsed_then_it_is_a_validation() {
        let r = RotationRequest::from_value(&json!({"validate": "macro-ai/dev/db"})).unwrap();
        assert_eq!(
            r,
            RotationRequest::Validate {
                secret_id: "macro-ai/dev/db".into()
            }
        );
    }

    #[test]
    fn given_an_unknown_step_when_parsed_then_the_error_names_it_and_the_valid_ones() {
        let e = json!({"Step": "dropSecret", "SecretId": "s", "ClientRequestToken": "t"});
        let err = RotationRequest::from_value(&e).unwrap_err();
        assert_eq!(err.error_type(), "UnknownStep");
        let msg = err.to_string();
        assert!(
            msg.contains("dropSecret") && msg.contains("finishSecret"),
            "{msg}"
        );
    }

    #[test]
    fn given_malformed_events_when_parsed_then_each_gets_a_clear_error() {
        for (event, expect) in [
            (json!([1, 2]), "expected a JSON object"),
            (json!("createSecret"), "expected a JSON object"),
            (
                json!({"SecretId": "s", "ClientRequestToken": "t"}),
                "missing field `Step`",
            ),
            (
                json!({"Step": "createSecret", "ClientRequestToken": "t"}),
                "missing field `SecretId`",
            ),
            (
                json!({"Step": "createSecret", "SecretId": "s"}),
                "missing field `ClientRequestToken`",
            ),
            (
                json!({"Step": 1, "SecretId": "s", "ClientRequestToken": "t"}),
                "`Step` must be a string",
            ),
            (
                json!({"Step": "createSecret", "SecretId": "", "ClientRequestToken": "t"}),
                "`SecretId` is empty",
            ),
            (json!({"validate": 7}), "`validate` must be a string"),
        ] {
            let err = RotationRequest::from_value(&event).unwrap_err();
            assert_eq!(err.error_type(), "InvalidEvent");
            assert!(err.to_string().contains(expect), "{event}: {err}");
        }
    }
}

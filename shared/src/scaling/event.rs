//! What after-hours-scaling is invoked with: an EventBridge scheduled event (its `time` is the
//! instant to reconcile for) or a manual event `{"action", "environment"?, "service"?,
//! "dryRun"?, "at"?}`, or a plan `{"action": "plan", "environment"?, "from"?, "days"?}`.

use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::Value;

/// What a manual event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Move each service to where its schedule says it should be at the event's time.
    Reconcile,
    /// Off-hours capacity now, whatever the schedule says.
    ScaleDown,
    /// Restore saved capacity now, whatever the schedule says.
    ScaleUp,
    /// Change nothing: list when each service goes down and comes up over `days` days from
    /// `from` (local midnight in each schedule's zone; the request's time when absent).
    Plan { from: Option<Date>, days: u16 },
}

/// The longest plan asked for.
pub const MAX_PLAN_DAYS: u16 = 31;

/// A parsed invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingRequest {
    pub mode: Mode,
    pub at: Timestamp,
    /// Only services of this environment (manual events).
    pub environment: Option<String>,
    /// Only this service, by name or ARN (manual events).
    pub service: Option<String>,
    pub dry_run: bool,
}

pub use crate::event::InvalidEvent;

impl ScalingRequest {
    /// Parses a payload; `now` is used only when the event carries no time.
    pub fn from_value(
        event: &Value,
        now: impl FnOnce() -> Timestamp,
    ) -> Result<Self, InvalidEvent> {
        let obj = event.as_object().ok_or_else(|| {
            InvalidEvent(
                "expected a JSON object: an EventBridge scheduled event or {\"action\": ...}"
                    .into(),
            )
        })?;
        let time = |field: &str| -> Result<Option<Timestamp>, InvalidEvent> {
            match obj.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => s.parse::<Timestamp>().map(Some).map_err(|_| {
                    InvalidEvent(format!(
                        "`{field}` must be an RFC 3339 time like 2026-11-24T19:00:00Z"
                    ))
                }),
                Some(_) => Err(InvalidEvent(format!(
                    "`{field}` must be a string (RFC 3339 time)"
                ))),
            }
        };
        if let Some(action) = obj.get("action") {
            let mode = match action.as_str() {
                Some("reconcile") => Mode::Reconcile,
                Some("scale-down") => Mode::ScaleDown,
                Some("scale-up") => Mode::ScaleUp,
                Some("plan") => Mode::Plan {
                    from: date(obj.get("from"))?,
                    days: days(obj.get("days"))?,
                },
                _ => {
                    return Err(InvalidEvent(
                        "`action` must be \"reconcile\", \"scale-down\", \"scale-up\" or \"plan\""
                            .into(),
                    ));
                }
            };
            if !matches!(mode, Mode::Plan { .. }) {
                for field in ["from", "days"] {
                    if obj.contains_key(field) {
                        return Err(InvalidEvent(format!(
                            "`{field}` belongs to a plan (\"action\": \"plan\")"
                        )));
                    }
                }
            }
            let name = |field: &str, example: &str| match obj.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(e)) if !e.trim().is_empty() => Ok(Some(e.trim().to_string())),
                Some(_) => Err(InvalidEvent(format!(
                    "`{field}` must be a name like \"{example}\""
                ))),
            };
            let environment = name("environment", "dev")?;
            let service = name("service", "macro-ai-dev-api-service")?;
            let dry_run = match obj.get("dryRun") {
                None | Some(Value::Null) => matches!(mode, Mode::Plan { .. }),
                Some(Value::Bool(_)) if matches!(mode, Mode::Plan { .. }) => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(InvalidEvent("`dryRun` must be true or false".into())),
            };
            let at = match time("at")? {
                Some(t) => t,
                None => now(),
            };
            return Ok(Self {
                mode,
                at,
                environment,
                service,
                dry_run,
            });
        }
        let scheduled = obj.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
            || obj.contains_key("time");
        if !scheduled {
            return Err(InvalidEvent(
                "neither a scheduled event (with `time`) nor a manual event (with `action`)".into(),
            ));
        }
        let at = time("time")?
            .ok_or_else(|| InvalidEvent("the scheduled event has no `time`".into()))?;
        Ok(Self {
            mode: Mode::Reconcile,
            at,
            environment: None,
            service: None,
            dry_run: false,
        })
    }
}

fn date(value: Option<&Value>) -> Result<Option<Date>, InvalidEvent> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() == 10 => s
            .parse::<Date>()
            .map(Some)
            .map_err(|_| InvalidEvent(format!("`from` must be a date like 2026-12-21, not `{s}`"))),
        Some(_) => Err(InvalidEvent("`from` must be a date like 2026-12-21".into())),
    }
}

fn days(value: Option<&Value>) -> Result<u16, InvalidEvent> {
    match value {
        None | Some(Value::Null) => Ok(14),
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|d| (1..=u64::from(MAX_PLAN_DAYS)).contains(d))
            .map(|d| d as u16)
            .ok_or_else(|| InvalidEvent(format!("`days` must be 1 to {MAX_PLAN_DAYS}"))),
        Some(_) => Err(InvalidEvent(format!(
            "`days` must be a number, 1 to {MAX_PLAN_DAYS}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2030-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn given_a_scheduled_event_then_its_time_is_used_not_the_clock() {
        let e = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
                       "account": "123456789012", "time": "2026-11-24T19:00:00Z", "region": "us-east-1",
                       "resources": ["arn:aws:events:us-east-1:123456789012:rule/r"], "detail": {}});
        let r = ScalingRequest::from_value(&e, now).unwrap();
        assert_eq!(
            (r.mode, r.at.to_string(), r.dry_run),
            (Mode::Reconcile, "2026-11-24T19:00:00Z".into(), false)
        );
    }

    #[test]
    fn given_manual_events_then_action_environment_dry_run_and_at_are_read() {
        let r = ScalingRequest::from_value(
            &json!({"action": "scale-down", "environment": "dev", "dryRun": true}),
            now,
        )
        .unwrap();
        assert_eq!(
            (r.mode, r.environment.as_deref(), r.dry_run, r.at),
            (Mode::ScaleDown, Some("dev"), true, now())
        );
        let r = ScalingRequest::from_value(
            &json!({"action": "reconcile", "at": "2026-11-25T09:00:00+01:00"}),
            now,
        )
        .unwrap();
        assert_eq!(r.at.to_string(), "2026-11-25T08:00:00Z");
        let r = ScalingRequest::from_value(
            &json!({"action": "plan", "environment": "dev", "from": "2026-12-21", "days": 14}),
            now,
        )
        .unwrap();
        assert_eq!(
            (r.mode, r.dry_run, r.environment.as_deref()),
            (
                Mode::Plan {
                    from: Some(jiff::civil::date(2026, 12, 21)),
                    days: 14
                },
                true,
                Some("dev")
            )
        );
        // A plan never writes, whatever dryRun says.
        let r =
            ScalingRequest::from_value(&json!({"action": "plan", "dryRun": false}), now).unwrap();
        assert!(r.dry_run);
        let r = ScalingRequest::from_value(
            &json!({"action": "scale-up", "service": "macro-ai-dev-sandbox-service"}),
            now,
        )
        .unwrap();
        assert_eq!(r.service.as_deref(), Some("macro-ai-dev-sandbox-service"));
    }

    #[test]
    fn given_malformed_events_then_each_is_refused_clearly() {
        for (e, expect) in [
            (json!([]), "expected a JSON object"),
            (json!({"action": "explode"}), "`action` must be"),
            (
                json!({"action": "reconcile", "dryRun": "yes"}),
                "`dryRun` must be",
            ),
            (
                json!({"action": "reconcile", "environment": 3}),
                "`environment` must be",
            ),
            (
                json!({"action": "reconcile", "at": "tomorrow"}),
                "`at` must be an RFC 3339",
            ),
            (json!({"detail-type": "Scheduled Event"}), "has no `time`"),
            (
                json!({"action": "plan", "from": "21/12/2026"}),
                "`from` must be a date",
            ),
            (
                json!({"action": "plan", "from": "2026-02-30"}),
                "`from` must be a date",
            ),
            (
                json!({"action": "plan", "days": 0}),
                "`days` must be 1 to 31",
            ),
            (
                json!({"action": "plan", "days": 90}),
                "`days` must be 1 to 31",
            ),
            (
                json!({"action": "plan", "days": "14"}),
                "`days` must be a number",
            ),
            (
                json!({"action": "scale-up", "days": 3}),
                "belongs to a plan",
            ),
            (
                json!({"action": "scale-up", "service": 3}),
                "`service` must be",
            ),
            (json!({"time": "yesterday"}), "`time` must be an RFC 3339"),
            (json!({"hello": "world"}), "neither a scheduled event"),
        ] {
            let err = ScalingRequest::from_value(&e, now).unwrap_err();
            assert!(err.to_string().contains(expect), "{e}: {err}");
        }
    }
}

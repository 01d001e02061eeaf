//! The budget alerts budget-response acts on: AWS Budgets' plain-text SNS message, Cost Anomaly
//! Detection's JSON (SNS) and EventBridge forms, manual holds and releases, and the monthly
//! scheduled event. Parsing is tolerant (thousands separators, other currency symbols, a missing
//! Subject, extra lines); what cannot be read is a clear error.

pub use crate::event::InvalidEvent;
use crate::event::{Envelope, open};
use jiff::Timestamp;
use serde_json::Value;

/// ACTUAL or FORECASTED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertType {
    Actual,
    Forecasted,
}

/// An AWS Budgets notification.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetAlert {
    pub budget_name: String,
    pub alert_type: AlertType,
    pub budgeted: Option<f64>,
    pub threshold: Option<f64>,
    /// The ACTUAL or FORECASTED amount, whichever the alert reports.
    pub amount: Option<f64>,
    pub account: Option<String>,
}

/// One root cause of an anomaly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCause {
    pub service: Option<String>,
    pub region: Option<String>,
    pub linked_account: Option<String>,
    pub usage_type: Option<String>,
}

/// A Cost Anomaly Detection alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub anomaly_id: String,
    pub total_impact: f64,
    /// `totalImpactPercentage`, else computed from actual and expected spend; `None` when it
    /// cannot be known (the pre-2021 format, or an expected spend of 0, which the console shows
    /// as N/A).
    pub impact_percentage: Option<f64>,
    pub root_causes: Vec<RootCause>,
    pub monitor_arn: Option<String>,
    pub subscription_name: Option<String>,
    pub details_link: Option<String>,
    pub dimension_value: Option<String>,
}

/// One thing budget-response was asked to handle.
#[derive(Debug, Clone, PartialEq)]
pub enum BudgetInput {
    Budget {
        dedup_key: String,
        alert: BudgetAlert,
    },
    Anomaly {
        dedup_key: String,
        anomaly: Anomaly,
    },
    Hold {
        environment: String,
        reason: String,
    },
    Release {
        environment: String,
    },
    /// The monthly schedule: a new budget period releases holds from before `period_start`.
    NewPeriod {
        at: Timestamp,
    },
}

fn bad(s: impl Into<String>) -> InvalidEvent {
    InvalidEvent(s.into())
}

/// Reads a payload into its inputs.
pub fn parse(event: &Value) -> Result<Vec<BudgetInput>, InvalidEvent> {
    let obj = match open(event)? {
        Envelope::Sns(records) => {
            return records
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    sns_message(&r.message_id, &r.message)
                        .map_err(|e| bad(format!("record {i}: {}", e.0)))
                })
                .collect();
        }
        Envelope::EventBridge(e) if e.source == "aws.ce" => {
            let anomaly = anomaly(&e.detail)?;
            return Ok(vec![BudgetInput::Anomaly {
                dedup_key: anomaly_key(&anomaly),
                anomaly,
            }]);
        }
        Envelope::EventBridge(e) if e.detail_type == "Scheduled Event" => {
            let at = e
                .time
                .and_then(|t| t.to_rfc3339().parse().ok())
                .ok_or_else(|| bad("the scheduled event has no RFC 3339 `time`"))?;
            return Ok(vec![BudgetInput::NewPeriod { at }]);
        }
        Envelope::EventBridge(e) => {
            return Err(bad(format!(
                "an EventBridge event this function does not handle (source `{}`, detail-type \
                 `{}`)",
                crate::event::short(&e.source),
                crate::event::short(&e.detail_type)
            )));
        }
        Envelope::AlarmAction(_) => {
            return Err(bad(
                "a CloudWatch alarm action: budget-response takes Budgets and Cost Anomaly \
                 Detection alerts",
            ));
        }
        Envelope::Direct(obj) => obj,
    };
    let env_field = |name: &str| -> Result<Option<String>, InvalidEvent> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::String(e)) if !e.trim().is_empty() => Ok(Some(e.trim().to_string())),
            Some(_) => Err(bad(format!(
                "`{name}` must name an environment like \"dev\""
            ))),
        }
    };
    if let Some(environment) = env_field("release")? {
        return Ok(vec![BudgetInput::Release { environment }]);
    }
    if let Some(environment) = env_field("hold")? {
        let reason = obj
            .get("reason")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| bad("a manual hold needs a `reason` (it is audited and announced)"))?;
        return Ok(vec![BudgetInput::Hold {
            environment,
            reason: reason.to_string(),
        }]);
    }
    Err(bad(
        "not SNS records, a Cost Anomaly Detection event, a scheduled event, {\"hold\": env, \"reason\": ...} or {\"release\": env}",
    ))
}

fn sns_message(message_id: &str, message: &str) -> Result<BudgetInput, InvalidEvent> {
    let trimmed = message.trim_start();
    if trimmed.starts_with('{') {
        let v: Value = serde_json::from_str(trimmed)
            .map_err(|_| bad("the message looks like JSON but does not parse"))?;
        let anomaly = anomaly(&v)?;
        return Ok(BudgetInput::Anomaly {
            dedup_key: anomaly_key(&anomaly),
            anomaly,
        });
    }
    let alert = budget_text(message)?;
    let key = if message_id.is_empty() {
        format!("budget:{}:{:?}", alert.budget_name, alert.alert_type)
    } else {
        format!("sns:{message_id}")
    };
    Ok(BudgetInput::Budget {
        dedup_key: key,
        alert,
    })
}

/// One anomaly is one action, however it arrives: SNS and EventBridge deliver the same anomaly
/// with different message ids, so the anomaly id is the key.
fn anomaly_key(anomaly: &Anomaly) -> String {
    format!("anomaly:{}", anomaly.anomaly_id)
}

/// Reads AWS Budgets' plain-text notification.
pub fn budget_text(text: &str) -> Result<BudgetAlert, InvalidEvent> {
    let mut fields = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            let key = k.trim().to_ascii_lowercase();
            if !key.is_empty() && key.len() < 40 && !fields.contains_key(&key) {
                fields.insert(key, v.trim().to_string());
            }
        }
    }
    let budget_name = fields
        .get("budget name")
        .filter(|n| !n.is_empty())
        .cloned()
        .ok_or_else(|| {
            bad("the message is not an AWS Budgets notification: no `Budget Name:` line")
        })?;
    let alert_type = match fields.get("alert type").map(|t| t.to_ascii_uppercase()) {
        Some(t) if t.starts_with("ACTUAL") => AlertType::Actual,
        Some(t) if t.starts_with("FORECAST") => AlertType::Forecasted,
        _ => {
            return Err(bad(format!(
                "budget `{budget_name}`: `Alert Type:` must be ACTUAL or FORECASTED"
            )));
        }
    };
    let amount_key = match alert_type {
        AlertType::Actual => "actual amount",
        AlertType::Forecasted => "forecasted amount",
    };
    let amount = |key: &str| fields.get(key).and_then(|v| money(v));
    let account = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("AWS Account")
                .map(|a| a.trim().trim_start_matches(':').trim().to_string())
        })
        .filter(|a| !a.is_empty());
    Ok(BudgetAlert {
        budget_name,
        alert_type,
        budgeted: amount("budgeted amount"),
        threshold: amount("alert threshold"),
        amount: amount(amount_key),
        account,
    })
}

/// `$1,234.56`, `> $100.00`, `€ 99`, `USD 1,000` → the number.
pub fn money(text: &str) -> Option<f64> {
    let digits: String = text
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',' || *c == '\u{a0}' || *c == ' ')
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits.parse().ok()
}

fn anomaly(v: &Value) -> Result<Anomaly, InvalidEvent> {
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .filter(|x| !x.is_empty())
    };
    let n = |v: &Value, k: &str| {
        v.get(k).and_then(|x| {
            x.as_f64()
                .or_else(|| x.as_str().and_then(|t| t.parse::<f64>().ok()))
                .filter(|v| v.is_finite())
        })
    };
    let anomaly_id = s(v, "anomalyId").ok_or_else(|| bad("the anomaly has no `anomalyId`"))?;
    let impact = v
        .get("impact")
        .ok_or_else(|| bad(format!("anomaly {anomaly_id} has no `impact`")))?;
    let actual = n(impact, "totalActualSpend");
    let expected = n(impact, "totalExpectedSpend");
    // The pre-2021 format has `maxImpact` and `totalImpact` only; `totalImpact` may also be
    // derived from actual and expected spend.
    let total_impact = n(impact, "totalImpact")
        .or_else(|| Some(actual? - expected?))
        .or_else(|| n(impact, "maxImpact"))
        .ok_or_else(|| bad(format!("anomaly {anomaly_id} has no `impact.totalImpact`")))?;
    let impact_percentage =
        n(impact, "totalImpactPercentage").or_else(|| match (actual, expected) {
            (Some(actual), Some(expected)) if expected > 0.0 => {
                Some((actual - expected) / expected * 100.0)
            }
            _ => None,
        });
    let root_causes = v
        .get("rootCauses")
        .and_then(Value::as_array)
        .map(|causes| {
            causes
                .iter()
                .map(|c| RootCause {
                    service: s(c, "service"),
                    region: s(c, "region"),
                    linked_account: s(c, "linkedAccount"),
                    usage_type: s(c, "usageType"),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Anomaly {
        anomaly_id,
        total_impact,
        impact_percentage,
        root_causes,
        monitor_arn: s(v, "monitorArn"),
        subscription_name: s(v, "subscriptionName"),
        details_link: s(v, "anomalyDetailsLink"),
        // The SNS form says dimensionalValue, the EventBridge form dimensionValue.
        dimension_value: s(v, "dimensionValue").or_else(|| s(v, "dimensionalValue")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEV_ACTUAL: &str = "AWS Budget Notification November 25, 2026\nAWS Account 123456789012\n\nDear AWS Customer,\n\nYou requested that we alert you when the ACTUAL Cost associated with your macro-ai-dev-monthly budget is greater than $100.00 for the current month. The ACTUAL Cost associated with this budget is $123.45.\n\nBudget Name: macro-ai-dev-monthly\nBudget Type: Cost\nBudgeted Amount: $100.00\nAlert Type: ACTUAL\nAlert Threshold: > $100.00\nACTUAL Amount: $123.45\n";

    #[test]
    fn given_the_budgets_text_then_every_field_is_read() {
        let a = budget_text(DEV_ACTUAL).unwrap();
        assert_eq!(
            a,
            BudgetAlert {
                budget_name: "macro-ai-dev-monthly".into(),
                alert_type: AlertType::Actual,
                budgeted: Some(100.0),
                threshold: Some(100.0),
                amount: Some(123.45),
                account: Some("123456789012".into())
            }
        );
    }

    #[test]
    fn given_variations_then_they_parse() {
        let text = "Budget Name:   macro-ai-prod-monthly  \r\nbudget type: Cost\r\nBudgeted Amount: €1,000.00\r\nALERT TYPE: FORECASTED\r\nAlert Threshold: > USD 1 000\r\nFORECASTED Amount: $1,234,567.89\r\nSomething New: 42\r\n";
        let a = budget_text(text).unwrap();
        assert_eq!(
            (a.alert_type, a.budgeted, a.threshold, a.amount),
            (
                AlertType::Forecasted,
                Some(1000.0),
                Some(1000.0),
                Some(1234567.89)
            )
        );
        assert_eq!(money("£ 99.5"), Some(99.5));
        assert_eq!(money("no number"), None);
    }

    #[test]
    fn given_non_finite_amounts_then_they_are_not_numbers() {
        for bad in ["NaN", "inf", "-infinity"] {
            let body = json!({"anomalyId": "a", "impact": {"totalImpact": bad}});
            let e = parse(&crate::event::sns_batch(&[("m", &body.to_string())])).unwrap_err();
            assert!(e.to_string().contains("totalImpact"), "{bad}: {e}");
        }
    }

    #[test]
    fn given_malformed_messages_then_errors_are_clear() {
        for (text, expect) in [
            ("hello", "no `Budget Name:`"),
            ("Budget Name: x\nAlert Type: MAYBE", "ACTUAL or FORECASTED"),
        ] {
            assert!(
                budget_text(text).unwrap_err().to_string().contains(expect),
                "{text}"
            );
        }
        for (e, expect) in [
            (json!([]), "expected a JSON object"),
            (json!({"Records": []}), "non-empty"),
            (
                crate::event::sns_batch(&[("m", "{\"anomalyId\": \"a\"}")]),
                "no `impact`",
            ),
            (crate::event::sns_batch(&[("m", "{oops")]), "does not parse"),
            (json!({"hold": "dev"}), "needs a `reason`"),
            (json!({"release": 5}), "must name an environment"),
            (json!({"what": 1}), "not SNS records"),
        ] {
            assert!(parse(&e).unwrap_err().to_string().contains(expect), "{e}");
        }
    }

    #[test]
    fn given_both_anomaly_forms_then_they_parse_with_the_dimension_either_way() {
        let body = json!({"anomalyId": "a-1", "impact": {"totalImpact": 250.5, "totalImpactPercentage": 35.2},
            "rootCauses": [{"service": "Amazon ECS", "region": "us-east-1", "linkedAccount": "111122223333", "usageType": "Fargate-vCPU-Hours:perCPU"}],
            "monitorArn": "arn:aws:ce::1:anomalymonitor/m", "dimensionalValue": "AmazonECS"});
        let sns = crate::event::sns_batch(&[("m1", &body.to_string())]);
        let BudgetInput::Anomaly { anomaly, dedup_key } = parse(&sns).unwrap().remove(0) else {
            panic!()
        };
        assert_eq!(
            (
                anomaly.total_impact,
                anomaly.impact_percentage,
                anomaly.dimension_value.as_deref(),
                dedup_key.as_str()
            ),
            (250.5, Some(35.2), Some("AmazonECS"), "anomaly:a-1")
        );
        let mut detail = body.clone();
        detail.as_object_mut().unwrap().remove("dimensionalValue");
        detail["dimensionValue"] = json!("AmazonECS");
        let eb = json!({"id": "e1", "source": "aws.ce", "detail-type": "Anomaly Detected", "time": "2026-11-25T10:00:00Z", "detail": detail});
        let BudgetInput::Anomaly { anomaly, .. } = parse(&eb).unwrap().remove(0) else {
            panic!()
        };
        assert_eq!(anomaly.dimension_value.as_deref(), Some("AmazonECS"));
        assert_eq!(
            anomaly.root_causes[0].linked_account.as_deref(),
            Some("111122223333")
        );
    }
}

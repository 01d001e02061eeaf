//! What every action leaves behind: one structured audit log line (what, why, before, after) and
//! one CloudWatch Embedded Metric Format line, the way Powertools does it.

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::info;

/// The Lambda invocation being handled: its request id and X-Ray trace id go into every metric
/// line (the log lines get them from the runtime's span).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    pub request_id: String,
    pub trace_id: Option<String>,
}

tokio::task_local! {
    static INVOCATION: Invocation;
}

/// Runs `work` as `invocation`: every metric it emits carries the invocation's ids.
pub async fn within<F: Future>(invocation: Invocation, work: F) -> F::Output {
    INVOCATION.scope(invocation, work).await
}

fn current() -> Option<Invocation> {
    INVOCATION.try_with(Clone::clone).ok()
}

/// The CloudWatch namespace of every metric the suite emits.
pub const NAMESPACE: &str = "MacroAiOps";

/// One change made by the suite. No field may hold a secret.
pub struct AuditRecord<'a> {
    /// The function or backend acting ("postgres", "after-hours-scaling").
    pub service: &'a str,
    /// The action's short name ("setSecret", "scale-down").
    pub action: &'a str,
    /// What was acted on (a secret id, `cluster/service`).
    pub target: &'a str,
    /// What was done, in words.
    pub what: &'a str,
    /// Why it was done.
    pub why: &'a str,
    pub before: &'a str,
    pub after: &'a str,
}

/// Logs the audit line and emits the matching `Actions` metric.
pub fn audit(record: &AuditRecord<'_>) {
    info!(
        audit = true,
        service = record.service,
        action = record.action,
        target = record.target,
        why = record.why,
        before = record.before,
        after = record.after,
        "{}",
        record.what
    );
    metric_with(record.service, "Actions", 1, &[("Action", record.action)]);
}

/// Emits one EMF line for `name` = `value` (a count) under the `Service` dimension.
pub fn metric(service: &str, name: &str, value: u64) {
    metric_with(service, name, value, &[]);
}

/// Emits one EMF line with extra dimensions.
pub fn metric_with(service: &str, name: &str, value: u64, dimensions: &[(&str, &str)]) {
    println!(
        "{}",
        emf_line(
            service,
            name,
            value,
            dimensions,
            now_millis(),
            current().as_ref()
        )
    );
}

fn emf_line(
    service: &str,
    name: &str,
    value: u64,
    dimensions: &[(&str, &str)],
    timestamp_ms: u128,
    invocation: Option<&Invocation>,
) -> String {
    let mut dims: Vec<&str> = vec!["Service"];
    dims.extend(dimensions.iter().map(|(k, _)| *k));
    let mut root = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms as u64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dims],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        "Service": service,
        name: value,
    });
    if let Some(obj) = root.as_object_mut() {
        for (k, v) in dimensions {
            obj.insert((*k).to_string(), serde_json::Value::from(*v));
        }
        // Properties, not dimensions: they find the invocation's log lines without adding a
        // metric per request.
        if let Some(invocation) = invocation {
            obj.insert("requestId".into(), invocation.request_id.clone().into());
            if let Some(trace) = &invocation.trace_id {
                obj.insert("xrayTraceId".into(), trace.clone().into());
            }
        }
    }
    root.to_string()
}

fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_metric_when_formatted_then_it_is_valid_emf() {
        let line = emf_line(
            "postgres",
            "Actions",
            1,
            &[("Action", "setSecret")],
            1_700_000_000_000,
            Some(&Invocation {
                request_id: "req-1".into(),
                trace_id: Some("Root=1-abc".into()),
            }),
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Dimensions"][0],
            serde_json::json!(["Service", "Action"])
        );
        assert_eq!(directive["Metrics"][0]["Name"], "Actions");
        // Every dimension and metric named in the directive is a member of the root object.
        assert_eq!(
            (
                v["Service"].as_str(),
                v["Action"].as_str(),
                v["Actions"].as_u64()
            ),
            (Some("postgres"), Some("setSecret"), Some(1))
        );
        assert_eq!(
            (v["requestId"].as_str(), v["xrayTraceId"].as_str()),
            (Some("req-1"), Some("Root=1-abc"))
        );
    }

    #[tokio::test]
    async fn given_an_invocation_then_its_ids_are_current_inside_it_only() {
        assert_eq!(current(), None);
        let inside = within(
            Invocation {
                request_id: "req-2".into(),
                trace_id: None,
            },
            async { current() },
        )
        .await;
        assert_eq!(inside.map(|i| i.request_id).as_deref(), Some("req-2"));
        assert_eq!(current(), None);
    }
}

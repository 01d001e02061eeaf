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
    /// When Lambda stops the invocation (epoch milliseconds), when it says.
    pub deadline_ms: Option<u64>,
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

/// The invocation being handled, if any (its request id names the claims it makes).
pub fn invocation() -> Option<Invocation> {
    current()
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
    emit(
        record.service,
        Metric::Actions {
            action: record.action,
        },
        1,
    );
}

/// Every metric the suite emits, with its dimensions. The dashboard in template.yaml names only
/// these ([`CATALOGUE`]; tests/tests/repository.rs checks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric<'a> {
    /// One change made (one audit line), by action: `setSecret`, `scale-down`, `hold`,
    /// `rollback`.
    Actions { action: &'a str },
    /// The end of a rotation request, by secret and outcome: `rotated` (finishSecret moved
    /// AWSCURRENT), `failed` (any step), `valid` or `invalid` (the daily validation).
    Rotations { secret: &'a str, outcome: &'a str },
    /// Services an after-hours run could not reconcile.
    ServiceFailures,
    /// A budget alert, cost anomaly or manual request handled, by kind (`budget`, `anomaly`,
    /// `request`) and outcome (`held`, `notified`, `duplicate`, …).
    Alerts { kind: &'a str, outcome: &'a str },
    /// A consumer of a changed secret, by outcome: `redeployed`, `skipped`, `failed`,
    /// `would-redeploy`.
    Refreshes { outcome: &'a str },
}

/// Each metric's name and dimension names, as CloudWatch files it (`Service` is always first).
pub const CATALOGUE: &[(&str, &[&str])] = &[
    ("Actions", &["Service", "Action"]),
    ("Rotations", &["Service", "Secret", "Outcome"]),
    ("ServiceFailures", &["Service"]),
    ("Alerts", &["Service", "Kind", "Outcome"]),
    ("Refreshes", &["Service", "Outcome"]),
];

impl Metric<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Actions { .. } => "Actions",
            Metric::Rotations { .. } => "Rotations",
            Metric::ServiceFailures => "ServiceFailures",
            Metric::Alerts { .. } => "Alerts",
            Metric::Refreshes { .. } => "Refreshes",
        }
    }

    /// The dimensions besides `Service`, in [`CATALOGUE`]'s order.
    fn dimensions(&self) -> Vec<(&'static str, &str)> {
        match *self {
            Metric::Actions { action } => vec![("Action", action)],
            Metric::Rotations { secret, outcome } => vec![("Secret", secret), ("Outcome", outcome)],
            Metric::ServiceFailures => vec![],
            Metric::Alerts { kind, outcome } => vec![("Kind", kind), ("Outcome", outcome)],
            Metric::Refreshes { outcome } => vec![("Outcome", outcome)],
        }
    }
}

/// Emits one EMF line: `metric` = `value` (a count) for `service`, with the request id of the
/// invocation it belongs to.
pub fn emit(service: &str, metric: Metric<'_>, value: u64) {
    let dimensions = metric.dimensions();
    let name = metric.name();
    println!(
        "{}",
        emf_line(
            service,
            name,
            value,
            &dimensions,
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
                deadline_ms: None,
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

    #[test]
    fn given_each_metric_then_its_name_and_dimensions_are_in_the_catalogue() {
        let all = [
            Metric::Actions { action: "a" },
            Metric::Rotations {
                secret: "s",
                outcome: "o",
            },
            Metric::ServiceFailures,
            Metric::Alerts {
                kind: "k",
                outcome: "o",
            },
            Metric::Refreshes { outcome: "o" },
        ];
        assert_eq!(all.len(), CATALOGUE.len());
        for metric in all {
            let mut names = vec!["Service"];
            names.extend(metric.dimensions().iter().map(|(k, _)| *k));
            assert!(
                CATALOGUE.contains(&(metric.name(), names.as_slice())),
                "{metric:?}"
            );
        }
    }

    #[tokio::test]
    async fn given_an_invocation_then_its_ids_are_current_inside_it_only() {
        assert_eq!(current(), None);
        let inside = within(
            Invocation {
                request_id: "req-2".into(),
                trace_id: None,
                deadline_ms: None,
            },
            async { current() },
        )
        .await;
        assert_eq!(inside.map(|i| i.request_id).as_deref(), Some("req-2"));
        assert_eq!(current(), None);
    }
}

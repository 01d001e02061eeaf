//! budget-response's settings: the policy per environment (production is never held), how budgets
//! and anomalies map to environments, the anomaly thresholds (read by the function's
//! `Config::from_lookup`).

use super::message::Anomaly;
use crate::environment;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(untagged)]
enum RawAction {
    Word(String),
    ScaleTo {
        #[serde(rename = "scaleTo")]
        scale_to: i32,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvPolicy {
    actual: RawAction,
}

/// The function's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetConfig {
    /// Environment → the task count an ACTUAL breach holds its services at (`None`: notify only).
    pub policy: BTreeMap<String, Option<i32>>,
    /// Budget name → environment, besides the seed's `macro-ai-<env>-monthly`.
    pub budget_environments: BTreeMap<String, String>,
    /// Linked account id or monitor ARN → environment, for anomalies.
    pub anomaly_environments: BTreeMap<String, String>,
    pub anomaly_min_percent: f64,
    pub anomaly_action_usd: f64,
    /// How people reach this function to release a hold (its name in Lambda).
    pub function_name: String,
    /// Environment → its ECS cluster (`ENVIRONMENT_CLUSTERS`, from the template's parameters);
    /// an environment not listed uses `macro-ai-<env>-cluster`.
    pub environment_clusters: BTreeMap<String, String>,
    /// The one environment this deployment operates (`MACRO_AI_ENVIRONMENT`, one stack per
    /// environment): alerts about another are announced, never acted on (its IAM reaches only its
    /// own cluster). Unset: every environment of the policy.
    pub own_environment: Option<String>,
    /// How long a delivery waits for another invocation's claim on the same notification before
    /// failing for a retry (`DEDUPE_WAIT_SECONDS`, default 20): an anomaly arrives by SNS and by
    /// EventBridge at once, and the second must not page anyone by failing.
    pub claim_wait: Duration,
    /// How long a claim is one invocation's at least (`DEDUPE_LEASE_SECONDS`, default 90); never
    /// less than to the invocation's deadline, whatever it is set to.
    pub claim_lease: Duration,
}

impl BudgetConfig {
    /// Every default (the seed's policy, no maps, no wait): what unit tests hold environments with.
    #[cfg(test)]
    pub(crate) fn seed() -> Self {
        Self {
            policy: Self::parse_policy(None).unwrap_or_default(),
            budget_environments: BTreeMap::new(),
            anomaly_environments: BTreeMap::new(),
            anomaly_min_percent: 20.0,
            anomaly_action_usd: 50.0,
            function_name: "budget-response".into(),
            environment_clusters: BTreeMap::new(),
            own_environment: None,
            claim_wait: Duration::ZERO,
            claim_lease: Duration::from_secs(90),
        }
    }

    /// The seed's policy (dev held at 0 tasks, staging at 1, prod notified) with `BUDGET_POLICY`
    /// (`{"dev": {"actual": {"scaleTo": 0}}, "prod": {"actual": "notify"}}`) over it. A policy
    /// that would scale production is refused here, at cold start.
    pub fn parse_policy(raw: Option<&str>) -> Result<BTreeMap<String, Option<i32>>, String> {
        let mut policy: BTreeMap<String, Option<i32>> = [
            ("dev".to_string(), Some(0)),
            ("staging".to_string(), Some(1)),
            ("prod".to_string(), None),
        ]
        .into();
        let Some(raw) = raw.filter(|v| !v.trim().is_empty()) else {
            return Ok(policy);
        };
        let parsed: BTreeMap<String, RawEnvPolicy> = serde_json::from_str(raw).map_err(|e| {
            format!(
                "must be like {{\"dev\": {{\"actual\": {{\"scaleTo\": 0}}}}, \"prod\": {{\"actual\": \"notify\"}}}}: {e}"
            )
        })?;
        for (env, p) in parsed {
            let action = match p.actual {
                RawAction::Word(w) if w == "notify" => None,
                RawAction::Word(w) => {
                    return Err(format!(
                        "`{env}`: unknown action `{w}` (\"notify\" or {{\"scaleTo\": n}})"
                    ));
                }
                RawAction::ScaleTo { scale_to } if (0..=100).contains(&scale_to) => Some(scale_to),
                RawAction::ScaleTo { .. } => {
                    return Err(format!("`{env}`: scaleTo must be 0 to 100"));
                }
            };
            if action.is_some() && environment::is_production(&env) {
                return Err(format!(
                    "would scale `{env}`: production is never scaled or capped by automation; use \"notify\""
                ));
            }
            policy.insert(env, action);
        }
        Ok(policy)
    }

    /// The ECS cluster of `env`.
    pub fn cluster_of(&self, env: &str) -> String {
        self.environment_clusters
            .get(env)
            .cloned()
            .unwrap_or_else(|| environment::cluster(env))
    }

    /// Whether this deployment acts on `env` at all.
    pub fn operates(&self, env: &str) -> bool {
        self.own_environment
            .as_deref()
            .is_none_or(|own| own.eq_ignore_ascii_case(env))
    }

    /// The task count a breach holds `env` at; `None`: notify only (its policy, or not this
    /// deployment's environment).
    pub fn hold_to(&self, env: &str) -> Option<i32> {
        self.policy
            .get(env)
            .copied()
            .flatten()
            .filter(|_| self.operates(env))
    }

    /// The environment of a budget: `BUDGET_ENVIRONMENTS`, else `macro-ai-<env>-monthly`. Only
    /// monthly budgets map by name: holds are released by the monthly schedule, so a daily,
    /// quarterly or annual budget (read fine) acts only when an operator maps it on purpose.
    pub fn environment_of_budget(&self, name: &str) -> Option<String> {
        self.budget_environments
            .get(name)
            .cloned()
            .or_else(|| environment::of_monthly_budget(name).map(str::to_string))
    }

    /// The environment an anomaly is attributed to, by linked account or monitor.
    pub fn environment_of_anomaly(&self, anomaly: &Anomaly) -> Option<String> {
        anomaly
            .root_causes
            .iter()
            .filter_map(|c| c.linked_account.as_ref())
            .chain(anomaly.monitor_arn.iter())
            .find_map(|k| self.anomaly_environments.get(k).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_the_default_policy_then_dev_goes_to_0_staging_to_1_and_prod_notifies() {
        let policy = BudgetConfig::parse_policy(None).unwrap();
        assert_eq!(
            (policy["dev"], policy["staging"], policy["prod"]),
            (Some(0), Some(1), None)
        );
    }

    #[test]
    fn given_a_policy_that_scales_prod_then_it_is_refused_at_load() {
        for prod in ["prod", "production", "PROD"] {
            let raw = format!(r#"{{"{prod}": {{"actual": {{"scaleTo": 0}}}}}}"#);
            let err = BudgetConfig::parse_policy(Some(&raw)).unwrap_err();
            assert!(err.contains("production is never scaled"), "{err}");
        }
        let ok = BudgetConfig::parse_policy(Some(
            r#"{"dev": {"actual": "notify"}, "qa": {"actual": {"scaleTo": 0}}}"#,
        ))
        .unwrap();
        assert_eq!((ok["dev"], ok["qa"]), (None, Some(0)));
        for bad in [
            r#"{"dev": {"actual": "explode"}}"#,
            r#"{"dev": {"actual": {"scaleTo": -1}}}"#,
            r#"{"dev": {"forecast": "notify"}}"#,
            "[]",
        ] {
            assert!(BudgetConfig::parse_policy(Some(bad)).is_err(), "{bad}");
        }
    }
}

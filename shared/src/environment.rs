//! Macro AI's environments (dev, staging, prod): which one is production, and the seed's naming
//! convention that ties an environment to its ECS cluster, services, monthly budget and alarms.
//! Every function asks this module; none spells the convention or the production rule itself.

const PREFIX: &str = "macro-ai-";

/// Whether `env` is production: `prod` or `production`, in any case. Automation never scales,
/// holds or caps production, whatever its configuration or tags say.
pub fn is_production(env: &str) -> bool {
    let env = env.trim();
    env.eq_ignore_ascii_case("prod") || env.eq_ignore_ascii_case("production")
}

/// Whether a cluster belongs to production: by the convention, or because any `-`/`_`-separated
/// part of its name is production (`prod-api`, `shop_production`): a cluster named outside the
/// convention still counts as production when its name says so.
pub fn is_production_cluster(cluster: &str) -> bool {
    cluster.split(['-', '_']).any(is_production)
}

/// Whether a service belongs to production: its cluster says so, or its environment tag
/// (`macro-ai:environment`, for a cluster named outside the convention) does. Either is enough.
pub fn is_production_service(cluster: &str, environment_tag: Option<&str>) -> bool {
    is_production_cluster(cluster) || environment_tag.is_some_and(is_production)
}

/// The seed's cluster of `env`: `macro-ai-<env>-cluster`.
pub fn cluster(env: &str) -> String {
    format!("{PREFIX}{env}-cluster")
}

/// The seed's ECS service `svc` of `env`: `macro-ai-<env>-<svc>-service`.
pub fn service(env: &str, svc: &str) -> String {
    format!("{PREFIX}{env}-{svc}-service")
}

/// The environment a cluster is named for by the convention (`macro-ai-<env>-cluster`).
pub fn of_cluster(cluster: &str) -> Option<&str> {
    cluster
        .strip_prefix(PREFIX)?
        .strip_suffix("-cluster")
        .filter(|env| !env.is_empty())
}

/// The environment of a monthly budget named by the convention (`macro-ai-<env>-monthly`).
pub fn of_monthly_budget(budget: &str) -> Option<&str> {
    budget
        .strip_prefix(PREFIX)?
        .strip_suffix("-monthly")
        .filter(|env| !env.is_empty())
}

/// The (cluster, service) an alarm named by the convention is about:
/// `macro-ai-<env>-<svc>-<what>` → `macro-ai-<env>-cluster` / `macro-ai-<env>-<svc>-service`.
pub fn service_of_alarm(alarm: &str) -> Option<(String, String)> {
    let mut parts = alarm.strip_prefix(PREFIX)?.splitn(3, '-');
    let (env, svc, what) = (parts.next()?, parts.next()?, parts.next()?);
    (!env.is_empty() && !svc.is_empty() && !what.is_empty())
        .then(|| (cluster(env), service(env, svc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_names_of_production_then_each_is_production_and_nothing_else_is() {
        for env in ["prod", "PROD", "production", " Production "] {
            assert!(is_production(env), "{env}");
        }
        for env in ["dev", "staging", "preprod", "prod2", ""] {
            assert!(!is_production(env), "{env}");
        }
        for cluster in [
            "macro-ai-prod-cluster",
            "prod-api",
            "shop_production",
            "x-PROD",
        ] {
            assert!(is_production_cluster(cluster), "{cluster}");
        }
        for cluster in [
            "macro-ai-dev-cluster",
            "macro-ai-preprod-cluster",
            "product-cluster",
        ] {
            assert!(!is_production_cluster(cluster), "{cluster}");
        }
    }

    #[test]
    fn given_the_convention_then_names_are_made_and_read_back() {
        assert_eq!(cluster("dev"), "macro-ai-dev-cluster");
        assert_eq!(service("dev", "api"), "macro-ai-dev-api-service");
        assert_eq!(of_cluster(&cluster("staging")), Some("staging"));
        assert_eq!(of_cluster("macro-ai--cluster"), None);
        assert_eq!(of_cluster("macro-ai-cluster"), None);
        assert_eq!(of_cluster("other-dev-cluster"), None);
        assert_eq!(
            of_monthly_budget("macro-ai-staging-monthly"),
            Some("staging")
        );
        assert_eq!(of_monthly_budget("macro-ai-dev-daily"), None);
        assert_eq!(of_monthly_budget("team-x-budget"), None);
    }

    #[test]
    fn given_alarm_names_then_only_conventional_ones_name_a_service() {
        assert_eq!(
            service_of_alarm("macro-ai-dev-api-error-rate"),
            Some((
                "macro-ai-dev-cluster".to_string(),
                "macro-ai-dev-api-service".to_string()
            ))
        );
        for alarm in [
            "billing-alarm",
            "macro-ai-dev-api",
            "macro-ai--api-x",
            "macro-ai-dev--x",
        ] {
            assert_eq!(service_of_alarm(alarm), None, "{alarm}");
        }
    }
}

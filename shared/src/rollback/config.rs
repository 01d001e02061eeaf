//! alarm-rollback's settings: which service an alarm is about, the release window and the
//! cooldown (read by the function's `Config::from_lookup`).

use super::event;
use crate::environment;
use std::collections::BTreeMap;
use std::time::Duration;

/// The function's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackConfig {
    /// Alarm name → `cluster/service`.
    pub alarm_targets: BTreeMap<String, (String, String)>,
    pub window: Duration,
    pub cooldown: Duration,
}

impl RollbackConfig {
    /// Reads `ALARM_TARGETS`: a JSON object of alarm name → `"<cluster>/<service>"`.
    pub fn parse_alarm_targets(raw: &str) -> Result<BTreeMap<String, (String, String)>, String> {
        let map: BTreeMap<String, String> = serde_json::from_str(raw).map_err(|_| {
            "must be a JSON object of alarm name → \"<cluster>/<service>\"".to_string()
        })?;
        map.into_iter()
            .map(|(alarm, target)| match event::split_target(&target) {
                Some(parts) => Ok((alarm, parts)),
                None => Err(format!(
                    "maps `{alarm}` to `{target}`, not \"<cluster>/<service>\""
                )),
            })
            .collect()
    }

    /// The service an alarm is about: `ALARM_TARGETS`, else the seed's naming convention
    /// ([`environment::service_of_alarm`]).
    pub fn target_of(&self, alarm: &str) -> Option<(String, String)> {
        self.alarm_targets
            .get(alarm)
            .cloned()
            .or_else(|| environment::service_of_alarm(alarm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn given_alarm_names_then_targets_follow_the_map_or_the_convention() {
        let c = RollbackConfig {
            alarm_targets: RollbackConfig::parse_alarm_targets(
                r#"{"Api5xx": "macro-ai-prod-cluster/macro-ai-prod-api-service"}"#,
            )
            .unwrap(),
            window: HOUR,
            cooldown: HOUR,
        };
        assert_eq!(
            c.target_of("Api5xx"),
            Some((
                "macro-ai-prod-cluster".into(),
                "macro-ai-prod-api-service".into()
            ))
        );
        assert_eq!(
            c.target_of("macro-ai-dev-api-error-rate"),
            Some((
                "macro-ai-dev-cluster".into(),
                "macro-ai-dev-api-service".into()
            ))
        );
        assert_eq!(c.target_of("billing-alarm"), None);
        for bad in [r#"{"a": "nocluster"}"#, "[]", r#"{"a": 1}"#] {
            assert!(RollbackConfig::parse_alarm_targets(bad).is_err(), "{bad}");
        }
    }
}

//! The pure rollback decision: from a service's release, its ledger entry and its family's
//! revisions, whether to roll back and to what, or why not.

use super::ports::LedgerEntry;
use super::release::{
    ECS_ROLLBACK_TAG, KNOWN_GOOD_TAG, LAST_ROLLBACK_TAG, RELEASE_COMPLETED_TAG,
    RELEASE_STARTED_TAG, RELEASE_TAG, ServiceRelease, family_and_revision, short_name,
};
use crate::capacity::{BUDGET_HOLD_TAG, SAVED_CAPACITY_TAG};
use jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Rollback { to: String, why: String },
    Hold { why: String },
}

pub(crate) fn hold(why: impl Into<String>) -> Verdict {
    Verdict::Hold { why: why.into() }
}

/// The known-good revision at `now`: the recorded release, if it completed more than `window`
/// ago and was not rolled back (by us: `macro-ai:last-rollback` from it; by ECS: its completion
/// was cleared), is known-good; otherwise the recorded known-good. The recorded release counts
/// even when the service already runs the next one: at the next release's start, DescribeServices
/// shows the new revision, and the one before must still be promoted.
pub fn known_good(release: &ServiceRelease, now: Timestamp, window: Duration) -> Option<String> {
    let rolled_back = |r: &str| {
        release.tag(LAST_ROLLBACK_TAG).is_some_and(|t| {
            t.split_whitespace()
                .any(|p| p.strip_prefix("from=") == Some(short_name(r)))
        })
    };
    let settled = release
        .tag(RELEASE_TAG)
        .filter(|r| !r.is_empty() && !rolled_back(r))
        .and_then(|r| {
            let completed = release.time_tag(RELEASE_COMPLETED_TAG)?;
            // A completion older than the release's start belongs to an earlier release.
            if release
                .time_tag(RELEASE_STARTED_TAG)
                .is_some_and(|s| completed < s)
            {
                return None;
            }
            (now.duration_since(completed) >= SignedDuration::try_from(window).ok()?)
                .then(|| r.to_string())
        });
    settled.or_else(|| release.tag(KNOWN_GOOD_TAG).map(str::to_string))
}

fn minutes_between(later: Timestamp, earlier: Timestamp) -> i64 {
    later.duration_since(earlier).as_secs() / 60
}

/// The pure decision: roll back only when every guard holds, to the best target.
pub fn decide(
    release: &ServiceRelease,
    ledger: &LedgerEntry,
    revisions: &[String],
    now: Timestamp,
    window: Duration,
    cooldown: Duration,
) -> Verdict {
    if release.tag(SAVED_CAPACITY_TAG).is_some()
        || release.tag(BUDGET_HOLD_TAG).is_some()
        || release.desired == 0
    {
        return hold(
            "the service is scaled down on purpose (after hours, a budget hold or 0 tasks): its alarms are expected",
        );
    }
    if let Some(controller) = &release.foreign_controller {
        return hold(format!(
            "its deployments are controlled by {controller}, and UpdateService cannot change its \
             task definition: roll it back there (CodeDeploy: stop the deployment with rollback)"
        ));
    }
    if release.ecs_rolling_back {
        return hold(
            "ECS is rolling a failed deployment back itself (DescribeServices says so): no \
             second rollback on top of it",
        );
    }
    if let Some(since) = release.time_tag(ECS_ROLLBACK_TAG)
        && now.duration_since(since)
            < SignedDuration::try_from(window).unwrap_or(SignedDuration::MAX)
    {
        return hold(format!(
            "ECS has been rolling a failed deployment back itself since {since} (circuit breaker \
             or deployment alarms): no second rollback on top of it"
        ));
    }
    let current = release.task_definition.as_str();
    let good = known_good(release, now, window);
    if good.as_deref() == Some(current) {
        return hold(format!(
            "it runs its known-good revision {}: the alarm is probably not a release's fault",
            short_name(current)
        ));
    }
    let started = release
        .time_tag(RELEASE_STARTED_TAG)
        .or_else(|| release.time_tag(RELEASE_COMPLETED_TAG))
        .filter(|_| release.tag(RELEASE_TAG) == Some(current));
    let Some(started) = started else {
        return hold(format!(
            "no deployment of {} is on record (no ECS deployment event seen), so the alarm cannot be tied to a release",
            short_name(current)
        ));
    };
    let window_minutes = window.as_secs() / 60;
    let age = minutes_between(now, started);
    if age > window_minutes as i64 {
        return hold(format!(
            "the release {} started {age} min ago, outside the {window_minutes} min window: probably not the release's fault",
            short_name(current)
        ));
    }
    if let Some(last) = &ledger.last
        && let Ok(at) = last.at.parse::<Timestamp>()
        && now.duration_since(at)
            < SignedDuration::try_from(cooldown).unwrap_or(SignedDuration::MAX)
    {
        return hold(format!(
            "it was rolled back {} min ago ({} → {}); cooldown {} min",
            minutes_between(now, at),
            short_name(&last.from),
            short_name(&last.to),
            cooldown.as_secs() / 60
        ));
    }
    // Never the current revision, never one rolled away from, never a deregistered one (when the
    // family's ACTIVE revisions are known).
    let allowed = |t: &str| {
        t != current
            && !ledger.rolled_away.iter().any(|r| r == t)
            && (revisions.is_empty() || revisions.iter().any(|r| r == t))
    };
    if let Some(g) = good.filter(|g| allowed(g)) {
        return Verdict::Rollback {
            to: g.clone(),
            why: format!("roll back to the known-good revision {}", short_name(&g)),
        };
    }
    if let Some(d) = release.other_active_deployments.iter().find(|d| allowed(d)) {
        return Verdict::Rollback {
            to: d.clone(),
            why: format!(
                "mid-deployment: roll back to the older active deployment's {}",
                short_name(d)
            ),
        };
    }
    if let Some((family, rev)) = family_and_revision(current) {
        let older = revisions
            .iter()
            .filter_map(|r| {
                family_and_revision(r)
                    .filter(|(f, n)| *f == family && *n < rev)
                    .map(|(_, n)| (n, r))
            })
            .filter(|(_, r)| allowed(r))
            .max_by_key(|(n, _)| *n);
        if let Some((_, r)) = older {
            return Verdict::Rollback {
                to: r.clone(),
                why: format!(
                    "no known-good on record: roll back to the newest earlier revision {}",
                    short_name(r)
                ),
            };
        }
    }
    hold(
        "there is no earlier revision to roll back to (none known-good, none active, none older that was not rolled away from)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::ServiceId;
    use crate::rollback::RollbackRecord;

    const REV: &str = "arn:aws:ecs:us-east-1:1:task-definition/macro-ai-prod-api:";

    fn rev(n: u32) -> String {
        format!("{REV}{n}")
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn service(current: u32, tags: &[(&str, String)]) -> ServiceRelease {
        ServiceRelease {
            id: ServiceId {
                cluster: "c".into(),
                name: "s".into(),
                arn: "a".into(),
            },
            task_definition: rev(current),
            desired: 2,
            other_active_deployments: vec![],
            ecs_rolling_back: false,
            ecs_rolls_back_on_failure: false,
            foreign_controller: None,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);
    const HALF: Duration = Duration::from_secs(1800);

    fn released(current: u32, good: u32, started: &str) -> ServiceRelease {
        service(
            current,
            &[
                (KNOWN_GOOD_TAG, rev(good)),
                (RELEASE_TAG, rev(current)),
                (RELEASE_STARTED_TAG, started.into()),
            ],
        )
    }

    #[test]
    fn given_a_recent_release_that_is_not_known_good_then_it_rolls_back_to_known_good() {
        let s = released(2, 1, "2026-11-25T10:00:00Z");
        let v = decide(
            &s,
            &LedgerEntry::default(),
            &[rev(1), rev(2)],
            at("2026-11-25T10:10:00Z"),
            HOUR,
            HALF,
        );
        assert!(
            matches!(v, Verdict::Rollback { ref to, .. } if *to == rev(1)),
            "{v:?}"
        );
    }

    #[test]
    fn given_ecs_rolling_back_by_describe_or_by_its_event_then_it_holds() {
        let now = at("2026-11-25T10:10:00Z");
        let mut s = released(2, 1, "2026-11-25T10:00:00Z");
        s.ecs_rolling_back = true;
        let v = decide(&s, &LedgerEntry::default(), &[], now, HOUR, HALF);
        assert!(
            matches!(&v, Verdict::Hold { why } if why.contains("DescribeServices")),
            "{v:?}"
        );
        let mut s = released(2, 1, "2026-11-25T10:00:00Z");
        s.tags
            .insert(ECS_ROLLBACK_TAG.into(), "2026-11-25T10:05:00Z".into());
        let v = decide(&s, &LedgerEntry::default(), &[], now, HOUR, HALF);
        assert!(matches!(v, Verdict::Hold { .. }), "{v:?}");
        // Cleared (empty) or older than the window: no longer holds.
        for tag in ["", "2026-11-25T08:00:00Z"] {
            s.tags.insert(ECS_ROLLBACK_TAG.into(), tag.into());
            let v = decide(&s, &LedgerEntry::default(), &[], now, HOUR, HALF);
            assert!(matches!(v, Verdict::Rollback { .. }), "{tag}: {v:?}");
        }
    }

    #[test]
    fn given_each_guard_then_it_holds() {
        let now = at("2026-11-25T10:10:00Z");
        let code_deploy = ServiceRelease {
            foreign_controller: Some("CODE_DEPLOY".into()),
            ..released(2, 1, "2026-11-25T10:00:00Z")
        };
        let cases = [
            (
                code_deploy,
                LedgerEntry::default(),
                "controlled by CODE_DEPLOY",
            ),
            (
                service(1, &[(KNOWN_GOOD_TAG, rev(1))]),
                LedgerEntry::default(),
                "known-good",
            ),
            (
                released(2, 1, "2026-11-25T08:00:00Z"),
                LedgerEntry::default(),
                "outside the 60 min window",
            ),
            (
                service(2, &[(KNOWN_GOOD_TAG, rev(1))]),
                LedgerEntry::default(),
                "no deployment",
            ),
            (
                released(2, 1, "2026-11-25T10:00:00Z"),
                LedgerEntry {
                    version: 1,
                    rolled_away: vec![],
                    last: Some(RollbackRecord {
                        from: rev(3),
                        to: rev(2),
                        at: "2026-11-25T09:55:00Z".into(),
                        cause: "x".into(),
                    }),
                },
                "cooldown",
            ),
            (
                {
                    let mut s = released(2, 1, "2026-11-25T10:00:00Z");
                    s.tags.insert(SAVED_CAPACITY_TAG.into(), "desired=2".into());
                    s
                },
                LedgerEntry::default(),
                "scaled down on purpose",
            ),
            (
                {
                    let mut s = released(2, 1, "2026-11-25T10:00:00Z");
                    s.desired = 0;
                    s
                },
                LedgerEntry::default(),
                "scaled down on purpose",
            ),
            (
                released(2, 1, "2026-11-25T10:00:00Z"),
                LedgerEntry {
                    version: 1,
                    last: None,
                    rolled_away: vec![rev(1)],
                },
                "no earlier revision",
            ),
        ];
        for (s, ledger, expect) in cases {
            match decide(&s, &ledger, &[rev(2)], now, HOUR, HALF) {
                Verdict::Hold { why } => assert!(why.contains(expect), "{expect}: {why}"),
                other => panic!("{expect}: {other:?}"),
            }
        }
    }

    #[test]
    fn given_no_known_good_then_an_active_deployment_or_the_newest_older_revision_is_the_target() {
        let now = at("2026-11-25T10:10:00Z");
        let mut s = service(
            5,
            &[
                (RELEASE_TAG, rev(5)),
                (RELEASE_STARTED_TAG, "2026-11-25T10:00:00Z".into()),
            ],
        );
        s.other_active_deployments = vec![rev(3)];
        assert!(
            matches!(decide(&s, &LedgerEntry::default(), &[], now, HOUR, HALF), Verdict::Rollback { ref to, .. } if *to == rev(3))
        );
        s.other_active_deployments.clear();
        let ledger = LedgerEntry {
            version: 2,
            last: None,
            rolled_away: vec![rev(4)],
        };
        let revisions = [rev(1), rev(2), rev(4), rev(5), rev(6)];
        // rev 4 was rolled away from: never again; rev 6 is newer; rev 2 it is.
        assert!(
            matches!(decide(&s, &ledger, &revisions, now, HOUR, HALF), Verdict::Rollback { ref to, .. } if *to == rev(2))
        );
    }

    #[test]
    fn given_a_release_completed_longer_than_the_window_ago_then_it_is_known_good() {
        let s = service(
            2,
            &[
                (KNOWN_GOOD_TAG, rev(1)),
                (RELEASE_TAG, rev(2)),
                (RELEASE_STARTED_TAG, "2026-11-25T09:00:00Z".into()),
                (RELEASE_COMPLETED_TAG, "2026-11-25T09:05:00Z".into()),
            ],
        );
        assert_eq!(
            known_good(&s, at("2026-11-25T09:30:00Z"), HOUR),
            Some(rev(1))
        );
        assert_eq!(
            known_good(&s, at("2026-11-25T10:06:00Z"), HOUR),
            Some(rev(2))
        );
    }
}

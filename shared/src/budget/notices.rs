//! What budget-response tells people, in words: what was spent, what was done (or why not), and
//! how to release a hold. No message holds a secret; amounts are in dollars as AWS gave them.

use super::message::Anomaly;
use crate::notify::Notice;

fn notice(subject: String, message: String) -> Notice {
    Notice::new("budget-response", subject, message)
}

fn bullets(lines: &[String]) -> String {
    lines.iter().map(|l| format!("- {l}\n")).collect()
}

/// A budget that maps to no environment.
pub fn unmapped_budget(budget: &str, spent: &str, why: &str) -> Notice {
    notice(
        format!("unmapped budget {budget}"),
        format!("{spent}.\n{why}."),
    )
}

/// A budget over its threshold that is only announced (a forecast, or a notify-only policy).
pub fn over_budget(budget: &str, env: &str, spent: &str, why: &str) -> Notice {
    notice(
        format!("{budget} over budget ({env})"),
        format!("{spent}.\nNo action: {why}."),
    )
}

/// The body of an anomaly's notice: its size, root causes and link (`pct` already in words).
pub fn anomaly_text(anomaly: &Anomaly, pct: &str) -> String {
    let subscription = anomaly
        .subscription_name
        .as_deref()
        .map(|s| format!(", subscription {s}"))
        .unwrap_or_default();
    let mut message = format!(
        "Cost anomaly {}: ${:.2} above expected ({pct}){subscription}.\nRoot causes:\n",
        anomaly.anomaly_id, anomaly.total_impact,
    );
    let causes: Vec<String> = anomaly
        .root_causes
        .iter()
        .map(|c| {
            format!(
                "service {}, region {}, account {}, usage type {}",
                c.service.as_deref().unwrap_or("?"),
                c.region.as_deref().unwrap_or("?"),
                c.linked_account.as_deref().unwrap_or("?"),
                c.usage_type.as_deref().unwrap_or("?")
            )
        })
        .collect();
    if causes.is_empty() {
        message.push_str("- none given\n");
    }
    message.push_str(&bullets(&causes));
    if let Some(link) = &anomaly.details_link {
        message.push_str(&format!("Details: {link}\n"));
    }
    message
}

/// An anomaly that is announced, not acted on.
pub fn anomaly(anomaly: &Anomaly, pct: &str, message: String) -> Notice {
    notice(
        format!("cost anomaly of ${:.2} ({pct})", anomaly.total_impact),
        message,
    )
}

/// A hold or release that failed on some services (the retry redoes those).
pub fn incomplete(action: &str, env: &str, done: &[String], failed: &[String]) -> Notice {
    notice(
        format!("{env} {action} incomplete"),
        format!(
            "The {action} of {env} is incomplete: {} service(s) failed and will be retried.\n\
             Failed:\n{}Done:\n{}",
            failed.len(),
            bullets(failed),
            bullets(done)
        ),
    )
}

/// A hold that was put on: what was spent, every service held, and the command that releases it.
pub fn held(
    env: &str,
    cluster: &str,
    to: i32,
    spent: &str,
    services: &[String],
    function_name: &str,
) -> Notice {
    notice(
        format!("{env} held by budget response"),
        format!(
            "{spent}\n\nDone: every service of {cluster} held at {to} task(s):\n{}\n\
             To release the hold before the next budget period (it is released automatically when \
             one starts):\n  aws lambda invoke --function-name {function_name} \
             --cli-binary-format raw-in-base64-out --payload '{{\"release\": \"{env}\"}}' \
             /dev/stdout\n",
            bullets(services)
        ),
    )
}

/// A hold that was lifted, with the capacity each service got back.
pub fn released(env: &str, why: &str, services: &[String]) -> Notice {
    let restored = if services.is_empty() {
        "- nothing was held\n".to_string()
    } else {
        bullets(services)
    };
    notice(
        format!("{env} budget hold released"),
        format!("Budget hold of {env} lifted ({why}); saved capacity restored:\n{restored}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_hold_then_the_notice_lists_every_service_and_the_release_command() {
        let n = held(
            "dev",
            "macro-ai-dev-cluster",
            0,
            "dev spent $123.40",
            &["a: 2 -> 0".into(), "b: 1 -> 0".into()],
            "budget-response",
        );
        assert_eq!(
            n.subject,
            "macro-ai-ops budget-response: dev held by budget response"
        );
        assert_eq!(
            n.message,
            "dev spent $123.40\n\nDone: every service of macro-ai-dev-cluster held at 0 task(s):\n\
             - a: 2 -> 0\n- b: 1 -> 0\n\nTo release the hold before the next budget period (it is \
             released automatically when one starts):\n  aws lambda invoke --function-name \
             budget-response --cli-binary-format raw-in-base64-out --payload '{\"release\": \"dev\"}' \
             /dev/stdout\n"
        );
    }

    #[test]
    fn given_a_partial_action_or_an_empty_release_then_the_notice_says_so() {
        let n = incomplete("hold", "dev", &["a".into()], &["b".into(), "c".into()]);
        assert_eq!(
            n.message,
            "The hold of dev is incomplete: 2 service(s) failed and will be retried.\nFailed:\n- b\n- c\nDone:\n- a\n"
        );
        assert!(
            released("dev", "manual", &[])
                .message
                .ends_with("- nothing was held\n")
        );
    }
}

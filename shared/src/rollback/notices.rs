//! What alarm-rollback tells people, in words: one subject and message per kind of outcome.
//! Each names the service and the cause, never a secret.

use crate::notify::Notice;
use std::time::Duration;

fn notice(subject: String, message: String) -> Notice {
    Notice::new("alarm-rollback", subject, message)
}

/// An alarm that names no service.
pub fn unmapped(alarm: &str, why: &str) -> Notice {
    notice(format!("alarm {alarm} is unmapped"), why.to_string())
}

/// An alarm (or request) that was decided against.
pub fn held(service: &str, cause: &str, why: &str) -> Notice {
    notice(
        format!("{service}: no rollback"),
        format!("{cause}\nNo rollback of {service}: {why}."),
    )
}

/// A rollback that was done.
pub fn rolled_back(
    service: &str,
    cause: &str,
    from: &str,
    to: &str,
    why: &str,
    cooldown: Duration,
) -> Notice {
    notice(
        format!("{service} rolled back to {to}"),
        format!(
            "{cause}\n{service} was rolled back from {from} to {to} ({why}).\nIt will not be \
             rolled back again for {} min, and never to {from}.",
            cooldown.as_secs() / 60
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_rollback_then_the_notice_names_the_service_both_revisions_and_the_cooldown() {
        let n = rolled_back(
            "c/s",
            "alarm `x`: 5xx",
            "api:3",
            "api:2",
            "3 is not known-good",
            Duration::from_secs(1800),
        );
        assert_eq!(
            n.subject,
            "macro-ai-ops alarm-rollback: c/s rolled back to api:2"
        );
        assert_eq!(
            n.message,
            "alarm `x`: 5xx\nc/s was rolled back from api:3 to api:2 (3 is not known-good).\n\
             It will not be rolled back again for 30 min, and never to api:3."
        );
        assert!(
            held("c/s", "cause", "why")
                .message
                .ends_with("No rollback of c/s: why.")
        );
    }
}

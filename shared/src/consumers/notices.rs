//! What refresh-consumers tells the people who run Macro AI: each consumer refreshed or left
//! alone, and why.

use super::refresh::ServiceOutcome;
use crate::notify::Notice;

/// The outcome of a refresh of `secret`'s consumers.
pub fn refreshed(
    secret: &str,
    version: &str,
    superseded: Option<&str>,
    services: &[ServiceOutcome],
) -> Notice {
    let redeployed = services.iter().filter(|s| s.action == "redeployed").count();
    let failed = services.iter().filter(|s| s.action == "failed").count();
    let subject = match failed {
        0 => format!("{secret}: {redeployed} service(s) redeployed"),
        n => format!("{secret}: {n} service(s) could not be redeployed"),
    };
    let mut message = format!(
        "AWSCURRENT of {secret} is version {version}{}. ECS reads a secret only when a task \
         starts, so each service that injects it gets a new deployment (same task definition, \
         same desired count):\n\n",
        superseded
            .map(|old| format!(" (the event was for {old}, since replaced)"))
            .unwrap_or_default()
    );
    if services.is_empty() {
        message.push_str("- no service in CONSUMER_CLUSTERS references it\n");
    }
    for s in services {
        message.push_str(&format!("- {} {}: {}\n", s.service, s.action, s.why));
    }
    if failed > 0 {
        message.push_str(
            "\nThe invocation failed and is retried; until those services are redeployed, the \
             next rotation of the secret waits for them.\n",
        );
    }
    Notice::new("refresh-consumers", subject, message)
}

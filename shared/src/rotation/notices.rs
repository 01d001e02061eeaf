//! What a rotation tells the people who run Macro AI about the services that consume its secret.

use crate::notify::Notice;

/// The retire step refused: services may still hold the credential it would retire.
pub fn consumers_not_refreshed(
    backend: &str,
    secret: &str,
    step: &str,
    blockers: &[String],
) -> Notice {
    Notice::new(
        &format!("rotation ({backend})"),
        format_args!("{secret}: rotation waits for {} service(s)", blockers.len()),
        format!(
            "The rotation of {secret} stopped at {step}: that step retires the credential of \
             AWSPREVIOUS, and these services may still run tasks that read it before the last \
             change of AWSCURRENT:\n\n{}\n\nNothing was retired. Redeploy them, and the same \
             rotation completes when Secrets Manager retries it:\n\n  aws lambda invoke \
             --function-name <stack>-refresh-consumers --cli-binary-format raw-in-base64-out \
             --payload '{{\"refresh\": \"{secret}\"}}' /dev/stdout\n\nA refresh normally follows \
             every change of AWSCURRENT on its own (the Secret Label Updated event): if it did \
             not, look for the event in the failed-invocations queue.",
            blockers
                .iter()
                .map(|b| format!("- {b}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    )
}

/// A rotation without overlap is about to break the services that consume the secret.
pub fn no_overlap(backend: &str, secret: &str, services: &[String]) -> Notice {
    Notice::new(
        &format!("rotation ({backend})"),
        format_args!("{secret}: consumers fail until redeployed"),
        format!(
            "{secret} is rotated with a single user: its password changes at setSecret, and \
             these services keep the old one until their tasks are replaced:\n\n{}\n\n\
             refresh-consumers redeploys them once AWSCURRENT moves (finishSecret); until \
             their new tasks run, their logins fail. Use alternating users (`masterarn`) for a \
             secret that ECS injects.",
            services
                .iter()
                .map(|s| format!("- {s}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    )
}

//! finishSecret's side of the consumers: the retire guard (no service may still run a task that
//! started before the last change), the notices when there is no overlap, the current-since
//! record, and the clean-up of what a rotation retires.

use super::backend::{CredentialBackend, Finished, Retirement};
use super::error::RotationError;
use super::event::RotationStep;
use super::notices;
use super::runner::Rotator;
use super::store::{AWSCURRENT, CurrentSince, SecretDescription, SecretStore, VersionRef};
use crate::consumers::ConsumerReader;
use crate::error::report;
use crate::notify::Notifier;
use tracing::{info, warn};

impl<S: SecretStore, B: CredentialBackend, C: ConsumerReader, N: Notifier> Rotator<S, B, C, N> {
    /// Refuses the step while a consumer may still hold AWSPREVIOUS's credential, which the
    /// step would retire. Nothing has changed when it refuses.
    pub(super) async fn guard(
        &self,
        r: &RotationStep,
        description: &SecretDescription,
    ) -> Result<(), RotationError> {
        let Some(watch) = &self.consumers else {
            return Ok(());
        };
        let step = r.step.as_str();
        let blockers =
            watch
                .blockers(description)
                .await
                .map_err(|source| RotationError::Consumers {
                    step,
                    secret: r.secret_id.clone(),
                    source,
                })?;
        if blockers.is_empty() {
            info!(secret_id = %r.secret_id, step, "no consumer may still hold AWSPREVIOUS: retiring it");
            return Ok(());
        }
        let blockers: Vec<String> = blockers
            .into_iter()
            .map(|b| format!("{} ({})", b.service, b.why))
            .collect();
        warn!(secret_id = %r.secret_id, step, services = %blockers.join("; "),
              "consumers may still hold AWSPREVIOUS: nothing retired");
        watch
            .notifier
            .announce(notices::consumers_not_refreshed(
                self.backend.name(),
                description.name.as_deref().unwrap_or(&r.secret_id),
                step,
                &blockers,
            ))
            .await;
        Err(RotationError::ConsumersNotRefreshed {
            step,
            secret: r.secret_id.clone(),
            blockers,
        })
    }

    /// A rotation without overlap (single-user PostgreSQL) breaks every running consumer at
    /// setSecret, until it is redeployed: said once, at createSecret, in the log and a notice.
    pub(super) async fn warn_no_overlap(&self, r: &RotationStep, description: &SecretDescription) {
        let Some(watch) = &self.consumers else {
            return;
        };
        match watch.running(description).await {
            Ok(running) if running.is_empty() => {}
            Ok(running) => {
                let services: Vec<String> =
                    running.iter().map(|c| c.service.id.to_string()).collect();
                warn!(secret_id = %r.secret_id, services = %services.join(", "),
                      "single-user rotation: these services fail from setSecret until they are redeployed");
                watch
                    .notifier
                    .announce(notices::no_overlap(
                        self.backend.name(),
                        description.name.as_deref().unwrap_or(&r.secret_id),
                        &services,
                    ))
                    .await;
            }
            Err(e) => {
                warn!(secret_id = %r.secret_id, error = %report(&e), "the services consuming the secret could not be listed");
            }
        }
    }

    /// Records on the secret when this version became AWSCURRENT (now, just after the move: at
    /// or after it). Best effort: the label event and a manual refresh record it too, and a
    /// rotation that finds no record waits for a refresh rather than guess.
    pub(super) async fn record_current_since(&self, r: &RotationStep, previous: Option<&str>) {
        let previous = previous.filter(|p| *p != r.token);
        let since = CurrentSince::new(&r.token, previous, jiff::Timestamp::now());
        if let Err(e) = self.store.mark_current_since(&r.secret_id, &since).await {
            warn!(secret_id = %r.secret_id, error = %report(&e),
                  "when AWSCURRENT moved could not be recorded on the secret");
        }
    }

    /// Whether a retried finishSecret may run a clean-up that retires credentials. The guard ran
    /// before this rotation moved AWSCURRENT; but AWSCURRENT may have been moved by someone else
    /// (an operator finishing a rotation the guard kept waiting), so a backend that retires at
    /// finishSecret asks again, and a clean-up consumers could still need waits for the next
    /// rotation (said in the log).
    pub(super) async fn clean_up_may_retire(
        &self,
        r: &RotationStep,
        description: &SecretDescription,
    ) -> Result<bool, RotationError> {
        let Some(watch) = &self.consumers else {
            return Ok(true);
        };
        let current = self
            .required(r, VersionRef::Stage(AWSCURRENT), AWSCURRENT)
            .await?;
        if self.retirement(r, &current)? != Retirement::AtFinish {
            return Ok(true);
        }
        let blockers =
            watch
                .blockers(description)
                .await
                .map_err(|source| RotationError::Consumers {
                    step: r.step.as_str(),
                    secret: r.secret_id.clone(),
                    source,
                })?;
        if blockers.is_empty() {
            return Ok(true);
        }
        warn!(secret_id = %r.secret_id, services = %blockers.iter().map(|b| b.service.as_str()).collect::<Vec<_>>().join(", "),
              "AWSCURRENT moved, but consumers may still hold an older value: the clean-up waits for the next rotation");
        Ok(false)
    }

    /// The backend's clean-up once AWSCURRENT moved; idempotent, so retries run it again.
    pub(super) async fn clean_up(
        &self,
        r: &RotationStep,
        description: &SecretDescription,
        previous: Option<&str>,
    ) -> Result<(), RotationError> {
        let finished = Finished {
            secret_id: &r.secret_id,
            secret_arn: description.arn.as_deref().unwrap_or(&r.secret_id),
            current: &r.token,
            previous: previous.filter(|p| *p != r.token),
            description,
        };
        if let Some(change) = self
            .backend
            .after_finish(&self.store, &finished)
            .await
            .map_err(|source| self.backend_error(r, source))?
        {
            self.audit(r, &change, "after AWSCURRENT moved", "cleaned up");
        }
        Ok(())
    }
}

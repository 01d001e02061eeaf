//! The rotator: Secrets Manager's four steps (createSecret, setSecret, testSecret, finishSecret)
//! and the daily validation, written once, each step idempotent and retry-safe.

use super::backend::{
    BackendError, CreateContext, CredentialBackend, Retirement, SetOutcome, Staged,
};
pub use super::error::RotationError;
use super::event::{RotationRequest, RotationStep, Step};
use super::policy::PasswordPolicy;
use super::store::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretDescription, SecretStore, StoreError, VersionRef,
};
use crate::consumers::{ConsumerReader, NoConsumers, Watch};
use crate::notify::{Notifier, Silent};
use crate::secret::SecretString;
use crate::telemetry::{self, AuditRecord};
use serde::Serialize;
use tracing::info;

/// What a step or validation did, returned to the invoker and logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub secret_id: String,
    pub step: &'static str,
    /// `created`, `alreadyCreated`, `set`, `alreadySet`, `tested`, `finished`, `alreadyCurrent`,
    /// `valid`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A secret's name from its id: an ARN's name without the random suffix Secrets Manager adds
/// (`…:secret:macro-ai/dev/database-AbCdEf` → `macro-ai/dev/database`), so the metric of one
/// secret keeps one dimension value whichever way the event named it.
fn secret_name(id: &str) -> &str {
    match id
        .strip_prefix("arn:")
        .and_then(|_| id.split_once(":secret:"))
    {
        Some((_, name)) => name
            .rsplit_once('-')
            .filter(|(_, suffix)| {
                suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
            })
            .map_or(name, |(base, _)| base),
        None => id,
    }
}

/// Runs the rotation protocol for one backend, and (with a [`Watch`]) waits for the services
/// that consume the secret before it retires a credential they may hold.
pub struct Rotator<S, B, C = NoConsumers, N = Silent> {
    pub(super) store: S,
    pub(super) backend: B,
    pub(super) passwords: PasswordPolicy,
    pub(super) consumers: Option<Watch<C, N>>,
}

impl<S: SecretStore, B: CredentialBackend> Rotator<S, B> {
    pub fn new(store: S, backend: B, passwords: PasswordPolicy) -> Self {
        Self {
            store,
            backend,
            passwords,
            consumers: None,
        }
    }
}

impl<S: SecretStore, B: CredentialBackend, C: ConsumerReader, N: Notifier> Rotator<S, B, C, N> {
    /// The backend it rotates (tests read the fake's state through it).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The store it rotates in (tests read the fake's state through it).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The same rotator, watching the consumers `watch` finds (`None`: none are watched).
    pub fn watching<C2: ConsumerReader, N2: Notifier>(
        self,
        watch: Option<Watch<C2, N2>>,
    ) -> Rotator<S, B, C2, N2> {
        Rotator {
            store: self.store,
            backend: self.backend,
            passwords: self.passwords,
            consumers: watch,
        }
    }

    /// Handles a raw invocation payload.
    pub async fn handle_value(&self, event: &serde_json::Value) -> Result<Report, RotationError> {
        let request = RotationRequest::from_value(event)?;
        self.handle(&request).await
    }

    /// One request, counted in the `Rotations` metric by secret and outcome.
    pub async fn handle(&self, request: &RotationRequest) -> Result<Report, RotationError> {
        let (secret, result) = match request {
            RotationRequest::Rotate(step) => (&step.secret_id, self.rotate(step).await),
            RotationRequest::Validate { secret_id } => (secret_id, self.validate(secret_id).await),
        };
        let outcome = match (&result, request) {
            (Ok(report), _) if report.outcome == "finished" => Some("rotated"),
            (Ok(report), _) if report.outcome == "valid" => Some("valid"),
            (Err(_), RotationRequest::Validate { .. }) => Some("invalid"),
            (Err(_), RotationRequest::Rotate(_)) => Some("failed"),
            // The other steps' successes are not the end of a rotation.
            (Ok(_), _) => None,
        };
        if let Some(outcome) = outcome {
            telemetry::emit(
                self.backend.name(),
                telemetry::Metric::Rotations {
                    secret: secret_name(secret),
                    outcome,
                },
                1,
            );
        }
        result
    }

    /// One step of a rotation, after the guards every step shares.
    pub async fn rotate(&self, r: &RotationStep) -> Result<Report, RotationError> {
        let step = r.step.as_str();
        let store_err = |source| RotationError::Store {
            step,
            secret: r.secret_id.clone(),
            source,
        };
        let description = self.store.describe(&r.secret_id).await.map_err(store_err)?;
        if !description.rotation_enabled {
            return Err(RotationError::RotationDisabled(r.secret_id.clone()));
        }
        let stages =
            description
                .stages_of(&r.token)
                .ok_or_else(|| RotationError::UnknownVersion {
                    secret: r.secret_id.clone(),
                    token: r.token.clone(),
                })?;
        let has = |label: &str| stages.iter().any(|s| s == label);
        if has(AWSCURRENT) {
            // A retry after AWSCURRENT already moved. A retried finishSecret still finishes what
            // may have failed after the move: it clears a leftover AWSPENDING label (so the next
            // rotation does not see one in progress) and runs the backend's clean-up again.
            if r.step == Step::Finish {
                if has(AWSPENDING) {
                    self.store
                        .move_stage(&r.secret_id, AWSPENDING, None, Some(&r.token))
                        .await
                        .map_err(store_err)?;
                }
                if description.current_since().is_none() {
                    let previous = description.version_with(AWSPREVIOUS);
                    self.record_current_since(r, previous).await;
                }
                let previous = description.version_with(AWSPREVIOUS);
                if self.clean_up_may_retire(r, &description).await? {
                    self.clean_up(r, &description, previous).await?;
                }
            }
            info!(secret_id = %r.secret_id, step, version = %r.token,
                  "version is already AWSCURRENT: nothing to do");
            return Ok(self.report(r, "alreadyCurrent"));
        }
        if !has(AWSPENDING) {
            return Err(RotationError::NotPending {
                secret: r.secret_id.clone(),
                token: r.token.clone(),
                stages: if stages.is_empty() {
                    "none".into()
                } else {
                    stages.join(", ")
                },
            });
        }
        match r.step {
            Step::Create => self.create(r, &description).await,
            Step::Set => self.set(r, &description).await,
            Step::Test => self.test(r).await,
            Step::Finish => self.finish(r, &description).await,
        }
    }

    pub(super) async fn create(
        &self,
        r: &RotationStep,
        description: &SecretDescription,
    ) -> Result<Report, RotationError> {
        let step = r.step.as_str();
        let current = self
            .required(r, VersionRef::Stage(AWSCURRENT), AWSCURRENT)
            .await?;
        let pending_ref = VersionRef::Version {
            id: &r.token,
            stage: AWSPENDING,
        };
        if self
            .store
            .get(&r.secret_id, pending_ref)
            .await
            .map_err(|source| self.store_error(r, source))?
            .is_some()
        {
            info!(secret_id = %r.secret_id, step, version = %r.token,
                  "AWSPENDING value already exists for this version: nothing to do");
            return Ok(self.report(r, "alreadyCreated"));
        }
        let ctx = CreateContext {
            store: &self.store,
            secret_id: &r.secret_id,
            secret_arn: description.arn.as_deref().unwrap_or(&r.secret_id),
            token: &r.token,
            passwords: &self.passwords,
            rotation_interval_days: description.rotation_interval_days,
            current_version: description.version_with(AWSCURRENT),
            recorded_since: description.current_since(),
        };
        let pending = self
            .backend
            .create_pending(&ctx, &current)
            .await
            .map_err(|source| self.backend_error(r, source))?;
        if self.retirement(r, &current)? == Retirement::NoOverlap {
            self.warn_no_overlap(r, description).await;
        }
        self.store
            .put_pending(
                &r.secret_id,
                &r.token,
                &pending,
                r.rotation_token.as_deref(),
            )
            .await
            .map_err(|source| self.store_error(r, source))?;
        self.audit(
            r,
            "new credential stored as AWSPENDING",
            "AWSCURRENT only",
            "AWSPENDING staged",
        );
        Ok(self.report(r, "created"))
    }

    pub(super) async fn set(
        &self,
        r: &RotationStep,
        description: &SecretDescription,
    ) -> Result<Report, RotationError> {
        let mut staged = self.staged(r).await?;
        if let Some(arn) = &description.arn {
            staged.secret_arn = arn.clone();
        }
        if self.retirement(r, &staged.current)? == Retirement::AtSet {
            self.guard(r, description).await?;
        }
        match self
            .backend
            .set_pending(&self.store, &staged)
            .await
            .map_err(|source| self.backend_error(r, source))?
        {
            SetOutcome::AlreadyInPlace => {
                info!(secret_id = %r.secret_id, step = r.step.as_str(), version = %r.token,
                      "AWSPENDING credential already works: nothing to do");
                Ok(self.report(r, "alreadySet"))
            }
            SetOutcome::Installed { change } => {
                self.audit(r, &change, "AWSPENDING refused", "AWSPENDING accepted");
                Ok(self.report(r, "set"))
            }
        }
    }

    pub(super) async fn test(&self, r: &RotationStep) -> Result<Report, RotationError> {
        let pending = self.pending(r).await?;
        self.backend
            .test_pending(&pending)
            .await
            .map_err(|source| self.backend_error(r, source))?;
        info!(secret_id = %r.secret_id, step = r.step.as_str(), version = %r.token,
              backend = self.backend.name(), "AWSPENDING credential works");
        Ok(self.report(r, "tested"))
    }

    pub(super) async fn finish(
        &self,
        r: &RotationStep,
        description: &SecretDescription,
    ) -> Result<Report, RotationError> {
        let previous_current = description.version_with(AWSCURRENT);
        self.backend
            .before_promote(&self.store, &r.secret_id, &r.token)
            .await
            .map_err(|source| self.backend_error(r, source))?;
        if self.consumers.is_some() {
            let current = self
                .required(r, VersionRef::Stage(AWSCURRENT), AWSCURRENT)
                .await?;
            if self.retirement(r, &current)? == Retirement::AtFinish {
                self.guard(r, description).await?;
            }
        }
        self.store
            .move_stage(&r.secret_id, AWSCURRENT, Some(&r.token), previous_current)
            .await
            .map_err(|source| self.store_error(r, source))?;
        self.record_current_since(r, previous_current).await;
        // Secrets Manager clears AWSPENDING itself once the rotation ends; clearing it here too
        // makes a rotation driven by hand (or an emulator) end in the same state.
        self.store
            .move_stage(&r.secret_id, AWSPENDING, None, Some(&r.token))
            .await
            .map_err(|source| self.store_error(r, source))?;
        let before = format!("AWSCURRENT on {}", previous_current.unwrap_or("no version"));
        let after = format!("AWSCURRENT on {}", r.token);
        self.audit(r, "AWSCURRENT moved to the new version", &before, &after);
        self.clean_up(r, description, previous_current).await?;
        Ok(self.report(r, "finished"))
    }

    pub(super) fn retirement(
        &self,
        r: &RotationStep,
        current: &SecretString,
    ) -> Result<Retirement, RotationError> {
        self.backend
            .retirement(current)
            .map_err(|source| self.backend_error(r, source))
    }

    /// Validation: the current credential logs in. Changes nothing.
    pub async fn validate(&self, secret_id: &str) -> Result<Report, RotationError> {
        let step = "validate";
        let current = self
            .store
            .get(secret_id, VersionRef::Stage(AWSCURRENT))
            .await
            .map_err(|source| RotationError::Store {
                step,
                secret: secret_id.to_string(),
                source,
            })?
            .ok_or_else(|| RotationError::MissingValue {
                secret: secret_id.to_string(),
                stage: AWSCURRENT,
            })?;
        let result = self.backend.validate_current(&current).await;
        result.map_err(|source| RotationError::Backend {
            step,
            secret: secret_id.to_string(),
            source,
        })?;
        info!(
            secret_id,
            backend = self.backend.name(),
            "AWSCURRENT credential is valid"
        );
        Ok(Report {
            secret_id: secret_id.to_string(),
            step,
            outcome: "valid",
            version: None,
        })
    }

    pub(super) async fn staged(&self, r: &RotationStep) -> Result<Staged, RotationError> {
        let current = self
            .required(r, VersionRef::Stage(AWSCURRENT), AWSCURRENT)
            .await?;
        let pending = self.pending(r).await?;
        Ok(Staged {
            secret_id: r.secret_id.clone(),
            secret_arn: r.secret_id.clone(),
            token: r.token.clone(),
            current,
            pending,
        })
    }

    /// This rotation's AWSPENDING value (its version, with the label still on it).
    pub(super) async fn pending(&self, r: &RotationStep) -> Result<SecretString, RotationError> {
        let version = VersionRef::Version {
            id: &r.token,
            stage: AWSPENDING,
        };
        self.required(r, version, AWSPENDING).await
    }

    pub(super) async fn required(
        &self,
        r: &RotationStep,
        version: VersionRef<'_>,
        stage: &'static str,
    ) -> Result<SecretString, RotationError> {
        self.store
            .get(&r.secret_id, version)
            .await
            .map_err(|source| self.store_error(r, source))?
            .ok_or_else(|| RotationError::MissingValue {
                secret: r.secret_id.clone(),
                stage,
            })
    }

    pub(super) fn store_error(&self, r: &RotationStep, source: StoreError) -> RotationError {
        RotationError::Store {
            step: r.step.as_str(),
            secret: r.secret_id.clone(),
            source,
        }
    }

    pub(super) fn backend_error(&self, r: &RotationStep, source: BackendError) -> RotationError {
        RotationError::Backend {
            step: r.step.as_str(),
            secret: r.secret_id.clone(),
            source,
        }
    }

    pub(super) fn audit(&self, r: &RotationStep, what: &str, before: &str, after: &str) {
        telemetry::audit(&AuditRecord {
            service: self.backend.name(),
            action: r.step.as_str(),
            target: &r.secret_id,
            what,
            why: "Secrets Manager rotation",
            before,
            after,
        });
    }

    pub(super) fn report(&self, r: &RotationStep, outcome: &'static str) -> Report {
        Report {
            secret_id: r.secret_id.clone(),
            step: r.step.as_str(),
            outcome,
            version: Some(r.token.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The protocol on in-memory fakes: no stack, milliseconds. The same steps against Secrets
    //! Manager (moto), PostgreSQL and Redis are in `tests/`.

    use super::*;
    use crate::fakes::{MemoryCredential, MemorySecretStore};
    use crate::rotation::Step;

    const SECRET: &str = "macro-ai/dev/database";

    fn rotator(
        store: MemorySecretStore,
        target: MemoryCredential,
    ) -> Rotator<MemorySecretStore, MemoryCredential> {
        Rotator::new(store, target, PasswordPolicy::default())
    }

    fn step(step: Step, token: &str) -> RotationStep {
        RotationStep {
            step,
            secret_id: SECRET.into(),
            token: token.into(),
            rotation_token: None,
        }
    }

    async fn outcomes(
        r: &Rotator<MemorySecretStore, MemoryCredential>,
        token: &str,
    ) -> Vec<&'static str> {
        let mut out = vec![];
        for s in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            out.push(r.rotate(&step(s, token)).await.expect("step").outcome);
        }
        out
    }

    #[tokio::test]
    async fn given_a_rotation_then_the_new_password_is_current_and_the_one_before_last_is_retired()
    {
        let r = rotator(
            MemorySecretStore::default().with_secret(SECRET, "first"),
            MemoryCredential::accepting(&["first"]),
        );
        r.store.start_rotation(SECRET, "t1");
        assert_eq!(
            outcomes(&r, "t1").await,
            ["created", "set", "tested", "finished"]
        );
        let second = r.store.value(SECRET, AWSCURRENT).expect("current");
        assert_ne!(second, "first");
        assert_eq!(r.store.value(SECRET, AWSPREVIOUS).as_deref(), Some("first"));
        assert_eq!(r.store.value(SECRET, AWSPENDING), None);
        // AWSPREVIOUS still logs in until the next rotation retires it.
        assert!(r.backend.accepts("first") && r.backend.accepts(&second));
        r.store.start_rotation(SECRET, "t2");
        outcomes(&r, "t2").await;
        let third = r.store.value(SECRET, AWSCURRENT).expect("current");
        assert!(
            !r.backend.accepts("first"),
            "the password two rotations old is refused"
        );
        assert!(r.backend.accepts(&second) && r.backend.accepts(&third));
        assert_eq!(r.validate(SECRET).await.expect("valid").outcome, "valid");
    }

    #[tokio::test]
    async fn given_every_step_delivered_twice_then_the_second_changes_nothing() {
        let r = rotator(
            MemorySecretStore::default().with_secret(SECRET, "first"),
            MemoryCredential::accepting(&["first"]),
        );
        r.store.start_rotation(SECRET, "t1");
        let mut seen = vec![];
        for s in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            let first = r.rotate(&step(s, "t1")).await.expect("step").outcome;
            let again = r.rotate(&step(s, "t1")).await.expect("retry").outcome;
            seen.push((first, again));
        }
        assert_eq!(
            seen,
            [
                ("created", "alreadyCreated"),
                ("set", "alreadySet"),
                ("tested", "tested"),
                ("finished", "alreadyCurrent"),
            ]
        );
    }

    #[tokio::test]
    async fn given_a_store_fault_at_each_write_then_the_retry_completes_the_rotation() {
        for operation in [
            "GetRandomPassword",
            "PutSecretValue",
            "UpdateSecretVersionStage",
        ] {
            let r = rotator(
                MemorySecretStore::default().with_secret(SECRET, "first"),
                MemoryCredential::accepting(&["first"]),
            );
            r.store.start_rotation(SECRET, "t1");
            r.store.fail(operation);
            let mut failed = None;
            for s in [Step::Create, Step::Set, Step::Test, Step::Finish] {
                if let Err(e) = r.rotate(&step(s, "t1")).await {
                    assert!(e.is_retryable(), "{operation}: {e}");
                    failed = Some(s);
                    break;
                }
            }
            let failed = failed.unwrap_or_else(|| panic!("{operation} never failed"));
            assert!(
                r.backend.accepts("first"),
                "{operation}: AWSCURRENT still logs in"
            );
            r.store.heal(operation);
            let from = [Step::Create, Step::Set, Step::Test, Step::Finish]
                .into_iter()
                .skip_while(|s| *s != failed);
            for s in from {
                r.rotate(&step(s, "t1")).await.expect("retried step");
            }
            let current = r.store.value(SECRET, AWSCURRENT).expect("current");
            assert!(
                current != "first" && r.backend.accepts(&current),
                "{operation}"
            );
        }
    }

    #[tokio::test]
    async fn given_a_token_that_is_not_pending_or_a_target_that_refuses_current_then_nothing_changes()
     {
        let r = rotator(
            MemorySecretStore::default().with_secret(SECRET, "first"),
            MemoryCredential::accepting(&["someone-else"]),
        );
        let err = r.rotate(&step(Step::Create, "t9")).await.unwrap_err();
        assert!(matches!(err, RotationError::UnknownVersion { .. }), "{err}");
        r.store.start_rotation(SECRET, "t1");
        r.rotate(&step(Step::Create, "t1")).await.expect("create");
        // The secret's AWSCURRENT does not log in: setSecret refuses to act with it.
        let err = r.rotate(&step(Step::Set, "t1")).await.unwrap_err();
        assert_eq!(err.error_type(), "LoginRefused", "{err}");
        assert_eq!(r.store.value(SECRET, AWSCURRENT).as_deref(), Some("first"));
        assert!(
            !r.backend
                .accepts(&r.store.value(SECRET, AWSPENDING).expect("pending"))
        );
    }
}

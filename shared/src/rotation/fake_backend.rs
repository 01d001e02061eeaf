//! A credential target in memory, beside the `CredentialBackend` port (`backend.rs`).

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::fakes::lock;
use crate::rotation::{
    BackendError, BackendErrorKind, CreateContext, CredentialBackend, Finished, Retirement,
    SecretStore, SetOutcome, Staged, VersionRef,
};
use crate::secret::SecretString;

/// A credential target in memory (a database that accepts passwords): the secret's value is
/// the password itself. It accepts what was set on it and forgets what finishSecret retires,
/// so a test can assert "the old password is refused, AWSCURRENT logs in".
#[derive(Debug)]
pub struct MemoryCredential {
    accepted: Mutex<BTreeSet<String>>,
    retirement: Retirement,
}

impl MemoryCredential {
    /// A target that accepts `passwords`, and retires the password before AWSPREVIOUS's at
    /// finishSecret.
    pub fn accepting(passwords: &[&str]) -> Self {
        Self {
            accepted: Mutex::new(passwords.iter().map(|p| p.to_string()).collect()),
            retirement: Retirement::AtFinish,
        }
    }

    /// The same target, declaring another retirement step (what the rotator guards).
    pub fn retiring(self, retirement: Retirement) -> Self {
        Self { retirement, ..self }
    }

    pub fn accepts(&self, password: &str) -> bool {
        lock(&self.accepted).contains(password)
    }
}

fn refused(what: &str) -> BackendError {
    BackendError::new(
        BackendErrorKind::LoginRefused,
        format!("the {what} password is refused"),
    )
}

impl CredentialBackend for MemoryCredential {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn retirement(&self, _current: &SecretString) -> Result<Retirement, BackendError> {
        Ok(self.retirement)
    }

    async fn create_pending<S: SecretStore>(
        &self,
        ctx: &CreateContext<'_, S>,
        _current: &SecretString,
    ) -> Result<SecretString, BackendError> {
        ctx.new_password().await
    }

    async fn set_pending<S: SecretStore>(
        &self,
        _store: &S,
        staged: &Staged,
    ) -> Result<SetOutcome, BackendError> {
        if self.accepts(staged.pending.expose()) {
            return Ok(SetOutcome::AlreadyInPlace);
        }
        // Possession first: only a holder of the current password may set a new one.
        if !self.accepts(staged.current.expose()) {
            return Err(refused("current"));
        }
        lock(&self.accepted).insert(staged.pending.expose().to_string());
        Ok(SetOutcome::Installed {
            change: "password added".into(),
        })
    }

    async fn test_pending(&self, pending: &SecretString) -> Result<(), BackendError> {
        self.accepts(pending.expose())
            .then_some(())
            .ok_or_else(|| refused("pending"))
    }

    async fn validate_current(&self, current: &SecretString) -> Result<(), BackendError> {
        self.accepts(current.expose())
            .then_some(())
            .ok_or_else(|| refused("current"))
    }

    async fn after_finish<S: SecretStore>(
        &self,
        store: &S,
        finished: &Finished<'_>,
    ) -> Result<Option<String>, BackendError> {
        let mut keep = BTreeSet::new();
        for id in std::iter::once(finished.current).chain(finished.previous) {
            if let Some(v) = store.get(finished.secret_id, VersionRef::Id(id)).await? {
                keep.insert(v.expose().to_string());
            }
        }
        let mut accepted = lock(&self.accepted);
        let before = accepted.len();
        accepted.retain(|p| keep.contains(p));
        Ok((accepted.len() < before).then(|| "retired passwords removed".to_string()))
    }
}

//! The Secrets Manager rotation protocol, written once. A [`Rotator`] runs the four steps
//! (createSecret, setSecret, testSecret, finishSecret) and the daily validation against two
//! ports: a [`SecretStore`] (Secrets Manager) and a [`CredentialBackend`] (PostgreSQL, Redis,
//! OpenAI) that can make a new credential, install it, and prove it works.
//!
//! Every step is safe to run twice and to resume after a fault: each one first reads where the
//! secret's versions stand and only does what is still missing.

mod backend;
mod error;
mod event;
#[cfg(any(test, feature = "fakes"))]
pub mod fake_backend;
#[cfg(any(test, feature = "fakes"))]
pub mod fake_store;
mod notices;
mod policy;
mod retire;
mod runner;
mod store;

pub use backend::{
    BackendError, BackendErrorKind, CreateContext, CredentialBackend, Finished, Retirement,
    SetOutcome, Staged, prove_possession, prove_with_previous, secret_arn,
};
pub use runner::{Report, RotationError, Rotator};
pub use store::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, CURRENT_SINCE_TAG, CurrentSince, SecretDescription,
    SecretStore, StoreError, StoreErrorKind, VersionRef,
};

pub use event::{RotationRequest, RotationStep, Step};
pub use policy::PasswordPolicy;

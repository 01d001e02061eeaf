//! Alarm rollback: what an on-call engineer would do when a release turns bad, done safely. A
//! release is tracked from ECS deployment events; an alarm of a service whose current release is
//! recent and not yet known-good rolls it back to the last known-good task definition, once.
//!
//! Known-good is promoted lazily: a completed release becomes known-good only after it has run
//! `ROLLBACK_WINDOW_MINUTES` past its completion (otherwise every release would be known-good
//! the moment it finished rolling out, and the alarm five minutes later — the usual case —
//! could never roll it back).
//!
//! Exactly one rollback per burst: the decision commits to a ledger with a conditional write
//! (optimistic concurrency on a version number) *before* calling UpdateService, so concurrent
//! invocations and redelivered messages lose the race and act on nothing.

mod config;
mod decision;
mod event;
#[cfg(any(test, feature = "fakes"))]
pub mod fake_ledger;
mod notices;
mod ports;
mod release;
mod runner;

pub use crate::ledger::LedgerError;
pub use config::RollbackConfig;
pub use decision::{Verdict, decide, known_good};
pub use ports::{LedgerEntry, ReleaseFleet, RollbackLedger, RollbackRecord};
pub use release::{
    ECS_ROLLBACK_TAG, KNOWN_GOOD_AT_TAG, KNOWN_GOOD_TAG, LAST_ROLLBACK_TAG, RELEASE_COMPLETED_TAG,
    RELEASE_STARTED_TAG, RELEASE_TAG, ServiceRelease, short_name,
};
pub use runner::{Outcome, RollbackError, Rollbacker};

pub use event::{AlarmNotification, DeploymentEvent, Input, InvalidEvent, parse};

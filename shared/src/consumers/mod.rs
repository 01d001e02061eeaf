//! The consumers of a secret: the ECS services whose task definitions inject it (ECS reads a
//! secret once, when a container starts). Here they are found (`reference.rs`, `discovery.rs`),
//! redeployed when AWSCURRENT changes (`refresh.rs`, from `event.rs`), and waited for before a
//! rotation retires a credential they may still hold (`guard.rs`); the decisions are pure
//! (`decision.rs`), the ports small (`ports.rs`).

mod decision;
mod discovery;
mod event;
mod guard;
mod notices;
mod ports;
mod reference;
mod refresh;
#[cfg(test)]
mod scenarios;

pub use decision::{Plan, Trigger, is_production, plan, stale};
pub use discovery::{Consumer, find};
pub use event::{RefreshRequest, parse};
pub use guard::{Blocker, GuardError, Watch, WatchConfig, identity};
pub use ports::{
    ConsumerFleet, ConsumerReader, ConsumerService, Deployment, DeploymentStatus, NoConsumers,
};
pub use reference::{Follows, SecretIdentity};
pub use refresh::{RefreshConfig, RefreshError, RefreshReport, Refresher, ServiceOutcome};

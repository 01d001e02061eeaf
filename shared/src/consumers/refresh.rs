//! The refresh: when AWSCURRENT of a secret moves, every service that injects it and runs tasks
//! gets a new deployment (its new tasks read the new value), once per change; by hand, always;
//! and on a schedule, whatever still runs from before a change (a lost event, a service that was
//! at 0 when it happened and came back with its old deployment).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use tracing::{info, warn};

use super::decision::{self, Plan, Trigger};
use super::discovery;
use super::event::RefreshRequest;
use super::guard::{self, GuardError};
use super::notices;
use super::ports::ConsumerFleet;
use crate::capacity::FleetError;
use crate::error::report;
use crate::ledger::{Claim, LedgerError, NotificationLedger, Owner, claim_waiting};
use crate::notify::Notifier;
use crate::rotation::{
    AWSCURRENT, AWSPENDING, CurrentSince, SecretDescription, SecretStore, StoreError,
    StoreErrorKind,
};
use crate::telemetry::{self, AuditRecord};

/// The function's name in logs, metrics and notices.
const FUNCTION: &str = "refresh-consumers";

/// How refresh-consumers is deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshConfig {
    /// The clusters whose services may consume secrets (`CONSUMER_CLUSTERS`).
    pub clusters: Vec<String>,
    /// Only secrets whose name starts with this are refreshed (`SECRET_NAME_PREFIX`, the
    /// template's `macro-ai/<env>/`); `None`: any.
    pub secret_prefix: Option<String>,
    /// Whether production services are redeployed (`REFRESH_PRODUCTION`, default true).
    pub refresh_production: bool,
    /// The secrets a reconciliation checks (`RECONCILE_SECRETS`).
    pub reconcile: Vec<String>,
    /// How long a delivery waits for another invocation's claim (`DEDUPE_WAIT_SECONDS`).
    pub claim_wait: Duration,
    /// How long a claim is one invocation's at least (`DEDUPE_LEASE_SECONDS`; never less than to
    /// the invocation's deadline).
    pub claim_lease: Duration,
}

/// What happened to one consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceOutcome {
    pub service: String,
    /// `redeployed`, `would-redeploy`, `skipped` or `failed`.
    pub action: &'static str,
    pub why: String,
}

/// What a request did for one secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshReport {
    pub secret: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `refreshed` (every consumer handled), `duplicate`, `ignored`, `unknown-change`, `dry-run`.
    pub outcome: &'static str,
    pub why: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceOutcome>,
}

/// Why a refresh failed (nothing, or not everything, was redeployed).
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(
        "secret `{secret}` is not this deployment's (its name does not start with `{prefix}`, \
         SECRET_NAME_PREFIX): use its own environment's refresh-consumers"
    )]
    NotManaged { secret: String, prefix: String },
    #[error("secret `{0}` could not be read")]
    Store(String, #[source] StoreError),
    #[error(
        "version `{version}` of `{secret}` is not AWSCURRENT yet as Secrets Manager reads it: \
         retried later"
    )]
    NotYetCurrent { secret: String, version: String },
    #[error(
        "`{0}` is being refreshed by another invocation (its claim has not run out): retried later"
    )]
    InProgress(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Guard(#[from] GuardError),
    #[error("the services consuming `{secret}` could not be read")]
    Fleet {
        secret: String,
        #[source]
        source: FleetError,
    },
    #[error(
        "{} of {} consumer(s) of `{secret}` could not be redeployed: {}",
        failed.len(), failed.len() + done, failed.join("; ")
    )]
    Partial {
        secret: String,
        done: usize,
        failed: Vec<String>,
    },
}

impl RefreshError {
    /// A stable name for the kind of failure.
    pub fn error_type(&self) -> &'static str {
        match self {
            RefreshError::NotManaged { .. } => "SecretNotManaged",
            RefreshError::Store(_, e) if e.kind == StoreErrorKind::NotFound => "SecretNotFound",
            RefreshError::Store(..) => "SecretStoreError",
            RefreshError::NotYetCurrent { .. } => "NotYetCurrent",
            RefreshError::InProgress(_) => "RefreshInProgress",
            RefreshError::Ledger(_) => "LedgerError",
            RefreshError::Guard(_) => "SecretUnnamed",
            RefreshError::Fleet { .. } => "ConsumersUnavailable",
            RefreshError::Partial { .. } => "RefreshFailed",
        }
    }
}

/// How a refresh of one secret was asked for.
struct Ask<'a> {
    secret: &'a str,
    trigger: Trigger,
    /// The event's version and time, for a label event.
    event: Option<(&'a str, Option<Timestamp>)>,
    dry_run: bool,
    /// A reconciliation: nothing recorded, nothing claimed.
    reconcile: bool,
}

/// Runs refresh-consumers.
pub struct Refresher<S, F, L, N> {
    store: S,
    fleet: F,
    ledger: L,
    notifier: N,
    config: RefreshConfig,
}

impl<S: SecretStore, F: ConsumerFleet, L: NotificationLedger, N: Notifier> Refresher<S, F, L, N> {
    pub fn new(store: S, fleet: F, ledger: L, notifier: N, config: RefreshConfig) -> Self {
        Self {
            store,
            fleet,
            ledger,
            notifier,
            config,
        }
    }

    /// One request: a report per secret it concerned, and the secrets that failed (after the
    /// others were done).
    pub async fn handle(
        &self,
        request: RefreshRequest,
        now: Timestamp,
    ) -> (Vec<RefreshReport>, Vec<(String, RefreshError)>) {
        let mut reports = Vec::new();
        let mut failures = Vec::new();
        let asks: Vec<Ask<'_>> = match &request {
            RefreshRequest::LabelUpdated {
                secret,
                label,
                version,
                at,
            } => {
                if label != AWSCURRENT {
                    info!(secret = %secret, label = %label, "a label other than AWSCURRENT moved: nothing to refresh");
                    reports.push(RefreshReport {
                        secret: secret.clone(),
                        version: Some(version.clone()),
                        outcome: "ignored",
                        why: format!("the label {label} moved; consumers read AWSCURRENT"),
                        services: vec![],
                    });
                    return (reports, failures);
                }
                vec![Ask {
                    secret,
                    trigger: Trigger::Event,
                    event: Some((version, *at)),
                    dry_run: false,
                    reconcile: false,
                }]
            }
            RefreshRequest::Manual { secret, dry_run } => vec![Ask {
                secret,
                trigger: Trigger::Manual,
                event: None,
                dry_run: *dry_run,
                reconcile: false,
            }],
            RefreshRequest::Reconcile { dry_run } => self
                .config
                .reconcile
                .iter()
                .map(|secret| Ask {
                    secret,
                    trigger: Trigger::Event,
                    event: None,
                    dry_run: *dry_run,
                    reconcile: true,
                })
                .collect(),
        };
        for ask in asks {
            match self.refresh(&ask, now).await {
                Ok(report) => reports.push(report),
                Err(e) => {
                    warn!(secret = %ask.secret, error = %report(&e), "refresh failed");
                    failures.push((ask.secret.to_string(), e));
                }
            }
        }
        (reports, failures)
    }

    async fn refresh(&self, ask: &Ask<'_>, now: Timestamp) -> Result<RefreshReport, RefreshError> {
        let description = self
            .store
            .describe(ask.secret)
            .await
            .map_err(|e| RefreshError::Store(ask.secret.to_string(), e))?;
        let identity = guard::identity(&description)?;
        if let Some(prefix) = &self.config.secret_prefix
            && !identity.name.starts_with(prefix.as_str())
        {
            return Err(RefreshError::NotManaged {
                secret: identity.name,
                prefix: prefix.clone(),
            });
        }
        let Some(current) = description.version_with(AWSCURRENT).map(str::to_string) else {
            return Err(RefreshError::NotYetCurrent {
                secret: identity.name,
                version: "(none)".into(),
            });
        };
        let mut superseded = None;
        if let Some((version, at)) = ask.event
            && version != current
        {
            if not_yet_visible(&description, version, at, now) {
                return Err(RefreshError::NotYetCurrent {
                    secret: identity.name,
                    version: version.to_string(),
                });
            }
            // A late event of a version since replaced: the refresh delivers AWSCURRENT, so it is
            // the current version's refresh (done once, whichever event asks).
            superseded = Some(version.to_string());
        }
        // One refresh per move of AWSCURRENT: the version it moved to and the one it left (a
        // version made current again later, a rollback, is another move).
        let key = format!(
            "refresh#{}#{current}#{}",
            identity.arn,
            description
                .version_with(crate::rotation::AWSPREVIOUS)
                .unwrap_or("none")
        );
        let claimed = ask.trigger == Trigger::Event && !ask.reconcile && !ask.dry_run;
        let owner = Owner::of_this_invocation(self.config.claim_lease);
        if claimed {
            match claim_waiting(&self.ledger, &key, &owner, self.config.claim_wait).await? {
                Claim::New => {}
                Claim::InProgress => return Err(RefreshError::InProgress(key)),
                Claim::Done => {
                    info!(secret = %identity.name, version = %current, "already refreshed: a redelivery");
                    return Ok(RefreshReport {
                        secret: identity.name,
                        version: Some(current),
                        outcome: "duplicate",
                        why: "this change was already refreshed".into(),
                        services: vec![],
                    });
                }
            }
        }
        let result = self
            .act(ask, &description, &identity, &current, superseded, now)
            .await;
        // A manual refresh claims nothing: its event, arriving later, finds every consumer
        // redeployed since the change and deploys nothing again.
        match &result {
            Ok(_) if claimed => {
                if let Err(e) = self.ledger.finish(&key, &owner).await {
                    warn!(error = %report(&e), "the refresh could not be marked done");
                }
            }
            Err(_) if claimed => {
                if let Err(e) = self.ledger.forget(&key, &owner).await {
                    warn!(error = %report(&e), "the claim could not be given back");
                }
            }
            _ => {}
        }
        result
    }

    async fn act(
        &self,
        ask: &Ask<'_>,
        description: &SecretDescription,
        identity: &super::SecretIdentity,
        current: &str,
        superseded: Option<String>,
        now: Timestamp,
    ) -> Result<RefreshReport, RefreshError> {
        let secret = identity.name.clone();
        let since = match description.current_since() {
            Some(at) => Some(at),
            None if ask.reconcile => {
                return Ok(RefreshReport {
                    secret,
                    version: Some(current.to_string()),
                    outcome: "unknown-change",
                    why: format!(
                        "no record says when version {current} became AWSCURRENT: run \
                         {{\"refresh\": \"{}\"}} once to redeploy its consumers and record it",
                        identity.name
                    ),
                    services: vec![],
                });
            }
            None => {
                // Now is after the move. So is the event's time (whole seconds) plus one, and
                // closer to it, but only a fresh event's time is trusted: a replayed or late one
                // (or one anybody may invoke the function with) could date the change to before
                // deployments that hold an older value.
                let at = match ask.event {
                    Some((_, Some(t)))
                        if superseded.is_none()
                            && t <= now
                            && now.duration_since(t) < SignedDuration::from_secs(60) =>
                    {
                        (t + SignedDuration::from_secs(1)).min(now)
                    }
                    _ => now,
                };
                let since = CurrentSince::new(
                    current,
                    description.version_with(crate::rotation::AWSPREVIOUS),
                    at,
                );
                if !ask.dry_run
                    && let Err(e) = self.store.mark_current_since(&identity.arn, &since).await
                {
                    warn!(secret = %secret, error = %report(&e),
                          "when AWSCURRENT moved could not be recorded: the next rotation will wait for a manual refresh");
                }
                Some(since.at)
            }
        };
        let consumers = discovery::find(&self.fleet, &self.config.clusters, identity)
            .await
            .map_err(|source| RefreshError::Fleet {
                secret: secret.clone(),
                source,
            })?;
        let mut services = Vec::with_capacity(consumers.len());
        let mut failed = Vec::new();
        for consumer in &consumers {
            let name = consumer.service.id.to_string();
            let plan = decision::plan(consumer, since, ask.trigger, self.config.refresh_production);
            let outcome = match plan {
                Plan::Skip(why) => ServiceOutcome {
                    service: name,
                    action: "skipped",
                    why,
                },
                Plan::Redeploy if ask.dry_run => ServiceOutcome {
                    service: name,
                    action: "would-redeploy",
                    why: "its tasks may hold the value before the change".into(),
                },
                Plan::Redeploy => match self.fleet.redeploy(&consumer.service.id).await {
                    Ok(()) => {
                        let why = format!("version {current} of {secret} became AWSCURRENT");
                        telemetry::audit(&AuditRecord {
                            service: FUNCTION,
                            action: "redeploy",
                            target: &name,
                            what: "new deployment forced: its new tasks read the new value",
                            why: &why,
                            before: &format!(
                                "deployment {}",
                                consumer
                                    .service
                                    .primary()
                                    .map_or("(none)", |d| d.id.as_str())
                            ),
                            after: "a new deployment of the same task definition",
                        });
                        ServiceOutcome {
                            service: name,
                            action: "redeployed",
                            why,
                        }
                    }
                    Err(e) => {
                        warn!(service = %name, error = %report(&e), "redeploy failed");
                        failed.push(format!("{name}: {}", report(&e)));
                        ServiceOutcome {
                            service: name,
                            action: "failed",
                            why: report(&e),
                        }
                    }
                },
            };
            telemetry::emit(
                FUNCTION,
                telemetry::Metric::Refreshes {
                    outcome: outcome.action,
                },
                1,
            );
            info!(service = %outcome.service, action = outcome.action, why = %outcome.why, secret = %secret, "consumer");
            services.push(outcome);
        }
        let changed = services
            .iter()
            .any(|s| matches!(s.action, "redeployed" | "failed"));
        if changed || (ask.trigger == Trigger::Manual && !ask.dry_run) {
            self.notifier
                .announce(notices::refreshed(
                    &secret,
                    current,
                    superseded.as_deref(),
                    &services,
                ))
                .await;
        }
        if !failed.is_empty() {
            return Err(RefreshError::Partial {
                secret,
                done: services.len() - failed.len(),
                failed,
            });
        }
        let why = match (&superseded, services.is_empty()) {
            (_, true) => "no service in CONSUMER_CLUSTERS references the secret".to_string(),
            (Some(old), false) => {
                format!("a late event for {old}: the consumers of AWSCURRENT ({current}) handled")
            }
            (None, false) => "every consumer handled".to_string(),
        };
        Ok(RefreshReport {
            secret,
            version: Some(current.to_string()),
            outcome: if ask.dry_run { "dry-run" } else { "refreshed" },
            why,
            services,
        })
    }
}

/// Whether the event's version is the new AWSCURRENT that Secrets Manager does not show yet:
/// still AWSPENDING, or not listed at all by an event less than a minute old (an older one's
/// version was replaced and lost its labels).
fn not_yet_visible(
    description: &SecretDescription,
    version: &str,
    at: Option<Timestamp>,
    now: Timestamp,
) -> bool {
    match description.stages_of(version) {
        Some(stages) => stages.iter().any(|s| s == AWSPENDING),
        None => at.is_none_or(|t| now.duration_since(t) < SignedDuration::from_secs(60)),
    }
}

//! In-memory fakes of every port, beside the real adapters (serverless-rust-demo's
//! `MemoryStore`): each orchestrator's unit tests run on them in milliseconds, without the local
//! stack. They keep state the way the real services do where the orchestrators depend on it
//! (tags, task definitions, versions and staging labels, conditional writes) and can be told to
//! fail an operation. They model no IAM, no throttling and no eventual consistency: the
//! end-to-end tests in `tests/` (moto, PostgreSQL, Redis) cover those.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use crate::capacity::{
    Bounds, Capacity, FleetError, FleetErrorKind, ServiceFleet, ServiceId, ServiceState,
};
use crate::consumers::{
    ConsumerFleet, ConsumerReader, ConsumerService, Deployment, DeploymentStatus,
};
use crate::ledger::{Claim, LedgerError, NotificationLedger, Owner};
use crate::notify::{Notice, Notifier, NotifyError};
use crate::rollback::{LedgerEntry, ReleaseFleet, RollbackLedger, ServiceRelease};
use crate::rotation::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, BackendError, BackendErrorKind, CURRENT_SINCE_TAG,
    CreateContext, CredentialBackend, CurrentSince, Finished, PasswordPolicy, Retirement,
    SecretDescription, SecretStore, SetOutcome, Staged, StoreError, StoreErrorKind, VersionRef,
};
use crate::secret::SecretString;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already; the data is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn injected(operation: &'static str) -> crate::error::BoxError {
    format!("{operation} failed (injected by the fake)").into()
}

/// One ECS service with its scalable target and its release, as ECS and Application Auto
/// Scaling would report them.
#[derive(Debug, Clone)]
struct FakeService {
    state: ServiceState,
    task_definition: String,
    /// Newest first: the PRIMARY one, then ACTIVE ones still draining.
    deployments: Vec<Deployment>,
    /// A deployment controller other than ECS.
    controller: Option<String>,
}

/// What runs before each write: another function's write landing between this one's read and
/// write. It gets the fleet (call its methods with `now_or_never`), the operation and service.
pub type WriteHook = Box<dyn FnMut(&MemoryFleet, &'static str, &ServiceId) + Send>;

#[derive(Default)]
struct Fleet {
    services: BTreeMap<(String, String), FakeService>,
    revisions: BTreeMap<String, Vec<String>>,
    /// Task definition → its containers' secret references.
    references: BTreeMap<String, Vec<String>>,
    failing: BTreeSet<&'static str>,
    deploys: Vec<(String, String)>,
    writes: usize,
    deployments_made: usize,
    hook: Option<WriteHook>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("services", &self.services)
            .field("writes", &self.writes)
            .finish_non_exhaustive()
    }
}

/// When the fake's first deployments were made: long before any test's change.
const LONG_AGO: jiff::Timestamp = jiff::Timestamp::constant(1_767_225_600, 0);

/// ECS and Application Auto Scaling in memory: a [`ServiceFleet`], a [`ReleaseFleet`] and a
/// [`ConsumerFleet`]. Every deployment (a rollback's, a forced one) makes a new PRIMARY
/// deployment created now and leaves the one before ACTIVE until [`MemoryFleet::settle`].
#[derive(Debug, Default)]
pub struct MemoryFleet(Mutex<Fleet>);

impl MemoryFleet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service at `desired` tasks (with a scalable target when `bounds` is given),
    /// running `<service>:1` of its family.
    pub fn with_service(
        self,
        cluster: &str,
        service: &str,
        desired: i32,
        bounds: Option<(i32, i32)>,
        tags: &[(&str, &str)],
    ) -> Self {
        let id = ServiceId {
            cluster: cluster.to_string(),
            name: service.to_string(),
            arn: format!("arn:aws:ecs:us-east-1:123456789012:service/{cluster}/{service}"),
        };
        let state = ServiceState {
            id,
            capacity: Capacity {
                desired,
                bounds: bounds.map(|(min, max)| Bounds { min, max }),
            },
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let td = task_definition(service, 1);
        lock(&self.0).services.insert(
            (cluster.to_string(), service.to_string()),
            FakeService {
                state,
                task_definition: td.clone(),
                deployments: vec![Deployment {
                    id: format!("ecs-svc/{service}-0"),
                    status: DeploymentStatus::Primary,
                    task_definition: td,
                    created_at: LONG_AGO,
                    desired,
                }],
                controller: None,
            },
        );
        self
    }

    /// `service` is deployed by `controller` (`CODE_DEPLOY`, `EXTERNAL`): its deployments are task
    /// sets, and UpdateService cannot force a new one.
    pub fn with_controller(self, cluster: &str, service: &str, controller: &str) -> Self {
        if let Some(s) = lock(&self.0)
            .services
            .get_mut(&(cluster.to_string(), service.to_string()))
        {
            s.controller = Some(controller.to_string());
        }
        self
    }

    /// `task_definition`'s containers reference these secrets (`valueFrom`).
    pub fn with_secret_references(self, task_definition: &str, value_from: &[&str]) -> Self {
        lock(&self.0).references.insert(
            task_definition.to_string(),
            value_from.iter().map(|v| v.to_string()).collect(),
        );
        self
    }

    /// Runs `hook` before every later write (one hook at a time; the hook itself writes
    /// without running it again).
    pub fn before_each_write(&self, hook: WriteHook) {
        lock(&self.0).hook = Some(hook);
    }

    /// The service's deployments, newest first.
    pub fn deployments(&self, cluster: &str, service: &str) -> Vec<Deployment> {
        lock(&self.0)
            .services
            .get(&(cluster.to_string(), service.to_string()))
            .map(|s| s.deployments.clone())
            .unwrap_or_default()
    }

    /// The rollout ends: deployments still draining are gone.
    pub fn settle(&self, cluster: &str, service: &str) {
        if let Some(s) = lock(&self.0)
            .services
            .get_mut(&(cluster.to_string(), service.to_string()))
        {
            s.deployments
                .retain(|d| d.status == DeploymentStatus::Primary);
        }
    }

    /// Registers revisions `1..=latest` of `family` and sets `service` to run `current`.
    pub fn with_release(self, cluster: &str, service: &str, latest: u32, current: u32) -> Self {
        {
            let mut fleet = lock(&self.0);
            fleet.revisions.insert(
                service.to_string(),
                (1..=latest).map(|n| task_definition(service, n)).collect(),
            );
            if let Some(s) = fleet
                .services
                .get_mut(&(cluster.to_string(), service.to_string()))
            {
                s.task_definition = task_definition(service, current);
                for d in &mut s.deployments {
                    d.task_definition = s.task_definition.clone();
                }
            }
        }
        self
    }

    /// Every later call of `operation` (`UpdateService`, `TagResource`, …) fails as unavailable.
    pub fn fail(&self, operation: &'static str) {
        lock(&self.0).failing.insert(operation);
    }

    /// `operation` works again.
    pub fn heal(&self, operation: &'static str) {
        lock(&self.0).failing.remove(operation);
    }

    /// The service as it is now.
    pub fn service(&self, cluster: &str, service: &str) -> Option<ServiceState> {
        lock(&self.0)
            .services
            .get(&(cluster.to_string(), service.to_string()))
            .map(|s| s.state.clone())
    }

    /// The task definition the service runs now.
    pub fn running(&self, cluster: &str, service: &str) -> Option<String> {
        lock(&self.0)
            .services
            .get(&(cluster.to_string(), service.to_string()))
            .map(|s| s.task_definition.clone())
    }

    /// Every deployment made through [`ReleaseFleet::deploy`]: (`cluster/service`, task definition).
    pub fn deploys(&self) -> Vec<(String, String)> {
        lock(&self.0).deploys.clone()
    }

    /// How many writes (desired, bounds, tags, deployments) were made.
    pub fn writes(&self) -> usize {
        lock(&self.0).writes
    }

    fn write<T>(
        &self,
        operation: &'static str,
        id: &ServiceId,
        change: impl FnOnce(&mut FakeService) -> T,
    ) -> Result<T, FleetError> {
        let hook = lock(&self.0).hook.take();
        if let Some(mut hook) = hook {
            hook(self, operation, id);
            lock(&self.0).hook.get_or_insert(hook);
        }
        let mut fleet = lock(&self.0);
        if fleet.failing.contains(operation) {
            return Err(fleet_error(
                operation,
                id.to_string(),
                FleetErrorKind::Unavailable,
            ));
        }
        fleet.writes += 1;
        let service = fleet
            .services
            .get_mut(&(id.cluster.clone(), id.name.clone()))
            .ok_or_else(|| fleet_error(operation, id.to_string(), FleetErrorKind::NotFound))?;
        Ok(change(service))
    }

    fn read(
        &self,
        operation: &'static str,
        cluster: &str,
        service: &str,
    ) -> Result<FakeService, FleetError> {
        let fleet = lock(&self.0);
        if fleet.failing.contains(operation) {
            return Err(fleet_error(
                operation,
                format!("{cluster}/{service}"),
                FleetErrorKind::Unavailable,
            ));
        }
        fleet
            .services
            .get(&(cluster.to_string(), service.to_string()))
            .cloned()
            .ok_or_else(|| {
                fleet_error(
                    operation,
                    format!("{cluster}/{service}"),
                    FleetErrorKind::NotFound,
                )
            })
    }
}

/// A new PRIMARY deployment of what `s` runs now, created now; the one before drains.
fn new_deployment(s: &mut FakeService, n: usize) {
    for d in &mut s.deployments {
        if d.status == DeploymentStatus::Primary {
            d.status = DeploymentStatus::Active;
        }
    }
    s.deployments.insert(
        0,
        Deployment {
            id: format!("ecs-svc/{}-{}", s.state.id.name, n + 1),
            status: DeploymentStatus::Primary,
            task_definition: s.task_definition.clone(),
            created_at: jiff::Timestamp::now(),
            desired: s.state.capacity.desired,
        },
    );
}

impl ConsumerReader for MemoryFleet {
    async fn services(&self, cluster: &str) -> Result<Vec<ConsumerService>, FleetError> {
        let fleet = lock(&self.0);
        if fleet.failing.contains("DescribeServices") {
            return Err(fleet_error(
                "DescribeServices",
                cluster.into(),
                FleetErrorKind::Unavailable,
            ));
        }
        Ok(fleet
            .services
            .values()
            .filter(|s| s.state.id.cluster == cluster)
            .map(|s| ConsumerService {
                id: s.state.id.clone(),
                desired: s.state.capacity.desired,
                task_definition: s.task_definition.clone(),
                deployments: s
                    .deployments
                    .iter()
                    .map(|d| Deployment {
                        desired: if d.status == DeploymentStatus::Primary {
                            s.state.capacity.desired
                        } else {
                            d.desired
                        },
                        ..d.clone()
                    })
                    .collect(),
                tags: s.state.tags.clone(),
                controller: s.controller.clone(),
            })
            .collect())
    }

    async fn secret_references(&self, task_definition: &str) -> Result<Vec<String>, FleetError> {
        let fleet = lock(&self.0);
        if fleet.failing.contains("DescribeTaskDefinition") {
            return Err(fleet_error(
                "DescribeTaskDefinition",
                task_definition.into(),
                FleetErrorKind::Unavailable,
            ));
        }
        Ok(fleet
            .references
            .get(task_definition)
            .cloned()
            .unwrap_or_default())
    }
}

impl ConsumerFleet for MemoryFleet {
    async fn redeploy(&self, service: &ServiceId) -> Result<(), FleetError> {
        let n = lock(&self.0).deployments_made;
        let foreign = self.write("UpdateService", service, |s| {
            if s.controller.is_none() {
                new_deployment(s, n);
            }
            s.controller.is_some()
        })?;
        if foreign {
            // What ECS answers (InvalidParameterException) under CODE_DEPLOY or EXTERNAL.
            return Err(fleet_error(
                "UpdateService",
                service.to_string(),
                FleetErrorKind::Other,
            ));
        }
        lock(&self.0).deployments_made += 1;
        Ok(())
    }
}

/// `arn:…:task-definition/<family>:<n>`.
pub fn task_definition(family: &str, revision: u32) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:{revision}")
}

fn fleet_error(operation: &'static str, target: String, kind: FleetErrorKind) -> FleetError {
    FleetError {
        operation,
        target,
        kind,
        source: injected(operation),
    }
}

impl ServiceFleet for MemoryFleet {
    async fn list(&self, cluster: &str) -> Result<Vec<ServiceState>, FleetError> {
        let fleet = lock(&self.0);
        if fleet.failing.contains("ListServices") {
            return Err(fleet_error(
                "ListServices",
                cluster.into(),
                FleetErrorKind::Unavailable,
            ));
        }
        Ok(fleet
            .services
            .values()
            .filter(|s| s.state.id.cluster == cluster)
            .map(|s| s.state.clone())
            .collect())
    }

    async fn get(&self, service: &ServiceId) -> Result<ServiceState, FleetError> {
        self.read("DescribeServices", &service.cluster, &service.name)
            .map(|s| s.state)
    }

    async fn set_desired(&self, service: &ServiceId, desired: i32) -> Result<(), FleetError> {
        self.write("UpdateService", service, |s| {
            s.state.capacity.desired = desired
        })
    }

    async fn set_bounds(&self, service: &ServiceId, bounds: Bounds) -> Result<(), FleetError> {
        self.write("RegisterScalableTarget", service, |s| {
            s.state.capacity.bounds = Some(bounds)
        })
    }

    async fn tag(&self, service: &ServiceId, key: &str, value: &str) -> Result<(), FleetError> {
        self.write("TagResource", service, |s| {
            s.state.tags.insert(key.to_string(), value.to_string());
        })
    }

    async fn untag(&self, service: &ServiceId, key: &str) -> Result<(), FleetError> {
        self.write("UntagResource", service, |s| {
            s.state.tags.remove(key);
        })
    }
}

impl ReleaseFleet for MemoryFleet {
    async fn describe(&self, cluster: &str, service: &str) -> Result<ServiceRelease, FleetError> {
        let s = self.read("DescribeServices", cluster, service)?;
        Ok(ServiceRelease {
            id: s.state.id,
            task_definition: s.task_definition,
            desired: s.state.capacity.desired,
            other_active_deployments: vec![],
            ecs_rolling_back: false,
            ecs_rolls_back_on_failure: false,
            foreign_controller: None,
            tags: s.state.tags,
        })
    }

    async fn revisions(&self, family: &str) -> Result<Vec<String>, FleetError> {
        Ok(lock(&self.0)
            .revisions
            .get(family)
            .cloned()
            .unwrap_or_default())
    }

    async fn deploy(&self, service: &ServiceId, task_definition: &str) -> Result<(), FleetError> {
        let n = lock(&self.0).deployments_made;
        self.write("UpdateService", service, |s| {
            s.task_definition = task_definition.to_string();
            new_deployment(s, n);
        })?;
        let mut fleet = lock(&self.0);
        fleet.deployments_made += 1;
        fleet
            .deploys
            .push((service.to_string(), task_definition.to_string()));
        Ok(())
    }

    async fn tag_many(
        &self,
        service: &ServiceId,
        tags: &[(&str, String)],
    ) -> Result<(), FleetError> {
        self.write("TagResource", service, |s| {
            for (k, v) in tags {
                s.state.tags.insert(k.to_string(), v.clone());
            }
        })
    }
}

/// The rollback ledger in memory, with DynamoDB's conditional write: a commit at a stale
/// version loses.
#[derive(Debug, Default)]
pub struct MemoryRollbackLedger(Mutex<BTreeMap<String, LedgerEntry>>);

impl MemoryRollbackLedger {
    pub fn entry(&self, service: &str) -> LedgerEntry {
        lock(&self.0).get(service).cloned().unwrap_or_default()
    }
}

impl RollbackLedger for MemoryRollbackLedger {
    async fn read(&self, service: &str) -> Result<LedgerEntry, LedgerError> {
        Ok(self.entry(service))
    }

    async fn commit(
        &self,
        service: &str,
        expected_version: u64,
        next: &LedgerEntry,
    ) -> Result<bool, LedgerError> {
        let mut entries = lock(&self.0);
        let at = entries.get(service).map_or(0, |e| e.version);
        if at != expected_version {
            return Ok(false);
        }
        entries.insert(service.to_string(), next.clone());
        Ok(true)
    }
}

/// The notification ledger in memory, with DynamoDB's conditions: a claim is in progress until
/// finished or forgotten by its owner, and taken over once its lease has run out.
#[derive(Debug, Default)]
pub struct MemoryNotificationLedger(Mutex<BTreeMap<String, (Claim, Owner)>>);

fn now_seconds() -> u64 {
    jiff::Timestamp::now().as_second().max(0) as u64
}

fn not_the_owner(operation: &'static str, key: &str) -> LedgerError {
    LedgerError {
        ledger: "notification",
        operation,
        key: key.to_string(),
        source: "the claim is another invocation's (the conditional write failed)".into(),
    }
}

impl NotificationLedger for MemoryNotificationLedger {
    async fn claim(&self, key: &str, owner: &Owner) -> Result<Claim, LedgerError> {
        let mut claims = lock(&self.0);
        match claims.get(key) {
            // A claim whose lease ran out is taken over, as the DynamoDB condition allows.
            Some((Claim::InProgress, held)) if held.until < now_seconds() => {}
            Some((found, _)) => return Ok(*found),
            None => {}
        }
        claims.insert(key.to_string(), (Claim::InProgress, owner.clone()));
        Ok(Claim::New)
    }

    async fn finish(&self, key: &str, owner: &Owner) -> Result<(), LedgerError> {
        let mut claims = lock(&self.0);
        match claims.get_mut(key) {
            Some((claim, held)) if held.id == owner.id => {
                *claim = Claim::Done;
                Ok(())
            }
            _ => Err(not_the_owner("finish", key)),
        }
    }

    async fn forget(&self, key: &str, owner: &Owner) -> Result<(), LedgerError> {
        let mut claims = lock(&self.0);
        match claims.get(key) {
            // Only a claim in progress is given back: a handled notification stays handled.
            Some((Claim::InProgress, held)) if held.id == owner.id => {
                claims.remove(key);
                Ok(())
            }
            _ => Err(not_the_owner("forget", key)),
        }
    }
}

/// A notifier that keeps what it was asked to publish.
#[derive(Debug, Default)]
pub struct RecordingNotifier(Mutex<Vec<Notice>>);

impl RecordingNotifier {
    pub fn sent(&self) -> Vec<Notice> {
        lock(&self.0).clone()
    }
}

impl Notifier for RecordingNotifier {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), NotifyError> {
        lock(&self.0).push(Notice {
            subject: subject.to_string(),
            message: message.to_string(),
        });
        Ok(())
    }
}

#[derive(Debug, Default, Clone)]
struct FakeSecret {
    /// Version id → (value, staging labels).
    versions: BTreeMap<String, (Option<String>, Vec<String>)>,
    tags: BTreeMap<String, String>,
    /// Version id → when it was created.
    created: BTreeMap<String, jiff::Timestamp>,
}

#[derive(Debug, Default)]
struct Secrets {
    secrets: BTreeMap<String, FakeSecret>,
    failing: BTreeSet<&'static str>,
    passwords: u64,
}

/// Secrets Manager in memory, with the rules the protocol relies on: a version's value never
/// changes, a label is on one version at a time, AWSCURRENT leaves AWSPREVIOUS behind, and a
/// staging move names the version the label leaves.
#[derive(Debug, Default)]
pub struct MemorySecretStore(Mutex<Secrets>);

impl MemorySecretStore {
    /// A secret whose AWSCURRENT (version `v0`, made long ago) is `value`, with rotation
    /// enabled.
    pub fn with_secret(self, id: &str, value: &str) -> Self {
        let mut secret = FakeSecret::default();
        secret.versions.insert(
            "v0".into(),
            (Some(value.to_string()), vec![AWSCURRENT.to_string()]),
        );
        secret.created.insert("v0".into(), LONG_AGO);
        lock(&self.0).secrets.insert(id.to_string(), secret);
        self
    }

    /// What RotateSecret does before it invokes the function: version `token` labelled
    /// AWSPENDING, with no value yet.
    pub fn start_rotation(&self, id: &str, token: &str) {
        let mut secrets = lock(&self.0);
        if let Some(secret) = secrets.secrets.get_mut(id) {
            relabel(secret, AWSPENDING, Some(token));
            secret
                .versions
                .entry(token.to_string())
                .or_insert((None, vec![]))
                .1
                .push(AWSPENDING.to_string());
        }
    }

    /// The value labelled `stage`.
    pub fn value(&self, id: &str, stage: &str) -> Option<String> {
        let secrets = lock(&self.0);
        let secret = secrets.secrets.get(id)?;
        secret
            .versions
            .values()
            .find(|(_, labels)| labels.iter().any(|l| l == stage))
            .and_then(|(v, _)| v.clone())
    }

    /// Every later call of `operation` (`PutSecretValue`, `UpdateSecretVersionStage`, …) fails
    /// as unavailable.
    pub fn fail(&self, operation: &'static str) {
        lock(&self.0).failing.insert(operation);
    }

    pub fn heal(&self, operation: &'static str) {
        lock(&self.0).failing.remove(operation);
    }

    fn with<T>(
        &self,
        operation: &'static str,
        id: &str,
        f: impl FnOnce(&mut FakeSecret, &mut u64) -> Result<T, StoreErrorKind>,
    ) -> Result<T, StoreError> {
        let mut guard = lock(&self.0);
        let secrets = &mut *guard;
        let error = |kind| StoreError {
            operation,
            secret: id.to_string(),
            kind,
            source: injected(operation),
        };
        if secrets.failing.contains(operation) {
            return Err(error(StoreErrorKind::Unavailable));
        }
        let secret = secrets
            .secrets
            .get_mut(secret_name(id))
            .ok_or_else(|| error(StoreErrorKind::NotFound))?;
        f(secret, &mut secrets.passwords).map_err(error)
    }
}

/// A fake secret is found by its name or by the ARN `describe` gives it.
fn secret_name(id: &str) -> &str {
    id.strip_prefix("arn:aws:secretsmanager:us-east-1:123456789012:secret:")
        .and_then(|rest| rest.strip_suffix("-AbCdEf"))
        .unwrap_or(id)
}

/// Takes `label` off every version but `keep`.
fn relabel(secret: &mut FakeSecret, label: &str, keep: Option<&str>) {
    for (id, (_, labels)) in secret.versions.iter_mut() {
        if Some(id.as_str()) != keep {
            labels.retain(|l| l != label);
        }
    }
}

impl SecretStore for MemorySecretStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        self.with("DescribeSecret", secret_id, |secret, _| {
            Ok(SecretDescription {
                arn: Some(format!(
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}-AbCdEf",
                    secret_name(secret_id)
                )),
                name: Some(secret_name(secret_id).to_string()),
                rotation_enabled: true,
                rotation_interval_days: Some(30),
                versions: secret
                    .versions
                    .iter()
                    .map(|(id, (_, labels))| (id.clone(), labels.clone()))
                    .collect(),
                current_since: secret
                    .tags
                    .get(CURRENT_SINCE_TAG)
                    .and_then(|t| CurrentSince::decode(t)),
            })
        })
    }

    async fn get(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> Result<Option<SecretString>, StoreError> {
        self.with("GetSecretValue", secret_id, |secret, _| {
            let has = |labels: &Vec<String>, stage: &str| labels.iter().any(|l| l == stage);
            let found = match version {
                VersionRef::Stage(stage) => secret.versions.values().find(|(_, l)| has(l, stage)),
                VersionRef::Version { id, stage } => {
                    secret.versions.get(id).filter(|(_, l)| has(l, stage))
                }
                VersionRef::Id(id) => secret.versions.get(id),
            };
            Ok(found.and_then(|(v, _)| v.clone()).map(SecretString::new))
        })
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        _rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with("PutSecretValue", secret_id, |secret, _| {
            secret
                .created
                .entry(token.to_string())
                .or_insert_with(jiff::Timestamp::now);
            let entry = secret
                .versions
                .entry(token.to_string())
                .or_insert((None, vec![]));
            match &entry.0 {
                // A version's value never changes (ResourceExistsException).
                Some(existing) if existing != value.expose() => {
                    return Err(StoreErrorKind::Rejected);
                }
                _ => entry.0 = Some(value.expose().to_string()),
            }
            if !entry.1.iter().any(|l| l == AWSPENDING) {
                entry.1.push(AWSPENDING.to_string());
            }
            relabel(secret, AWSPENDING, Some(token));
            Ok(())
        })
    }

    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with("UpdateSecretVersionStage", secret_id, |secret, _| {
            let holder = secret
                .versions
                .iter()
                .find(|(_, (_, l))| l.iter().any(|x| x == stage))
                .map(|(id, _)| id.clone());
            // Moving a label that is on another version must name that version.
            if holder.is_some() && holder.as_deref() != to && holder.as_deref() != from {
                return Err(StoreErrorKind::Rejected);
            }
            if let Some(to) = to {
                if !secret.versions.contains_key(to) {
                    return Err(StoreErrorKind::NotFound);
                }
                if stage == AWSCURRENT
                    && let Some(old) = holder.as_deref().filter(|h| *h != to)
                {
                    relabel(secret, AWSPREVIOUS, Some(old));
                    if let Some((_, labels)) = secret.versions.get_mut(old)
                        && !labels.iter().any(|l| l == AWSPREVIOUS)
                    {
                        labels.push(AWSPREVIOUS.to_string());
                    }
                }
            }
            relabel(secret, stage, to);
            if let Some((_, labels)) = to.and_then(|t| secret.versions.get_mut(t))
                && !labels.iter().any(|l| l == stage)
            {
                labels.push(stage.to_string());
            }
            Ok(())
        })
    }

    async fn random_password(&self, policy: &PasswordPolicy) -> Result<SecretString, StoreError> {
        let mut secrets = lock(&self.0);
        if secrets.failing.contains("GetRandomPassword") {
            return Err(StoreError {
                operation: "GetRandomPassword",
                secret: String::new(),
                kind: StoreErrorKind::Unavailable,
                source: injected("GetRandomPassword"),
            });
        }
        secrets.passwords += 1;
        let seed = format!("Pw{}x", secrets.passwords);
        let password: String = seed
            .chars()
            .chain(std::iter::repeat('a'))
            .filter(|c| !policy.exclude_characters.contains(*c))
            .take(usize::from(policy.length))
            .collect();
        Ok(SecretString::new(password))
    }

    async fn versions_created(
        &self,
        secret_id: &str,
    ) -> Result<BTreeMap<String, jiff::Timestamp>, StoreError> {
        self.with("ListSecretVersionIds", secret_id, |secret, _| {
            Ok(secret.created.clone())
        })
    }

    async fn mark_current_since(
        &self,
        secret_id: &str,
        since: &CurrentSince,
    ) -> Result<(), StoreError> {
        self.with("TagResource", secret_id, |secret, _| {
            secret
                .tags
                .insert(CURRENT_SINCE_TAG.to_string(), since.encode());
            Ok(())
        })
    }
}

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

/// `decodeURIComponent` as Node runs it (node-redis and ioredis read a `redis://` URL with it):
/// `%` must start a valid escape and the bytes must be UTF-8, or it throws. The strict client
/// the URL tests read the secrets' URLs back with.
pub fn decode_uri_component(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

//! ECS and Application Auto Scaling in memory, beside the fleet port (`fleet.rs`): the fake
//! behind the `ServiceFleet`, `ReleaseFleet`, `ConsumerFleet` and `ConsumerReader` ports (their
//! adapters are `aws::ecs` and `aws::ecs_consumers`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::capacity::{
    Bounds, Capacity, FleetError, FleetErrorKind, ServiceFleet, ServiceId, ServiceState,
};
use crate::consumers::{
    ConsumerFleet, ConsumerReader, ConsumerService, Deployment, DeploymentStatus,
};
use crate::fakes::{LONG_AGO, injected, lock};
use crate::rollback::{ReleaseFleet, ServiceRelease};

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

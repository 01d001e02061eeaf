//! The ports to ECS as the consumers of a secret see it: the services of a cluster with their
//! deployments, the secret references of a task definition, and a forced new deployment. The
//! rotation functions hold only the reader; refresh-consumers holds the fleet. Their ECS adapter
//! is `aws::ecs_consumers`, their in-memory fake `fakes::MemoryFleet`.

use std::collections::BTreeMap;
use std::future::Future;

use jiff::Timestamp;

use crate::capacity::{FleetError, ServiceId};

/// Where a deployment stands (ECS's `deployments[].status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentStatus {
    /// The newest deployment: the one new tasks start in.
    Primary,
    /// An older deployment that still has tasks, being replaced.
    Active,
    /// Completely replaced: no tasks.
    Inactive,
}

/// One deployment of a service (or, under a CODE_DEPLOY or EXTERNAL controller, one task set:
/// those services list their tasks in task sets, not deployments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub id: String,
    pub status: DeploymentStatus,
    pub task_definition: String,
    pub created_at: Timestamp,
    pub desired: i32,
}

/// A service as a consumer of secrets: what it runs and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerService {
    pub id: ServiceId,
    /// The service's desired count.
    pub desired: i32,
    /// The task definition the service runs now (new tasks start from it).
    pub task_definition: String,
    pub deployments: Vec<Deployment>,
    pub tags: BTreeMap<String, String>,
    /// The deployment controller when it is not ECS (`CODE_DEPLOY`, `EXTERNAL`): UpdateService
    /// cannot start a new deployment of such a service.
    pub controller: Option<String>,
}

impl ConsumerService {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    /// The deployment new tasks start in.
    pub fn primary(&self) -> Option<&Deployment> {
        self.deployments
            .iter()
            .find(|d| d.status == DeploymentStatus::Primary)
    }

    /// Deployments that may have running tasks: every ACTIVE one (ECS lists a replaced
    /// deployment as ACTIVE only while it still has tasks, whatever its desired count says), and
    /// the PRIMARY one unless the service is at 0. Read from deployments only, not from running
    /// counts or task lists.
    pub fn deployments_with_tasks(&self) -> impl Iterator<Item = &Deployment> {
        self.deployments.iter().filter(|d| match d.status {
            DeploymentStatus::Active => true,
            DeploymentStatus::Primary => self.desired > 0,
            DeploymentStatus::Inactive => false,
        })
    }

    /// The task definitions a deployment's tasks may have started from. A PRIMARY deployment's
    /// is the service's too: an emulator may not move the deployment's when the service's
    /// changes, and reading both never misses a reference.
    pub fn task_definitions_of<'a>(&'a self, d: &'a Deployment) -> Vec<&'a str> {
        let mut all = vec![d.task_definition.as_str()];
        if d.status == DeploymentStatus::Primary && self.task_definition != d.task_definition {
            all.push(self.task_definition.as_str());
        }
        all
    }
}

/// Reads the services that may consume a secret.
pub trait ConsumerReader: Send + Sync {
    /// Every active service of `cluster`, with its deployments and tags.
    fn services(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<ConsumerService>, FleetError>> + Send;

    /// Every secret reference of a task definition's containers: `secrets[].valueFrom`, the log
    /// configuration's `secretOptions[].valueFrom` and `repositoryCredentials`. A revision never
    /// changes, so an adapter may keep what it read.
    fn secret_references(
        &self,
        task_definition: &str,
    ) -> impl Future<Output = Result<Vec<String>, FleetError>> + Send;
}

/// Reads consumers and redeploys them.
pub trait ConsumerFleet: ConsumerReader {
    /// `UpdateService` with `forceNewDeployment` and nothing else: the service's task
    /// definition, desired count, bounds and tags stay what the other functions keep.
    fn redeploy(&self, service: &ServiceId) -> impl Future<Output = Result<(), FleetError>> + Send;
}

/// A reader shared by reference (the rotation and the refresh of one test on one fake).
impl<T: ConsumerReader> ConsumerReader for &T {
    fn services(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<ConsumerService>, FleetError>> + Send {
        (**self).services(cluster)
    }

    fn secret_references(
        &self,
        task_definition: &str,
    ) -> impl Future<Output = Result<Vec<String>, FleetError>> + Send {
        (**self).secret_references(task_definition)
    }
}

impl<T: ConsumerFleet> ConsumerFleet for &T {
    fn redeploy(&self, service: &ServiceId) -> impl Future<Output = Result<(), FleetError>> + Send {
        (**self).redeploy(service)
    }
}

/// The reader of a rotation function deployed without `CONSUMER_CLUSTERS`: it knows of no
/// consumer, so the rotation has none to wait for.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConsumers;

impl ConsumerReader for NoConsumers {
    async fn services(&self, _cluster: &str) -> Result<Vec<ConsumerService>, FleetError> {
        Ok(Vec::new())
    }

    async fn secret_references(&self, _task_definition: &str) -> Result<Vec<String>, FleetError> {
        Ok(Vec::new())
    }
}

//! Which services consume a secret: those whose task definitions (the one a service runs now,
//! and those of its deployments that may still have tasks) reference it in any documented form.
//! The refresh and the retire guard both find consumers this one way.

use std::collections::{BTreeMap, HashMap};

use super::ports::{ConsumerReader, ConsumerService, DeploymentStatus};
use super::reference::{Follows, SecretIdentity};
use crate::capacity::FleetError;

/// A service that references the secret, and how each of its task definitions does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub service: ConsumerService,
    /// Task definition → what its references to the secret give a starting container.
    pub references: BTreeMap<String, Vec<Follows>>,
}

impl Consumer {
    /// How `task_definition` references the secret (empty: not at all).
    pub fn follows_in(&self, task_definition: &str) -> &[Follows] {
        self.references
            .get(task_definition)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// How the task definition the service runs now references it: what a task started now
    /// reads.
    pub fn follows_now(&self) -> &[Follows] {
        self.follows_in(&self.service.task_definition)
    }
}

/// The services of `clusters` that reference `secret`, in cluster then service order.
pub async fn find<R: ConsumerReader>(
    reader: &R,
    clusters: &[String],
    secret: &SecretIdentity,
) -> Result<Vec<Consumer>, FleetError> {
    let mut read: HashMap<String, Vec<Follows>> = HashMap::new();
    let mut consumers = Vec::new();
    for cluster in clusters {
        let mut services = reader.services(cluster).await?;
        services.sort_by(|a, b| a.id.cmp(&b.id));
        for service in services {
            let mut task_definitions = vec![service.task_definition.clone()];
            // An INACTIVE deployment has no tasks (and its revision may be gone).
            task_definitions.extend(
                service
                    .deployments
                    .iter()
                    .filter(|d| d.status != DeploymentStatus::Inactive)
                    .map(|d| d.task_definition.clone()),
            );
            let mut references = BTreeMap::new();
            for td in task_definitions {
                if td.is_empty() || references.contains_key(&td) {
                    continue;
                }
                if !read.contains_key(&td) {
                    let follows = reader
                        .secret_references(&td)
                        .await?
                        .iter()
                        .filter_map(|r| secret.referenced_by(r))
                        .collect();
                    read.insert(td.clone(), follows);
                }
                let follows = read.get(&td).cloned().unwrap_or_default();
                if !follows.is_empty() {
                    references.insert(td, follows);
                }
            }
            if !references.is_empty() {
                consumers.push(Consumer {
                    service,
                    references,
                });
            }
        }
    }
    Ok(consumers)
}

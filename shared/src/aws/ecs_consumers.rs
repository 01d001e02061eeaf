//! [`ConsumerReader`] and [`ConsumerFleet`] on ECS: services with their deployments
//! (DescribeServices, 10 at a time), the secret references of task definitions (kept once read:
//! a revision never changes), and a forced new deployment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ecs::Client as Ecs;
use aws_sdk_ecs::types::ServiceField;

use super::fleet_error;
use crate::aws::sns::SnsNotifier;
use crate::capacity::{FleetError, ServiceId};
use crate::consumers::{
    ConsumerFleet, ConsumerReader, ConsumerService, Deployment, DeploymentStatus, Watch,
    WatchConfig,
};

/// The ECS services that may consume secrets, through a client built once per cold start.
#[derive(Clone, Debug)]
pub struct EcsConsumers {
    ecs: Ecs,
    /// Task definition ARN → its secret references, across warm invocations.
    references: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl EcsConsumers {
    pub fn new(ecs: Ecs) -> Self {
        Self {
            ecs,
            references: Arc::default(),
        }
    }
}

fn timestamp(t: Option<&aws_sdk_ecs::primitives::DateTime>) -> jiff::Timestamp {
    t.and_then(|t| jiff::Timestamp::new(t.secs(), t.subsec_nanos() as i32).ok())
        // A deployment without a creation time is taken as the oldest: never newer than a change.
        .unwrap_or(jiff::Timestamp::MIN)
}

impl ConsumerReader for EcsConsumers {
    async fn services(&self, cluster: &str) -> Result<Vec<ConsumerService>, FleetError> {
        let mut arns = Vec::new();
        let mut pages = self
            .ecs
            .list_services()
            .cluster(cluster)
            .max_results(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| fleet_error("ListServices", cluster, e))?;
            arns.extend(page.service_arns().iter().cloned());
        }
        let mut services = Vec::with_capacity(arns.len());
        for batch in arns.chunks(10) {
            let out = self
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(batch.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(|e| fleet_error("DescribeServices", cluster, e))?;
            for s in out.services() {
                if s.status() != Some("ACTIVE") {
                    continue;
                }
                let (Some(name), Some(arn)) = (s.service_name(), s.service_arn()) else {
                    continue;
                };
                let controller = s
                    .deployment_controller()
                    .map(|c| c.r#type().as_str().to_string())
                    .filter(|t| t != "ECS");
                // Under CODE_DEPLOY or EXTERNAL the tasks live in task sets.
                let task_sets = s.task_sets().iter().map(|t| Deployment {
                    id: t.id().unwrap_or_default().to_string(),
                    status: match t.status() {
                        Some("PRIMARY") => DeploymentStatus::Primary,
                        // ACTIVE or DRAINING: may still have tasks.
                        _ => DeploymentStatus::Active,
                    },
                    task_definition: t.task_definition().unwrap_or_default().to_string(),
                    created_at: timestamp(t.created_at()),
                    desired: t.computed_desired_count(),
                });
                services.push(ConsumerService {
                    id: ServiceId {
                        cluster: cluster.to_string(),
                        name: name.to_string(),
                        arn: arn.to_string(),
                    },
                    desired: s.desired_count(),
                    task_definition: s.task_definition().unwrap_or_default().to_string(),
                    deployments: s
                        .deployments()
                        .iter()
                        .map(|d| Deployment {
                            id: d.id().unwrap_or_default().to_string(),
                            status: match d.status() {
                                Some("PRIMARY") => DeploymentStatus::Primary,
                                Some("INACTIVE") => DeploymentStatus::Inactive,
                                // ACTIVE, or a status ECS adds later: may have tasks.
                                _ => DeploymentStatus::Active,
                            },
                            task_definition: d.task_definition().unwrap_or_default().to_string(),
                            created_at: timestamp(d.created_at()),
                            desired: d.desired_count(),
                        })
                        .chain(task_sets)
                        .collect(),
                    tags: s
                        .tags()
                        .iter()
                        .filter_map(|t| {
                            Some((
                                t.key()?.to_string(),
                                t.value().unwrap_or_default().to_string(),
                            ))
                        })
                        .collect(),
                    controller,
                });
            }
        }
        Ok(services)
    }

    async fn secret_references(&self, task_definition: &str) -> Result<Vec<String>, FleetError> {
        if let Some(known) = self
            .references
            .lock()
            .ok()
            .and_then(|m| m.get(task_definition).cloned())
        {
            return Ok(known);
        }
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| fleet_error("DescribeTaskDefinition", task_definition, e))?;
        let mut references = Vec::new();
        for c in out
            .task_definition()
            .map(|t| t.container_definitions())
            .unwrap_or_default()
        {
            references.extend(c.secrets().iter().map(|s| s.value_from().to_string()));
            if let Some(log) = c.log_configuration() {
                references.extend(
                    log.secret_options()
                        .iter()
                        .map(|s| s.value_from().to_string()),
                );
            }
            if let Some(creds) = c.repository_credentials() {
                references.push(creds.credentials_parameter().to_string());
            }
        }
        // Only a revision (`family:N`) is immutable; a bare family name moves with new revisions.
        if task_definition
            .rsplit_once(':')
            .is_some_and(|(_, n)| n.parse::<u32>().is_ok())
            && let Ok(mut known) = self.references.lock()
        {
            known.insert(task_definition.to_string(), references.clone());
        }
        Ok(references)
    }
}

impl ConsumerFleet for EcsConsumers {
    async fn redeploy(&self, service: &ServiceId) -> Result<(), FleetError> {
        self.ecs
            .update_service()
            .cluster(&service.cluster)
            .service(&service.name)
            .force_new_deployment(true)
            .send()
            .await
            .map_err(|e| fleet_error("UpdateService", &service.to_string(), e))?;
        Ok(())
    }
}

/// A rotation function's watch of its consumers, with clients built from `aws` (only when
/// `CONSUMER_CLUSTERS` names clusters: otherwise the rotation watches none).
pub fn watch(
    aws: &aws_config::SdkConfig,
    config: WatchConfig,
) -> Option<Watch<EcsConsumers, SnsNotifier>> {
    let clusters = config.clusters?;
    Some(Watch {
        reader: EcsConsumers::new(Ecs::new(aws)),
        clusters,
        notifier: SnsNotifier::new(aws_sdk_sns::Client::new(aws), config.notify_topic_arn),
    })
}

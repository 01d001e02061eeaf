//! [`ServiceFleet`] on ECS and Application Auto Scaling. A cluster is read in batches (10
//! services per DescribeServices, 50 per DescribeScalableTargets); the SDK's standard retry
//! absorbs throttling.

use aws_sdk_applicationautoscaling::Client as AutoScaling;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_sdk_ecs::Client as Ecs;
use aws_sdk_ecs::types::{ServiceField, Tag};
use std::collections::BTreeMap;

use super::fleet_error;
use crate::capacity::{
    Bounds, Capacity, FleetError, FleetErrorKind, ServiceFleet, ServiceId, ServiceState,
};

/// ECS services and their scalable targets, through clients built once per cold start.
#[derive(Clone, Debug)]
pub struct EcsFleet {
    ecs: Ecs,
    autoscaling: AutoScaling,
}

impl EcsFleet {
    /// ACTIVE services of `cluster` among `arns` (names or ARNs), with tags and bounds.
    async fn describe_states(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<ServiceState>, FleetError> {
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
                let tags: BTreeMap<String, String> = s
                    .tags()
                    .iter()
                    .filter_map(|t| {
                        Some((
                            t.key()?.to_string(),
                            t.value().unwrap_or_default().to_string(),
                        ))
                    })
                    .collect();
                services.push(ServiceState {
                    id: ServiceId {
                        cluster: cluster.to_string(),
                        name: name.to_string(),
                        arn: arn.to_string(),
                    },
                    capacity: Capacity {
                        desired: s.desired_count(),
                        bounds: None,
                    },
                    tags,
                });
            }
        }
        let ids: Vec<String> = services.iter().map(|s| resource_id(&s.id)).collect();
        let mut bounds = BTreeMap::new();
        for batch in ids.chunks(50) {
            let mut pages = self
                .autoscaling
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Ecs)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .set_resource_ids(Some(batch.to_vec()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| fleet_error("DescribeScalableTargets", cluster, e))?;
                for t in page.scalable_targets() {
                    bounds.insert(
                        t.resource_id().to_string(),
                        Bounds {
                            min: t.min_capacity(),
                            max: t.max_capacity(),
                        },
                    );
                }
            }
        }
        for s in &mut services {
            s.capacity.bounds = bounds.get(&resource_id(&s.id)).copied();
        }
        Ok(services)
    }

    pub fn new(ecs: Ecs, autoscaling: AutoScaling) -> Self {
        Self { ecs, autoscaling }
    }
}

fn resource_id(service: &ServiceId) -> String {
    format!("service/{}/{}", service.cluster, service.name)
}

impl ServiceFleet for EcsFleet {
    async fn list(&self, cluster: &str) -> Result<Vec<ServiceState>, FleetError> {
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
        let mut services = self.describe_states(cluster, &arns).await?;
        services.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(services)
    }

    async fn get(&self, service: &ServiceId) -> Result<ServiceState, FleetError> {
        let target = if service.arn.is_empty() {
            service.name.clone()
        } else {
            service.arn.clone()
        };
        self.describe_states(&service.cluster, &[target])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| FleetError {
                operation: "DescribeServices",
                target: service.to_string(),
                kind: FleetErrorKind::NotFound,
                source: "no ACTIVE service of that name in the cluster".into(),
            })
    }

    async fn set_desired(&self, service: &ServiceId, desired: i32) -> Result<(), FleetError> {
        self.ecs
            .update_service()
            .cluster(&service.cluster)
            .service(&service.name)
            .desired_count(desired)
            .send()
            .await
            .map_err(|e| fleet_error("UpdateService", &service.to_string(), e))?;
        Ok(())
    }

    async fn set_bounds(&self, service: &ServiceId, bounds: Bounds) -> Result<(), FleetError> {
        self.autoscaling
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource_id(service))
            .min_capacity(bounds.min)
            .max_capacity(bounds.max)
            .send()
            .await
            .map_err(|e| fleet_error("RegisterScalableTarget", &service.to_string(), e))?;
        Ok(())
    }

    async fn tag(&self, service: &ServiceId, key: &str, value: &str) -> Result<(), FleetError> {
        self.ecs
            .tag_resource()
            .resource_arn(&service.arn)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .map_err(|e| fleet_error("TagResource", &service.to_string(), e))?;
        Ok(())
    }

    async fn untag(&self, service: &ServiceId, key: &str) -> Result<(), FleetError> {
        self.ecs
            .untag_resource()
            .resource_arn(&service.arn)
            .tag_keys(key)
            .send()
            .await
            .map_err(|e| fleet_error("UntagResource", &service.to_string(), e))?;
        Ok(())
    }
}

impl crate::rollback::ReleaseFleet for EcsFleet {
    async fn describe(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<crate::rollback::ServiceRelease, FleetError> {
        let target = format!("{cluster}/{service}");
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .include(ServiceField::Tags)
            .send()
            .await
            .map_err(|e| fleet_error("DescribeServices", &target, e))?;
        let s = out
            .services()
            .iter()
            .find(|s| s.status() == Some("ACTIVE"))
            .ok_or_else(|| FleetError {
                operation: "DescribeServices",
                target: target.clone(),
                kind: FleetErrorKind::NotFound,
                source: "no ACTIVE service of that name in the cluster".into(),
            })?;
        let current = s.task_definition().unwrap_or_default().to_string();
        Ok(crate::rollback::ServiceRelease {
            id: ServiceId {
                cluster: cluster.to_string(),
                name: service.to_string(),
                arn: s.service_arn().unwrap_or_default().to_string(),
            },
            desired: s.desired_count(),
            other_active_deployments: s
                .deployments()
                .iter()
                .filter(|d| d.status() == Some("ACTIVE"))
                .filter_map(|d| d.task_definition())
                .filter(|t| *t != current)
                .map(str::to_string)
                .collect(),
            task_definition: current,
            // ECS's own rollback in flight, whichever event arrives first: the deployment it
            // rolls back with says so in its rollout reason.
            ecs_rolling_back: s.deployments().iter().any(|d| {
                d.rollout_state() == Some(&aws_sdk_ecs::types::DeploymentRolloutState::InProgress)
                    && d.rollout_state_reason()
                        .is_some_and(|r| r.to_ascii_lowercase().contains("rolling back"))
            }),
            ecs_rolls_back_on_failure: s.deployment_configuration().is_some_and(|c| {
                c.deployment_circuit_breaker()
                    .is_some_and(|b| b.enable() && b.rollback())
                    || c.alarms().is_some_and(|a| a.enable() && a.rollback())
            }),
            foreign_controller: s
                .deployment_controller()
                .map(|c| c.r#type().as_str().to_string())
                .filter(|t| t != "ECS"),
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
        })
    }

    async fn revisions(&self, family: &str) -> Result<Vec<String>, FleetError> {
        let mut out = Vec::new();
        let mut pages = self
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| fleet_error("ListTaskDefinitions", family, e))?;
            // familyPrefix matches prefixes: keep this family only.
            out.extend(
                page.task_definition_arns()
                    .iter()
                    .filter(|a| {
                        crate::rollback::short_name(a)
                            .rsplit_once(':')
                            .map(|(f, _)| f)
                            == Some(family)
                    })
                    .cloned(),
            );
        }
        Ok(out)
    }

    async fn deploy(&self, service: &ServiceId, task_definition: &str) -> Result<(), FleetError> {
        self.ecs
            .update_service()
            .cluster(&service.cluster)
            .service(&service.name)
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| fleet_error("UpdateService", &service.to_string(), e))?;
        Ok(())
    }

    async fn tag_many(
        &self,
        service: &ServiceId,
        tags: &[(&str, String)],
    ) -> Result<(), FleetError> {
        let mut request = self.ecs.tag_resource().resource_arn(&service.arn);
        for (k, v) in tags {
            request = request.tags(Tag::builder().key(*k).value(v).build());
        }
        request
            .send()
            .await
            .map_err(|e| fleet_error("TagResource", &service.to_string(), e))?;
        Ok(())
    }
}

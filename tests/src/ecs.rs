//! ECS, Application Auto Scaling, SNS and SQS in moto for the scaling tests: clients confined to
//! a test's account, Macro AI-shaped clusters and services, and a queue subscribed to the
//! notification topic so a test can read what was announced.

use anyhow::{Context as _, Result};
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_sdk_ecs::types::{ContainerDefinition, ServiceField, Tag};
use serde_json::Value;
use std::collections::BTreeMap;

use crate::{MotoAccount, Stack};

/// The SDK clients a scaling test needs, all in one moto account.
#[derive(Clone)]
pub struct Aws {
    pub ecs: aws_sdk_ecs::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

macro_rules! client {
    ($sdk:ident, $endpoint:expr, $account:expr) => {{
        use $sdk::config::{BehaviorVersion, Credentials, Region};
        $sdk::Client::from_conf(
            $sdk::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url($endpoint)
                .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
                .interceptor($account.clone())
                .build(),
        )
    }};
}

impl Stack {
    pub fn aws(&self, account: &MotoAccount) -> Aws {
        Aws {
            ecs: client!(aws_sdk_ecs, &self.aws_endpoint, account),
            autoscaling: client!(aws_sdk_applicationautoscaling, &self.aws_endpoint, account),
            sns: client!(aws_sdk_sns, &self.aws_endpoint, account),
            sqs: client!(aws_sdk_sqs, &self.aws_endpoint, account),
            dynamodb: client!(aws_sdk_dynamodb, &self.aws_endpoint, account),
        }
    }
}

/// A service as a test reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub desired: i32,
    pub bounds: Option<(i32, i32)>,
    pub tags: BTreeMap<String, String>,
}

impl Aws {
    /// Creates the cluster and a task definition family for it (idempotent in moto).
    pub async fn cluster(&self, cluster: &str) -> Result<String> {
        self.ecs
            .create_cluster()
            .cluster_name(cluster)
            .send()
            .await?;
        let family = format!("{cluster}-app");
        let out = self
            .ecs
            .register_task_definition()
            .family(&family)
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image("macro-ai/api:1")
                    .memory(512)
                    .build(),
            )
            .send()
            .await?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .context("no task definition ARN")
    }

    /// The rollback ledger's table (as the template creates it).
    pub async fn ledger_table(&self, name: &str) -> Result<()> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        self.dynamodb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .send()
            .await?;
        Ok(())
    }

    /// Registers another revision of a family; returns its ARN.
    pub async fn revision(&self, family: &str, image: &str) -> Result<String> {
        let out = self
            .ecs
            .register_task_definition()
            .family(family)
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image(image)
                    .memory(512)
                    .build(),
            )
            .send()
            .await?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .context("no ARN")
    }

    /// The task definition a service runs.
    pub async fn task_definition_of(&self, cluster: &str, name: &str) -> Result<String> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(name)
            .send()
            .await?;
        out.services()
            .first()
            .and_then(|s| s.task_definition())
            .map(str::to_string)
            .context("no service")
    }

    /// A service with `desired` tasks, `tags`, and optionally a scalable target.
    pub async fn service(
        &self,
        cluster: &str,
        task_definition: &str,
        name: &str,
        desired: i32,
        tags: &[(&str, &str)],
        bounds: Option<(i32, i32)>,
    ) -> Result<()> {
        let mut request = self
            .ecs
            .create_service()
            .cluster(cluster)
            .service_name(name)
            .task_definition(task_definition)
            .desired_count(desired);
        for (k, v) in tags {
            request = request.tags(Tag::builder().key(*k).value(*v).build());
        }
        request.send().await?;
        if let Some((min, max)) = bounds {
            self.autoscaling
                .register_scalable_target()
                .service_namespace(ServiceNamespace::Ecs)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .resource_id(format!("service/{cluster}/{name}"))
                .min_capacity(min)
                .max_capacity(max)
                .send()
                .await?;
        }
        Ok(())
    }

    /// Reads a service back: desired count, tags, scalable-target bounds.
    pub async fn observe(&self, cluster: &str, name: &str) -> Result<Observed> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(name)
            .include(ServiceField::Tags)
            .send()
            .await?;
        let s = out.services().first().context("no such service")?;
        let targets = self
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(format!("service/{cluster}/{name}"))
            .send()
            .await?;
        Ok(Observed {
            desired: s.desired_count(),
            bounds: targets
                .scalable_targets()
                .first()
                .map(|t| (t.min_capacity(), t.max_capacity())),
            tags: s
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect(),
        })
    }

    /// A topic with a queue subscribed to it; returns (topic ARN, queue URL).
    pub async fn topic_with_queue(&self, name: &str) -> Result<(String, String)> {
        let topic = self
            .sns
            .create_topic()
            .name(name)
            .send()
            .await?
            .topic_arn()
            .context("topic")?
            .to_string();
        let queue = self
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await?
            .queue_url()
            .context("queue")?
            .to_string();
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await?;
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .context("queue ARN")?
            .clone();
        self.sns
            .subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await?;
        Ok((topic, queue))
    }

    /// Every notification delivered to the queue so far, as (subject, message).
    pub async fn notifications(&self, queue: &str) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        loop {
            let r = self
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .send()
                .await?;
            if r.messages().is_empty() {
                return Ok(out);
            }
            for m in r.messages() {
                let envelope: Value = serde_json::from_str(m.body().unwrap_or("{}"))?;
                out.push((
                    envelope["Subject"].as_str().unwrap_or_default().to_string(),
                    envelope["Message"].as_str().unwrap_or_default().to_string(),
                ));
                if let Some(handle) = m.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(queue)
                        .receipt_handle(handle)
                        .send()
                        .await?;
                }
            }
        }
    }
}

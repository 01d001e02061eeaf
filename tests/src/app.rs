//! Macro AI's API as ECS runs it, emulated over moto: tasks that resolve their task definition's
//! `secrets` once, when they start (as the ECS agent does, with GetSecretValue), and keep what
//! they read; and a rolling deployment that replaces them one at a time whenever the service gets
//! a new PRIMARY deployment. moto runs no tasks and replaces a deployment in place, so the rollout
//! is this emulator's: a new task starts (reading the secrets now), then an old one stops.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use aws_sdk_ecs::types::{ContainerDefinition, Secret};
use serde_json::Value;

use crate::ecs::Aws;

/// One running task: the deployment it started in and the secrets it read then.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: usize,
    pub deployment: String,
    pub env: BTreeMap<String, String>,
}

/// A service's tasks, following the service in moto.
pub struct App {
    aws: Aws,
    sm: aws_sdk_secretsmanager::Client,
    pub cluster: String,
    pub service: String,
    pub tasks: Vec<Task>,
    started: usize,
}

impl Aws {
    /// A task definition of `family` whose one container gets `secrets` (name → valueFrom).
    pub async fn task_definition_with_secrets(
        &self,
        family: &str,
        secrets: &[(&str, &str)],
    ) -> Result<String> {
        let mut container = ContainerDefinition::builder()
            .name("api")
            .image("macro-ai/api:latest")
            .memory(512);
        for (name, value_from) in secrets {
            container = container.secrets(
                Secret::builder()
                    .name(*name)
                    .value_from(*value_from)
                    .build()?,
            );
        }
        let out = self
            .ecs
            .register_task_definition()
            .family(family)
            .container_definitions(container.build())
            .send()
            .await?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .context("no task definition ARN")
    }

    /// The service's PRIMARY deployment (id), its desired count and task definition.
    pub async fn primary(&self, cluster: &str, service: &str) -> Result<(String, i32, String)> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await?;
        let s = out.services().first().context("no such service")?;
        let primary = s
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .and_then(|d| d.id())
            .context("no PRIMARY deployment")?;
        Ok((
            primary.to_string(),
            s.desired_count(),
            s.task_definition().unwrap_or_default().to_string(),
        ))
    }
}

impl App {
    /// The service's tasks, started now (each reads its secrets now).
    pub async fn start(
        aws: &Aws,
        sm: &aws_sdk_secretsmanager::Client,
        cluster: &str,
        service: &str,
    ) -> Result<Self> {
        let mut app = Self {
            aws: aws.clone(),
            sm: sm.clone(),
            cluster: cluster.to_string(),
            service: service.to_string(),
            tasks: Vec::new(),
            started: 0,
        };
        let (deployment, desired, td) = app.aws.primary(cluster, service).await?;
        for _ in 0..desired {
            let task = app.launch(&deployment, &td).await?;
            app.tasks.push(task);
        }
        Ok(app)
    }

    /// One step of a rolling deployment (ECS's default, minimum healthy 100%): when a task runs
    /// an older deployment than the PRIMARY one, a task of the PRIMARY one starts (reading its
    /// secrets now) and then one old task stops. `false` when every task runs the PRIMARY
    /// deployment.
    pub async fn roll_one(&mut self) -> Result<bool> {
        let (deployment, _, td) = self.aws.primary(&self.cluster, &self.service).await?;
        let Some(old) = self.tasks.iter().position(|t| t.deployment != deployment) else {
            return Ok(false);
        };
        let task = self.launch(&deployment, &td).await?;
        self.tasks.push(task);
        self.tasks.remove(old);
        Ok(true)
    }

    /// Tasks of older deployments that are still running.
    pub async fn outdated(&self) -> Result<usize> {
        let (deployment, _, _) = self.aws.primary(&self.cluster, &self.service).await?;
        Ok(self
            .tasks
            .iter()
            .filter(|t| t.deployment != deployment)
            .count())
    }

    async fn launch(&mut self, deployment: &str, task_definition: &str) -> Result<Task> {
        let out = self
            .aws
            .ecs
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await?;
        let mut env = BTreeMap::new();
        for c in out
            .task_definition()
            .map(|t| t.container_definitions())
            .unwrap_or_default()
        {
            for s in c.secrets() {
                env.insert(s.name().to_string(), self.resolve(s.value_from()).await?);
            }
        }
        self.started += 1;
        Ok(Task {
            id: self.started,
            deployment: deployment.to_string(),
            env,
        })
    }

    /// What the ECS agent injects for `valueFrom`: the secret (its ARN, partial ARN or name), at
    /// the version stage or id the reference names (AWSCURRENT by default), and only the JSON key
    /// it names, if any.
    pub async fn resolve(&self, value_from: &str) -> Result<String> {
        let (id, key, stage, version) = match value_from.strip_prefix("arn:") {
            Some(_) => {
                let parts: Vec<&str> = value_from.split(':').collect();
                if parts.len() < 7 {
                    bail!("not a secret ARN: {value_from}");
                }
                let field = |i: usize| parts.get(i).copied().filter(|p| !p.is_empty());
                (parts[..7].join(":"), field(7), field(8), field(9))
            }
            None => (value_from.to_string(), None, None, None),
        };
        let request = self.sm.get_secret_value().secret_id(&id);
        let request = match (stage, version) {
            (_, Some(v)) => request.version_id(v),
            (Some(s), None) => request.version_stage(s),
            (None, None) => request.version_stage("AWSCURRENT"),
        };
        let text = request
            .send()
            .await?
            .secret_string()
            .context("no SecretString")?
            .to_string();
        Ok(match key {
            None => text,
            Some(k) => match serde_json::from_str::<Value>(&text)?.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => bail!("the secret has no key `{k}`"),
            },
        })
    }
}

//! Driving Secrets Manager rotations the way the service does: stage a version AWSPENDING,
//! then invoke the function once per step with the service's event.

use crate::invoke;
use anyhow::{Context as _, Result, bail};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::RotationRulesType;
use serde_json::{Value, json};
use shared::consumers::ConsumerReader;
use shared::lambda::FunctionError;
use shared::notify::Notifier;
use shared::rotation::{CredentialBackend, Rotator, SecretStore};
use std::collections::BTreeMap;

pub const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// Creates a secret holding `value` (JSON) and returns its ARN.
pub async fn create_secret(client: &Client, name: &str, value: &Value) -> Result<String> {
    let out = client
        .create_secret()
        .name(name)
        .secret_string(value.to_string())
        .send()
        .await?;
    out.arn()
        .map(str::to_string)
        .context("CreateSecret returned no ARN")
}

/// What Secrets Manager does before it first invokes the rotation function: enable rotation and
/// label a new, empty version AWSPENDING. moto stages the version, then fails to invoke the
/// (absent) Lambda; the error is expected.
pub async fn start_rotation(client: &Client, secret_id: &str) -> Result<String> {
    // A UUID, as Secrets Manager makes them.
    let token = crate::uuid();
    let _ = client
        .rotate_secret()
        .secret_id(secret_id)
        .client_request_token(&token)
        .rotation_lambda_arn("arn:aws:lambda:us-east-1:000000000000:function:not-deployed")
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await;
    let versions = stages(client, secret_id).await?;
    match versions.get(&token) {
        Some(s) if s.iter().any(|l| l == "AWSPENDING") => Ok(token),
        _ => bail!("rotate_secret did not stage {token} as AWSPENDING: {versions:?}"),
    }
}

/// Version id → labels.
pub async fn stages(client: &Client, secret_id: &str) -> Result<BTreeMap<String, Vec<String>>> {
    let out = client.describe_secret().secret_id(secret_id).send().await?;
    Ok(out
        .version_ids_to_stages()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

/// The JSON value at `stage` (always asked for by stage: see docs/moto.md).
pub async fn value_at(client: &Client, secret_id: &str, stage: &str) -> Result<Value> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .version_stage(stage)
        .send()
        .await?;
    Ok(serde_json::from_str(
        out.secret_string().context("no SecretString")?,
    )?)
}

/// The rotation event Secrets Manager sends for `step`.
pub fn step_event(step: &str, secret_id: &str, token: &str) -> Value {
    json!({"Step": step, "SecretId": secret_id, "ClientRequestToken": token})
}

/// The `outcome` of a successful invocation.
pub fn outcome(result: &Result<Value, FunctionError>) -> String {
    match result {
        Ok(v) => v["outcome"].as_str().unwrap_or("?").to_string(),
        Err(e) => format!("error {}: {}", e.error_type(), e.message()),
    }
}

/// Runs every step of a started rotation; the first failure's error type and message, if any.
pub async fn steps_until_failure<
    S: SecretStore,
    B: CredentialBackend,
    C: ConsumerReader,
    N: Notifier,
>(
    rotator: &Rotator<S, B, C, N>,
    secret_id: &str,
    token: &str,
) -> Option<(String, String)> {
    for step in STEPS {
        if let Err(e) = invoke(rotator, step_event(step, secret_id, token)).await {
            return Some((e.error_type().to_string(), e.message().to_string()));
        }
    }
    None
}

/// What someone with PutSecretValue does: `value` becomes AWSCURRENT (the version it replaces
/// becomes AWSPREVIOUS).
pub async fn put_current(client: &Client, secret_id: &str, value: &Value) -> Result<()> {
    client
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(value.to_string())
        .send()
        .await?;
    Ok(())
}

/// A whole rotation, as the service runs it; returns the new version's token.
pub async fn rotate<S: SecretStore, B: CredentialBackend, C: ConsumerReader, N: Notifier>(
    rotator: &Rotator<S, B, C, N>,
    client: &Client,
    secret_id: &str,
) -> Result<String> {
    let token = start_rotation(client, secret_id).await?;
    for step in STEPS {
        if let Err(e) = invoke(rotator, step_event(step, secret_id, &token)).await {
            bail!("{step} failed: {} ({})", e.message(), e.error_type());
        }
    }
    Ok(token)
}

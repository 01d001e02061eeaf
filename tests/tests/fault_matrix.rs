//! The fault matrix of rotation: for each rotation function, each step, and each dependency
//! (the backend — PostgreSQL, Redis, the OpenAI stub — and the AWS emulator) unavailable at that
//! step: the step fails cleanly (a retryable error type) or does not need the dependency, the
//! retry converges, and AWSCURRENT authenticates at every point where its backend is up. Prints
//! the matrix as a table.

// The matrix is indexed by step position: `at` is passed on, not only used to index STEPS.
#![allow(clippy::needless_range_loop)]

use anyhow::{Result, bail};
use serde_json::{Value, json};
use shared::rotation::{CredentialBackend, Rotator, SecretStore};
use std::collections::BTreeMap;
use tests::redis::{PrivateRedis, create_user, logs_in, password_count};
use tests::rotation::{STEPS, create_secret, invoke, start_rotation, step_event, value_at};
use tests::{
    MotoAccount, PrivateCluster, Stack, capture_logs, dead_endpoint, pg_connect,
    secrets_manager_at, unique,
};

const RETRYABLE: [&str; 2] = ["BackendUnavailable", "SecretStoreUnavailable"];

/// One cell: `dependency` unavailable at `steps[at]`. Returns the cell's text.
async fn cell<S: SecretStore, B: CredentialBackend>(
    healthy: &Rotator<S, B>,
    broken: Option<&Rotator<S, B>>,
    outage: &mut dyn FnMut(bool) -> Result<()>,
    current_works: &dyn Fn(Value) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>>,
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    at: usize,
) -> Result<String> {
    let token = start_rotation(client, arn).await?;
    let current = || async { value_at(client, arn, "AWSCURRENT").await };
    for step in &STEPS[..at] {
        if let Err(e) = invoke(healthy, step_event(step, arn, &token)).await {
            bail!("{step} before the outage failed: {}", e.message());
        }
        if !current_works(current().await?).await {
            bail!("AWSCURRENT stopped working after {step}");
        }
    }
    let step = STEPS[at];
    outage(true)?;
    let during = invoke(broken.unwrap_or(healthy), step_event(step, arn, &token)).await;
    outage(false)?;
    let text = match &during {
        Ok(_) => "unaffected".to_string(),
        Err(e) if RETRYABLE.contains(&e.error_type()) => {
            "fails cleanly, retry converges".to_string()
        }
        Err(e) => bail!(
            "{step} failed with a non-retryable {}: {}",
            e.error_type(),
            e.message()
        ),
    };
    // AWSCURRENT: the one before the rotation until finishSecret succeeded.
    if !current_works(current().await?).await {
        bail!("AWSCURRENT does not authenticate after the outage at {step}");
    }
    let retry_from = if during.is_ok() { at + 1 } else { at };
    for step in &STEPS[retry_from..] {
        if let Err(e) = invoke(healthy, step_event(step, arn, &token)).await {
            bail!("retried {step} failed: {}", e.message());
        }
        if !current_works(current().await?).await {
            bail!("AWSCURRENT stopped working after the retried {step}");
        }
    }
    let labels = tests::rotation::stages(client, arn).await?;
    if labels.get(&token).map(Vec::as_slice) != Some(&["AWSCURRENT".to_string()][..]) {
        bail!("the rotation did not converge: {labels:?}");
    }
    Ok(text)
}

fn print_matrix(function: &str, rows: &BTreeMap<&str, Vec<String>>) {
    println!("\n{function}");
    println!("| dependency down | {} |", STEPS.join(" | "));
    println!("|---|---|---|---|---|");
    for (dep, cells) in rows {
        println!("| {dep} | {} |", cells.join(" | "));
    }
}

#[tokio::test]
async fn rotate_postgres_alternating_users() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let cluster = PrivateCluster::start()?;
    let account = MotoAccount::new();
    let client = stack.secrets_manager(&account);
    let healthy = rotate_postgres::rotator(client.clone(), rotate_postgres::Config::default());
    let cut_off = rotate_postgres::rotator(
        secrets_manager_at(&dead_endpoint(), &account),
        rotate_postgres::Config::default(),
    );
    let master = json!({"username": "postgres", "password": cluster.admin_password, "engine": "postgres",
                        "host": "127.0.0.1", "port": cluster.port, "dbname": "postgres", "sslmode": "disable"});
    let master_arn = create_secret(&client, "macro-ai/staging/database-master", &master).await?;
    let port = cluster.port;
    let works = move |v: Value| -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>> {
        Box::pin(async move {
            let (u, p) = (
                v["username"].as_str().unwrap_or_default().to_string(),
                v["password"].as_str().unwrap_or_default().to_string(),
            );
            pg_connect("127.0.0.1", port, &u, &p, "postgres")
                .await
                .is_ok()
        })
    };
    let mut rows = BTreeMap::new();
    for dep in ["AWS emulator", "PostgreSQL"] {
        let mut cells = Vec::new();
        for at in 0..STEPS.len() {
            let user = unique("app");
            let password = unique("initial");
            let mut admin = cluster.admin().await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE ROLE {user} LOGIN PASSWORD '{password}'"
            )))
            .execute(&mut admin)
            .await?;
            drop(admin);
            let secret = json!({"username": user, "password": password, "engine": "postgres", "host": "127.0.0.1",
                                "port": cluster.port, "dbname": "postgres", "sslmode": "disable", "masterarn": master_arn});
            let arn = create_secret(&client, &unique("macro-ai/staging/database"), &secret).await?;
            let text = if dep == "AWS emulator" {
                cell(
                    &healthy,
                    Some(&cut_off),
                    &mut |_| Ok(()),
                    &works,
                    &client,
                    &arn,
                    at,
                )
                .await?
            } else {
                cell(
                    &healthy,
                    None,
                    &mut |down| {
                        if down {
                            cluster.stop()
                        } else {
                            cluster.resume()
                        }
                    },
                    &works,
                    &client,
                    &arn,
                    at,
                )
                .await?
            };
            cells.push(text);
        }
        rows.insert(dep, cells);
    }
    print_matrix("rotate-postgres (alternating users)", &rows);
    assert!(
        rows["PostgreSQL"][1].starts_with("fails"),
        "setSecret needs PostgreSQL"
    );
    assert!(
        rows["AWS emulator"].iter().all(|c| c.starts_with("fails")),
        "every step reads the secret first"
    );
    Ok(())
}

#[tokio::test]
async fn rotate_redis() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let mut redis = PrivateRedis::start()?;
    let account = MotoAccount::new();
    let client = stack.secrets_manager(&account);
    let healthy = rotate_redis::rotator(client.clone(), rotate_redis::Config::default())?;
    let cut_off = rotate_redis::rotator(
        secrets_manager_at(&dead_endpoint(), &account),
        rotate_redis::Config::default(),
    )?;
    let admin_arn = create_secret(&client, "macro-ai/dev/redis-admin", &json!({"username": "admin", "password": redis.admin_password, "host": "127.0.0.1", "port": redis.port})).await?;
    let port = redis.port;
    let works = move |v: Value| -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>> {
        Box::pin(async move {
            logs_in(
                "127.0.0.1",
                port,
                v["username"].as_str().unwrap_or_default(),
                v["password"].as_str().unwrap_or_default(),
            )
            .await
            .unwrap_or(false)
        })
    };
    let mut rows = BTreeMap::new();
    for dep in ["AWS emulator", "Redis"] {
        let mut cells = Vec::new();
        for at in 0..STEPS.len() {
            let user = unique("app");
            let password = unique("initial");
            let mut admin = redis.admin().await?;
            create_user(&mut admin, &user, &password).await?;
            // A password from two generations ago that the rotation's clean-up must remove.
            let stale = format!(">{}", unique("stale"));
            admin
                .command(&[b"ACL", b"SETUSER", user.as_bytes(), stale.as_bytes()])
                .await?;
            admin.command(&[b"ACL", b"SAVE"]).await?;
            let secret = json!({"username": user, "password": password, "host": "127.0.0.1", "port": redis.port, "adminarn": admin_arn});
            let arn = create_secret(&client, &unique("macro-ai/dev/redis"), &secret).await?;
            let text = if dep == "AWS emulator" {
                cell(
                    &healthy,
                    Some(&cut_off),
                    &mut |_| Ok(()),
                    &works,
                    &client,
                    &arn,
                    at,
                )
                .await?
            } else {
                cell(
                    &healthy,
                    None,
                    &mut |down| if down { redis.stop() } else { redis.resume() },
                    &works,
                    &client,
                    &arn,
                    at,
                )
                .await?
            };
            // Converged includes the clean-up: only AWSCURRENT's and AWSPREVIOUS's passwords remain.
            let count = password_count(&mut redis.admin().await?, &user).await?;
            assert_eq!(
                count, 2,
                "{dep} down at {}: the user has {count} passwords",
                STEPS[at]
            );
            cells.push(text);
        }
        rows.insert(dep, cells);
    }
    print_matrix("rotate-redis", &rows);
    assert!(
        rows["Redis"][1].starts_with("fails")
            && rows["Redis"][2].starts_with("fails")
            && rows["Redis"][3].starts_with("fails")
    );
    Ok(())
}

#[tokio::test]
async fn rotate_openai_key() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let account = MotoAccount::new();
    let client = stack.secrets_manager(&account);
    let config = |base: String| {
        rotate_openai_key::Config::from_lookup(move |k| {
            (k == "OPENAI_BASE_URL").then(|| base.clone())
        })
        .expect("config")
    };
    let healthy =
        rotate_openai_key::rotator(client.clone(), config(stack.openai_base_url.clone()))?;
    let cut_off = rotate_openai_key::rotator(
        secrets_manager_at(&dead_endpoint(), &account),
        config(stack.openai_base_url.clone()),
    )?;
    let no_openai = rotate_openai_key::rotator(client.clone(), config(dead_endpoint()))?;
    let base = stack.openai_base_url.clone();
    let works = move |v: Value| -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>> {
        let base = base.clone();
        Box::pin(async move {
            let key = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v["apiKey"].as_str().unwrap_or_default().to_string());
            reqwest::Client::new()
                .get(format!("{base}/v1/models"))
                .bearer_auth(key)
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        })
    };
    let mut rows = BTreeMap::new();
    for dep in ["AWS emulator", "OpenAI"] {
        let mut cells = Vec::new();
        for at in 0..STEPS.len() {
            let (old, new) = (
                format!("sk-{}", unique("old")),
                format!("sk-{}", unique("new")),
            );
            stack.openai_key(&old, 200).await?;
            stack.openai_key(&new, 200).await?;
            // The JSON form, so value_at (which parses JSON) reads it.
            let arn = create_secret(
                &client,
                &unique("macro-ai/dev/openai-api-key"),
                &json!({"apiKey": old}),
            )
            .await?;
            client
                .put_secret_value()
                .secret_id(&arn)
                .secret_string(json!({"apiKey": new}).to_string())
                .version_stages("CANDIDATE")
                .send()
                .await?;
            let broken = if dep == "AWS emulator" {
                &cut_off
            } else {
                &no_openai
            };
            cells.push(
                cell(
                    &healthy,
                    Some(broken),
                    &mut |_| Ok(()),
                    &works,
                    &client,
                    &arn,
                    at,
                )
                .await?,
            );
        }
        rows.insert(dep, cells);
    }
    print_matrix("rotate-openai-key", &rows);
    assert!(
        rows["OpenAI"][2].starts_with("fails"),
        "testSecret needs OpenAI"
    );
    Ok(())
}

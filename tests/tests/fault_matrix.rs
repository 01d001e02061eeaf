//! The fault matrix of rotation: for each rotation function, each step, and each dependency
//! (the backend — PostgreSQL, Redis, the OpenAI stub — and the AWS emulator) unavailable at that
//! step: the step fails cleanly (a retryable error type) or does not need the dependency, the
//! retry converges, and AWSCURRENT authenticates at every point where its backend is up. Prints
//! the matrix as a table.

// The matrix is indexed by step position: `at` is passed on, not only used to index STEPS.
#![allow(clippy::needless_range_loop)]

use anyhow::{Result, bail};
use serde_json::{Value, json};
use shared::aws::elasticache::ElastiCacheClient;
use shared::aws::secrets_manager::SecretsManagerStore;
use shared::openai::OpenAiBackend;
use shared::postgres::{PostgresBackend, PostgresOptions};
use shared::redis::RedisBackend;
use shared::rotation::{CredentialBackend, PasswordPolicy, Rotator, SecretStore};
use std::collections::BTreeMap;
use std::sync::Arc;
use tests::faults::{FaultyStore, LosingProxy, Stop};
use tests::invoke;
use tests::redis::{
    ADMIN_SECRET, PrivateRedis, create_user, logs_in, password_count, self_managed,
};
use tests::rotation::{STEPS, create_secret, start_rotation, step_event, value_at};
use tests::{
    MotoAccount, PrivateCluster, Stack, capture_logs, dead_endpoint, pg_connect,
    secrets_manager_at, unique,
};
use tokio::sync::Notify;

/// rotate-redis's configuration as deployed for a self-managed Redis.
fn redis_config() -> rotate_redis::Config {
    rotate_redis::Config {
        redis: self_managed(),
        ..Default::default()
    }
}

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
    let master = json!({"username": "postgres", "password": cluster.admin_password, "engine": "postgres",
                        "host": "127.0.0.1", "port": cluster.port, "dbname": "postgres", "sslmode": "disable"});
    let master_arn = create_secret(&client, "macro-ai/staging/database-master", &master).await?;
    let config = rotate_postgres::Config {
        postgres: PostgresOptions {
            master_secret_arn: Some(master_arn.clone()),
            ..PostgresOptions::default()
        },
        ..Default::default()
    };
    let healthy = rotate_postgres::rotator(client.clone(), config.clone());
    let cut_off = rotate_postgres::rotator(secrets_manager_at(&dead_endpoint(), &account), config);
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
    let healthy = rotate_redis::rotator(client.clone(), None, redis_config())?;
    let cut_off = rotate_redis::rotator(
        secrets_manager_at(&dead_endpoint(), &account),
        None,
        redis_config(),
    )?;
    let admin_arn = create_secret(&client, ADMIN_SECRET, &json!({"username": "admin", "password": redis.admin_password, "host": "127.0.0.1", "port": redis.port})).await?;
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
                .query(
                    redis::cmd("ACL")
                        .arg("SETUSER")
                        .arg(user.as_bytes())
                        .arg(stale.as_bytes()),
                )
                .await?;
            admin.query(redis::cmd("ACL").arg("SAVE")).await?;
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

type Works = dyn Fn(Value) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>>;

/// Every store call of every step, stopped before it and after the store applied it (its
/// response lost); the stopped step is dropped, as Lambda drops a timed-out invocation. The
/// rotation retried from that step converges, and AWSCURRENT works after every retried step.
/// Returns one row per step: how many store calls it makes, all interrupted both ways.
async fn interrupt_every_store_call<B: CredentialBackend + Clone>(
    backend: &B,
    policy: &PasswordPolicy,
    client: &aws_sdk_secretsmanager::Client,
    new_secret: impl AsyncFn() -> Result<String>,
    works: &Works,
) -> Result<Vec<(String, usize)>> {
    let healthy = Rotator::new(
        SecretsManagerStore::new(client.clone()),
        backend.clone(),
        policy.clone(),
    );
    let mut rows = Vec::new();
    for at in 0..STEPS.len() {
        let step = STEPS[at];
        let mut calls = 0;
        'calls: for k in 0.. {
            for stop in [Stop::Before(k), Stop::After(k)] {
                let arn = new_secret().await?;
                let token = start_rotation(client, &arn).await?;
                for earlier in &STEPS[..at] {
                    if let Err(e) = invoke(&healthy, step_event(earlier, &arn, &token)).await {
                        bail!("{earlier} before the interruption failed: {}", e.message());
                    }
                }
                let hung = Arc::new(Notify::new());
                let faulty = Rotator::new(
                    FaultyStore::new(
                        SecretsManagerStore::new(client.clone()),
                        Some(stop),
                        hung.clone(),
                    ),
                    backend.clone(),
                    policy.clone(),
                );
                let finished = tokio::select! {
                    r = invoke(&faulty, step_event(step, &arn, &token)) => Some(r),
                    _ = hung.notified() => None,
                };
                drop(faulty);
                if let Some(r) = finished {
                    // The step made fewer than k + 1 calls: every call of it has been covered.
                    if let Err(e) = r {
                        bail!("{step} without a fault failed: {}", e.message());
                    }
                    break 'calls;
                }
                calls = calls.max(k + 1);
                if !works(value_at(client, &arn, "AWSCURRENT").await?).await {
                    bail!("AWSCURRENT stopped working when {step} was stopped at {stop:?}");
                }
                for retried in &STEPS[at..] {
                    if let Err(e) = invoke(&healthy, step_event(retried, &arn, &token)).await {
                        bail!(
                            "{step} stopped at {stop:?}: the retried {retried} failed: {} ({})",
                            e.message(),
                            e.error_type()
                        );
                    }
                    if !works(value_at(client, &arn, "AWSCURRENT").await?).await {
                        bail!("{step} stopped at {stop:?}: AWSCURRENT fails after {retried}");
                    }
                }
                let labels = tests::rotation::stages(client, &arn).await?;
                if labels.get(&token).map(Vec::as_slice) != Some(&["AWSCURRENT".to_string()][..])
                    || labels.values().flatten().any(|l| l == "AWSPENDING")
                {
                    bail!("{step} stopped at {stop:?}: did not converge: {labels:?}");
                }
            }
        }
        rows.push((step.to_string(), calls));
    }
    Ok(rows)
}

fn print_interruptions(function: &str, rows: &[(String, usize)]) {
    println!("\n{function}: every store call interrupted before and after it applied");
    println!("| step | store calls | interruptions | retry |");
    println!("|---|---|---|---|");
    for (step, calls) in rows {
        println!("| {step} | {calls} | {} | converges |", calls * 2);
    }
}

#[tokio::test]
async fn every_store_call_interrupted_in_every_rotation_function() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let policy = PasswordPolicy::default();

    // rotate-postgres, alternating users with an RDS-style master secret.
    let master = json!({"username": stack.pg_admin_user, "password": stack.pg_admin_password()});
    let master_arn = create_secret(&client, "macro-ai/staging/database-master", &master).await?;
    let (host, port) = (stack.pg_host.clone(), stack.pg_port);
    let pg_works = move |v: Value| -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>> {
        let host = host.clone();
        Box::pin(async move {
            let (u, p) = (
                v["username"].as_str().unwrap_or_default().to_string(),
                v["password"].as_str().unwrap_or_default().to_string(),
            );
            pg_connect(&host, port, &u, &p, "postgres").await.is_ok()
        })
    };
    let new_pg = async || -> Result<String> {
        let (user, password) = (unique("app"), unique("initial"));
        let mut admin = stack.pg_admin().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {user} LOGIN PASSWORD '{password}'"
        )))
        .execute(&mut admin)
        .await?;
        let secret = json!({"username": user, "password": password, "engine": "postgres",
                            "host": stack.pg_host, "port": stack.pg_port, "dbname": "postgres",
                            "sslmode": "require", "masterarn": master_arn});
        create_secret(&client, &unique("macro-ai/staging/database"), &secret).await
    };
    let pg = interrupt_every_store_call(
        &PostgresBackend::new(PostgresOptions {
            pinned: Some((stack.pg_host.clone(), stack.pg_port)),
            master_secret_arn: Some(master_arn.clone()),
            ..PostgresOptions::default()
        }),
        &policy,
        &client,
        new_pg,
        &pg_works,
    )
    .await?;
    print_interruptions("rotate-postgres (alternating users)", &pg);

    // rotate-redis, an ACL user with a stale password the clean-up removes.
    let admin_arn = create_secret(
        &client,
        ADMIN_SECRET,
        &json!({"username": stack.redis_admin_user, "password": stack.redis_admin_password(),
                "host": stack.redis_host, "port": stack.redis_port}),
    )
    .await?;
    let (rhost, rport) = (stack.redis_host.clone(), stack.redis_port);
    let redis_works =
        move |v: Value| -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>> {
            let rhost = rhost.clone();
            Box::pin(async move {
                logs_in(
                    &rhost,
                    rport,
                    v["username"].as_str().unwrap_or_default(),
                    v["password"].as_str().unwrap_or_default(),
                )
                .await
                .unwrap_or(false)
            })
        };
    let new_redis = async || -> Result<String> {
        let (user, password) = (unique("app"), unique("initial"));
        create_user(&mut stack.redis_admin().await?, &user, &password).await?;
        let secret = json!({"username": user, "password": password, "host": stack.redis_host,
                            "port": stack.redis_port, "adminarn": admin_arn});
        create_secret(&client, &unique("macro-ai/dev/redis"), &secret).await
    };
    let redis = interrupt_every_store_call(
        &RedisBackend::<ElastiCacheClient>::new(self_managed())?,
        &policy,
        &client,
        new_redis,
        &redis_works,
    )
    .await?;
    print_interruptions("rotate-redis", &redis);

    // rotate-openai-key, a staged candidate.
    let base = stack.openai_base_url.clone();
    let key_works = move |v: Value| -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>> {
        let base = base.clone();
        Box::pin(async move {
            reqwest::Client::new()
                .get(format!("{base}/v1/models"))
                .bearer_auth(v["apiKey"].as_str().unwrap_or_default())
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        })
    };
    let new_key = async || -> Result<String> {
        let (old, new) = (
            format!("sk-{}", unique("old")),
            format!("sk-{}", unique("new")),
        );
        stack.openai_key(&old, 200).await?;
        stack.openai_key(&new, 200).await?;
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
        Ok(arn)
    };
    let openai = interrupt_every_store_call(
        &OpenAiBackend::new(
            rotate_openai_key::Config::from_lookup(|k| {
                (k == "OPENAI_BASE_URL").then(|| stack.openai_base_url.clone())
            })?
            .openai,
        )?,
        &policy,
        &client,
        new_key,
        &key_works,
    )
    .await?;
    print_interruptions("rotate-openai-key (staged candidate)", &openai);

    // rotate-app-secrets: after any interruption and its retry, a token signed with the key the
    // rotation replaced still verifies (the key, `previous` or `next`): the overlap is never lost.
    // The secret already publishes `next`, so the rotation promotes it and K0 becomes `previous`.
    const K0: &str = "k0-signing-key-of-this-matrix-0123456789-0123456789-0123456789-x";
    const K1: &str = "k1-published-key-of-this-matrix-0123456789-0123456789-01234567-x";
    let jwt_works = |v: Value| -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>> {
        Box::pin(async move {
            let message = b"header.payload";
            let keys: Vec<&str> = [
                v["accessTokenSecret"].as_str(),
                v["previous"]["accessTokenSecret"].as_str(),
                v["next"]["accessTokenSecret"].as_str(),
            ]
            .into_iter()
            .flatten()
            .collect();
            shared::appsecrets::verifies(&keys, message, &shared::appsecrets::sign(K0, message))
        })
    };
    let new_jwt = async || -> Result<String> {
        create_secret(
            &client,
            &unique("macro-ai/dev/jwt-secrets"),
            &json!({"accessTokenSecret": K0, "next": {"accessTokenSecret": K1}}),
        )
        .await
    };
    let app = interrupt_every_store_call(
        // Tokens of 29 days: start_rotation schedules every 30 (a rotation may come a day early).
        &shared::appsecrets::AppSecretsBackend::new(shared::appsecrets::AppSecretOptions {
            token_max_age: std::time::Duration::from_secs(696 * 3600),
            min_key_age: std::time::Duration::ZERO,
            ..Default::default()
        }),
        &policy,
        &client,
        new_jwt,
        &jwt_works,
    )
    .await?;
    print_interruptions("rotate-app-secrets (jwt-secrets)", &app);

    for rows in [&pg, &redis, &openai, &app] {
        // Every step reads the secret's metadata at least; finishSecret moves two labels.
        assert!(rows.iter().all(|(_, calls)| *calls >= 2), "{rows:?}");
        assert!(
            rows[3].1 >= 3,
            "finishSecret: describe and two label moves: {rows:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn postgres_replies_lost_after_the_server_applied_them() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let master = json!({"username": stack.pg_admin_user, "password": stack.pg_admin_password()});
    let master_arn = create_secret(&client, "macro-ai/staging/database-master", &master).await?;
    // Single user: the reply to ALTER ROLE; alternating users: the reply to COMMIT.
    for (tag, alternating) in [("ALTER ROLE", false), ("COMMIT", true)] {
        let proxy = LosingProxy::start(stack.pg_port, tag).await?;
        // Plaintext (the proxy reads the protocol), pinned to the proxy as to a database.
        let f = rotate_postgres::rotator(
            client.clone(),
            rotate_postgres::Config {
                postgres: PostgresOptions {
                    min_sslmode: shared::postgres::SslMode::Disable,
                    pinned: Some(("127.0.0.1".into(), proxy.port)),
                    master_secret_arn: Some(master_arn.clone()),
                    ..PostgresOptions::default()
                },
                ..Default::default()
            },
        );
        let (user, initial) = (unique("app"), unique("initial"));
        let mut admin = stack.pg_admin().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {user} LOGIN PASSWORD '{initial}'"
        )))
        .execute(&mut admin)
        .await?;
        // Plaintext through the proxy, so it can read the protocol.
        let mut secret = json!({"username": user, "password": initial, "engine": "postgres",
                                "host": "127.0.0.1", "port": proxy.port, "dbname": "postgres",
                                "sslmode": "disable"});
        if alternating {
            secret["masterarn"] = json!(master_arn);
        }
        let arn = create_secret(&client, &unique("macro-ai/dev/database"), &secret).await?;
        let token = start_rotation(&client, &arn).await?;
        let created = invoke(&f, step_event("createSecret", &arn, &token)).await;
        assert!(created.is_ok());
        proxy.arm();
        let r = invoke(&f, step_event("setSecret", &arn, &token)).await;
        assert!(
            proxy.lost.load(std::sync::atomic::Ordering::SeqCst),
            "{tag}: no reply lost: {}",
            tests::rotation::outcome(&r)
        );
        let e = r
            .as_ref()
            .expect_err("the step cannot know the change was applied");
        assert_eq!(
            e.error_type(),
            "BackendUnavailable",
            "{tag}: {}",
            e.message()
        );
        // The server did apply it: the retry finds the pending login working.
        let retried = invoke(&f, step_event("setSecret", &arn, &token)).await;
        assert_eq!(tests::rotation::outcome(&retried), "alreadySet", "{tag}");
        for step in ["testSecret", "finishSecret"] {
            let r = invoke(&f, step_event(step, &arn, &token)).await;
            assert!(r.is_ok(), "{tag}: {step}");
        }
        let current = value_at(&client, &arn, "AWSCURRENT").await?;
        let login = current["username"].as_str().unwrap_or_default();
        assert!(
            stack
                .pg_connect(login, current["password"].as_str().unwrap_or_default())
                .await
                .is_ok(),
            "{tag}: AWSCURRENT logs in"
        );
    }
    Ok(())
}

/// finishSecret's clean-up keeps what the step knew (the promoted and the replaced version, read
/// by id), so reads by stage that still show the labels from before the move change nothing: the
/// new password is not removed as "older than AWSPREVIOUS".
#[tokio::test]
async fn a_stale_read_after_the_label_move_never_removes_the_new_password() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let admin_arn = create_secret(
        &client,
        ADMIN_SECRET,
        &json!({"username": stack.redis_admin_user, "password": stack.redis_admin_password(),
                "host": stack.redis_host, "port": stack.redis_port}),
    )
    .await?;
    let (user, initial) = (unique("app"), unique("initial"));
    create_user(&mut stack.redis_admin().await?, &user, &initial).await?;
    let arn = create_secret(
        &client,
        &unique("macro-ai/dev/redis"),
        &json!({"username": user, "password": initial, "host": stack.redis_host,
                "port": stack.redis_port, "adminarn": admin_arn}),
    )
    .await?;
    let healthy = rotate_redis::rotator(client.clone(), None, redis_config())?;
    // One rotation first, so AWSPREVIOUS exists and the second clean-up has something to remove.
    tests::rotation::rotate(&healthy, &client, &arn).await?;
    let token = start_rotation(&client, &arn).await?;
    for step in ["createSecret", "setSecret", "testSecret"] {
        if let Err(e) = invoke(&healthy, step_event(step, &arn, &token)).await {
            bail!("{step}: {}", e.message());
        }
    }
    // finishSecret through a store whose reads by stage still see the labels before the move.
    let stale = tests::faults::StaleStore::new(SecretsManagerStore::new(client.clone()));
    stale.freeze(&arn).await?;
    let finishing = Rotator::new(
        stale,
        RedisBackend::<ElastiCacheClient>::new(self_managed())?,
        PasswordPolicy::default(),
    );
    if let Err(e) = invoke(&finishing, step_event("finishSecret", &arn, &token)).await {
        bail!("finishSecret: {}", e.message());
    }
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    let previous = value_at(&client, &arn, "AWSPREVIOUS").await?;
    let pw = |v: &Value| v["password"].as_str().unwrap_or_default().to_string();
    assert!(
        logs_in(&stack.redis_host, stack.redis_port, &user, &pw(&current)).await?,
        "the promoted password must survive a stale read"
    );
    assert!(logs_in(&stack.redis_host, stack.redis_port, &user, &pw(&previous)).await?);
    assert!(!logs_in(&stack.redis_host, stack.redis_port, &user, &initial).await?);
    assert_eq!(
        password_count(&mut stack.redis_admin().await?, &user).await?,
        2
    );
    Ok(())
}

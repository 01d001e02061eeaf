//! Benchmarks of the release `bootstrap` binaries, run as Lambda runs them (a Runtime API on
//! loopback, the local stack behind them): binary size, cold init (process start to the first
//! request for work, median of 20) and peak RSS (VmHWM) of a full invocation; and after-hours
//! scaling of 200 services, concurrent against one at a time. Not a test: it prints tables (on
//! stderr; stdout carries the in-process scaler's metric lines).
//! `scripts/bench` builds the binaries and runs this.

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};
use shared::aws::ecs::EcsFleet;
use shared::aws::sns::SnsNotifier;
use shared::capacity::{Bounds, FleetError, ServiceFleet, ServiceId, ServiceState};
use shared::scaling::{Scaler, ScalingRequest};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tests::redis::create_user;
use tests::rotation::{STEPS, create_secret, start_rotation, step_event};
use tests::runtime_api::{Answer, RuntimeApi};
use tests::{MotoAccount, Stack, root, unique};

/// moto's default account: the account a function sees when it sends no account header.
const DEFAULT_ACCOUNT: &str = "123456789012";

/// `target/lambda/<name>/bootstrap`, or under `BENCH_LAMBDA_DIR` (another build's, to compare
/// releases: the same driver, stack and events).
fn binary(name: &str) -> PathBuf {
    std::env::var_os("BENCH_LAMBDA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/lambda"))
        .join(name)
        .join("bootstrap")
}

fn spawn(name: &str, api: &RuntimeApi, stack: &Stack, env: &[(&str, String)]) -> Result<Child> {
    let mut command = Command::new(binary(name));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_ENDPOINT_URL", &stack.aws_endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.spawn().with_context(|| {
        format!(
            "starting {} (run `scripts/bench`, which builds it)",
            binary(name).display()
        )
    })
}

fn peak_rss_kib(child: &Child) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/<pid>/status")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Process start → first `/next`, median of `runs`.
fn cold_init(name: &str, stack: &Stack, env: &[(&str, String)], runs: usize) -> Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let api = RuntimeApi::start()?;
        let started = Instant::now();
        let mut child = spawn(name, &api, stack, env)?;
        let first = api.wait_first_next(Duration::from_secs(10));
        let _ = child.kill();
        let _ = child.wait();
        match first {
            Some(t) => times.push(t - started),
            None => bail!("{name} never asked for work: {:?}", api.init_error()),
        }
    }
    Ok(median(times))
}

struct Row {
    function: &'static str,
    size_bytes: u64,
    cold_init: Duration,
    run: &'static str,
    run_time: Duration,
    peak_rss_kib: u64,
}

/// Runs `events` through one warm process of `name`; every answer must be a response.
fn measure(
    name: &'static str,
    run: &'static str,
    stack: &Stack,
    env: &[(&str, String)],
    events: Vec<Value>,
) -> Result<Row> {
    let api = RuntimeApi::start()?;
    let mut child = spawn(name, &api, stack, env)?;
    api.wait_first_next(Duration::from_secs(10))
        .context("no cold init")?;
    let count = events.len();
    let started = Instant::now();
    for e in events {
        api.push(e);
    }
    let answers = api.wait_answers(count, Duration::from_secs(120));
    let run_time = started.elapsed();
    let rss = peak_rss_kib(&child);
    let _ = child.kill();
    let _ = child.wait();
    if answers.len() != count || answers.iter().any(|(_, a)| matches!(a, Answer::Error(_))) {
        bail!("{name}: the run did not complete: {answers:?}");
    }
    Ok(Row {
        function: name,
        size_bytes: std::fs::metadata(binary(name))?.len(),
        cold_init: cold_init(name, stack, env, 20)?,
        run,
        run_time,
        peak_rss_kib: rss?,
    })
}

fn rotation_events(arn: &str, token: &str) -> Vec<Value> {
    STEPS.iter().map(|s| step_event(s, arn, token)).collect()
}

async fn rotate_postgres(stack: &'static Stack) -> Result<Row> {
    let (arn, token) = pg_fixture_on(stack, Wire::Require).await?;
    measure(
        "rotate-postgres",
        "full rotation (4 steps)",
        stack,
        &[],
        rotation_events(&arn, &token),
    )
}

async fn rotate_redis(stack: &'static Stack) -> Result<Row> {
    let admin_arn = redis_admin_on(stack, Wire::Plaintext).await?;
    let (arn, token) = redis_fixture_on(stack, Wire::Plaintext, &admin_arn).await?;
    measure(
        "rotate-redis",
        "full rotation (4 steps)",
        stack,
        &[("REDIS_ADMIN_SECRET_ARN", admin_arn)],
        rotation_events(&arn, &token),
    )
}

async fn rotate_openai_key(stack: &'static Stack) -> Result<Row> {
    let client = stack.secrets_manager(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let (old, new) = (
        format!("sk-{}", unique("old")),
        format!("sk-{}", unique("new")),
    );
    stack.openai_key(&old, 200).await?;
    stack.openai_key(&new, 200).await?;
    let arn = client
        .create_secret()
        .name(unique("bench/openai"))
        .secret_string(&old)
        .send()
        .await?
        .arn()
        .unwrap_or_default()
        .to_string();
    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(&new)
        .version_stages("CANDIDATE")
        .send()
        .await?;
    let token = start_rotation(&client, &arn).await?;
    let env = [("OPENAI_BASE_URL", stack.openai_base_url.clone())];
    measure(
        "rotate-openai-key",
        "full rotation (4 steps)",
        stack,
        &env,
        rotation_events(&arn, &token),
    )
}

async fn rotate_app_secrets(stack: &'static Stack) -> Result<Row> {
    let client = stack.secrets_manager(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let key: String = unique("bench-jwt")
        .chars()
        .chain(std::iter::repeat('k'))
        .take(64)
        .collect();
    let arn = create_secret(
        &client,
        &unique("bench/jwt-secrets"),
        &json!({"accessTokenSecret": key}),
    )
    .await?;
    let token = start_rotation(&client, &arn).await?;
    // start_rotation schedules every 30 days: tokens of 29 days fit (a rotation may come early).
    let env = [
        ("TOKEN_MAX_AGE_HOURS", "696".to_string()),
        ("MIN_KEY_AGE_HOURS", "0".to_string()),
    ];
    measure(
        "rotate-app-secrets",
        "full rotation (4 steps)",
        stack,
        &env,
        rotation_events(&arn, &token),
    )
}

/// A fresh single-user PostgreSQL secret, staged for rotation; returns (arn, token, user).
async fn pg_rotation_fixture(stack: &'static Stack) -> Result<(String, String)> {
    let client = stack.secrets_manager(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let (user, password) = (unique("bench"), unique("initial"));
    let mut admin = stack.pg_admin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {user} LOGIN PASSWORD '{password}'"
    )))
    .execute(&mut admin)
    .await?;
    let secret = json!({"username": user, "password": password, "engine": "postgres",
                        "host": stack.pg_host, "port": stack.pg_port, "dbname": "postgres",
                        "sslmode": "require"});
    let arn = create_secret(&client, &unique("bench/database"), &secret).await?;
    let token = start_rotation(&client, &arn).await?;
    Ok((arn, token))
}

/// The same rotation written as straight-line SDK and SQL calls, with no protocol guards and no
/// idempotence checks: the floor the function is compared with.
/// (TLS, as the function logs in: its floor is `require`.)
async fn raw_rotation(stack: &'static Stack, arn: &str, token: &str) -> Result<Duration> {
    use aws_sdk_secretsmanager::Client;
    let client: Client = stack.secrets_manager(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let started = Instant::now();
    let current: Value = serde_json::from_str(
        client
            .get_secret_value()
            .secret_id(arn)
            .version_stage("AWSCURRENT")
            .send()
            .await?
            .secret_string()
            .unwrap_or_default(),
    )?;
    let password = client
        .get_random_password()
        .password_length(32)
        .exclude_characters(":/@\"'\\`")
        .send()
        .await?
        .random_password()
        .unwrap_or_default()
        .to_string();
    let mut pending = current.clone();
    pending["password"] = json!(password);
    client
        .put_secret_value()
        .secret_id(arn)
        .client_request_token(token)
        .secret_string(pending.to_string())
        .version_stages("AWSPENDING")
        .send()
        .await?;
    let user = current["username"].as_str().unwrap_or_default().to_string();
    let mut conn = stack
        .pg_connect_tls(&user, current["password"].as_str().unwrap_or_default())
        .await?;
    let verifier = shared::postgres::scram::verifier(&password)?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER ROLE \"{user}\" WITH PASSWORD '{verifier}'"
    )))
    .execute(&mut conn)
    .await?;
    let mut test = stack.pg_connect_tls(&user, &password).await?;
    sqlx::query("SELECT 1").execute(&mut test).await?;
    let d = client.describe_secret().secret_id(arn).send().await?;
    let old = d.version_ids_to_stages().and_then(|m| {
        m.iter()
            .find(|(_, s)| s.iter().any(|l| l == "AWSCURRENT"))
            .map(|(k, _)| k.clone())
    });
    client
        .update_secret_version_stage()
        .secret_id(arn)
        .version_stage("AWSCURRENT")
        .move_to_version_id(token)
        .set_remove_from_version_id(old)
        .send()
        .await?;
    Ok(started.elapsed())
}

/// Where a rotation's time goes: each kind of call, how many a rotation makes, their total.
#[derive(Default)]
struct Breakdown {
    parts: Vec<(&'static str, u32, Duration)>,
    total: Duration,
}

impl Breakdown {
    const SECRETS_MANAGER: &'static str = "Secrets Manager calls (moto over HTTP)";
    const LOGIN: &'static str = "PostgreSQL logins (TCP, TLS `require`, SCRAM)";
    const SQL: &'static str = "SQL statements (simple protocol, one round trip each)";
    const VERIFIER: &'static str = "our SCRAM verifier (4096 iterations)";

    async fn time<T>(
        &mut self,
        kind: &'static str,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let started = Instant::now();
        let out = work.await;
        let took = started.elapsed();
        match self.parts.iter_mut().find(|(k, ..)| *k == kind) {
            Some(part) => {
                part.1 += 1;
                part.2 += took;
            }
            None => self.parts.push((kind, 1, took)),
        }
        out
    }

    /// The sum of `runs` breakdowns, each part's time divided by the number of runs.
    fn mean(runs: &[Breakdown]) -> Breakdown {
        let mut mean = Breakdown::default();
        let n = runs.len().max(1) as u32;
        for run in runs {
            mean.total += run.total / n;
            for (kind, count, took) in &run.parts {
                match mean.parts.iter_mut().find(|(k, ..)| k == kind) {
                    Some(part) => part.2 += *took / n,
                    None => mean.parts.push((kind, *count, *took / n)),
                }
            }
        }
        mean
    }
}

/// The calls the function makes for one single-user rotation (the protocol's guards and
/// idempotence reads included, in its order, on its wire: TLS `require`), made directly and in
/// sequence, each timed: what the function is measured against, and where the time goes.
async fn same_calls_rotation(stack: &'static Stack, arn: &str, token: &str) -> Result<Breakdown> {
    const SM: &str = Breakdown::SECRETS_MANAGER;
    const SET_PATH: &str = "SET search_path = pg_catalog, pg_temp";
    let client = stack.secrets_manager(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let mut b = Breakdown::default();
    let started = Instant::now();
    let get = |stage: &'static str, version: Option<&str>| {
        client
            .get_secret_value()
            .secret_id(arn)
            .version_stage(stage)
            .set_version_id(version.map(str::to_string))
            .send()
    };
    // createSecret
    b.time(SM, client.describe_secret().secret_id(arn).send())
        .await?;
    let current: Value = serde_json::from_str(
        b.time(SM, get("AWSCURRENT", None))
            .await?
            .secret_string()
            .unwrap_or_default(),
    )?;
    let _ = b.time(SM, get("AWSPENDING", Some(token))).await;
    let password = b
        .time(
            SM,
            client
                .get_random_password()
                .password_length(32)
                .exclude_characters(":/@\"'\\`")
                .send(),
        )
        .await?
        .random_password()
        .unwrap_or_default()
        .to_string();
    let mut pending = current.clone();
    pending["password"] = json!(password);
    b.time(
        SM,
        client
            .put_secret_value()
            .secret_id(arn)
            .client_request_token(token)
            .secret_string(pending.to_string())
            .version_stages("AWSPENDING")
            .send(),
    )
    .await?;
    // setSecret: possession with AWSCURRENT, then the change.
    b.time(SM, client.describe_secret().secret_id(arn).send())
        .await?;
    b.time(SM, get("AWSCURRENT", None)).await?;
    b.time(SM, get("AWSPENDING", Some(token))).await?;
    let user = current["username"].as_str().unwrap_or_default().to_string();
    let mut conn = b
        .time(
            Breakdown::LOGIN,
            stack.pg_connect_tls(&user, current["password"].as_str().unwrap_or_default()),
        )
        .await?;
    b.time(Breakdown::SQL, sqlx::raw_sql(SET_PATH).execute(&mut conn))
        .await?;
    let verifier = b
        .time(Breakdown::VERIFIER, async {
            shared::postgres::scram::verifier(&password)
        })
        .await?;
    b.time(
        Breakdown::SQL,
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER ROLE \"{user}\" WITH PASSWORD '{verifier}'"
        )))
        .execute(&mut conn),
    )
    .await?;
    // testSecret
    b.time(SM, client.describe_secret().secret_id(arn).send())
        .await?;
    b.time(SM, get("AWSPENDING", Some(token))).await?;
    let mut test = b
        .time(Breakdown::LOGIN, stack.pg_connect_tls(&user, &password))
        .await?;
    b.time(Breakdown::SQL, sqlx::raw_sql(SET_PATH).execute(&mut test))
        .await?;
    b.time(Breakdown::SQL, sqlx::raw_sql("SELECT 1").execute(&mut test))
        .await?;
    // finishSecret
    let d = b
        .time(SM, client.describe_secret().secret_id(arn).send())
        .await?;
    let old = d.version_ids_to_stages().and_then(|m| {
        m.iter()
            .find(|(_, s)| s.iter().any(|l| l == "AWSCURRENT"))
            .map(|(k, _)| k.clone())
    });
    b.time(
        SM,
        client
            .update_secret_version_stage()
            .secret_id(arn)
            .version_stage("AWSCURRENT")
            .move_to_version_id(token)
            .set_remove_from_version_id(old)
            .send(),
    )
    .await?;
    b.time(
        SM,
        client
            .tag_resource()
            .secret_id(arn)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("macro-ai:current-since")
                    .value(jiff::Timestamp::now().to_string())
                    .build(),
            )
            .send(),
    )
    .await?;
    b.time(
        SM,
        client
            .update_secret_version_stage()
            .secret_id(arn)
            .version_stage("AWSPENDING")
            .remove_from_version_id(token)
            .send(),
    )
    .await?;
    b.total = started.elapsed();
    Ok(b)
}

/// Median wall time of a full rotation: the function (release bootstrap, through the Runtime
/// API) against the raw calls, 7 runs each on fresh secrets.
async fn rotation_against_raw(
    stack: &'static Stack,
) -> Result<(Duration, Duration, Breakdown, Duration)> {
    let mut function = Vec::new();
    let mut raw = Vec::new();
    let mut same = Vec::new();
    let api = RuntimeApi::start()?;
    let mut child = spawn("rotate-postgres", &api, stack, &[])?;
    api.wait_first_next(Duration::from_secs(10))
        .context("no cold init")?;
    let mut answered = 0;
    for _ in 0..7 {
        let (arn, token) = pg_rotation_fixture(stack).await?;
        let started = Instant::now();
        for e in rotation_events(&arn, &token) {
            api.push(e);
        }
        answered += 4;
        let answers = api.wait_answers(answered, Duration::from_secs(60));
        function.push(started.elapsed());
        if answers.iter().any(|(_, a)| matches!(a, Answer::Error(_))) {
            bail!("a benchmark rotation failed: {answers:?}");
        }
        let (arn, token) = pg_rotation_fixture(stack).await?;
        raw.push(raw_rotation(stack, &arn, &token).await?);
        let (arn, token) = pg_rotation_fixture(stack).await?;
        same.push(same_calls_rotation(stack, &arn, &token).await?);
    }
    let _ = child.kill();
    let _ = child.wait();
    let breakdown = Breakdown::mean(&same);
    let same = median(same.iter().map(|b| b.total).collect());
    Ok((median(function), same, breakdown, median(raw)))
}

/// How a rotation function reaches its server, for the TLS comparison.
#[derive(Clone, Copy, PartialEq)]
enum Wire {
    /// No TLS (`sslmode` disable, `redis://`): the baseline.
    Plaintext,
    /// PostgreSQL's floor, `require`: encrypted, the server's certificate not checked.
    Require,
    /// Encrypted and verified against the stack's private CA (`verify-full`, `rediss://`).
    Verified,
}

/// A PostgreSQL secret on `wire`, pending a rotation: (ARN, token).
async fn pg_fixture_on(stack: &'static Stack, wire: Wire) -> Result<(String, String)> {
    let client = stack.secrets_manager(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let (user, password) = (unique("bench"), unique("initial"));
    let mut admin = stack.pg_admin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {user} LOGIN PASSWORD '{password}'"
    )))
    .execute(&mut admin)
    .await?;
    let (host, sslmode) = match wire {
        Wire::Plaintext => (stack.pg_host.as_str(), "disable"),
        Wire::Require => (stack.pg_host.as_str(), "require"),
        // The server certificate names localhost.
        Wire::Verified => ("localhost", "verify-full"),
    };
    let secret = json!({"username": user, "password": password, "engine": "postgres",
                        "host": host, "port": stack.pg_port, "dbname": "postgres",
                        "sslmode": sslmode});
    let arn = create_secret(&client, &unique("bench/database"), &secret).await?;
    let token = start_rotation(&client, &arn).await?;
    Ok((arn, token))
}

/// The Redis admin secret for `wire`: its ARN is the function's REDIS_ADMIN_SECRET_ARN.
async fn redis_admin_on(stack: &'static Stack, wire: Wire) -> Result<String> {
    let client = stack.secrets_manager(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let admin = match wire {
        Wire::Plaintext => json!({"username": stack.redis_admin_user,
            "password": stack.redis_admin_password(), "host": stack.redis_host,
            "port": stack.redis_port}),
        _ => json!({"username": stack.redis_admin_user,
            "password": stack.redis_admin_password(), "host": "localhost",
            "port": stack.redis_tls_port, "tls": true}),
    };
    create_secret(&client, &unique("bench/redis-admin"), &admin).await
}

/// A Redis secret on `wire` whose admin secret is `admin_arn`, pending a rotation.
async fn redis_fixture_on(
    stack: &'static Stack,
    wire: Wire,
    admin_arn: &str,
) -> Result<(String, String)> {
    let client = stack.secrets_manager(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let (user, password) = (unique("bench"), unique("initial"));
    create_user(&mut stack.redis_admin().await?, &user, &password).await?;
    let url = match wire {
        Wire::Plaintext => format!(
            "redis://{user}:{password}@{}:{}",
            stack.redis_host, stack.redis_port
        ),
        _ => format!(
            "rediss://{user}:{password}@localhost:{}",
            stack.redis_tls_port
        ),
    };
    let secret = json!({"url": url, "adminarn": admin_arn});
    let arn = create_secret(&client, &unique("bench/redis"), &secret).await?;
    let token = start_rotation(&client, &arn).await?;
    Ok((arn, token))
}

/// Median wall time of `runs` full rotations by one warm process of `name` (release bootstrap,
/// through the Runtime API), each on a fresh secret from `fixture`.
async fn median_rotation<F, Fut>(
    name: &str,
    stack: &'static Stack,
    env: &[(&str, String)],
    runs: usize,
    mut fixture: F,
) -> Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(String, String)>>,
{
    let api = RuntimeApi::start()?;
    let mut child = spawn(name, &api, stack, env)?;
    api.wait_first_next(Duration::from_secs(10))
        .context("no cold init")?;
    let mut took = Vec::new();
    let mut answered = 0;
    for _ in 0..runs {
        let (arn, token) = fixture().await?;
        let started = Instant::now();
        for e in rotation_events(&arn, &token) {
            api.push(e);
        }
        answered += 4;
        let answers = api.wait_answers(answered, Duration::from_secs(60));
        took.push(started.elapsed());
        if answers.len() != answered || answers.iter().any(|(_, a)| matches!(a, Answer::Error(_))) {
            bail!("{name}: a benchmark rotation failed: {answers:?}");
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(median(took))
}

/// What TLS costs a full rotation: the same function and server, plaintext against TLS.
async fn tls_cost(stack: &'static Stack) -> Result<Vec<(&'static str, Wire, Duration)>> {
    const RUNS: usize = 7;
    let ca = stack.tls_ca.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for wire in [Wire::Plaintext, Wire::Require, Wire::Verified] {
        let env: Vec<(&str, String)> = match wire {
            Wire::Plaintext => vec![("PG_MIN_SSLMODE", "disable".into())],
            Wire::Require => vec![],
            Wire::Verified => vec![
                ("PG_MIN_SSLMODE", "verify-full".into()),
                ("PG_SSL_ROOT_CERT", ca.clone()),
            ],
        };
        let took = median_rotation("rotate-postgres", stack, &env, RUNS, || {
            pg_fixture_on(stack, wire)
        })
        .await?;
        out.push(("rotate-postgres", wire, took));
    }
    for wire in [Wire::Plaintext, Wire::Verified] {
        let admin = redis_admin_on(stack, wire).await?;
        let mut env = vec![("REDIS_ADMIN_SECRET_ARN", admin.clone())];
        if wire == Wire::Verified {
            env.push(("REDIS_TLS_CA_FILE", ca.clone()));
        }
        let took = median_rotation("rotate-redis", stack, &env, RUNS, || {
            redis_fixture_on(stack, wire, &admin)
        })
        .await?;
        out.push(("rotate-redis", wire, took));
    }
    Ok(out)
}

/// Seeds `n` services per cluster (half autoscaled), all on the dev schedule.
async fn seed_services(aws: &tests::ecs::Aws, clusters: &[String], n: usize) -> Result<()> {
    for cluster in clusters {
        let td = aws.cluster(cluster).await?;
        for i in 0..n {
            let bounds = (i % 2 == 0).then_some((1, 3));
            aws.service(
                cluster,
                &td,
                &format!("svc-{i:03}"),
                2,
                &[("macro-ai:schedule", "dev-office-hours")],
                bounds,
            )
            .await?;
        }
    }
    Ok(())
}

async fn after_hours(stack: &'static Stack) -> Result<Row> {
    let aws = stack.aws(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let clusters = vec![unique("bench-dev-cluster"), unique("bench-dev-cluster")];
    seed_services(&aws, &clusters, 10).await?;
    let env = [("CLUSTERS", clusters.join(","))];
    let events = vec![json!({"action": "reconcile", "at": "2026-11-24T19:00:00Z"})];
    measure(
        "after-hours-scaling",
        "20 services scaled down",
        stack,
        &env,
        events,
    )
}

async fn ledger(aws: &tests::ecs::Aws) -> Result<String> {
    let table = unique("bench-table");
    aws.ledger_table(&table).await?;
    Ok(table)
}

async fn alarm_rollback(stack: &'static Stack) -> Result<Row> {
    let aws = stack.aws(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let cluster = unique("bench-prod-cluster");
    aws.cluster(&cluster).await?;
    let family = unique("bench-api");
    let r1 = aws.revision(&family, "api:1").await?;
    aws.revision(&family, "api:2").await?;
    aws.ecs
        .create_service()
        .cluster(&cluster)
        .service_name("api")
        .task_definition(&r1)
        .desired_count(2)
        .send()
        .await?;
    let env = [("ROLLBACK_TABLE", ledger(&aws).await?)];
    let now = jiff::Timestamp::now().to_string();
    let events = vec![
        json!({"source": "aws.ecs", "detail-type": "ECS Deployment State Change", "time": now,
               "resources": [format!("arn:aws:ecs:us-east-1:{DEFAULT_ACCOUNT}:service/{cluster}/api")],
               "detail": {"eventName": "SERVICE_DEPLOYMENT_COMPLETED", "updatedAt": now}}),
        json!({"rollback": format!("{cluster}/api"), "reason": "benchmark", "dryRun": true}),
    ];
    measure(
        "alarm-rollback",
        "deployment event + manual dry run",
        stack,
        &env,
        events,
    )
}

async fn budget_response(stack: &'static Stack) -> Result<Row> {
    let aws = stack.aws(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let env = [("BUDGET_EVENTS_TABLE", ledger(&aws).await?)];
    let mut forecast: Value = tests::sample("budget-response/budget-prod-forecasted.json");
    forecast["Records"][0]["Sns"]["MessageId"] = json!(unique("bench"));
    let mut anomaly: Value = tests::sample("budget-response/anomaly-sns.json");
    anomaly["Records"][0]["Sns"]["MessageId"] = json!(unique("bench"));
    measure(
        "budget-response",
        "budget alert + anomaly (notify only)",
        stack,
        &env,
        vec![forecast, anomaly],
    )
}

async fn refresh_consumers(stack: &'static Stack) -> Result<Row> {
    let aws = stack.aws(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let client = stack.secrets_manager(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let cluster = unique("bench-dev-cluster");
    aws.cluster(&cluster).await?;
    let secret = create_secret(&client, &unique("bench/database"), &json!({"k": "v"})).await?;
    // Ten services, each injecting the secret one way or another.
    for n in 0..10 {
        let reference = if n % 2 == 0 {
            secret.clone()
        } else {
            format!("{secret}:k::")
        };
        let td = aws
            .task_definition_with_secrets(&unique("bench-api"), &[("DB", &reference)])
            .await?;
        aws.service(&cluster, &td, &format!("api-{n}"), 2, &[], None)
            .await?;
    }
    let version = tests::rotation::stages(&client, &secret)
        .await?
        .into_keys()
        .next()
        .context("a version")?;
    let mut event = tests::sample("aws-samples/secret-label-updated-doc.json");
    event["resources"] = json!([secret]);
    event["detail"]["versionId"] = json!(version);
    event["time"] = json!(
        jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    );
    let env = [
        ("CONSUMER_CLUSTERS", cluster),
        ("REFRESH_TABLE", ledger(&aws).await?),
    ];
    measure(
        "refresh-consumers",
        "label event, 10 consumers redeployed + redelivery",
        stack,
        &env,
        vec![event.clone(), event],
    )
}

/// A fleet whose every call takes `delay` longer: a real ECS round trip from Lambda is tens of
/// milliseconds, moto's on loopback about one, so the emulator alone hides what concurrency buys.
struct Delayed<F> {
    inner: F,
    delay: Duration,
}

impl<F: ServiceFleet> ServiceFleet for Delayed<F> {
    async fn list(&self, cluster: &str) -> Result<Vec<ServiceState>, FleetError> {
        tokio::time::sleep(self.delay).await;
        self.inner.list(cluster).await
    }
    async fn get(&self, s: &ServiceId) -> Result<ServiceState, FleetError> {
        tokio::time::sleep(self.delay).await;
        self.inner.get(s).await
    }
    async fn set_desired(&self, s: &ServiceId, d: i32) -> Result<(), FleetError> {
        tokio::time::sleep(self.delay).await;
        self.inner.set_desired(s, d).await
    }
    async fn set_bounds(&self, s: &ServiceId, b: Bounds) -> Result<(), FleetError> {
        tokio::time::sleep(self.delay).await;
        self.inner.set_bounds(s, b).await
    }
    async fn tag(&self, s: &ServiceId, k: &str, v: &str) -> Result<(), FleetError> {
        tokio::time::sleep(self.delay).await;
        self.inner.tag(s, k, v).await
    }
    async fn untag(&self, s: &ServiceId, k: &str) -> Result<(), FleetError> {
        tokio::time::sleep(self.delay).await;
        self.inner.untag(s, k).await
    }
}

/// 200 services in two clusters, reduced one at a time and 8 at a time, with moto's own latency
/// and with 40 ms added to every call.
async fn scaling_concurrency(
    stack: &'static Stack,
) -> Result<Vec<(Duration, usize, Duration, usize)>> {
    let aws = stack.aws(&MotoAccount::new());
    let clusters = vec![
        "macro-ai-dev-cluster".to_string(),
        "macro-ai-staging-cluster".to_string(),
    ];
    seed_services(&aws, &clusters, 100).await?;
    let night = ScalingRequest::from_value(
        &json!({"action": "reconcile", "at": "2026-11-24T19:00:00Z"}),
        jiff::Timestamp::now,
    )?;
    let morning = ScalingRequest::from_value(
        &json!({"action": "reconcile", "at": "2026-11-25T09:00:00Z"}),
        jiff::Timestamp::now,
    )?;
    let mut out = Vec::new();
    for delay in [Duration::ZERO, Duration::from_millis(40)] {
        for concurrency in [1usize, 8] {
            let mut config = after_hours_scaling::Config::from_lookup(|_| None)?.scaling;
            config.concurrency = concurrency;
            let fleet = Delayed {
                inner: EcsFleet::new(aws.ecs.clone(), aws.autoscaling.clone()),
                delay,
            };
            let scaler = Scaler::new(fleet, SnsNotifier::new(aws.sns.clone(), None), config);
            let started = Instant::now();
            let report = scaler.run(&night).await;
            let took = started.elapsed();
            if report.changed != 200 {
                bail!(
                    "expected 200 services scaled down, got {} ({} failed)",
                    report.changed,
                    report.failed
                );
            }
            out.push((delay, concurrency, took, report.changed));
            if scaler.run(&morning).await.changed != 200 {
                bail!("expected 200 services restored");
            }
        }
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<()> {
    let stack = Stack::get();
    // The in-process scaler writes its EMF lines to stdout: the tables go to stderr.
    let mut rows = vec![
        rotate_postgres(stack).await?,
        rotate_redis(stack).await?,
        rotate_openai_key(stack).await?,
        rotate_app_secrets(stack).await?,
        after_hours(stack).await?,
        alarm_rollback(stack).await?,
        budget_response(stack).await?,
    ];
    // A build from before refresh-consumers existed has no bootstrap of it.
    if binary("refresh-consumers").exists() {
        rows.push(refresh_consumers(stack).await?);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // Every figure the release comparison keeps (bench/figures.tsv; scripts/bench_compare.py).
    let mut figures: Vec<(String, f64, &str)> = Vec::new();
    eprintln!();
    eprintln!(
        "| function | bootstrap size | cold init (median of 20) | run | run time | peak RSS |"
    );
    eprintln!("|---|---|---|---|---|---|");
    for r in rows {
        let size = r.size_bytes as f64 / 1048576.0;
        let rss = r.peak_rss_kib as f64 / 1024.0;
        eprintln!(
            "| {} | {size:.2} MiB | {:.1} ms | {} | {:.1} ms | {rss:.1} MiB |",
            r.function,
            ms(r.cold_init),
            r.run,
            ms(r.run_time),
        );
        figures.push((format!("{}.size", r.function), size, "MiB"));
        figures.push((format!("{}.init", r.function), ms(r.cold_init), "ms"));
        figures.push((format!("{}.rss", r.function), rss, "MiB"));
        figures.push((format!("{}.run", r.function), ms(r.run_time), "ms"));
    }
    let (function, same, breakdown, raw) = rotation_against_raw(stack).await?;
    eprintln!();
    eprintln!(
        "| full single-user PostgreSQL rotation (median of 7) | wall time | function / this |"
    );
    eprintln!("|---|---|---|");
    eprintln!(
        "| rotate-postgres: 4 invocations of the release bootstrap | {:.1} ms | 1.00x |",
        ms(function)
    );
    eprintln!(
        "| the same SQL and Secrets Manager calls, made directly in sequence | {:.1} ms | {:.2}x |",
        ms(same),
        ms(function) / ms(same)
    );
    eprintln!(
        "| a floor without the protocol's guard and idempotence reads | {:.1} ms | {:.2}x |",
        ms(raw),
        ms(function) / ms(raw)
    );
    figures.push((
        "rotate-postgres.rotation-vs-direct".into(),
        ms(function) / ms(same),
        "x",
    ));
    eprintln!();
    eprintln!(
        "| where the directly made calls' time goes (mean of 7) | per rotation | time | share |"
    );
    eprintln!("|---|---|---|---|");
    let mut accounted = Duration::ZERO;
    let whole = breakdown.total;
    for (kind, count, took) in &breakdown.parts {
        accounted += *took;
        eprintln!(
            "| {kind} | {count} | {:.1} ms | {:.0}% |",
            ms(*took),
            100.0 * ms(*took) / ms(whole)
        );
    }
    eprintln!(
        "| the rest (JSON, the driver's own work) | | {:.1} ms | {:.0}% |",
        ms(whole.saturating_sub(accounted)),
        100.0 * ms(whole.saturating_sub(accounted)) / ms(whole)
    );
    eprintln!(
        "| all (mean; the median above is {:.1} ms) | | {:.1} ms | 100% |",
        ms(same),
        ms(whole)
    );
    eprintln!();
    eprintln!(
        "| full rotation, median of 7 (release bootstrap, warm) | plaintext | TLS `require` | TLS verified (private CA) | TLS / plaintext |"
    );
    eprintln!("|---|---|---|---|---|");
    let tls = tls_cost(stack).await?;
    for function in ["rotate-postgres", "rotate-redis"] {
        let at = |wire: Wire| {
            tls.iter()
                .find(|(f, w, _)| *f == function && *w == wire)
                .map(|(_, _, d)| *d)
        };
        let cell =
            |d: Option<Duration>| d.map_or("n/a".to_string(), |d| format!("{:.1} ms", ms(d)));
        let plain = at(Wire::Plaintext).context("no plaintext run")?;
        let worst = [at(Wire::Require), at(Wire::Verified)]
            .into_iter()
            .flatten()
            .max()
            .context("no TLS run")?;
        eprintln!(
            "| {function} | {} | {} | {} | {:.2}x |",
            cell(Some(plain)),
            cell(at(Wire::Require)),
            cell(at(Wire::Verified)),
            ms(worst) / ms(plain)
        );
        for (wire, name) in [
            (Wire::Plaintext, "plaintext"),
            (Wire::Require, "require"),
            (Wire::Verified, "verified"),
        ] {
            if let Some(d) = at(wire) {
                figures.push((format!("{function}.rotation-{name}"), ms(d), "ms"));
            }
        }
    }
    eprintln!();
    eprintln!(
        "| after-hours scaling, 200 services in 2 clusters | added latency per call | wall time | scaled down |"
    );
    eprintln!("|---|---|---|---|");
    for (delay, concurrency, took, changed) in scaling_concurrency(stack).await? {
        let label = if concurrency == 1 {
            "one at a time".to_string()
        } else {
            format!("{concurrency} at a time")
        };
        eprintln!(
            "| {label} | {} ms | {:.0} ms | {changed} |",
            delay.as_millis(),
            took.as_secs_f64() * 1000.0
        );
    }
    write_figures(&figures)
}

/// Writes the figures where `scripts/bench_compare.py` reads them (`BENCH_FIGURES`, else
/// `bench/figures.tsv`): one `name<TAB>value<TAB>unit` line each, sorted by name.
fn write_figures(figures: &[(String, f64, &str)]) -> Result<()> {
    let path = std::env::var_os("BENCH_FIGURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("bench/figures.tsv"));
    let mut lines: Vec<String> = figures
        .iter()
        .map(|(name, value, unit)| format!("{name}\t{value:.2}\t{unit}"))
        .collect();
    lines.sort();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, lines.join("\n") + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

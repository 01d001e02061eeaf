//! Benchmarks of the release `bootstrap` binaries, run as Lambda runs them (a Runtime API on
//! loopback, the local stack behind them): binary size, cold init (process start to the first
//! request for work, median of 20) and peak RSS (VmHWM) of one full rotation. Not a test: it
//! prints a table. Build the binaries first: `scripts/bench` does both.

use anyhow::{Context as _, Result, bail};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tests::rotation::{create_secret, start_rotation, step_event};
use tests::runtime_api::{Answer, RuntimeApi};
use tests::{MotoAccount, Stack, root, unique};

/// moto's default account: the account a function sees when it sends no account header.
const DEFAULT_ACCOUNT: &str = "123456789012";

fn binary(name: &str) -> PathBuf {
    root().join("target/lambda").join(name).join("bootstrap")
}

fn spawn(name: &str, api: &RuntimeApi, stack: &Stack) -> Result<Child> {
    Command::new(binary(name))
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
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| {
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
fn cold_init(name: &str, stack: &Stack, runs: usize) -> Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let api = RuntimeApi::start()?;
        let started = Instant::now();
        let mut child = spawn(name, &api, stack)?;
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

async fn rotate_postgres(stack: &'static Stack) -> Result<Row> {
    let name = "rotate-postgres";
    let client = stack.secrets_manager(&MotoAccount(DEFAULT_ACCOUNT.into()));
    let user = unique("bench");
    let password = unique("initial");
    let mut admin = stack.pg_admin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {user} LOGIN PASSWORD '{password}'"
    )))
    .execute(&mut admin)
    .await?;
    let secret = json!({"username": user, "password": password, "engine": "postgres",
                        "host": stack.pg_host, "port": stack.pg_port, "dbname": "postgres",
                        "sslmode": "disable"});
    let arn = create_secret(&client, &unique("bench/database"), &secret).await?;
    let token = start_rotation(&client, &arn).await?;

    let api = RuntimeApi::start()?;
    let mut child = spawn(name, &api, stack)?;
    api.wait_first_next(Duration::from_secs(10))
        .context("no cold init")?;
    let started = Instant::now();
    for step in tests::rotation::STEPS {
        api.push(step_event(step, &arn, &token));
    }
    let answers = api.wait_answers(4, Duration::from_secs(60));
    let run_time = started.elapsed();
    let rss = peak_rss_kib(&child);
    let _ = child.kill();
    let _ = child.wait();
    if answers.len() != 4 || answers.iter().any(|(_, a)| matches!(a, Answer::Error(_))) {
        bail!("the rotation did not complete: {answers:?}");
    }
    Ok(Row {
        function: name,
        size_bytes: std::fs::metadata(binary(name))?.len(),
        cold_init: cold_init(name, stack, 20)?,
        run: "full rotation (4 steps)",
        run_time,
        peak_rss_kib: rss?,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let stack = Stack::get();
    let rows = vec![rotate_postgres(stack).await?];
    println!();
    println!(
        "| function | bootstrap size | cold init (median of 20) | run | run time | peak RSS |"
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.2} MiB | {:.1} ms | {} | {:.1} ms | {:.1} MiB |",
            r.function,
            r.size_bytes as f64 / 1048576.0,
            r.cold_init.as_secs_f64() * 1000.0,
            r.run,
            r.run_time.as_secs_f64() * 1000.0,
            r.peak_rss_kib as f64 / 1024.0
        );
    }
    Ok(())
}

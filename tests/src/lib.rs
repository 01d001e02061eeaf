//! The harness of the end-to-end tests: the local stack (started by `scripts/stack up` when it
//! is not running), clients isolated per test (a moto account of their own, roles of their own),
//! private PostgreSQL clusters for fault tests, and a log capture that lets a test prove no
//! secret was ever logged.

use anyhow::{Context as _, Result, bail};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

pub mod app;
pub mod ecs;
pub mod faults;
mod invoke;
pub mod openai_stub;
pub mod redis;
pub mod rotation;
pub mod runtime_api;
pub mod sockets;

pub use invoke::{Function, invoke, sample, sample_text};

/// The workspace root (this crate lives in `tests/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The running local stack, as `scripts/stack up` describes it in `.stack/env`.
pub struct Stack {
    pub aws_endpoint: String,
    pub pg_host: String,
    pub pg_port: u16,
    pub pg_admin_user: String,
    pg_admin_password: String,
    pub redis_host: String,
    pub redis_port: u16,
    /// The same Redis over TLS (the stack's private CA).
    pub redis_tls_port: u16,
    /// Its log: a plaintext client on the TLS port shows there ("wrong version number").
    pub redis_log: PathBuf,
    pub redis_admin_user: String,
    redis_admin_password: String,
    pub openai_base_url: String,
    /// The ElastiCache stand-in (scripts/elasticache_stub.py).
    pub elasticache_endpoint: String,
    /// The stack PostgreSQL's log (every login, with its user and whether it used TLS).
    pub pg_log: PathBuf,
    /// The private CA that signed the stack's server certificates.
    pub tls_ca: PathBuf,
    /// A CA that signed nothing of the stack's.
    pub tls_wrong_ca: PathBuf,
    /// scripts/node/login.mjs beside the Node.js clients the stack installed.
    pub node_login: PathBuf,
}

/// A role's logins as the server logged them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Logins {
    /// Authorized over TLS.
    pub tls: usize,
    /// Authorized over TLS by the function (its application_name).
    pub tls_by_function: usize,
    /// Attempted without TLS, authorized or refused.
    pub plaintext: usize,
    /// Refused: the password did not match.
    pub refused: usize,
}

impl Stack {
    /// The stack, started on first use (idempotent and locked across test processes).
    pub fn get() -> &'static Stack {
        static STACK: OnceLock<Stack> = OnceLock::new();
        STACK.get_or_init(|| match Stack::start() {
            Ok(s) => s,
            Err(e) => panic!("the local stack could not be started: {e:#}"),
        })
    }

    fn start() -> Result<Stack> {
        let out = Command::new(root().join("scripts/stack"))
            .arg("up")
            .output()
            .context("running scripts/stack up")?;
        if !out.status.success() {
            bail!(
                "scripts/stack up failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let env: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let var = |k: &str| env.get(k).cloned().with_context(|| format!("{k} missing"));
        let password_file = var("MACRO_AI_PG_ADMIN_PASSWORD_FILE")?;
        Ok(Stack {
            aws_endpoint: var("AWS_ENDPOINT_URL")?,
            pg_host: var("MACRO_AI_PG_HOST")?,
            pg_port: var("MACRO_AI_PG_PORT")?.parse()?,
            pg_admin_user: var("MACRO_AI_PG_ADMIN_USER")?,
            pg_admin_password: std::fs::read_to_string(&password_file)?.trim().to_string(),
            redis_host: var("MACRO_AI_REDIS_HOST")?,
            redis_port: var("MACRO_AI_REDIS_PORT")?.parse()?,
            redis_tls_port: var("MACRO_AI_REDIS_TLS_PORT")?.parse()?,
            redis_log: var("MACRO_AI_REDIS_LOG")?.into(),
            redis_admin_user: var("MACRO_AI_REDIS_ADMIN_USER")?,
            redis_admin_password: std::fs::read_to_string(var(
                "MACRO_AI_REDIS_ADMIN_PASSWORD_FILE",
            )?)?
            .trim()
            .to_string(),
            openai_base_url: var("OPENAI_BASE_URL")?,
            elasticache_endpoint: var("AWS_ENDPOINT_URL_ELASTICACHE")?,
            pg_log: var("MACRO_AI_PG_LOG")?.into(),
            tls_ca: var("MACRO_AI_TLS_CA_FILE")?.into(),
            tls_wrong_ca: var("MACRO_AI_TLS_WRONG_CA_FILE")?.into(),
            node_login: var("MACRO_AI_NODE_LOGIN")?.into(),
        })
    }

    /// A Secrets Manager client confined to `account` (moto keeps each account apart).
    pub fn secrets_manager(&self, account: &MotoAccount) -> Client {
        secrets_manager_at(&self.aws_endpoint, account)
    }

    /// The admin password of the stack's cluster (for master secrets in tests).
    pub fn pg_admin_password(&self) -> &str {
        &self.pg_admin_password
    }

    /// The admin password of the stack's Redis (for admin secrets in tests).
    pub fn redis_admin_password(&self) -> &str {
        &self.redis_admin_password
    }

    /// The stack's PostgreSQL as `user`.
    pub async fn pg_connect(
        &self,
        user: &str,
        password: &str,
    ) -> Result<PgConnection, sqlx::Error> {
        pg_connect(&self.pg_host, self.pg_port, user, password, "postgres").await
    }

    /// The stack's PostgreSQL as `user`, over TLS (what a test uses when it counts a role's
    /// plaintext logins).
    pub async fn pg_connect_tls(
        &self,
        user: &str,
        password: &str,
    ) -> Result<PgConnection, sqlx::Error> {
        PgConnectOptions::new_without_pgpass()
            .host(&self.pg_host)
            .port(self.pg_port)
            .username(user)
            .password(password)
            .database("postgres")
            .ssl_mode(PgSslMode::Require)
            .disable_statement_logging()
            .connect()
            .await
    }

    /// How `role` logged in to the stack's PostgreSQL so far, read from the server's own log
    /// (`log_connections`; TLS and plaintext logins match different pg_hba.conf lines).
    pub fn pg_logins(&self, role: &str) -> Result<Logins> {
        let log = std::fs::read_to_string(&self.pg_log)
            .with_context(|| format!("reading {}", self.pg_log.display()))?;
        let tag = format!(" user={role} ");
        let mut seen = Logins::default();
        for line in log.lines().filter(|l| l.contains(&tag)) {
            if line.contains("connection authorized:") {
                if line.contains("SSL enabled") {
                    seen.tls += 1;
                    if line.contains("application_name=macro-ai-ops") {
                        seen.tls_by_function += 1;
                    }
                } else {
                    seen.plaintext += 1;
                }
            } else if line.contains("DETAIL:") && line.contains("\"hostnossl ") {
                seen.plaintext += 1;
            } else if line.contains("FATAL:  password authentication failed") {
                seen.refused += 1;
            }
        }
        Ok(seen)
    }

    /// Who `url` logs in as with the seed's client (postgres-js) and with node-postgres, as
    /// Node.js runs them (the stack's CA trusted): `(postgres-js, node-postgres)`, each a user
    /// name or `refused: <code>`. The URL goes in the environment, never on a command line.
    pub fn node_login(&self, url: &str) -> Result<(String, String)> {
        let out = Command::new("node")
            .arg(&self.node_login)
            .env("DATABASE_URL", url)
            .env("NODE_EXTRA_CA_CERTS", &self.tls_ca)
            .output()
            .context("running node")?;
        if !out.status.success() {
            bail!(
                "node failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let who = |k: &str| v[k].as_str().unwrap_or("(none)").to_string();
        Ok((who("postgres"), who("pg")))
    }

    /// An admin (superuser) connection to the stack's PostgreSQL.
    pub async fn pg_admin(&self) -> Result<PgConnection> {
        Ok(self
            .pg_connect(&self.pg_admin_user, &self.pg_admin_password)
            .await?)
    }
}

/// A Secrets Manager client for `endpoint` (a dead one for fault tests), in `account`.
pub fn secrets_manager_at(endpoint: &str, account: &MotoAccount) -> Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .interceptor(account.clone())
        .build();
    Client::from_conf(config)
}

/// Logs in to PostgreSQL over TCP with scram (the only method the clusters accept).
pub async fn pg_connect(
    host: &str,
    port: u16,
    user: &str,
    password: &str,
    database: &str,
) -> Result<PgConnection, sqlx::Error> {
    PgConnectOptions::new_without_pgpass()
        .host(host)
        .port(port)
        .username(user)
        .password(password)
        .database(database)
        .ssl_mode(PgSslMode::Disable)
        .disable_statement_logging()
        .connect()
        .await
}

/// True when the database's answer to a login is "wrong password".
pub fn is_login_refused(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("28P01"))
}

/// A moto account of a test's own, sent as `x-moto-account-id` on every request.
#[derive(Debug, Clone)]
pub struct MotoAccount(pub String);

impl MotoAccount {
    pub fn new() -> Self {
        let n = u64::from_le_bytes(random_bytes());
        Self(format!("{:012}", n % 1_000_000_000_000))
    }
}

impl Default for MotoAccount {
    fn default() -> Self {
        Self::new()
    }
}

impl Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }

    fn modify_before_retry_loop(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the OS has randomness");
    b
}

/// A name no other test uses: `prefix_` and 10 random lowercase letters or digits.
/// A random UUID (version 4), the form of Secrets Manager's version ids.
pub fn uuid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

pub fn unique(prefix: &str) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let suffix: String = random_bytes::<10>()
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect();
    format!("{prefix}_{suffix}")
}

/// A loopback endpoint where nothing listens: the AWS emulator "unreachable".
pub fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A PostgreSQL cluster of one test's own, to stop and restart (scripts/pg-cluster).
pub struct PrivateCluster {
    dir: PathBuf,
    pub port: u16,
    pub admin_password: String,
}

impl PrivateCluster {
    /// A cluster of its own with the stack's TLS certificate (the function's floor is `require`).
    pub fn start() -> Result<Self> {
        let stack = Stack::get();
        let tls_dir = stack
            .tls_ca
            .parent()
            .context("the stack's TLS directory")?
            .to_path_buf();
        let base = std::env::temp_dir().join(unique("macro-ai-ops-fault"));
        std::fs::create_dir_all(&base)?;
        make_traversable(&base)?;
        let dir = base.join("data");
        let admin_password = unique("admin");
        let pwfile = base.join("pw");
        std::fs::write(&pwfile, &admin_password)?;
        run_pg_cluster(&[
            "init",
            path_str(&dir)?,
            path_str(&pwfile)?,
            path_str(&tls_dir)?,
        ])?;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let cluster = Self {
            dir,
            port,
            admin_password,
        };
        cluster.resume()?;
        Ok(cluster)
    }

    pub fn stop(&self) -> Result<()> {
        run_pg_cluster(&["stop", path_str(&self.dir)?])
    }

    pub fn resume(&self) -> Result<()> {
        run_pg_cluster(&["start", path_str(&self.dir)?, &self.port.to_string()])
    }

    pub async fn admin(&self) -> Result<PgConnection> {
        Ok(pg_connect(
            "127.0.0.1",
            self.port,
            "postgres",
            &self.admin_password,
            "postgres",
        )
        .await?)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self.stop();
        if let Some(base) = self.dir.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().context("temporary paths are UTF-8")
}

fn make_traversable(p: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn run_pg_cluster(args: &[&str]) -> Result<()> {
    let out = Command::new(root().join("scripts/pg-cluster"))
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!(
            "scripts/pg-cluster {} failed: {}",
            args[0],
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Every log line the code under test writes, at DEBUG and above, from every test in the process.
pub fn captured_logs() -> String {
    let buffer = log_buffer();
    let bytes = buffer.lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Installs the capture (once per process); call at the start of each test.
pub fn capture_logs() {
    log_buffer();
}

fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let writer = BufferWriter(buffer.clone());
            let _ = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .try_init();
            buffer
        })
        .clone()
}

#[derive(Clone)]
struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Fails (without printing it) when any of `secrets` appears in the captured logs or in `texts`.
pub fn assert_never_shown(secrets: &[&str], texts: &[&str]) {
    let logs = captured_logs();
    for (i, secret) in secrets.iter().enumerate() {
        assert!(!secret.is_empty(), "secret #{i} is empty");
        assert!(
            !logs.contains(secret),
            "secret #{i} appears in the captured logs"
        );
        for (j, text) in texts.iter().enumerate() {
            assert!(!text.contains(secret), "secret #{i} appears in output #{j}");
        }
    }
}

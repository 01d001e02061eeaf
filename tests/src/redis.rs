//! Redis helpers: logins through the same RESP client the function uses, users of a test's
//! own, and private servers to stop and restart for fault tests.

use anyhow::{Context as _, Result, bail};
use redis::Value;
use shared::redis::connection::{RedisConnection, text};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{Stack, unique};

const TIMEOUT: Duration = Duration::from_secs(5);

/// The admin secret of a self-managed Redis, by the name each test account gives it.
pub const ADMIN_SECRET: &str = "macro-ai/dev/redis-admin";

/// rotate-redis's options as deployed for a self-managed Redis: `REDIS_ADMIN_SECRET_ARN` names
/// `ADMIN_SECRET` (a name is enough, as the function compares the ARNs Secrets Manager gives).
pub fn self_managed() -> shared::redis::RedisOptions {
    shared::redis::RedisOptions {
        admin_secret_arn: Some(ADMIN_SECRET.to_string()),
        ..Default::default()
    }
}

/// Logs in as `user`; `Ok(true)` when Redis accepts the password, `Ok(false)` when it refuses it.
pub async fn logs_in(host: &str, port: u16, user: &str, password: &str) -> Result<bool> {
    let mut conn = RedisConnection::connect(host, port, None, TIMEOUT).await?;
    match conn.auth(user, password).await {
        Ok(_) => Ok(conn.query(&redis::cmd("PING")).await? == Value::SimpleString("PONG".into())),
        Err(e) if e.code() == Some("WRONGPASS") => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// An authenticated admin connection.
pub async fn admin(host: &str, port: u16, user: &str, password: &str) -> Result<RedisConnection> {
    let mut conn = RedisConnection::connect(host, port, None, TIMEOUT).await?;
    conn.auth(user, password).await?;
    Ok(conn)
}

/// Creates an ACL user with one password and the app's permissions.
pub async fn create_user(conn: &mut RedisConnection, user: &str, password: &str) -> Result<()> {
    let pass = format!(">{password}");
    conn.query(
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(user.as_bytes())
            .arg("on")
            .arg(pass.as_bytes())
            .arg("~*")
            .arg("+@all"),
    )
    .await?;
    Ok(())
}

/// How many passwords the user has.
pub async fn password_count(conn: &mut RedisConnection, user: &str) -> Result<usize> {
    let Value::Array(items) = conn
        .query(redis::cmd("ACL").arg("GETUSER").arg(user.as_bytes()))
        .await?
    else {
        bail!("no such user");
    };
    let mut pairs = items.chunks(2);
    match pairs
        .find(|kv| text(&kv[0]).as_deref() == Some("passwords"))
        .map(|kv| &kv[1])
    {
        Some(Value::Array(list)) => Ok(list.len()),
        _ => Ok(0),
    }
}

impl Stack {
    /// An admin connection to the stack's Redis.
    pub async fn redis_admin(&self) -> Result<RedisConnection> {
        admin(
            &self.redis_host,
            self.redis_port,
            &self.redis_admin_user,
            self.redis_admin_password(),
        )
        .await
    }

    pub async fn redis_logs_in(&self, user: &str, password: &str) -> Result<bool> {
        logs_in(&self.redis_host, self.redis_port, user, password).await
    }
}

/// Where a [`PrivateRedis`] keeps its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Users {
    /// In an ACL file (`aclfile`): `ACL SAVE` persists them.
    AclFile,
    /// In redis.conf (`user …` lines): `CONFIG REWRITE` persists them.
    ConfigFile,
    /// Nowhere: started without a config file, nothing can persist them.
    Nowhere,
}

/// A Redis server of one test's own, with its users in an ACL file so a restart keeps them.
pub struct PrivateRedis {
    dir: PathBuf,
    pub port: u16,
    pub admin_password: String,
    users: Users,
    /// Extra redis.conf lines (a replica's `replicaof`).
    extra: String,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> Result<Self> {
        Self::start_with(Users::AclFile)
    }

    /// The directory of its config and ACL files.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The redis.conf it starts from (none for [`Users::Nowhere`]).
    pub fn config_text(&self) -> String {
        let base = format!(
            "bind 127.0.0.1\nport {}\nsave \"\"\nappendonly no\ndir {}\n",
            self.port,
            self.dir.display()
        );
        let users = match self.users {
            Users::AclFile => format!("{base}aclfile {}\n", self.dir.join("users.acl").display()),
            Users::ConfigFile => format!(
                "{base}user default off\nuser admin on >{} ~* &* +@all\n",
                self.admin_password
            ),
            Users::Nowhere => base,
        };
        users + &self.extra
    }

    /// A server that also listens with TLS (the stack's certificate) on [`Self::tls_port`].
    pub fn start_tls() -> Result<(Self, u16)> {
        let stack = Stack::get();
        let tls = stack.tls_ca.parent().context("the stack's TLS directory")?;
        let tls_port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let redis = Self::start_inner(
            Users::AclFile,
            format!(
                "tls-port {tls_port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
                 tls-auth-clients no\n",
                tls.join("server.crt").display(),
                tls.join("server.key").display(),
                tls.join("ca.crt").display()
            ),
            None,
        )?;
        Ok((redis, tls_port))
    }

    /// A replica of `primary`, logging in to it as its admin; users of its own in an ACL file,
    /// its admin with the primary's admin password (as configuration management would set it).
    pub fn start_replica_of(primary: &PrivateRedis) -> Result<Self> {
        Self::start_inner(
            Users::AclFile,
            format!(
                "replicaof 127.0.0.1 {}\nmasteruser admin\nmasterauth {}\n",
                primary.port, primary.admin_password
            ),
            Some(primary.admin_password.clone()),
        )
    }

    pub fn start_with(users: Users) -> Result<Self> {
        Self::start_inner(users, String::new(), None)
    }

    fn start_inner(users: Users, extra: String, admin_password: Option<String>) -> Result<Self> {
        Stack::get();
        let dir = std::env::temp_dir().join(unique("macro-ai-ops-redis"));
        std::fs::create_dir_all(&dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let admin_password = admin_password.unwrap_or_else(|| unique("admin"));
        let mut redis = Self {
            dir,
            port,
            admin_password,
            users,
            extra,
            child: None,
        };
        redis.write_files()?;
        redis.resume()?;
        if users == Users::Nowhere {
            // The default user (no password) makes the admin, then is switched off.
            let pass = format!(">{}", redis.admin_password);
            let port = port.to_string();
            for args in [
                vec!["ACL", "SETUSER", "admin", "on", &pass, "~*", "&*", "+@all"],
                vec!["ACL", "SETUSER", "default", "off"],
            ] {
                let out = Command::new("redis-cli")
                    .args(["-p", &port])
                    .args(&args)
                    .output()?;
                if !out.status.success() || !String::from_utf8_lossy(&out.stdout).contains("OK") {
                    bail!("could not set up the admin user of a config-less Redis");
                }
            }
        }
        Ok(redis)
    }

    /// Writes the config (and ACL) files a fresh server starts from.
    pub fn write_files(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        if self.users == Users::AclFile {
            std::fs::write(
                self.dir.join("users.acl"),
                format!(
                    "user default off\nuser admin on >{} ~* &* +@all\n",
                    self.admin_password
                ),
            )?;
        }
        if self.users != Users::Nowhere {
            std::fs::write(self.dir.join("redis.conf"), self.config_text())?;
        }
        Ok(())
    }

    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    pub fn resume(&mut self) -> Result<()> {
        let mut command = Command::new("redis-server");
        if self.users == Users::Nowhere {
            command
                .current_dir(&self.dir)
                .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
                .args(["--save", "", "--appendonly", "no"]);
        } else {
            command.arg(self.dir.join("redis.conf"));
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server")?;
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        bail!("redis-server did not start on port {}", self.port)
    }

    pub async fn admin(&self) -> Result<RedisConnection> {
        admin("127.0.0.1", self.port, "admin", &self.admin_password).await
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

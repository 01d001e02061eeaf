//! Redis helpers: logins through the same RESP client the function uses, users of a test's
//! own, and private servers to stop and restart for fault tests.

use anyhow::{Context as _, Result, bail};
use shared::redis::resp::{Reply, RespConnection, RespError};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{Stack, unique};

const TIMEOUT: Duration = Duration::from_secs(5);

/// Logs in as `user`; `Ok(true)` when Redis accepts the password, `Ok(false)` when it refuses it.
pub async fn logs_in(host: &str, port: u16, user: &str, password: &str) -> Result<bool> {
    let mut conn = RespConnection::connect(host, port, None, TIMEOUT).await?;
    match conn
        .command(&[b"AUTH", user.as_bytes(), password.as_bytes()])
        .await
    {
        Ok(_) => Ok(conn.command(&[b"PING"]).await? == Reply::Simple("PONG".into())),
        Err(RespError::Server(e)) if e.starts_with("WRONGPASS") => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// An authenticated admin connection.
pub async fn admin(host: &str, port: u16, user: &str, password: &str) -> Result<RespConnection> {
    let mut conn = RespConnection::connect(host, port, None, TIMEOUT).await?;
    conn.command(&[b"AUTH", user.as_bytes(), password.as_bytes()])
        .await?;
    Ok(conn)
}

/// Creates an ACL user with one password and the app's permissions.
pub async fn create_user(conn: &mut RespConnection, user: &str, password: &str) -> Result<()> {
    let pass = format!(">{password}");
    conn.command(&[
        b"ACL",
        b"SETUSER",
        user.as_bytes(),
        b"on",
        pass.as_bytes(),
        b"~*",
        b"+@all",
    ])
    .await?;
    Ok(())
}

/// How many passwords the user has.
pub async fn password_count(conn: &mut RespConnection, user: &str) -> Result<usize> {
    let Reply::Array(Some(items)) = conn.command(&[b"ACL", b"GETUSER", user.as_bytes()]).await?
    else {
        bail!("no such user");
    };
    let mut pairs = items.chunks(2);
    match pairs
        .find(|kv| kv[0].as_text().as_deref() == Some("passwords"))
        .map(|kv| &kv[1])
    {
        Some(Reply::Array(Some(list))) => Ok(list.len()),
        _ => Ok(0),
    }
}

impl Stack {
    /// An admin connection to the stack's Redis.
    pub async fn redis_admin(&self) -> Result<RespConnection> {
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

/// A Redis server of one test's own, with its users in an ACL file so a restart keeps them.
pub struct PrivateRedis {
    dir: PathBuf,
    pub port: u16,
    pub admin_password: String,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> Result<Self> {
        Stack::get();
        let dir = std::env::temp_dir().join(unique("macro-ai-ops-redis"));
        std::fs::create_dir_all(&dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let admin_password = unique("admin");
        std::fs::write(
            dir.join("users.acl"),
            format!("user default off\nuser admin on >{admin_password} ~* &* +@all\n"),
        )?;
        std::fs::write(
            dir.join("redis.conf"),
            format!(
                "bind 127.0.0.1\nport {port}\nsave \"\"\nappendonly no\naclfile {}\ndir {}\n",
                dir.join("users.acl").display(),
                dir.display()
            ),
        )?;
        let mut redis = Self {
            dir,
            port,
            admin_password,
            child: None,
        };
        redis.resume()?;
        Ok(redis)
    }

    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    pub fn resume(&mut self) -> Result<()> {
        let child = Command::new("redis-server")
            .arg(self.dir.join("redis.conf"))
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

    pub async fn admin(&self) -> Result<RespConnection> {
        admin("127.0.0.1", self.port, "admin", &self.admin_password).await
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
